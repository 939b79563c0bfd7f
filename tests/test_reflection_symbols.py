"""Reflection resolves every kind of symbol, exactly as grpcurl and buf curl ask for it, on v1 and v1alpha.

`grpcurl describe X` sends one `file_containing_symbol: X` request with X as typed (a method is
`pkg.Service.Method`, an enum value `pkg.Enum.VALUE`) and then looks X up in the files it gets back. These
tests send those very requests on a credential-less channel and check the file that comes back declares X.
"""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

PROTOCOLS = ["grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"]

# symbol → the file that declares it
SYMBOLS = {
    "invoicing.v1.InvoiceService": "invoicing/v1/invoice_service.proto",
    "invoicing.v1.InvoiceService.GetInvoice": "invoicing/v1/invoice_service.proto",
    "invoicing.v1.InvoiceService.WatchInvoiceEvents": "invoicing/v1/invoice_service.proto",
    "invoicing.v1.CustomerService.CreateCustomer": "invoicing/v1/customer_service.proto",
    "invoicing.v1.Invoice": "invoicing/v1/invoice.proto",
    "invoicing.v1.Invoice.amount_due": "invoicing/v1/invoice.proto",
    "invoicing.v1.Invoice.MetadataEntry": "invoicing/v1/invoice.proto",
    "invoicing.v1.InvoiceStatus": "invoicing/v1/invoice.proto",
    "invoicing.v1.InvoiceStatus.INVOICE_STATUS_DRAFT": "invoicing/v1/invoice.proto",
    "invoicing.v1.INVOICE_STATUS_DRAFT": "invoicing/v1/invoice.proto",
    "google.type.Date": "google/type/date.proto",
    "grpc.health.v1.Health": "grpc_health/v1/health.proto",
    "grpc.health.v1.Health.Check": "grpc_health/v1/health.proto",
    "grpc.health.v1.HealthCheckResponse.ServingStatus": "grpc_health/v1/health.proto",
    "grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING": "grpc_health/v1/health.proto",
    "grpc.reflection.v1.ServerReflection.ServerReflectionInfo": "grpc/reflection/v1/reflection.proto",
    "grpc.reflection.v1.ServerReflectionRequest.message_request": "grpc/reflection/v1/reflection.proto",
    "grpc.reflection.v1alpha.ServerReflection": "grpc_reflection/v1alpha/reflection.proto",
}

UNKNOWN = [
    "invoicing.v1.NoSuchMessage",
    "invoicing.v1.InvoiceService.NoSuchMethod",
    "invoicing.v1.InvoiceStatus.INVOICE_STATUS_NO_SUCH",
    "invoicing.v1.Invoice.amount_due.deeper",
    "invoicing.v1.Invoice.no_such_field",
    "nosuch.v1.Service.Method",
    "",
]


async def ask(
    channel: grpc.aio.Channel, protocol: str, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    """Send one reflection request on the given protocol (v1 and v1alpha messages are wire-identical)."""
    info = channel.stream_stream(
        f"/{protocol}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    responses = [response async for response in info(iter([request]), timeout=10)]
    assert len(responses) == 1
    response: reflection_pb2.ServerReflectionResponse = responses[0]
    return response


def declares(file_proto: descriptor_pb2.FileDescriptorProto, symbol: str) -> bool:
    """True if the file declares symbol, in any of the spellings clients use."""
    names: set[str] = set()

    def enum(scope: str, value: descriptor_pb2.EnumDescriptorProto, package_scope: str) -> None:
        names.add(f"{scope}{value.name}")
        for item in value.value:
            names.add(f"{scope}{value.name}.{item.name}")  # grpcurl's spelling
            names.add(f"{package_scope}{item.name}")  # protobuf's: a sibling of the enum

    def message(scope: str, value: descriptor_pb2.DescriptorProto) -> None:
        name = f"{scope}{value.name}"
        names.add(name)
        names.update(f"{name}.{f.name}" for f in value.field)
        names.update(f"{name}.{o.name}" for o in value.oneof_decl)
        for nested in value.nested_type:
            message(f"{name}.", nested)
        for nested_enum in value.enum_type:
            enum(f"{name}.", nested_enum, f"{name}.")

    scope = f"{file_proto.package}."
    for service in file_proto.service:
        names.add(f"{scope}{service.name}")
        names.update(f"{scope}{service.name}.{m.name}" for m in service.method)
    for message_type in file_proto.message_type:
        message(scope, message_type)
    for enum_type in file_proto.enum_type:
        enum(scope, enum_type, scope)
    return symbol in names


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("symbol", "file_name"), SYMBOLS.items())
async def test_file_containing_symbol_resolves_every_kind(
    anonymous_channel: grpc.aio.Channel, protocol: str, symbol: str, file_name: str
) -> None:
    """The first file answered is the one declaring the symbol; its imports follow."""
    response = await ask(
        anonymous_channel, protocol, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    )

    assert response.WhichOneof("message_response") == "file_descriptor_response", response.error_response
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in response.file_descriptor_response.file_descriptor_proto
    ]
    assert files[0].name == file_name
    assert declares(files[0], symbol)
    served = {f.name for f in files}
    assert all(dependency in served for f in files for dependency in f.dependency)
    assert response.original_request.file_containing_symbol == symbol


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("symbol", UNKNOWN)
async def test_unknown_symbol_is_not_found(anonymous_channel: grpc.aio.Channel, protocol: str, symbol: str) -> None:
    """Anything the server does not declare is an error response with NOT_FOUND, as grpcurl expects."""
    response = await ask(
        anonymous_channel, protocol, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    )

    assert response.WhichOneof("message_response") == "error_response"
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_both_protocols_list_the_same_services(anonymous_channel: grpc.aio.Channel, protocol: str) -> None:
    """v1 and v1alpha are both served and both listed."""
    response = await ask(anonymous_channel, protocol, reflection_pb2.ServerReflectionRequest(list_services=""))

    listed = {service.name for service in response.list_services_response.service}
    assert set(PROTOCOLS) <= listed
    assert {"invoicing.v1.InvoiceService", "grpc.health.v1.Health"} <= listed


async def test_v1_file_describes_the_v1_package(anonymous_channel: grpc.aio.Channel) -> None:
    """The v1 file is v1alpha's under the v1 package, every type reference included."""
    response = await ask(
        anonymous_channel,
        PROTOCOLS[1],
        reflection_pb2.ServerReflectionRequest(file_by_filename="grpc/reflection/v1/reflection.proto"),
    )

    (raw,) = response.file_descriptor_response.file_descriptor_proto
    file_proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
    assert file_proto.package == "grpc.reflection.v1"
    method = file_proto.service[0].method[0]
    assert (method.input_type, method.output_type) == (
        ".grpc.reflection.v1.ServerReflectionRequest",
        ".grpc.reflection.v1.ServerReflectionResponse",
    )
    type_names = {f.type_name for m in file_proto.message_type for f in m.field if f.type_name}
    assert type_names
    assert all(name.startswith(".grpc.reflection.v1.") for name in type_names)
