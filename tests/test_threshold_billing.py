"""Threshold billing end to end: a partial invoice as soon as the period's uninvoiced usage reaches the threshold,
deducted by the period's invoice, worked by hand in USD and JPY; exactly one partial invoice when 50 batches
cross the threshold at once.

Plan: Platform 50.00 a month in advance and Calls 0.50 each (in JPY 5000 and 50); threshold 100.00 (10000 JPY).
February 2027; the customer is in UTC and issues by hand (partial invoices are issued at once regardless).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import grpc
import pytest
from invoicing.v1 import customer_service_pb2, invoice_pb2, subscription_service_pb2

from server.app import RunningServer
from tests.support.builders import (
    at,
    billed_per_call,
    create_customer,
    create_plan,
    event,
    fixed_fee,
    subscribe,
    usage_price,
)
from tests.support.calls import get_invoice, ingest_ok, invoices_of, previewed_and_generated, upcoming, void
from tests.support.checks import assert_balance_matches_ledger, assert_totals_are_sum_of_lines
from tests.support.client import Api, expect_error
from tests.support.clock import Clock, run_billing
from tests.support.wire import ISSUED

D = Decimal
PARTIAL = invoice_pb2.INVOICE_SOURCE_PARTIAL
VALUES = {"USD": ("50.00", "0.50", "100.00"), "JPY": ("5000", "50", "10000")}
Row = tuple[str, str, str, str, str, str, str]


def rows(invoice: invoice_pb2.Invoice) -> list[Row]:
    """(name, quantity, subtotal, adjusted subtotal, partially invoiced, credits applied, amount) of each line."""
    return [
        (li.name, li.quantity, li.subtotal, li.adjusted_subtotal, li.partially_invoiced_amount, li.credits_applied,
         li.amount)
        for li in invoice.line_items
    ]  # fmt: skip


async def partials(api: Api, subscription_id: str) -> list[invoice_pb2.Invoice]:
    return [i for i in await invoices_of(api, subscription_id=subscription_id) if i.invoice_source == PARTIAL]


async def calls(api: Api, clock: Clock, customer_id: str, when: str, count: int) -> None:
    """`count` calls at `when`, sent a minute later (usage counts up to the instant of the check)."""
    clock.set(at(when) + dt.timedelta(minutes=1))
    await ingest_ok(api, [event(customer_id, at(when)) for _ in range(count)])


@pytest.mark.parametrize(
    ("currency", "partial", "final"),
    [
        (
            "USD",
            # 210 calls × 0.50 = 105.00 ≥ 100.00: billed at once.
            [("Calls", "210", "105.00", "105.00", "0.00", "0.00", "105.00")],
            # 310 calls = 155.00, of which 105.00 already billed: 50.00; March's fee 50.00.
            [
                ("Calls", "310", "155.00", "155.00", "105.00", "0.00", "50.00"),
                ("Platform", "1", "50.00", "50.00", "0.00", "0.00", "50.00"),
            ],
        ),
        (
            "JPY",
            [("Calls", "210", "10500", "10500", "0", "0", "10500")],  # 210 × 50
            [
                ("Calls", "310", "15500", "15500", "10500", "0", "5000"),  # 15500 - 10500
                ("Platform", "1", "5000", "5000", "0", "0", "5000"),
            ],
        ),
    ],
)
async def test_crossing_the_threshold_issues_a_partial_invoice_the_period_deducts(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    currency: str,
    partial: list[Row],
    final: list[Row],
) -> None:
    fee, call, threshold = VALUES[currency]
    clock.set(at("2027-02-01T00:05"))
    customer = await create_customer(clocked_api, currency=currency, auto_issuance=False)
    plan = await create_plan(clocked_api, usage_price("Calls", call), fixed_fee("Platform", fee), currency=currency)
    sub = await subscribe(clocked_api, customer, plan, "2027-02-01", invoicing_threshold=threshold)
    assert sub.invoicing_threshold == threshold
    await run_billing(clocked_server, clock, at("2027-02-01T00:05"))

    await calls(clocked_api, clock, customer.id, "2027-02-05T09:00", 150)  # 75.00: below the threshold
    assert await partials(clocked_api, sub.id) == []
    await calls(clocked_api, clock, customer.id, "2027-02-10T09:00", 60)  # 105.00: crosses it
    [first] = await partials(clocked_api, sub.id)
    assert (first.status, first.invoice_number != "", first.amount_due) == (ISSUED, True, partial[0][6])
    assert rows(first) == partial
    assert first.invoice_date.day == 10
    assert first.subscription.id == sub.id
    assert_totals_are_sum_of_lines(first)
    await calls(clocked_api, clock, customer.id, "2027-02-20T09:00", 100)  # 50.00 more: below the threshold again
    assert len(await partials(clocked_api, sub.id)) == 1

    preview, march = await previewed_and_generated(
        clocked_api, clocked_server, clock, sub.id, at("2027-02-28T23:00"), at("2027-03-01T00:05")
    )
    assert march.invoice_date.month == 3
    assert rows(preview) == rows(march) == final
    assert_totals_are_sum_of_lines(march)
    billed = D(first.total) + D(march.total) - D(fee)  # usage over both invoices, March's fee aside
    assert billed == D(final[0][2])  # every call billed once


async def test_credits_count_before_the_threshold_and_the_period_deducts_what_partials_covered(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    """20.00 of credits: 210 calls (105.00) leave 85.00 to bill, below 100.00; 250 calls (125.00) leave 105.00:
    the partial invoice shows 125.00 adjusted, 20.00 of credits and 105.00 due. The period's invoice: 310 calls
    (155.00), 125.00 covered by the partial invoice, no credits left: 30.00."""
    clock.set(at("2027-02-01T00:05"))
    customer = await create_customer(clocked_api, auto_issuance=False)
    await clocked_api.customers.GrantCredits(
        customer_service_pb2.GrantCreditsRequest(customer_id=customer.id, amount="20.00", currency="USD")
    )
    plan = await create_plan(clocked_api, usage_price("Calls", "0.50"))
    sub = await subscribe(clocked_api, customer, plan, "2027-02-01", invoicing_threshold="100.00")
    await calls(clocked_api, clock, customer.id, "2027-02-05T09:00", 210)
    assert await partials(clocked_api, sub.id) == []
    await calls(clocked_api, clock, customer.id, "2027-02-06T09:00", 40)
    [first] = await partials(clocked_api, sub.id)
    assert rows(first) == [("Calls", "250", "125.00", "125.00", "0.00", "20.00", "105.00")]
    await calls(clocked_api, clock, customer.id, "2027-02-07T09:00", 60)
    await run_billing(clocked_server, clock, at("2027-03-01T00:05"))
    [march] = [i for i in await invoices_of(clocked_api, subscription_id=sub.id) if i.invoice_source != PARTIAL]
    assert rows(march) == [("Calls", "310", "155.00", "155.00", "125.00", "0.00", "30.00")]


async def test_a_voided_partial_invoice_is_billed_again(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2027-02-01T00:05"))
    customer, sub = await billed_per_call(clocked_api, "2027-02-01", "1.00", invoicing_threshold="10.00")
    await calls(clocked_api, clock, customer.id, "2027-02-05T09:00", 12)
    [first] = await partials(clocked_api, sub.id)
    await void(clocked_api, first.id)
    preview = (await upcoming(clocked_api, sub.id)).invoice
    assert rows(preview) == [("Calls", "12", "12.00", "12.00", "0.00", "0.00", "12.00")]  # nothing deducted
    await calls(clocked_api, clock, customer.id, "2027-02-06T09:00", 1)  # the next batch bills the 13 calls again
    assert [p.total for p in await partials(clocked_api, sub.id) if p.id != first.id] == ["13.00"]
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == 0


async def test_one_partial_invoice_when_fifty_batches_cross_the_threshold_at_once(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    """50 concurrent batches of 3 calls at 1.00: 150.00 in all against a threshold of 100.00. The checks take
    turns on the subscription: the first to see 100.00 or more bills everything committed by then; after it,
    what is left is at most 50.00. Whatever the interleaving, every call is billed exactly once."""
    clock.set(at("2027-02-01T00:05"))
    customer, sub = await billed_per_call(clocked_api, "2027-02-01", "1.00", invoicing_threshold="100.00")
    clock.set(at("2027-02-10T09:00"))
    await asyncio.gather(
        *(ingest_ok(clocked_api, [event(customer.id, at("2027-02-10T08:00")) for _ in range(3)]) for _ in range(50))
    )
    [partial] = await partials(clocked_api, sub.id)
    assert D(100) <= D(partial.total) <= D(150)
    preview = (await upcoming(clocked_api, sub.id)).invoice
    [line] = preview.line_items
    assert (line.quantity, line.partially_invoiced_amount) == ("150", partial.total)
    assert D(line.amount) + D(partial.total) == D("150.00")
    assert await get_invoice(clocked_api, partial.id) == partial


async def test_the_threshold_is_set_checked_and_removed(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2027-02-01T00:05"))
    customer = await create_customer(clocked_api, currency="JPY")
    plan = await create_plan(clocked_api, usage_price("Calls", "1"), currency="JPY")
    too_fine = await expect_error(subscribe(clocked_api, customer, plan, "2027-02-01", invoicing_threshold="10.5"))
    assert (too_fine.code, set(too_fine.field_violations)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        {"invoicing_threshold"},
    )
    zero = await expect_error(subscribe(clocked_api, customer, plan, "2027-02-01", invoicing_threshold="0"))
    assert set(zero.field_violations) == {"invoicing_threshold"}
    sub = await subscribe(clocked_api, customer, plan, "2027-02-01")
    assert sub.invoicing_threshold == ""

    def update(**fields: object) -> subscription_service_pb2.UpdateSubscriptionRequest:
        return subscription_service_pb2.UpdateSubscriptionRequest(subscription_id=sub.id, **fields)  # type: ignore[arg-type]

    updated = await clocked_api.subscriptions.UpdateSubscription(update(invoicing_threshold="500"))
    assert updated.invoicing_threshold == "500"
    removed = await clocked_api.subscriptions.UpdateSubscription(update(invoicing_threshold=""))
    assert removed.invoicing_threshold == ""
    nothing = await expect_error(clocked_api.subscriptions.UpdateSubscription(update()))
    assert nothing.code == grpc.StatusCode.INVALID_ARGUMENT
