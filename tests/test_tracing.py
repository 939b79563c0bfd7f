"""OpenTelemetry: a SERVER span per RPC with the call's database statements as its children, the client's
trace continued, the trace and request ids in the structured logs, OTLP export by configuration, and
nothing at all when tracing is off (the default)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import pytest
from invoicing.v1 import invoice_service_pb2, invoice_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from server import tracing
from server.app import RunningServer, start_server
from server.config import Settings
from server.logs import JsonFormatter
from tests.support.accounts import Account
from tests.support.builders import create_customer, create_invoice
from tests.support.client import Api, expect_error, open_api

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@dataclass
class Traced:
    """A server that records its spans in memory, and a client for it."""

    server: RunningServer
    spans: InMemorySpanExporter
    api: Api


@pytest.fixture
async def traced(settings: Settings, migrated_dsn: str, account: Account) -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = tracing.new_provider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    running = await start_server(settings, migrated_dsn, run_billing=False, tracer_provider=provider)
    try:
        async with open_api(f"127.0.0.1:{running.port}", account.key) as api:
            yield Traced(running, exporter, api)
    finally:
        await running.stop(grace=0)


async def rpc_spans(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    """The finished server spans of `name`. A call's span ends just after its status has left (the status is
    sent from inside the span), so the client can be answered first: wait a little for one to appear."""

    def found() -> list[ReadableSpan]:
        return [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and s.name == name]

    for _ in range(100):
        if found():
            break
        await asyncio.sleep(0.02)
    return found()


def children(spans: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s for s in spans.get_finished_spans() if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


async def test_each_rpc_is_a_server_span_with_its_database_spans(traced: Traced) -> None:
    customer = await create_customer(traced.api)
    invoice = await create_invoice(traced.api, customer)

    (span,) = await rpc_spans(traced.spans, "invoicing.v1.InvoiceService/CreateInvoice")
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "rpc.system": "grpc",
        "rpc.service": "invoicing.v1.InvoiceService",
        "rpc.method": "CreateInvoice",
        "rpc.grpc.status_code": 0,
    }
    assert span.status.status_code == StatusCode.UNSET
    statements = children(traced.spans, span)
    assert statements
    assert all(s.kind == SpanKind.CLIENT for s in statements)
    assert all(s.context is not None and span.context is not None for s in statements)
    assert {s.context.trace_id for s in statements if s.context} == {span.context.trace_id if span.context else 0}
    names = {s.name for s in statements}
    # One transaction, its writes inside the RPC span.
    assert "INSERT" in names, names
    assert {"BEGIN", "COMMIT"} <= {n.rstrip(";") for n in names}, names
    assert any((s.attributes or {}).get("db.system") in {"postgresql", "postgres"} for s in statements)
    fetched = await traced.api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id))
    assert fetched.id == invoice.id
    (get_span,) = await rpc_spans(traced.spans, "invoicing.v1.InvoiceService/GetInvoice")
    # A lone read's lookup runs in its call (not in the loader's shared drain): its statement is in the span.
    read = [str((s.attributes or {}).get("db.statement", "")) for s in children(traced.spans, get_span)]
    assert any("FROM invoices" in statement for statement in read), read


async def test_stream_and_error_spans(traced: Traced) -> None:
    customer = await create_customer(traced.api)
    await create_invoice(traced.api, customer)
    request = invoice_service_pb2.ListInvoicesRequest(customer_id=customer.id, status=["INVOICE_STATUS_DRAFT"])
    listed = [i async for batch in traced.api.invoices.ListInvoices(request) for i in batch.invoices]
    missing = await expect_error(
        traced.api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="inv_missing"))
    )

    assert len(listed) == 1
    (stream,) = await rpc_spans(traced.spans, "invoicing.v1.InvoiceService/ListInvoices")
    assert (stream.attributes or {})["rpc.grpc.status_code"] == 0
    assert children(traced.spans, stream)  # the snapshot's statements and cursor reads
    assert missing.code == grpc.StatusCode.NOT_FOUND
    (failed,) = await rpc_spans(traced.spans, "invoicing.v1.InvoiceService/GetInvoice")
    assert (failed.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert failed.status.status_code == StatusCode.UNSET  # the client's doing, not a server fault


async def test_the_clients_trace_is_continued(traced: Traced, account: Account) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.server.port}") as channel:
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        metadata = (
            ("authorization", f"Bearer {account.key}"),
            ("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"),
        )
        await expect_error(
            stub.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="inv_x"), metadata=metadata)
        )

    (span,) = await rpc_spans(traced.spans, "invoicing.v1.InvoiceService/GetInvoice")
    assert span.context is not None
    assert span.parent is not None
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The server's DEBUG log lines, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("server.rpc")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


async def _log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """The JSON log lines written so far, once there is one (the server logs a call just after answering)."""
    for _ in range(500):
        if stream.getvalue():
            break
        await asyncio.sleep(0.01)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_logs_carry_the_request_id_and_the_trace_id(
    traced: Traced, account: Account, json_logs: io.StringIO
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{traced.server.port}") as channel:
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        metadata = (("authorization", f"Bearer {account.key}"), ("x-request-id", "req-42"))
        await expect_error(
            stub.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="inv_x"), metadata=metadata)
        )

    (line,) = [entry for entry in await _log_lines(json_logs) if entry.get("request_id") == "req-42"]
    (span,) = await rpc_spans(traced.spans, "invoicing.v1.InvoiceService/GetInvoice")
    assert span.context is not None
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["method"] == "/invoicing.v1.InvoiceService/GetInvoice"
    assert line["message"].startswith("rpc finished: NOT_FOUND")
    assert line["level"] == "DEBUG"


async def test_without_tracing_logs_have_a_request_id_and_no_trace(api: Api, json_logs: io.StringIO) -> None:
    await expect_error(api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="inv_x")))

    (line,) = await _log_lines(json_logs)
    assert len(line["request_id"]) == 32  # made up for the call
    assert "trace_id" not in line


def test_tracing_is_off_by_default(server: RunningServer) -> None:
    """The test server runs with default settings: no provider, and asyncpg is not instrumented."""
    assert Settings().otlp_endpoint is None
    assert tracing.provider_from_settings(Settings()) is None
    assert server.tracer_provider is None
    assert not hasattr(asyncpg.connection.Connection.fetch, "__wrapped__")


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """A minimal OTLP trace collector that keeps the span names it receives."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.names.extend(span.name for span in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_spans_are_exported_over_otlp_when_configured(
    settings: Settings, migrated_dsn: str, account: Account
) -> None:
    collector = _Collector()
    otlp = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, otlp)
    port = otlp.add_insecure_port("127.0.0.1:0")
    otlp.start()
    try:
        configured = settings.model_copy(update={"otlp_endpoint": f"http://127.0.0.1:{port}"})
        running = await start_server(configured, migrated_dsn, run_billing=False)
        assert running.tracer_provider is not None
        async with open_api(f"127.0.0.1:{running.port}", account.key) as api:
            await create_customer(api)
        await running.stop(grace=0)  # shuts the provider down, which flushes the batch
        for _ in range(100):
            if "invoicing.v1.CustomerService/CreateCustomer" in collector.names:
                break
            await asyncio.sleep(0.05)
        assert "invoicing.v1.CustomerService/CreateCustomer" in collector.names
        assert any(name.startswith(("INSERT", "BEGIN", "SELECT")) for name in collector.names), collector.names
    finally:
        otlp.stop(0)
