"""Backfills end to end: usage for a period already invoiced, counted once the backfill closes, recorded as a new
invoice line (more usage) or a balance credit on the issued invoice (less), worked by hand in USD and JPY.

Plan: Calls 0.10 each (10 JPY) and Platform 10.00 (1000 JPY) a month in advance. March 2027; the customer is in
UTC and issues by hand. 100 calls on March 10 are invoiced on April 1 (10.00) and that invoice is issued.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import grpc
import pytest
from invoicing.v1 import customer_pb2, invoice_pb2, usage_service_pb2

from server.app import RunningServer
from tests.support.builders import (
    at,
    billed_per_call,
    create_customer,
    create_plan,
    day_of,
    event,
    fixed_fee,
    subscribe,
    timestamp,
    usage_price,
)
from tests.support.calls import get_invoice, ingest, ingest_ok, invoices_of, issue, upcoming
from tests.support.checks import assert_balance_matches_ledger, assert_totals_are_sum_of_lines
from tests.support.client import Api, expect_error
from tests.support.clock import Clock, run_billing
from tests.support.wire import PRORATED_REFUND

D = Decimal
PENDING = usage_service_pb2.BACKFILL_STATUS_PENDING
REFLECTED = usage_service_pb2.BACKFILL_STATUS_REFLECTED
REVERTED = usage_service_pb2.BACKFILL_STATUS_REVERTED


async def create_backfill(
    api: Api, customer_id: str, start: str, end: str, **fields: Any
) -> usage_service_pb2.Backfill:
    result: usage_service_pb2.Backfill = await api.usage.CreateBackfill(
        usage_service_pb2.CreateBackfillRequest(
            customer_id=customer_id, timeframe_start=timestamp(at(start)), timeframe_end=timestamp(at(end)), **fields
        )
    )
    return result


async def close(api: Api, backfill_id: str, **fields: Any) -> usage_service_pb2.Backfill:
    result: usage_service_pb2.Backfill = await api.usage.CloseBackfill(
        usage_service_pb2.CloseBackfillRequest(backfill_id=backfill_id, **fields)
    )
    return result


async def revert(api: Api, backfill_id: str) -> usage_service_pb2.Backfill:
    result: usage_service_pb2.Backfill = await api.usage.RevertBackfill(
        usage_service_pb2.RevertBackfillRequest(backfill_id=backfill_id)
    )
    return result


async def send(
    api: Api, customer_id: str, when: str, count: int, backfill_id: str
) -> usage_service_pb2.IngestEventsResponse:
    """`count` calls at `when` sent into a backfill."""
    response: usage_service_pb2.IngestEventsResponse = await api.usage.IngestEvents(
        usage_service_pb2.IngestEventsRequest(
            events=[event(customer_id, at(when)) for _ in range(count)], backfill_id=backfill_id
        )
    )
    return response


def adjustments(backfill: usage_service_pb2.Backfill) -> list[tuple[str, str, dt.date, dt.date, str]]:
    """(invoice corrected, line name, first day, last day, amount) of each correction."""
    return [(a.invoice_id, a.name, day_of(a.start_date), day_of(a.end_date), a.amount) for a in backfill.adjustments]


async def march(
    api: Api, server: RunningServer, clock: Clock, currency: str
) -> tuple[customer_pb2.Customer, str, invoice_pb2.Invoice]:
    """A subscription from March 1, 100 calls on March 10, and April 1's invoice issued."""
    call, fee = ("0.10", "10.00") if currency == "USD" else ("10", "1000")
    clock.set(at("2027-03-01T00:05"))
    customer = await create_customer(api, currency=currency, auto_issuance=False)
    plan = await create_plan(api, usage_price("Calls", call), fixed_fee("Platform", fee), currency=currency)
    sub = await subscribe(api, customer, plan, "2027-03-01")
    clock.set(at("2027-03-10T10:00"))
    await ingest_ok(api, [event(customer.id, at("2027-03-10T09:00")) for _ in range(100)])
    await run_billing(server, clock, at("2027-04-01T00:05"))
    april = next(i for i in await invoices_of(api, subscription_id=sub.id) if i.invoice_date.month == 4)
    clock.set(at("2027-04-01T12:10"))
    return customer, sub.id, await issue(api, april.id)


