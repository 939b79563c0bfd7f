"""Prometheus metrics: calls and latency by RPC and status code, and the /metrics endpoint."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import grpc
from invoicing.v1 import invoice_service_pb2
from prometheus_client import REGISTRY

from server import metrics
from tests.support.client import Api, expect_error

GET_INVOICE = "/invoicing.v1.InvoiceService/GetInvoice"


def _count(method: str, code: str) -> float:
    value = REGISTRY.get_sample_value("invoicing_rpc_total", {"method": method, "code": code})
    return value or 0.0


def _latency_count(method: str) -> float:
    value = REGISTRY.get_sample_value("invoicing_rpc_duration_seconds_count", {"method": method})
    return value or 0.0


async def test_calls_are_counted_by_method_and_code(api: Api) -> None:
    before_not_found = _count(GET_INVOICE, "NOT_FOUND")
    before_invalid = _count(GET_INVOICE, "INVALID_ARGUMENT")
    before_latency = _latency_count(GET_INVOICE)
    for _ in range(3):
        missing = await expect_error(api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="x")))
        assert missing.code == grpc.StatusCode.NOT_FOUND
    invalid = await expect_error(api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest()))
    assert invalid.code == grpc.StatusCode.INVALID_ARGUMENT
    assert _count(GET_INVOICE, "NOT_FOUND") == before_not_found + 3
    assert _count(GET_INVOICE, "INVALID_ARGUMENT") == before_invalid + 1
    assert _latency_count(GET_INVOICE) == before_latency + 4


async def test_streams_are_counted_when_they_end(api: Api) -> None:
    method = "/invoicing.v1.InvoiceService/ListInvoices"
    before = _count(method, "OK")
    async for _ in api.invoices.ListInvoices(invoice_service_pb2.ListInvoicesRequest()):
        pass
    assert _count(method, "OK") == before + 1


async def test_metrics_endpoint_serves_the_counters(api: Api) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.serve(f"127.0.0.1:{port}")
    await expect_error(api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="x")))

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            body: bytes = response.read()
            return body.decode()

    text = await asyncio.to_thread(scrape)
    assert f'invoicing_rpc_total{{code="NOT_FOUND",method="{GET_INVOICE}"}}' in text
    assert "invoicing_rpc_duration_seconds_bucket" in text
