"""Pool and stream gauges in the Prometheus metrics: connections in use and idle, calls waiting for one,
server streams being served. Figures are per process (every server of the test process adds to them), so
the tests compare before and after."""

from __future__ import annotations

import asyncio

from invoicing.v1 import customer_service_pb2, invoice_service_pb2
from prometheus_client import REGISTRY

from server.app import RunningServer
from tests.support.builders import create_customer
from tests.support.client import Api

WATCH = "/invoicing.v1.InvoiceService/WatchInvoiceEvents"


def sample(name: str, **labels: str) -> float:
    """The current value of a gauge (0 for a label set never seen)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _until(name: str, value: float, **labels: str) -> float:
    """The gauge once it shows value, or its last value after 5 s."""
    for _ in range(500):
        if sample(name, **labels) == value:
            break
        await asyncio.sleep(0.01)
    return sample(name, **labels)


async def test_open_streams_are_counted_by_method(api: Api) -> None:
    before = sample("invoicing_streams_active", method=WATCH)
    watches = [
        api.invoices.WatchInvoiceEvents(invoice_service_pb2.WatchInvoiceEventsRequest(after_sequence=0))
        for _ in range(2)
    ]

    assert await _until("invoicing_streams_active", before + 2, method=WATCH) == before + 2
    for watch in watches:
        watch.cancel()
    assert await _until("invoicing_streams_active", before, method=WATCH) == before


async def test_connections_in_use_and_waiting_are_reported(api: Api, server: RunningServer) -> None:
    customer = await create_customer(api)
    pool, stream_pool = server.db.pool, server.db.stream_pool
    in_use = sample("invoicing_db_pool_connections", pool="unary", state="in_use")
    streams_in_use = sample("invoicing_db_pool_connections", pool="stream", state="in_use")
    waiting = sample("invoicing_db_pool_waiting", pool="unary")
    free = pool.get_max_size() - (pool.get_size() - pool.get_idle_size())
    held = [await pool.acquire() for _ in range(free)]
    held_stream = await stream_pool.acquire()
    try:
        assert sample("invoicing_db_pool_connections", pool="unary", state="in_use") == in_use + free
        assert sample("invoicing_db_pool_connections", pool="stream", state="in_use") == streams_in_use + 1
        request = customer_service_pb2.GetCustomerRequest(customer_id=customer.id)
        blocked = asyncio.ensure_future(api.customers.GetCustomer(request, timeout=10))
        assert await _until("invoicing_db_pool_waiting", waiting + 1, pool="unary") == waiting + 1
    finally:
        for conn in held:
            await pool.release(conn)
        await stream_pool.release(held_stream)
    assert (await blocked).id == customer.id
    assert await _until("invoicing_db_pool_waiting", waiting, pool="unary") == waiting
    assert await _until("invoicing_db_pool_connections", in_use, pool="unary", state="in_use") == in_use