@pytest.mark.parametrize(
    ("currency", "first", "second", "third"),
    [
        ("USD", "3.00", "-6.00", "6.00"),  # +30 calls; 40 calls replace the 100 (70 in all: 7.00 against 13.00)
        ("JPY", "300", "-600", "600"),
    ],
)
async def test_backfills_correct_an_issued_invoice_with_a_new_invoice_or_a_credit(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    currency: str,
    first: str,
    second: str,
    third: str,
) -> None:
    customer, sub_id, april = await march(clocked_api, clocked_server, clock, currency)
    assert [li.amount for li in april.line_items if li.name == "Calls"] == [("10.00" if currency == "USD" else "1000")]
    clock.set(at("2027-04-05T10:00"))
    late = await ingest(clocked_api, [event(customer.id, at("2027-03-20T09:00"))])
    assert [e.reason for e in late.errors] == ["PERIOD_CLOSED"]

    # 30 more calls on March 20, through a backfill: they count only once it closes.
    backfill = await create_backfill(clocked_api, customer.id, "2027-03-15T00:00", "2027-03-25T00:00")
    assert (backfill.status, backfill.events_ingested) == (PENDING, 0)
    sent = await send(clocked_api, customer.id, "2027-03-20T09:00", 30, backfill.id)
    assert (sent.ingested, list(sent.errors)) == (30, [])
    outside = await send(clocked_api, customer.id, "2027-03-26T09:00", 1, backfill.id)
    assert [e.reason for e in outside.errors] == ["OUTSIDE_BACKFILL_TIMEFRAME"]
    assert await get_invoice(clocked_api, april.id) == april
    closed = await close(clocked_api, backfill.id)
    assert (closed.status, closed.events_ingested) == (REFLECTED, 30)
    [(corrected, name, start, end, amount)] = adjustments(closed)
    assert (corrected, name, start, end, amount) == (
        april.id,
        "Calls",
        dt.date(2027, 3, 1),
        dt.date(2027, 3, 31),
        first,
    )
    assert await get_invoice(clocked_api, april.id) == april  # never rewritten
    extra = await get_invoice(clocked_api, closed.adjustments[0].adjustment_invoice_id)
    assert (extra.status, extra.total, extra.subscription.id) == (invoice_pb2.INVOICE_STATUS_DRAFT, first, sub_id)
    assert [(li.name, li.quantity, li.amount, day_of(li.start_date)) for li in extra.line_items] == [
        ("Calls", "30", first, dt.date(2027, 3, 1))
    ]
    assert_totals_are_sum_of_lines(extra)

    # 40 calls on March 12 replace everything sent for March 1 to 16: 40 + the 30 of March 20 = 70 calls,
    # 7.00 against the 13.00 billed so far: 6.00 credited on April's invoice.
    replacing = await create_backfill(
        clocked_api, customer.id, "2027-03-01T00:00", "2027-03-16T00:00", replace_existing_events=True
    )
    await send(clocked_api, customer.id, "2027-03-12T09:00", 40, replacing.id)
    closed = await close(clocked_api, replacing.id)
    [(corrected, _, _, _, amount)] = adjustments(closed)
    assert (corrected, amount) == (april.id, second)
    after = await get_invoice(clocked_api, april.id)
    assert after.version == april.version + 1
    assert [(t.action, t.amount) for t in after.customer_balance_transactions][-1] == (PRORATED_REFUND, second[1:])
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == D(second[1:])

    # Reverting it: the 100 calls count again (130 in all: 13.00 against 7.00): 6.00 charged on a new invoice.
    reverted = await revert(clocked_api, replacing.id)
    assert reverted.status == REVERTED
    assert adjustments(reverted)[-1][4] == third
    charged = await get_invoice(clocked_api, reverted.adjustments[-1].adjustment_invoice_id)
    assert charged.total == third
    # The period is billed for 130 calls over the invoices and the balance: 10 + 3 - 6 + 6.
    unit = D("0.10") if currency == "USD" else D(10)
    assert D(april.line_items[0].amount) + D(first) + D(second) + D(third) == 130 * unit


