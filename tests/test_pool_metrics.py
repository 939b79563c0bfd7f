"""Pool and stream gauges in the Prometheus metrics: connections in use and idle, calls waiting for one,
server streams being served."""

from __future__ import annotations

import asyncio

from invoicing.v1 import customer_service_pb2, invoice_service_pb2
from prometheus_client import REGISTRY

from server.app import RunningServer
from tests.client import Api
from tests.factories import create_customer, create_invoice

LIST = "/invoicing.v1.InvoiceService/ListInvoices"


def sample(name: str, **labels: str) -> float:
    """The current value of a gauge (0 for a label set never seen)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_open_stream_is_counted_and_holds_a_stream_connection(api: Api, server: RunningServer) -> None:
    customer = await create_customer(api)
    for _ in range(3):
        await create_invoice(api, customer)
    streams_before = (
        sample("invoicing_streams_active", method=LIST)
        if REGISTRY.get_sample_value("invoicing_streams_active", {"method": LIST}) is not None
        else 0.0
    )
    in_use_before = sample("invoicing_db_pool_connections", pool="stream", state="in_use")

    call = api.invoices.ListInvoices(
        invoice_service_pb2.ListInvoicesRequest(customer_id=customer.id, status=["INVOICE_STATUS_DRAFT"])
    )
    first = await call.read()
    assert len(first.invoices) == 3
    assert sample("invoicing_streams_active", method=LIST) == streams_before + 1
    assert sample("invoicing_db_pool_connections", pool="stream", state="in_use") == in_use_before + 1
    assert [m async for m in call] == []

    for _ in range(100):  # the handler finishes just after the client sees the end
        if sample("invoicing_streams_active", method=LIST) == streams_before:
            break
        await asyncio.sleep(0.01)
    assert sample("invoicing_streams_active", method=LIST) == streams_before
    assert sample("invoicing_db_pool_connections", pool="stream", state="in_use") == in_use_before


async def test_calls_waiting_for_a_connection_are_counted(api: Api, server: RunningServer) -> None:
    customer = await create_customer(api)
    pool = server.db.pool
    held = [await pool.acquire() for _ in range(pool.get_max_size() - (pool.get_size() - pool.get_idle_size()))]
    try:
        assert sample("invoicing_db_pool_connections", pool="unary", state="idle") == 0
        request = customer_service_pb2.GetCustomerRequest(customer_id=customer.id)
        waiting = asyncio.ensure_future(api.customers.GetCustomer(request, timeout=10))
        for _ in range(500):
            if sample("invoicing_db_pool_waiting", pool="unary") >= 1:
                break
            await asyncio.sleep(0.01)
        assert sample("invoicing_db_pool_waiting", pool="unary") >= 1
        assert sample("invoicing_db_pool_connections", pool="unary", state="in_use") == pool.get_max_size()
    finally:
        for conn in held:
            await pool.release(conn)
    assert (await waiting).id == customer.id
    assert sample("invoicing_db_pool_waiting", pool="unary") == 0
