"""Cancellation end to end through the runner: immediately, at the end of the term and on a date, with the
period's invoice still a draft, issued or paid; the unused part of in-advance fees comes back, and the
customer balance always equals its ledger.

A monthly fee of 25.00 (2500 JPY, 25.000 KWD) billed in advance for November 2027 (30 days) and a usage price
of 1.00 a call; the customer is in UTC and issues by hand. Dates in 2027, clear of the other billing tests.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import grpc
import pytest
from invoicing.v1 import customer_pb2, invoice_pb2, subscription_service_pb2

from server.app import RunningServer
from tests.support.builders import (
    at,
    create_customer,
    create_plan,
    date,
    day_of,
    event,
    fixed_fee,
    lines_by_name,
    subscribe,
    usage_price,
)
from tests.support.calls import cancel, get_invoice, ingest_ok, invoices_of, issue, mark_paid, upcoming, void
from tests.support.checks import assert_balance_matches_ledger
from tests.support.client import Api, expect_error
from tests.support.clock import Clock, run_billing
from tests.support.wire import (
    DRAFT,
    END_OF_TERM,
    IMMEDIATE,
    ISSUED,
    PAID,
    PRORATED_REFUND,
    REQUESTED_DATE,
    REVERT_PRORATED_REFUND,
)

D = Decimal
APPLIED = customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE
FEES = {"USD": ("25.00", "1.00"), "JPY": ("2500", "100"), "KWD": ("25.000", "1.000")}


async def november(
    api: Api, server: RunningServer, clock: Clock, currency: str, status: int
) -> tuple[customer_pb2.Customer, subscription_service_pb2.Subscription, invoice_pb2.Invoice]:
    """A customer subscribed from Nov 1, two calls on Nov 5, and November's fee invoice in `status`."""
    fee, call = FEES[currency]
    clock.set(at("2027-11-01T00:05"))
    customer = await create_customer(api, currency=currency, auto_issuance=False)
    plan = await create_plan(api, fixed_fee("Platform", fee), usage_price("Calls", call), currency=currency)
    subscription = await subscribe(api, customer, plan, "2027-11-01")
    await run_billing(server, clock, at("2027-11-01T00:05"))
    [first] = await invoices_of(api, subscription_id=subscription.id)
    assert (first.status, first.total) == (DRAFT, fee)
    if status != DRAFT:
        first = await issue(api, first.id)
    if status == PAID:
        first = await mark_paid(api, first.id, payment_received_date=date("2027-11-01"))
    assert first.status == status
    clock.set(at("2027-11-05T10:00"))
    await ingest_ok(api, [event(customer.id, at("2027-11-05T09:00")) for _ in range(2)])
    return customer, subscription, first


def refunds(invoice: invoice_pb2.Invoice) -> list[tuple[int, str]]:
    """(action, amount) of the invoice's balance transactions that came from cancellations."""
    return [
        (t.action, t.amount)
        for t in invoice.customer_balance_transactions
        if t.action in (PRORATED_REFUND, REVERT_PRORATED_REFUND)
    ]