async def test_a_backfill_re_prices_a_draft_in_place(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2027-03-01T00:05"))
    customer, sub = await billed_per_call(clocked_api, "2027-03-01", "0.10")
    clock.set(at("2027-03-10T10:00"))
    await ingest_ok(clocked_api, [event(customer.id, at("2027-03-10T09:00")) for _ in range(10)])
    await run_billing(clocked_server, clock, at("2027-04-01T00:05"))
    [draft] = [i for i in await invoices_of(clocked_api, subscription_id=sub.id) if i.invoice_date.month == 4]
    backfill = await create_backfill(clocked_api, customer.id, "2027-03-20T00:00", "2027-03-21T00:00")
    await send(clocked_api, customer.id, "2027-03-20T09:00", 5, backfill.id)
    closed = await close(clocked_api, backfill.id)
    assert list(closed.adjustments) == []  # nothing issued to correct
    after = await get_invoice(clocked_api, draft.id)
    assert (after.version, after.total, after.line_items[0].quantity) == (draft.version + 1, "1.50", "15")
    clock.set(at("2027-04-01T12:10"))
    assert (await issue(clocked_api, draft.id)).total == "1.50"


async def test_a_pending_backfill_reverted_never_counts_and_rules_are_kept(
    clocked_api: Api, other_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2027-03-01T00:05"))
    customer = await create_customer(clocked_api, auto_issuance=False)
    stranger = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, usage_price("Calls", "0.10"))
    sub = await subscribe(clocked_api, customer, plan, "2027-03-01")
    clock.set(at("2027-03-10T10:00"))
    key = uuid.uuid4().hex
    backfill = await create_backfill(clocked_api, customer.id, "2027-03-01T00:00", "2027-03-05T00:00", request_id=key)
    again = await create_backfill(clocked_api, customer.id, "2027-03-01T00:00", "2027-03-05T00:00", request_id=key)
    assert again == backfill
    overlap = await expect_error(create_backfill(clocked_api, customer.id, "2027-03-04T00:00", "2027-03-06T00:00"))
    assert (overlap.code, overlap.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "BACKFILL_OVERLAPS")
    mixed = await clocked_api.usage.IngestEvents(
        usage_service_pb2.IngestEventsRequest(
            events=[event(customer.id, at("2027-03-02T09:00")), event(stranger.id, at("2027-03-02T09:00"))],
            backfill_id=backfill.id,
        )
    )
    assert (mixed.ingested, [(e.index, e.reason) for e in mixed.errors]) == (1, [(1, "BACKFILL_CUSTOMER_MISMATCH")])
    reverted = await revert(clocked_api, backfill.id)
    assert (reverted.status, reverted.events_ingested) == (REVERTED, 1)
    assert (await upcoming(clocked_api, sub.id)).invoice.line_items[0].quantity == "0"  # never counted
    for call, reason in [
        (close(clocked_api, backfill.id), "BACKFILL_NOT_PENDING"),
        (revert(clocked_api, backfill.id), "BACKFILL_REVERTED"),
        (send(clocked_api, customer.id, "2027-03-02T09:00", 1, backfill.id), "BACKFILL_NOT_PENDING"),
    ]:
        error = await expect_error(call)
        assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, reason)
    missing = await expect_error(close(clocked_api, "bf_missing"))
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "BACKFILL_NOT_FOUND")
    foreign = await expect_error(
        other_api.usage.GetBackfill(usage_service_pb2.GetBackfillRequest(backfill_id=backfill.id))
    )
    assert foreign.code == grpc.StatusCode.NOT_FOUND
    backwards = await expect_error(create_backfill(clocked_api, customer.id, "2027-03-05T00:00", "2027-03-01T00:00"))
    assert (backwards.code, set(backwards.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"timeframe_end"})
