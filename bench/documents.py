"""Scenario: GetInvoiceDocument of a 500-line invoice (the most lines an invoice has), against GetInvoice of it.

The figure is the whole call as a client sees it: the invoice read from PostgreSQL, the PDF typeset in a
worker thread and streamed back. The renderer alone (no gRPC) is timed too, on the same document: read by the
service's own repository, rendered by the service's own function, in the bench's process.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import asyncpg
import grpc
from google.type import date_pb2
from invoicing.v1 import (
    customer_service_pb2,
    customer_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
)

from bench.table import Row, value_at_most
from server.db import documents as documents_repo
from server.db.pool import init_connection
from server.domain.documents import DocumentFormat, InvoiceDocument
from server.usecases.documents import render_invoice_document

LINES = 500


def create_invoice(target: str, key: str) -> str:
    """A one-off USD invoice with 500 lines; its id."""
    metadata = (("authorization", f"Bearer {key}"),)
    period = {
        "start_date": date_pb2.Date(year=2026, month=10, day=1),
        "end_date": date_pb2.Date(year=2026, month=10, day=31),
    }
    with grpc.insecure_channel(target) as channel:
        customer = customer_service_pb2_grpc.CustomerServiceStub(channel).CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                name="株式会社テスト", email="keiri@test.example.jp", currency="USD"
            ),
            metadata=metadata,
        )
        invoice = invoice_service_pb2_grpc.InvoiceServiceStub(channel).CreateInvoice(
            invoice_service_pb2.CreateInvoiceRequest(
                customer_id=customer.id,
                currency="USD",
                invoice_date=date_pb2.Date(year=2026, month=11, day=1),
                line_items=[
                    invoice_service_pb2.NewInvoiceLineItem(
                        name=f"Usage report {n:03d}", quantity="1", unit_amount=f"{n}.25", **period
                    )
                    for n in range(1, LINES + 1)
                ],
                memo="Five hundred lines",
            ),
            metadata=metadata,
        )
    return str(invoice.id)


def _p50_ms(call: object, count: int) -> float:
    assert callable(call)
    call()  # warm: fonts indexed, statements prepared
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1e6


async def _document(dsn: str, invoice_id: str) -> InvoiceDocument:
    """What GetInvoiceDocument renders for the invoice, read as the service reads it."""
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        account_id: str = await conn.fetchval("SELECT account_id FROM invoices WHERE id = $1", invoice_id)
        return await documents_repo.invoice_document(conn, account_id, invoice_id)
    finally:
        await conn.close()


def measure(target: str, dsn: str, key: str, count: int = 20) -> tuple[float, float, float, int]:
    """(GetInvoiceDocument p50 ms, GetInvoice p50 ms, renderer-only p50 ms of the same document, PDF bytes) for
    a 500-line invoice."""
    invoice_id = create_invoice(target, key)
    metadata = (("authorization", f"Bearer {key}"),)
    size = 0
    with grpc.insecure_channel(target) as channel:
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        document_request = invoice_service_pb2.GetInvoiceDocumentRequest(invoice_id=invoice_id)

        def document() -> None:
            nonlocal size
            size = sum(len(chunk.data) for chunk in stub.GetInvoiceDocument(document_request, metadata=metadata))

        def get() -> None:
            stub.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id), metadata=metadata)

        document_ms = _p50_ms(document, count)
        get_ms = _p50_ms(get, count)
    served = asyncio.run(_document(dsn, invoice_id))
    render_ms = _p50_ms(lambda: render_invoice_document(served, DocumentFormat.PDF), count)
    return document_ms, get_ms, render_ms, size


def rows(target: str, dsn: str, key: str, count: int) -> list[Row]:
    """GetInvoiceDocument of a 500-line invoice (the call, and the renderer alone) against GetInvoice of it."""
    document_ms, get_ms, render_ms, size = measure(target, dsn, key, count)
    return [
        Row("document", f"GetInvoiceDocument p50, {LINES} lines ({size // 1000} kB PDF)", document_ms, "ms",
            "GetInvoice, same invoice", get_ms, value_at_most(250, "ms"), "Python client (1 in flight)"),
        Row("document_renderer", "  of which the renderer alone (same document, in process)", render_ms, "ms",
            "GetInvoice, same invoice", get_ms, client="in process"),
    ]  # fmt: skip