STATUSES = [pytest.param(DRAFT, id="draft"), pytest.param(ISSUED, id="issued"), pytest.param(PAID, id="paid")]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(
    ("currency", "kept", "credit", "calls", "left"),
    [
        # Nov 1 to 11 used (the 11th counts): 25.00 × 11/30 = 9.1666… → 9.17 kept, 25.00 - 9.17 = 15.83 back.
        # The final invoice bills 2 calls (2.00) and the credit pays it: 15.83 - 2.00 = 13.83 left.
        ("USD", "9.17", "15.83", "2.00", "13.83"),
        ("JPY", "917", "1583", "200", "1383"),  # 2500 × 11/30 = 916.6… → 917; 2500 - 917; 1583 - 200
        ("KWD", "9.167", "15.833", "2.000", "13.833"),  # 9.1666… → 9.167; 25 - 9.167; 15.833 - 2
    ],
)
async def test_immediate_cancellation_credits_the_unused_fee(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    status: int,
    currency: str,
    kept: str,
    credit: str,
    calls: str,
    left: str,
) -> None:
    """Defect 1: a draft is lowered to the days used; an issued or paid invoice gets a prorated_refund."""
    fee = FEES[currency][0]
    customer, sub, first = await november(clocked_api, clocked_server, clock, currency, status)
    clock.set(at("2027-11-11T15:00"))
    key = uuid.uuid4().hex
    cancelled = await cancel(clocked_api, sub.id, IMMEDIATE, request_id=key)
    assert (day_of(cancelled.end_date), cancelled.status) == (
        dt.date(2027, 11, 12),
        subscription_service_pb2.SUBSCRIPTION_STATUS_ENDED,
    )
    after = await get_invoice(clocked_api, first.id)
    assert after.version == first.version + 1  # changed once, in the cancellation's transaction
    if status == DRAFT:
        assert lines_by_name(after) == {"Platform": ("1", kept, dt.date(2027, 11, 1), dt.date(2027, 11, 11))}
        assert (after.total, after.amount_due, refunds(after)) == (kept, kept, [])
        balance = D(0)
    else:
        assert (after.total, after.status) == (fee, status)  # an issued invoice is not rewritten
        assert refunds(after) == [(PRORATED_REFUND, credit)]
        assert sub.id in after.customer_balance_transactions[-1].description
        balance = D(credit)
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == balance

    replay = await cancel(clocked_api, sub.id, IMMEDIATE, request_id=key)  # a retry changes nothing
    assert replay == cancelled
    assert await get_invoice(clocked_api, first.id) == after

    await run_billing(clocked_server, clock, at("2027-11-11T15:01"))  # the final invoice is due at once
    final = (await invoices_of(clocked_api, subscription_id=sub.id))[-1]
    assert day_of(final.invoice_date) == dt.date(2027, 11, 11)
    assert lines_by_name(final) == {"Calls": ("2", calls, dt.date(2027, 11, 1), dt.date(2027, 11, 11))}
    clock.set(at("2027-11-12T03:00"))  # its grace period is over
    issued = await issue(clocked_api, final.id)
    if status == DRAFT:
        assert (issued.status, issued.amount_due) == (ISSUED, calls)
        assert await assert_balance_matches_ledger(clocked_api, customer.id) == 0
    else:  # the credit pays the final invoice
        assert (issued.status, issued.amount_due) == (PAID, money_zero(currency))
        assert [(t.action, t.amount) for t in issued.customer_balance_transactions] == [(APPLIED, calls)]
        assert await assert_balance_matches_ledger(clocked_api, customer.id) == D(left)
    await run_billing(clocked_server, clock, at("2028-02-01T00:05"))  # nothing more is ever billed
    assert len(await invoices_of(clocked_api, subscription_id=sub.id)) == 2


def money_zero(currency: str) -> str:
    """Zero as the wire shows it in the currency."""
    return {"USD": "0.00", "JPY": "0", "KWD": "0.000"}[currency]


@pytest.mark.parametrize("status", STATUSES)
async def test_cancellation_at_the_end_of_the_term_changes_no_invoice(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, status: int
) -> None:
    customer, sub, first = await november(clocked_api, clocked_server, clock, "USD", status)
    clock.set(at("2027-11-11T15:00"))
    cancelled = await cancel(clocked_api, sub.id, END_OF_TERM)
    assert (day_of(cancelled.end_date), cancelled.status) == (
        dt.date(2027, 12, 1),
        subscription_service_pb2.SUBSCRIPTION_STATUS_ACTIVE,
    )
    assert await get_invoice(clocked_api, first.id) == first  # nothing unused: untouched
    assert (await upcoming(clocked_api, sub.id)).target_date == date("2027-12-01")
    await run_billing(clocked_server, clock, at("2027-12-01T00:05"))
    await run_billing(clocked_server, clock, at("2028-02-01T00:05"))
    invoices = await invoices_of(clocked_api, subscription_id=sub.id)
    assert [day_of(i.invoice_date) for i in invoices] == [dt.date(2027, 11, 1), dt.date(2027, 12, 1)]
    # The last invoice bills November's usage and no fee for December.
    assert lines_by_name(invoices[1]) == {"Calls": ("2", "2.00", dt.date(2027, 11, 1), dt.date(2027, 11, 30))}
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == 0


