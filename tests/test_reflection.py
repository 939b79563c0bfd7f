"""Server reflection does what `grpcurl list`, `grpcurl describe` and JSON calls need, with no .proto at hand.

Everything here goes through grpcio-reflection's own client (a descriptor
database fed by the server), over a channel that carries no API key. The
client is synchronous, so it runs in a worker thread while the event loop
keeps serving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from tests.support.accounts import Account
from tests.support.client import expect_error

T = TypeVar("T")

INVOICE_SERVICE = "invoicing.v1.InvoiceService"
CUSTOMER_SERVICE = "invoicing.v1.CustomerService"
HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
INVOICE_SERVICE_FILE = "invoicing/v1/invoice_service.proto"

# FileDescriptorProto / DescriptorProto / ServiceDescriptorProto / EnumDescriptorProto field numbers,
# as used in SourceCodeInfo.Location.path.
_FILE_MESSAGE_TYPE = 4
_FILE_ENUM_TYPE = 5
_FILE_SERVICE = 6
_MESSAGE_FIELD = 2
_MESSAGE_NESTED_TYPE = 3
_MESSAGE_ENUM_TYPE = 4
_MESSAGE_ONEOF_DECL = 8
_SERVICE_METHOD = 2
_ENUM_VALUE = 2


async def reflect(target: str, work: Callable[[ProtoReflectionDescriptorDatabase], T]) -> T:
    """Run work against a reflection client on a fresh credential-less channel, off the event loop."""

    def run() -> T:
        with grpc.insecure_channel(target) as channel:
            return work(ProtoReflectionDescriptorDatabase(channel))

    return await asyncio.to_thread(run)


def find_method(pool: descriptor_pool.DescriptorPool, full_name: str) -> descriptor.MethodDescriptor:
    """A method by its full name, resolved through its service (as a descriptor pool does; grpcurl's own request,
    the method's full name, is in test_reflection_symbols.py)."""
    service_name, _, method_name = full_name.rpartition(".")
    method: descriptor.MethodDescriptor = pool.FindServiceByName(service_name).methods_by_name[method_name]
    return method


def comments_by_path(file_proto: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """Leading plus trailing comment text of every location that has any, keyed by path."""
    found: dict[tuple[int, ...], str] = {}
    for location in file_proto.source_code_info.location:
        text = (location.leading_comments + location.trailing_comments).strip()
        if text:
            found[tuple(location.path)] = text
    return found


def documented_elements(file_proto: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Every service, RPC, message, field, oneof, enum and enum value of the file, with its source path."""

    def enum(prefix: str, path: tuple[int, ...], value: descriptor_pb2.EnumDescriptorProto) -> Iterator[Any]:
        yield f"{prefix}{value.name}", path
        for index, item in enumerate(value.value):
            yield f"{prefix}{value.name}.{item.name}", (*path, _ENUM_VALUE, index)

    def message(prefix: str, path: tuple[int, ...], value: descriptor_pb2.DescriptorProto) -> Iterator[Any]:
        name = f"{prefix}{value.name}"
        if value.options.map_entry:
            return
        yield name, path
        for index, item in enumerate(value.field):
            yield f"{name}.{item.name}", (*path, _MESSAGE_FIELD, index)
        for index, oneof in enumerate(value.oneof_decl):
            if not oneof.name.startswith("_"):  # synthetic oneofs of proto3 `optional` fields
                yield f"{name}.{oneof.name}", (*path, _MESSAGE_ONEOF_DECL, index)
        for index, nested in enumerate(value.nested_type):
            yield from message(f"{name}.", (*path, _MESSAGE_NESTED_TYPE, index), nested)
        for index, nested_enum in enumerate(value.enum_type):
            yield from enum(f"{name}.", (*path, _MESSAGE_ENUM_TYPE, index), nested_enum)

    prefix = f"{file_proto.package}."
    for index, service in enumerate(file_proto.service):
        yield f"{prefix}{service.name}", (_FILE_SERVICE, index)
        for method_index, method in enumerate(service.method):
            yield f"{prefix}{service.name}.{method.name}", (_FILE_SERVICE, index, _SERVICE_METHOD, method_index)
    for index, message_type in enumerate(file_proto.message_type):
        yield from message(prefix, (_FILE_MESSAGE_TYPE, index), message_type)
    for index, enum_type in enumerate(file_proto.enum_type):
        yield from enum(prefix, (_FILE_ENUM_TYPE, index), enum_type)


async def test_list_services_includes_the_api_health_and_reflection(target: str) -> None:
    """What `grpcurl list` prints."""
    services = await reflect(target, lambda db: list(db.get_services()))

    assert {INVOICE_SERVICE, CUSTOMER_SERVICE, HEALTH_SERVICE, REFLECTION_SERVICE} <= set(services)
    assert len(services) == len(set(services))


async def test_describe_service_lists_every_invoice_rpc(target: str) -> None:
    """What `grpcurl describe invoicing.v1.InvoiceService` shows: its methods."""

    def methods(db: ProtoReflectionDescriptorDatabase) -> list[str]:
        service = descriptor_pool.DescriptorPool(db).FindServiceByName(INVOICE_SERVICE)
        return [m.name for m in service.methods]

    names = await reflect(target, methods)

    assert names == [
        "CreateInvoice",
        "GetInvoice",
        "GetUpcomingInvoice",
        "ListInvoices",
        "UpdateInvoice",
        "CreateInvoiceLineItem",
        "DeleteInvoiceLineItem",
        "IssueInvoice",
        "MarkInvoicePaid",
        "VoidInvoice",
        "WatchInvoiceEvents",
        "GetInvoiceDocument",
        "ListInvoiceVersions",
    ]


async def test_describe_customer_and_health_services(target: str) -> None:
    """Services served from the commented descriptor set and from the runtime pool both resolve."""

    def methods(db: ProtoReflectionDescriptorDatabase) -> tuple[set[str], set[str]]:
        pool = descriptor_pool.DescriptorPool(db)
        customers = {m.name for m in pool.FindServiceByName(CUSTOMER_SERVICE).methods}
        health = {m.name for m in pool.FindServiceByName(HEALTH_SERVICE).methods}
        return customers, health

    customers, health = await reflect(target, methods)

    assert customers == {
        "CreateCustomer",
        "GetCustomer",
        "UpdateCustomer",
        "ListCustomers",
        "CreateBalanceTransaction",
        "ListBalanceTransactions",
        "GrantCredits",
        "ListCreditBlocks",
        "ListCreditLedger",
    }
    assert {"Check", "Watch"} <= health


async def test_describe_method_shows_types_and_streaming(target: str) -> None:
    """What `grpcurl describe invoicing.v1.InvoiceService.ListInvoices` shows."""

    def describe(db: ProtoReflectionDescriptorDatabase) -> list[tuple[str, str, bool, bool]]:
        pool = descriptor_pool.DescriptorPool(db)
        found = []
        for name in ("ListInvoices", "GetInvoice"):
            method = find_method(pool, f"{INVOICE_SERVICE}.{name}")
            found.append(
                (
                    method.input_type.full_name,
                    method.output_type.full_name,
                    method.client_streaming,
                    method.server_streaming,
                )
            )
        return found

    list_invoices, get_invoice = await reflect(target, describe)

    assert list_invoices == ("invoicing.v1.ListInvoicesRequest", "invoicing.v1.ListInvoicesResponse", False, True)
    assert get_invoice == ("invoicing.v1.GetInvoiceRequest", "invoicing.v1.Invoice", False, False)


async def test_describe_message_shows_the_invoice_fields(target: str) -> None:
    """What `grpcurl describe invoicing.v1.Invoice` shows, including types from imported files."""

    def fields(db: ProtoReflectionDescriptorDatabase) -> dict[str, str]:
        """Field name -> message type name ("map" for maps, "" for scalars)."""
        invoice = descriptor_pool.DescriptorPool(db).FindMessageTypeByName("invoicing.v1.Invoice")
        found: dict[str, str] = {}
        for field in invoice.fields:
            message_type = field.message_type
            if message_type is None:
                found[field.name] = ""
            else:
                found[field.name] = "map" if message_type.GetOptions().map_entry else message_type.full_name
        return found

    found = await reflect(target, fields)

    expected = {
        "id",
        "invoice_number",
        "status",
        "currency",
        "customer",
        "invoice_date",
        "due_date",
        "line_items",
        "subtotal",
        "total",
        "amount_due",
        "metadata",
        "version",
        "payments",
        "issued_at",
        "paid_at",
        "voided_at",
        "customer_balance_transactions",
    }
    assert expected <= set(found)
    assert found["invoice_date"] == "google.type.Date"
    assert found["issued_at"] == "google.protobuf.Timestamp"
    assert found["line_items"] == "invoicing.v1.InvoiceLineItem"
    assert found["metadata"] == "map"
    assert found["amount_due"] == ""


async def test_describe_field_amount_due(target: str) -> None:
    """What `grpcurl describe invoicing.v1.Invoice.amount_due` shows: a decimal string, with its comment."""

    def describe(db: ProtoReflectionDescriptorDatabase) -> tuple[str, int, int, str, str]:
        pool = descriptor_pool.DescriptorPool(db)
        field = pool.FindFieldByName("invoicing.v1.Invoice.amount_due")
        assert field.containing_type is not None
        file_proto = db.FindFileContainingSymbol("invoicing.v1.Invoice")
        message_index = [m.name for m in file_proto.message_type].index("Invoice")
        field_index = [f.name for f in file_proto.message_type[message_index].field].index("amount_due")
        comment = comments_by_path(file_proto).get((_FILE_MESSAGE_TYPE, message_index, _MESSAGE_FIELD, field_index))
        return field.containing_type.full_name, field.type, field.number, file_proto.name, comment or ""

    containing, field_type, number, file_name, comment = await reflect(target, describe)

    assert containing == "invoicing.v1.Invoice"
    assert field_type == descriptor.FieldDescriptor.TYPE_STRING  # money is a decimal string, never a double
    assert number > 0
    assert file_name == "invoicing/v1/invoice.proto"
    assert "What the customer has to pay" in comment


async def test_describe_unknown_symbol_is_not_found(target: str) -> None:
    """`grpcurl describe` of a name the server does not know fails cleanly instead of hanging or crashing."""

    def lookup(db: ProtoReflectionDescriptorDatabase) -> bool:
        try:
            db.FindFileContainingSymbol("invoicing.v1.NoSuchMessage")
        except KeyError:
            return True
        return False

    assert await reflect(target, lookup)


async def test_served_descriptors_keep_the_proto_comments(target: str) -> None:
    """The file the server returns carries source info: `grpcurl describe` shows the RPC comments."""

    def fetch(db: ProtoReflectionDescriptorDatabase) -> descriptor_pb2.FileDescriptorProto:
        file_proto: descriptor_pb2.FileDescriptorProto = db.FindFileByName(INVOICE_SERVICE_FILE)
        return file_proto

    file_proto = await reflect(target, fetch)

    assert file_proto.HasField("source_code_info")
    service_index = [s.name for s in file_proto.service].index("InvoiceService")
    method_index = [m.name for m in file_proto.service[service_index].method].index("ListInvoices")
    comments = comments_by_path(file_proto)
    method_comment = comments[(_FILE_SERVICE, service_index, _SERVICE_METHOD, method_index)]
    assert "Streams the invoices that match the filters" in method_comment
    assert "AIP-158" in comments[(_FILE_SERVICE, service_index)]


async def test_every_element_of_the_api_has_a_comment_in_reflection(target: str) -> None:
    """Every service, RPC, message, field and enum value of invoicing.v1 comes with a comment."""

    def fetch_all(db: ProtoReflectionDescriptorDatabase) -> list[descriptor_pb2.FileDescriptorProto]:
        found: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        pending = [db.FindFileContainingSymbol(INVOICE_SERVICE), db.FindFileContainingSymbol(CUSTOMER_SERVICE)]
        while pending:
            file_proto = pending.pop()
            if file_proto.name in found or not file_proto.name.startswith("invoicing/v1/"):
                continue
            found[file_proto.name] = file_proto
            pending.extend(db.FindFileByName(name) for name in file_proto.dependency)
        return list(found.values())

    files = await reflect(target, fetch_all)

    assert {f.name for f in files} >= {
        INVOICE_SERVICE_FILE,
        "invoicing/v1/invoice.proto",
        "invoicing/v1/customer.proto",
    }
    undocumented = []
    element_count = 0
    for file_proto in files:
        comments = comments_by_path(file_proto)
        for name, path in documented_elements(file_proto):
            element_count += 1
            if path not in comments:
                undocumented.append(name)
    assert element_count > 100
    assert undocumented == []


async def test_reflection_needs_no_api_key(anonymous_channel: grpc.aio.Channel) -> None:
    """Reflection answers a caller without credentials, while the API itself refuses that caller."""
    stub = reflection_pb2_grpc.ServerReflectionStub(anonymous_channel)
    call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    responses = [response async for response in call]

    assert len(responses) == 1
    listed = {service.name for service in responses[0].list_services_response.service}
    assert INVOICE_SERVICE in listed
    assert await call.code() == grpc.StatusCode.OK

    get_invoice = anonymous_channel.unary_unary(
        f"/{INVOICE_SERVICE}/GetInvoice",
        request_serializer=lambda request: request,
        response_deserializer=lambda raw: raw,
    )
    refused = await expect_error(get_invoice(b""))
    assert refused.code == grpc.StatusCode.UNAUTHENTICATED


async def test_json_calls_with_reflected_message_classes(target: str, account: Account) -> None:
    """A client with no .proto builds messages from reflection and calls with JSON, like `grpcurl -d`."""
    metadata = (("authorization", f"Bearer {account.key}"),)

    def call_with_json(db: ProtoReflectionDescriptorDatabase) -> tuple[dict[str, Any], dict[str, Any], Any]:
        pool = descriptor_pool.DescriptorPool(db)
        with grpc.insecure_channel(target) as channel:

            def invoke(method_name: str, body: str) -> dict[str, Any]:
                method = find_method(pool, method_name)
                request_class = message_factory.GetMessageClass(method.input_type)
                response_class = message_factory.GetMessageClass(method.output_type)
                request = json_format.Parse(body, request_class())
                rpc = channel.unary_unary(
                    f"/{method.containing_service.full_name}/{method.name}",
                    request_serializer=lambda message: message.SerializeToString(),
                    response_deserializer=response_class.FromString,
                )
                response = rpc(request, metadata=metadata, timeout=10)
                result: dict[str, Any] = json.loads(json_format.MessageToJson(response))
                return result

            created = invoke(
                f"{CUSTOMER_SERVICE}.CreateCustomer",
                json.dumps(
                    {
                        "name": "Json Client Ltd",
                        "email": "ap@json.example",
                        "externalCustomerId": "json-client",
                        "currency": "EUR",
                        "timezone": "Europe/Paris",
                    }
                ),
            )
            fetched = invoke(f"{CUSTOMER_SERVICE}.GetCustomer", json.dumps({"customerId": created["id"]}))
            try:
                invoke(f"{INVOICE_SERVICE}.GetInvoice", '{"invoiceId": "inv_does_not_exist"}')
            except grpc.RpcError as error:
                return created, fetched, error.code()
            return created, fetched, None

    created, fetched, missing_code = await reflect(target, call_with_json)

    assert created["name"] == "Json Client Ltd"
    assert created["currency"] == "EUR"
    assert created["id"]
    assert fetched["id"] == created["id"]
    assert fetched["externalCustomerId"] == "json-client"
    assert missing_code == grpc.StatusCode.NOT_FOUND


async def test_reflection_v1_is_served(anonymous_channel: grpc.aio.Channel) -> None:
    """A client that speaks only grpc.reflection.v1 (buf curl --reflect-protocol grpc-v1) gets the same listing."""
    probe = anonymous_channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    call = probe(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    listed = {s.name async for response in call for s in response.list_services_response.service}

    assert await call.code() == grpc.StatusCode.OK
    assert {INVOICE_SERVICE, "grpc.reflection.v1.ServerReflection", REFLECTION_SERVICE} <= listed
