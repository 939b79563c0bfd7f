"""Server reflection (grpc.reflection.v1 and v1alpha) that keeps the .proto comments and knows every symbol.

Python's generated descriptors drop source info, so plain reflection would show
`grpcurl describe` output without comments. `make generate` also writes a
descriptor set with source info; this servicer answers with those descriptors
for our files (and their imports) and falls back to the runtime pool for the
rest (health, reflection).

The runtime pool finds services, messages, fields and enums by name, but not
methods (`invoicing.v1.InvoiceService.GetInvoice`) nor enum values scoped by
their enum (`invoicing.v1.InvoiceStatus.INVOICE_STATUS_DRAFT`), which is what
`grpcurl describe` asks for; those are resolved through their parent here.

grpcio-reflection serves only v1alpha. v1 has the same messages in another
package, so the same servicer answers both: the v1 method is registered with
the v1alpha (wire-identical) codecs, and the v1 file is added to the pool so
that `list` and `describe` show it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import _async, _base, reflection_pb2
from grpc_reflection.v1alpha.reflection import SERVICE_NAME as V1ALPHA_SERVICE_NAME

_DESCRIPTOR_SET = "descriptor_set.binpb"
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
SERVICE_NAMES = (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
_V1_FILE = "grpc/reflection/v1/reflection.proto"
_V1ALPHA_PACKAGE = ".grpc.reflection.v1alpha."
_V1_PACKAGE = ".grpc.reflection.v1."


def _load_descriptor_set() -> dict[str, bytes]:
    raw = (resources.files("invoicing.v1") / _DESCRIPTOR_SET).read_bytes()
    file_set = descriptor_pb2.FileDescriptorSet.FromString(raw)
    return {f.name: f.SerializeToString() for f in file_set.file}


def _v1_type(type_name: str) -> str:
    return (
        _V1_PACKAGE + type_name.removeprefix(_V1ALPHA_PACKAGE) if type_name.startswith(_V1ALPHA_PACKAGE) else type_name
    )


def _retarget_messages(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            if field.type_name.startswith(_V1ALPHA_PACKAGE):
                field.type_name = _v1_type(field.type_name)
        _retarget_messages(message.nested_type)


def register_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    """Add grpc/reflection/v1/reflection.proto (v1alpha's file under the v1 package) to the pool, once."""
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = _V1_FILE
    proto.package = _V1_PACKAGE.strip(".")
    proto.ClearField("options")  # v1alpha's language options name v1alpha packages
    _retarget_messages(proto.message_type)
    for service in proto.service:
        for method in service.method:
            method.input_type = _v1_type(method.input_type)
            method.output_type = _v1_type(method.output_type)
    pool.AddSerializedFile(proto.SerializeToString())


def find_file_containing_symbol(pool: descriptor_pool.DescriptorPool, symbol: str) -> descriptor.FileDescriptor:
    """The file declaring any fully qualified symbol, or KeyError.

    Beyond what the pool finds itself (packages' services, messages, enums, fields, nested types), this
    resolves methods (`Service.Method`), enum values scoped by their enum (`Enum.VALUE`) and oneofs.
    """
    try:
        found: descriptor.FileDescriptor = pool.FindFileContainingSymbol(symbol)
        return found
    except KeyError:
        pass
    parent, _, member = symbol.rpartition(".")
    if parent and member:
        for find, members in (
            (pool.FindServiceByName, "methods_by_name"),
            (pool.FindEnumTypeByName, "values_by_name"),
            (pool.FindMessageTypeByName, "oneofs_by_name"),
        ):
            try:
                container = find(parent)
            except KeyError:
                continue
            if member in getattr(container, members):
                file: descriptor.FileDescriptor = container.file
                return file
    raise KeyError(symbol)


class CommentedReflectionServicer(_async.ReflectionServicer):
    """grpcio-reflection's asyncio servicer, answering with descriptors that carry comments."""

    def __init__(self, service_names: list[str]) -> None:
        pool = descriptor_pool.Default()
        register_v1_descriptor(pool)
        super().__init__(service_names, pool=pool)
        self._with_comments = _load_descriptor_set()

    def _response(self, descriptor: Any, request: reflection_pb2.ServerReflectionRequest) -> Any:
        files: dict[str, Any] = {}
        _base._collect_transitive_dependencies(descriptor, files)
        serialized = []
        for name, file_descriptor in files.items():
            if name in self._with_comments:
                serialized.append(self._with_comments[name])
            else:
                proto = descriptor_pb2.FileDescriptorProto()
                file_descriptor.CopyToProto(proto)
                serialized.append(proto.SerializeToString())
        return reflection_pb2.ServerReflectionResponse(
            file_descriptor_response=reflection_pb2.FileDescriptorResponse(file_descriptor_proto=serialized),
            original_request=request,
        )

    def _file_by_filename(self, request: Any, filename: str) -> Any:
        try:
            descriptor = self._pool.FindFileByName(filename)
        except KeyError:
            return _base._not_found_error(request)
        return self._response(descriptor, request)

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        try:
            descriptor = find_file_containing_symbol(self._pool, fully_qualified_name)
        except KeyError:
            return _base._not_found_error(request)
        return self._response(descriptor, request)


def add_reflection_to_server(servicer: CommentedReflectionServicer, server: grpc.aio.Server) -> None:
    """Serve the servicer as grpc.reflection.v1alpha and as grpc.reflection.v1 (wire-identical messages)."""
    method = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    for name in SERVICE_NAMES:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": method}),))