@pytest.mark.parametrize("status", STATUSES)
async def test_cancellation_on_a_date_credits_the_days_after_it(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, status: int
) -> None:
    """Ending on Nov 21: Nov 1 to 20 used, 25.00 × 20/30 = 16.666… → 16.67 kept, 8.33 back."""
    customer, sub, first = await november(clocked_api, clocked_server, clock, "USD", status)
    clock.set(at("2027-11-11T15:00"))
    cancelled = await cancel(clocked_api, sub.id, REQUESTED_DATE, "2027-11-21")
    assert cancelled.ended_at.ToDatetime(tzinfo=dt.UTC) == at("2027-11-21T00:00")
    after = await get_invoice(clocked_api, first.id)
    if status == DRAFT:
        assert (after.total, refunds(after)) == ("16.67", [])
    else:
        assert (after.total, refunds(after)) == ("25.00", [(PRORATED_REFUND, "8.33")])
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == (0 if status == DRAFT else D("8.33"))
    preview = await upcoming(clocked_api, sub.id)
    assert preview.target_date == date("2027-11-21")
    await run_billing(clocked_server, clock, at("2027-11-21T00:01"))
    final = (await invoices_of(clocked_api, subscription_id=sub.id))[-1]
    assert day_of(final.invoice_date) == dt.date(2027, 11, 21)
    assert lines_by_name(final) == lines_by_name(preview.invoice)
    assert lines_by_name(final) == {"Calls": ("2", "2.00", dt.date(2027, 11, 1), dt.date(2027, 11, 20))}


async def test_moving_the_end_earlier_credits_more_and_later_takes_it_back(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    customer, sub, first = await november(clocked_api, clocked_server, clock, "USD", ISSUED)
    clock.set(at("2027-11-11T15:00"))
    await cancel(clocked_api, sub.id, REQUESTED_DATE, "2027-11-21")  # 20 days kept: 16.67, 8.33 back
    await cancel(clocked_api, sub.id, END_OF_TERM)  # the whole month again: 8.33 taken back
    after = await get_invoice(clocked_api, first.id)
    assert refunds(after) == [(PRORATED_REFUND, "8.33"), (REVERT_PRORATED_REFUND, "8.33")]
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == 0
    await cancel(clocked_api, sub.id, REQUESTED_DATE, "2027-11-21")  # 8.33 back again
    clock.set(at("2027-11-14T08:00"))
    await cancel(clocked_api, sub.id, IMMEDIATE)  # Nov 1 to 14 used: 25 × 14/30 = 11.666… → 11.67; 13.33 in all
    after = await get_invoice(clocked_api, first.id)
    assert refunds(after)[2:] == [(PRORATED_REFUND, "8.33"), (PRORATED_REFUND, "5.00")]  # 13.33 - 8.33 = 5.00
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == D("13.33")
    assert after.version == first.version + 4  # one change per cancellation


async def test_a_void_invoice_is_left_alone(clocked_api: Api, clocked_server: RunningServer, clock: Clock) -> None:
    customer, sub, first = await november(clocked_api, clocked_server, clock, "USD", ISSUED)
    voided = await void(clocked_api, first.id)
    clock.set(at("2027-11-11T15:00"))
    await cancel(clocked_api, sub.id, IMMEDIATE)
    assert await get_invoice(clocked_api, first.id) == voided  # a void invoice billed nothing: nothing back
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == 0


async def test_a_cancellation_date_lies_within_five_years(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    _, sub, first = await november(clocked_api, clocked_server, clock, "USD", DRAFT)
    for far in ("2032-11-06", "9999-12-31"):
        refused = await expect_error(cancel(clocked_api, sub.id, REQUESTED_DATE, far))
        assert (refused.code, set(refused.field_violations)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            {"cancellation_date"},
        )
    assert (await cancel(clocked_api, sub.id, REQUESTED_DATE, "2032-11-05")).end_date == date("2032-11-05")
    assert await get_invoice(clocked_api, first.id) == first
