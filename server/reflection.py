"""Server reflection that keeps the .proto comments.

Python's generated descriptors drop source info, so plain reflection would show
`grpcurl describe` output without comments. `make generate` also writes a
descriptor set with source info; this servicer answers with those descriptors
for our files (and their imports) and falls back to the runtime pool for the
rest (health, reflection).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import _async, _base, reflection_pb2

_DESCRIPTOR_SET = "descriptor_set.binpb"


def _load_descriptor_set() -> dict[str, bytes]:
    raw = (resources.files("invoicing.v1") / _DESCRIPTOR_SET).read_bytes()
    file_set = descriptor_pb2.FileDescriptorSet.FromString(raw)
    return {f.name: f.SerializeToString() for f in file_set.file}


class CommentedReflectionServicer(_async.ReflectionServicer):
    """grpcio-reflection's asyncio servicer, answering with descriptors that carry comments."""

    def __init__(self, service_names: list[str]) -> None:
        super().__init__(service_names, pool=descriptor_pool.Default())
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
            descriptor = self._pool.FindFileContainingSymbol(fully_qualified_name)
        except KeyError:
            return _base._not_found_error(request)
        return self._response(descriptor, request)
