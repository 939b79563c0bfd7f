"""The database goes away under a running server, then comes back (SPEC 6 UNAVAILABLE, SPEC 12 outage).

A server of its own, on a PostgreSQL of its own, so that stopping the database
touches nothing else of the session.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from invoicing.v1 import invoice_pb2, invoice_service_pb2

from server.app import start_server
from server.config import Settings
from server.db import embedded
from server.db.migrate import migrate
from server.keys import create_key
from tests.support.builders import create_customer, create_invoice, customer_request
from tests.support.client import Api, expect_error, open_api

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        status: int = response.status
        return status


async def _wait_for_health(target: str, wanted: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await _health(target) == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"health did not become {wanted} within {within_s} s")


@pytest.mark.slow
@pytest.mark.timeout(300)  # starts a PostgreSQL of its own, twice
async def test_outage_gives_unavailable_fast_then_recovers_without_losing_writes(settings: Settings) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="invoicing-outage-")) / "pg"
    pg = await asyncio.to_thread(embedded.start, data_dir)
    running = None
    try:
        await migrate(pg.dsn)
        _, key = await create_key(pg.dsn, "outage", invoice_prefix="OUT")
        running = await start_server(settings, pg.dsn, run_billing=False)
        target = f"127.0.0.1:{running.port}"
        async with open_api(target, key) as api:
            customer = await create_customer(api)
            committed = await create_invoice(api, customer)
            assert await _health(target) == SERVING

            await asyncio.to_thread(pg.stop)
            failure = await expect_error(
                api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=committed.id), timeout=5)
            )
            assert failure.code == grpc.StatusCode.UNAVAILABLE
            assert failure.reason == "DATABASE_UNAVAILABLE"
            assert failure.retry_delay_ms is not None
            # UNAVAILABLE, not DEADLINE_EXCEEDED: the call failed on its own instead of hanging to its deadline.
            write = await expect_error(api.customers.CreateCustomer(customer_request(), timeout=5))
            assert write.code == grpc.StatusCode.UNAVAILABLE
            await _wait_for_health(target, NOT_SERVING, within_s=10)

            pg = await asyncio.to_thread(embedded.start, data_dir)
            await _wait_for_health(target, SERVING, within_s=15)
            fetched = await _eventually_get(api, committed.id)
            assert fetched == committed  # the write committed before the outage is intact
    finally:
        if running is not None:
            await running.stop(grace=1)
        await asyncio.to_thread(pg.stop)
        shutil.rmtree(data_dir.parent, ignore_errors=True)


async def _eventually_get(api: Api, invoice_id: str) -> invoice_pb2.Invoice:
    """GetInvoice, retried while pooled connections that died with the old server are replaced."""
    deadline = time.monotonic() + 15
    while True:
        try:
            invoice: invoice_pb2.Invoice = await api.invoices.GetInvoice(
                invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id), timeout=5
            )
            return invoice
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
