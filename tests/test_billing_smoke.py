"""The billing engine end to end: plan, subscription, usage, upcoming invoice, period-end invoice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from invoicing.v1 import invoice_pb2

from server.app import RunningServer
from tests.support.builders import create_customer, create_plan, date, event, fixed_fee, subscribe, tokens_price
from tests.support.calls import ingest, invoices_of, upcoming
from tests.support.client import Api
from tests.support.clock import Clock, run_billing


async def test_upcoming_invoice_equals_the_generated_one(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC))
    customer = await create_customer(clocked_api, auto_issuance=True)
    plan = await create_plan(clocked_api, fixed_fee("Platform", "100.00"), tokens_price())
    subscription = await subscribe(clocked_api, customer, plan, "2024-01-01")
    e1, e2 = {"tokens": "100000"}, {"tokens": "50000"}
    assert subscription.current_billing_period_start_date == date("2024-01-01")
    assert subscription.current_billing_period_end_date == date("2024-02-01")
    result = await ingest(
        clocked_api,
        [
            event(customer.id, dt.datetime(2024, 1, 3, tzinfo=dt.UTC), key="e1", name="llm", properties=e1),
            event(customer.id, dt.datetime(2024, 1, 9, 23, 59, tzinfo=dt.UTC), key="e2", name="llm", properties=e2),
            event(customer.id, dt.datetime(2024, 1, 3, tzinfo=dt.UTC), key="e1", name="llm", properties=e1),
        ],
    )
    assert (result.ingested, result.duplicates, list(result.errors)) == (2, 1, [])
    preview = await upcoming(clocked_api, subscription.id)
    assert preview.target_date == date("2024-02-01")
    amounts = {line.name: line.amount for line in preview.invoice.line_items}
    assert amounts == {"Tokens": "107.00", "Platform": "100.00"}

    # Boundary 0 (January's fee in advance) and boundary 1; a second pass adds nothing.
    await run_billing(clocked_server, clock, dt.datetime(2024, 2, 1, 13, tzinfo=dt.UTC))
    await run_billing(clocked_server, clock, dt.datetime(2024, 2, 2, 1, tzinfo=dt.UTC))
    listed = await invoices_of(clocked_api, subscription_id=subscription.id)
    assert len(listed) == 2
    february = next(i for i in listed if i.invoice_date == date("2024-02-01"))
    assert february.status == invoice_pb2.INVOICE_STATUS_ISSUED
    assert {line.name: line.amount for line in february.line_items} == amounts
    assert Decimal(february.total) == Decimal("207.00")
