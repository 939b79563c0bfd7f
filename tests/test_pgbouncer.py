"""Behind a real PgBouncer in transaction pooling mode (SPEC 10), and reconnecting after it goes (SPEC 12).

The server reaches PostgreSQL through PgBouncer (statement cache off, every
statement in a transaction, timeouts set per transaction); migrations and the
LISTEN connection use the direct DSN. Mutations with their locks and
idempotency, List streams over a snapshot, the change stream woken by NOTIFY,
the upcoming invoice and usage ingestion all work, also under concurrency.
When PgBouncer stops, calls fail UNAVAILABLE and health turns NOT_SERVING;
when it is back, the server reconnects by itself.

(`make test-pgbouncer`, run by CI, also runs the whole suite through PgBouncer.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import grpc
import pytest
from invoicing.v1 import invoice_pb2, invoice_service_pb2

from server.config import Settings
from tests.support import pgbouncer
from tests.support.accounts import new_account
from tests.support.builders import (
    create_customer,
    create_invoice,
    create_plan,
    event,
    fixed_fee,
    subscribe,
    usage_price,
)
from tests.support.calls import ingest
from tests.support.client import Api, expect_error, open_api
from tests.support.resilience import NOT_SERVING, SERVING, eventually, health, own_server, target_of


@pytest.mark.slow
@pytest.mark.timeout(180)  # PgBouncer started twice (30 s each at most), health lost and back (20 s each)
async def test_the_service_works_through_pgbouncer_and_reconnects_after_it_restarts(
    settings: Settings, migrated_dsn: str
) -> None:
    account = await new_account(migrated_dsn)
    bouncer = pgbouncer.PgBouncer(migrated_dsn)
    await asyncio.to_thread(bouncer.start)
    try:
        async with (
            own_server(settings, bouncer.dsn, direct_dsn=migrated_dsn, health_check_interval_s=0.2) as running,
            open_api(target_of(running), account.key) as api,
        ):
            assert running.db.settings.transaction_pooling
            await _exercise(api)

            await asyncio.to_thread(bouncer.stop)
            failure = await expect_error(api.invoices.ListInvoices(invoice_service_pb2.ListInvoicesRequest()))
            assert failure.code == grpc.StatusCode.UNAVAILABLE

            async def not_serving() -> bool:
                status = await health(api.channel)
                return status == NOT_SERVING

            await eventually(not_serving, 20, "health did not report the lost database")

            await asyncio.to_thread(bouncer.start)

            async def serving() -> bool:
                status = await health(api.channel)
                return status == SERVING

            await eventually(serving, 20, "health did not come back")
            await _eventually(lambda: _exercise(api))
    finally:
        await asyncio.to_thread(bouncer.close)


async def _exercise(api: Api) -> None:
    """Every kind of database work, some of it concurrent."""
    customer = await create_customer(api)
    watch = api.invoices.WatchInvoiceEvents(invoice_service_pb2.WatchInvoiceEventsRequest(), timeout=60)
    issued = await asyncio.gather(
        *(create_invoice(api, customer, will_auto_issue=True, request_id=f"pgb-{n}-{customer.id}") for n in range(30))
    )
    numbers = {invoice.invoice_number for invoice in issued}
    assert len(numbers) == 30
    fetched = await asyncio.gather(
        *(api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=i.id)) for i in issued)
    )
    assert list(fetched) == list(issued)
    listed = [
        invoice.id
        async for batch in api.invoices.ListInvoices(invoice_service_pb2.ListInvoicesRequest(customer_id=customer.id))
        for invoice in batch.invoices
    ]
    assert sorted(listed) == sorted(invoice.id for invoice in issued)
    seen: set[str] = set()
    async with asyncio.timeout(20):
        async for change in watch:
            if change.type == invoice_pb2.INVOICE_EVENT_TYPE_ISSUED:
                seen.add(change.invoice.id)
            if len(seen) == 30:
                break
    watch.cancel()

    today = dt.datetime.now(dt.UTC).date()
    plan = await create_plan(api, fixed_fee(amount="10.00"), usage_price(unit_amount="0.50"))
    subscription = await subscribe(api, customer, plan, today.replace(day=1).isoformat())
    accepted = await ingest(
        api, [event(customer.id, dt.datetime.now(dt.UTC), key=f"e{n}-{customer.id}") for n in range(4)]
    )
    assert accepted.ingested == 4
    preview = await api.invoices.GetUpcomingInvoice(
        invoice_service_pb2.GetUpcomingInvoiceRequest(subscription_id=subscription.id)
    )
    assert preview.invoice.total == "12.00"  # the next period's fee and 4 calls at 0.50 so far


async def _eventually(work: Callable[[], Awaitable[None]]) -> None:
    """Run work() until it succeeds (pooled connections that died with PgBouncer are replaced meanwhile)."""
    for _ in range(100):
        try:
            await work()
            return
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("the service did not recover after PgBouncer came back")
