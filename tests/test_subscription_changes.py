"""Subscription changes end to end: plan changes (immediately, at the end of the term, on a date) and fixed-fee
quantity changes, with Orb's proration by days, worked by hand in USD and JPY.

Plans: Basic (Platform 30.00 a month in advance, Calls 0.10 each) and Pro (Pro platform 90.00 in advance, Pro
calls 0.05 each, Support 20.00 a month in arrears); in JPY 2500, 10, 7500, 7 and 1000. The customer is in UTC
and issues by hand. April 2027 has 30 days, so 10 days are 10/30 of a month.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import grpc
import pytest
from invoicing.v1 import customer_pb2, invoice_pb2, plan_service_pb2, price_pb2, subscription_service_pb2

from server.app import RunningServer
from tests.support.builders import at, create_customer, create_plan, day_of, event, fixed_fee, subscribe, usage_price
from tests.support.calls import (
    cancel,
    change_plan,
    change_quantity,
    get_invoice,
    get_subscription,
    ingest_ok,
    invoices_of,
    issue,
    previewed_and_generated,
    subscription_changes,
)
from tests.support.checks import assert_balance_matches_ledger, assert_totals_are_sum_of_lines
from tests.support.client import Api, expect_error
from tests.support.clock import Clock, run_billing
from tests.support.wire import DRAFT, ISSUED, PAID, PRORATED_REFUND

D = Decimal
IMMEDIATE = subscription_service_pb2.CHANGE_OPTION_IMMEDIATE
END_OF_TERM = subscription_service_pb2.CHANGE_OPTION_END_OF_SUBSCRIPTION_TERM
ON_DATE = subscription_service_pb2.CHANGE_OPTION_REQUESTED_DATE
SCHEDULED = subscription_service_pb2.SUBSCRIPTION_CHANGE_STATUS_SCHEDULED
APPLIED = subscription_service_pb2.SUBSCRIPTION_CHANGE_STATUS_APPLIED
SUPERSEDED = subscription_service_pb2.SUBSCRIPTION_CHANGE_STATUS_SUPERSEDED
PRICES = {
    "USD": {"platform": "30.00", "call": "0.10", "pro": "90.00", "pro_call": "0.05", "support": "20.00"},
    "JPY": {"platform": "2500", "call": "10", "pro": "7500", "pro_call": "7", "support": "1000"},
}
Row = tuple[str, str, str, dt.date, dt.date]


def rows(invoice: invoice_pb2.Invoice) -> list[Row]:
    """(name, quantity, amount, first day, last day) of each line, in order."""
    return [(li.name, li.quantity, li.amount, day_of(li.start_date), day_of(li.end_date)) for li in invoice.line_items]


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


async def plans(api: Api, currency: str) -> tuple[plan_service_pb2.Plan, plan_service_pb2.Plan]:
    """Basic and Pro in the currency."""
    p = PRICES[currency]
    basic = await create_plan(
        api, fixed_fee("Platform", p["platform"]), usage_price("Calls", p["call"]), currency=currency, name="Basic"
    )
    pro = await create_plan(
        api,
        fixed_fee("Pro platform", p["pro"]),
        usage_price("Pro calls", p["pro_call"]),
        fixed_fee("Support", p["support"], billing_mode=price_pb2.BILLING_MODE_IN_ARREAR),
        currency=currency,
        name="Pro",
    )
    return basic, pro


async def april(
    api: Api, server: RunningServer, clock: Clock, currency: str, first_plan: str = "basic", issue_first: bool = True
) -> tuple[customer_pb2.Customer, subscription_service_pb2.Subscription, dict[str, plan_service_pb2.Plan]]:
    """A subscription from Apr 1 2027 and April's fee invoice (issued unless told otherwise)."""
    clock.set(at("2027-04-01T00:05"))
    customer = await create_customer(api, currency=currency, auto_issuance=False)
    basic, pro = await plans(api, currency)
    by_name = {"basic": basic, "pro": pro}
    subscription = await subscribe(api, customer, by_name[first_plan], "2027-04-01")
    await run_billing(server, clock, at("2027-04-01T00:05"))
    [first] = await invoices_of(api, subscription_id=subscription.id)
    if issue_first:
        assert (await issue(api, first.id)).status == ISSUED
    return customer, subscription, by_name


async def calls(api: Api, clock: Clock, customer: customer_pb2.Customer, when: str, count: int) -> None:
    """`count` calls at `when` (the clock an hour later)."""
    clock.set(at(when) + dt.timedelta(hours=1))
    await ingest_ok(api, [event(customer.id, at(when)) for _ in range(count)])


async def generated_and_previewed(
    api: Api, server: RunningServer, clock: Clock, subscription_id: str, boundary: str
) -> invoice_pb2.Invoice:
    """The invoice the runner generates at `boundary` (just after its midnight), checked against the preview
    taken a minute before it: the same lines and total."""
    minute = dt.timedelta(minutes=1)
    preview, generated = await previewed_and_generated(
        api, server, clock, subscription_id, at(boundary) - minute, at(boundary) + 5 * minute
    )
    assert rows(generated) == rows(preview)
    assert (generated.subtotal, generated.total) == (preview.subtotal, preview.total)
    assert_totals_are_sum_of_lines(generated)
    return generated


@pytest.mark.parametrize(
    ("currency", "expected", "total"),
    [
        (
            "USD",
            [
                ("Calls", "10", "1.00", day("2027-04-01"), day("2027-04-10")),  # 10 calls × 0.10 on Basic
                ("Pro platform", "1", "90.00", day("2027-05-01"), day("2027-05-31")),  # May, in advance
                ("Pro calls", "10", "0.50", day("2027-04-11"), day("2027-04-30")),  # 10 calls × 0.05 on Pro
                ("Support", "1", "13.33", day("2027-04-11"), day("2027-04-30")),  # 20.00 × 20/30 = 13.333…
                # Proration: Platform billed 30.00, its 10 kept days cost 30 × 10/30 = 10.00: 20.00 back.
                ("Platform", "1", "-20.00", day("2027-04-11"), day("2027-04-30")),
                ("Pro platform", "1", "60.00", day("2027-04-11"), day("2027-04-30")),  # 90.00 × 20/30
            ],
            "144.83",  # 1.00 + 90.00 + 0.50 + 13.33 - 20.00 + 60.00
        ),
        (
            "JPY",
            [
                ("Calls", "10", "100", day("2027-04-01"), day("2027-04-10")),  # 10 × 10
                ("Pro platform", "1", "7500", day("2027-05-01"), day("2027-05-31")),
                ("Pro calls", "10", "70", day("2027-04-11"), day("2027-04-30")),  # 10 × 7
                ("Support", "1", "667", day("2027-04-11"), day("2027-04-30")),  # 1000 × 20/30 = 666.67
                # 2500 billed; 2500 × 10/30 = 833.33 → 833 kept; 2500 - 833 = 1667 back.
                ("Platform", "1", "-1667", day("2027-04-11"), day("2027-04-30")),
                ("Pro platform", "1", "5000", day("2027-04-11"), day("2027-04-30")),  # 7500 × 20/30
            ],
            "11670",  # 100 + 7500 + 70 + 667 - 1667 + 5000
        ),
    ],
)
async def test_an_immediate_upgrade_shows_both_sides_on_the_next_invoice(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    currency: str,
    expected: list[Row],
    total: str,
) -> None:
    customer, sub, plans_ = await april(clocked_api, clocked_server, clock, currency)
    await calls(clocked_api, clock, customer, "2027-04-05T09:00", 10)
    clock.set(at("2027-04-11T10:00"))
    response = await change_plan(clocked_api, sub.id, plans_["pro"].id, IMMEDIATE)
    change = response.change
    assert (day_of(change.effective_date), change.status) == (day("2027-04-11"), APPLIED)
    assert (change.plan_id, change.previous_plan_id) == (plans_["pro"].id, plans_["basic"].id)
    assert response.subscription.plan.id == plans_["pro"].id
    assert [(day_of(p.start_date), p.plan_id) for p in response.subscription.phases] == [
        (day("2027-04-01"), plans_["basic"].id),
        (day("2027-04-11"), plans_["pro"].id),
    ]
    await calls(clocked_api, clock, customer, "2027-04-20T09:00", 10)

    generated = await generated_and_previewed(clocked_api, clocked_server, clock, sub.id, "2027-05-01T00:00")
    assert (rows(generated), generated.total) == (expected, total)
    clock.set(at("2027-05-01T12:10"))  # past the usage grace period
    issued = await issue(clocked_api, generated.id)
    assert (issued.status, issued.amount_due) == (ISSUED, total)
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == 0


@pytest.mark.parametrize("first_status", [DRAFT, ISSUED], ids=["april-draft", "april-issued"])
async def test_a_draft_is_re_priced_at_once_and_both_paths_bill_the_same(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, first_status: int
) -> None:
    """April's fees come to 10.00 + 60.00 whether April's invoice was still a draft (re-priced: both sides on
    it) or already issued (prorated on May's invoice)."""
    _customer, sub, plans_ = await april(clocked_api, clocked_server, clock, "USD", issue_first=first_status == ISSUED)
    [first] = await invoices_of(clocked_api, subscription_id=sub.id)
    clock.set(at("2027-04-11T10:00"))
    await change_plan(clocked_api, sub.id, plans_["pro"].id, IMMEDIATE)
    after = await get_invoice(clocked_api, first.id)
    if first_status == DRAFT:
        assert after.version == first.version + 1
        assert rows(after) == [
            ("Platform", "1", "10.00", day("2027-04-01"), day("2027-04-10")),  # 30.00 × 10/30
            ("Pro platform", "1", "60.00", day("2027-04-11"), day("2027-04-30")),  # 90.00 × 20/30
        ]
    else:
        assert after == first  # an issued invoice is never rewritten
    may = await generated_and_previewed(clocked_api, clocked_server, clock, sub.id, "2027-05-01T00:00")
    april_fees = sum(
        D(li.amount)
        for invoice in (after, may)
        for li in invoice.line_items
        if li.name in ("Platform", "Pro platform") and day_of(li.start_date).month == 4
    )
    assert april_fees == D("70.00")
    if first_status == DRAFT:  # nothing left to prorate
        assert [r[0] for r in rows(may)] == ["Calls", "Pro platform", "Pro calls", "Support"]


@pytest.mark.parametrize(("currency", "credit"), [("USD", "3.33"), ("JPY", "500")])
async def test_a_downgrade_whose_credit_exceeds_the_charges_credits_the_balance_at_issue(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, currency: str, credit: str
) -> None:
    """Pro → Basic on Apr 11, no usage. USD: Support 20 × 10/30 = 6.67; Basic's May 30.00; Pro platform 90.00
    billed, 10 days kept cost 30.00, so 60.00 back; Basic for Apr 11-30: 30 × 20/30 = 20.00. Total 6.67 + 30.00
    - 60.00 + 20.00 = -3.33. JPY: 333 + 2500 - 5000 + 1667 = -500."""
    customer, sub, plans_ = await april(clocked_api, clocked_server, clock, currency, first_plan="pro")
    clock.set(at("2027-04-11T10:00"))
    await change_plan(clocked_api, sub.id, plans_["basic"].id, IMMEDIATE)
    may = await generated_and_previewed(clocked_api, clocked_server, clock, sub.id, "2027-05-01T00:00")
    assert may.total == f"-{credit}"
    assert may.amount_due == ("0.00" if currency == "USD" else "0")
    clock.set(at("2027-05-01T12:10"))
    issued = await issue(clocked_api, may.id)
    assert issued.status == PAID  # nothing due
    assert [(t.action, t.amount) for t in issued.customer_balance_transactions] == [(PRORATED_REFUND, credit)]
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == D(credit)


@pytest.mark.parametrize(
    ("currency", "expected", "total"),
    [
        (
            "USD",
            [
                ("Seats", "8", "38.71", day("2027-12-01"), day("2027-12-15")),  # 8 × 10.00 × 15/31 = 38.709…
                ("Seats", "6", "30.97", day("2027-12-16"), day("2027-12-31")),  # 6 × 10.00 × 16/31 = 30.967…
                # 50.00 billed for 5 seats; 20 kept days cost 50 × 20/30 = 33.33: 16.67 back.
                ("Seats", "5", "-16.67", day("2027-11-21"), day("2027-11-30")),
                ("Seats", "8", "26.67", day("2027-11-21"), day("2027-11-30")),  # 80 × 10/30 = 26.666…
            ],
            "79.68",  # 38.71 + 30.97 - 16.67 + 26.67
        ),
        (
            "JPY",
            [
                ("Seats", "8", "3871", day("2027-12-01"), day("2027-12-15")),  # 8000 × 15/31 = 3870.97
                ("Seats", "6", "3097", day("2027-12-16"), day("2027-12-31")),  # 6000 × 16/31 = 3096.77
                ("Seats", "5", "-1667", day("2027-11-21"), day("2027-11-30")),  # 5000 - 3333
                ("Seats", "8", "2667", day("2027-11-21"), day("2027-11-30")),  # 8000 × 10/30 = 2666.67
            ],
            "7968",
        ),
    ],
)
async def test_seats_change_now_and_on_a_date(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    currency: str,
    expected: list[Row],
    total: str,
) -> None:
    """5 seats at 10.00 (1000 JPY) from Nov 1; 8 seats from Nov 21 (made that day); 6 seats from Dec 16."""
    seat = "10.00" if currency == "USD" else "1000"
    clock.set(at("2027-11-01T00:05"))
    customer = await create_customer(clocked_api, currency=currency, auto_issuance=False)
    plan = await create_plan(clocked_api, fixed_fee("Seats", seat, quantity="5"), currency=currency)
    seats = plan.prices[0].id
    sub = await subscribe(clocked_api, customer, plan, "2027-11-01")
    await run_billing(clocked_server, clock, at("2027-11-01T00:05"))
    [first] = await invoices_of(clocked_api, subscription_id=sub.id)
    await issue(clocked_api, first.id)

    clock.set(at("2027-11-21T09:00"))
    now = await change_quantity(clocked_api, sub.id, seats, "8", IMMEDIATE)
    later = await change_quantity(clocked_api, sub.id, seats, "6", ON_DATE, on="2027-12-16")
    assert (now.change.previous_quantity, now.change.quantity, now.change.status) == ("5", "8", APPLIED)
    assert (later.change.previous_quantity, later.change.quantity, later.change.status) == ("8", "6", SCHEDULED)
    phases = (await get_subscription(clocked_api, sub.id)).phases
    assert [(day_of(p.start_date), dict(p.fixed_fee_quantities)) for p in phases] == [
        (day("2027-11-01"), {seats: "5"}),
        (day("2027-11-21"), {seats: "8"}),
        (day("2027-12-16"), {seats: "6"}),
    ]
    assert [c.id for c in await subscription_changes(clocked_api, sub.id)] == [later.change.id, now.change.id]

    december = await generated_and_previewed(clocked_api, clocked_server, clock, sub.id, "2027-12-01T00:00")
    assert (rows(december), december.total) == (expected, total)
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == 0


async def test_a_change_at_the_end_of_the_term_prorates_nothing(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    customer, sub, plans_ = await april(clocked_api, clocked_server, clock, "USD")
    await calls(clocked_api, clock, customer, "2027-04-05T09:00", 3)
    clock.set(at("2027-04-11T10:00"))
    scheduled = (await change_plan(clocked_api, sub.id, plans_["pro"].id, END_OF_TERM)).change
    assert (day_of(scheduled.effective_date), scheduled.status) == (day("2027-05-01"), SCHEDULED)
    assert (await get_subscription(clocked_api, sub.id)).plan.id == plans_["basic"].id  # still Basic today
    may = await generated_and_previewed(clocked_api, clocked_server, clock, sub.id, "2027-05-01T00:00")
    assert rows(may) == [
        ("Calls", "3", "0.30", day("2027-04-01"), day("2027-04-30")),
        ("Pro platform", "1", "90.00", day("2027-05-01"), day("2027-05-31")),
    ]
    [change] = await subscription_changes(clocked_api, sub.id)
    assert change.status == APPLIED  # May 1 has come
    assert (await get_subscription(clocked_api, sub.id)).plan.id == plans_["pro"].id


async def test_a_plan_change_supersedes_the_changes_scheduled_after_it(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    _customer, sub, plans_ = await april(clocked_api, clocked_server, clock, "USD")
    clock.set(at("2027-04-11T10:00"))
    first = (await change_plan(clocked_api, sub.id, plans_["pro"].id, ON_DATE, on="2027-04-25")).change
    clock.set(at("2027-04-12T10:00"))
    # Back to Basic from Apr 20: Pro never takes effect.
    second = (await change_plan(clocked_api, sub.id, plans_["basic"].id, ON_DATE, on="2027-04-20")).change
    newest, oldest = await subscription_changes(clocked_api, sub.id)
    assert (newest.id, newest.status) == (second.id, SCHEDULED)
    assert (oldest.id, oldest.status, oldest.superseded_by_change_id) == (first.id, SUPERSEDED, second.id)
    subscription = await get_subscription(clocked_api, sub.id)
    assert [(day_of(p.start_date), p.plan_id) for p in subscription.phases] == [
        (day("2027-04-01"), plans_["basic"].id),
        (day("2027-04-20"), plans_["basic"].id),
    ]
    may = await generated_and_previewed(clocked_api, clocked_server, clock, sub.id, "2027-05-01T00:00")
    assert [r[0] for r in rows(may)] == ["Calls", "Platform"]  # nothing prorated: Basic all along
    assert may.total == "30.00"


@pytest.mark.parametrize("cancel_first", [False, True], ids=["change-then-cancel", "cancel-then-change"])
async def test_a_change_in_a_period_a_cancellation_cuts_short_is_settled_on_the_balance(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, cancel_first: bool
) -> None:
    """Basic → Pro on Apr 11, ending Apr 21 (April's invoice issued). April's fees now cost Basic Apr 1-10
    10.00 + Pro Apr 11-20 90 × 10/30 = 30.00, i.e. 40.00 against 30.00 billed: 10.00 more is owed, on the
    balance (the final invoice bills usage only), whichever comes first."""
    customer, sub, plans_ = await april(clocked_api, clocked_server, clock, "USD")
    clock.set(at("2027-04-11T10:00"))
    steps: list[Any] = [
        lambda: change_plan(clocked_api, sub.id, plans_["pro"].id, IMMEDIATE),
        lambda: cancel(clocked_api, sub.id, subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE, on="2027-04-21"),
    ]
    for step in reversed(steps) if cancel_first else steps:
        await step()
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == D("-10.00")
    final = await generated_and_previewed(clocked_api, clocked_server, clock, sub.id, "2027-04-21T00:00")
    assert rows(final) == [
        ("Calls", "0", "0.00", day("2027-04-01"), day("2027-04-10")),
        ("Pro calls", "0", "0.00", day("2027-04-11"), day("2027-04-20")),
        ("Support", "1", "6.67", day("2027-04-11"), day("2027-04-20")),  # 20.00 × 10/30
    ]
    clock.set(at("2027-04-21T12:10"))
    issued = await issue(clocked_api, final.id)
    assert issued.amount_due == "16.67"  # 6.67 + the 10.00 owed
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == 0


async def test_changes_are_idempotent_by_request_id(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    _, sub, plans_ = await april(clocked_api, clocked_server, clock, "USD")
    clock.set(at("2027-04-11T10:00"))
    key = uuid.uuid4().hex
    first = await change_plan(clocked_api, sub.id, plans_["pro"].id, IMMEDIATE, request_id=key)
    again = await change_plan(clocked_api, sub.id, plans_["pro"].id, IMMEDIATE, request_id=key)
    assert again == first
    assert len(await subscription_changes(clocked_api, sub.id)) == 1
    reused = await expect_error(change_plan(clocked_api, sub.id, plans_["basic"].id, IMMEDIATE, request_id=key))
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")


async def test_changes_that_cannot_be_made_are_refused_and_change_nothing(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    customer, sub, plans_ = await april(clocked_api, clocked_server, clock, "USD")
    clock.set(at("2027-04-11T10:00"))
    annual = await create_plan(clocked_api, fixed_fee("Yearly", "300.00", cadence=price_pb2.CADENCE_ANNUAL))
    yen = await create_plan(clocked_api, fixed_fee("Yen", "1000"), currency="JPY")
    basic = plans_["basic"]
    usage_price_id = basic.prices[1].id
    refused = {
        "PLAN_CADENCE_MISMATCH": change_plan(clocked_api, sub.id, annual.id, IMMEDIATE),
        "CURRENCY_MISMATCH": change_plan(clocked_api, sub.id, yen.id, IMMEDIATE),
        "CHANGE_DATE_IN_PAST": change_plan(clocked_api, sub.id, plans_["pro"].id, ON_DATE, on="2027-04-10"),
        "PRICE_NOT_FIXED_FEE": change_quantity(clocked_api, sub.id, usage_price_id, "2", IMMEDIATE),
        "PRICE_NOT_IN_PLAN": change_quantity(clocked_api, sub.id, plans_["pro"].prices[0].id, "2", IMMEDIATE),
    }
    for reason, call in refused.items():
        error = await expect_error(call)
        assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, reason), reason
    invalid = [
        change_plan(clocked_api, sub.id, plans_["pro"].id, subscription_service_pb2.CHANGE_OPTION_UNSPECIFIED),
        change_plan(clocked_api, sub.id, plans_["pro"].id, ON_DATE),  # no date
        change_plan(clocked_api, sub.id, plans_["pro"].id, ON_DATE, on="2032-04-12"),  # more than five years
        change_quantity(clocked_api, sub.id, basic.prices[0].id, "-1", IMMEDIATE),
        change_quantity(clocked_api, sub.id, basic.prices[0].id, "two", IMMEDIATE),
    ]
    for call in invalid:
        assert (await expect_error(call)).code == grpc.StatusCode.INVALID_ARGUMENT
    missing = await expect_error(change_plan(clocked_api, sub.id, "plan_missing", IMMEDIATE))
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND")
    assert await subscription_changes(clocked_api, sub.id) == []

    await cancel(clocked_api, sub.id, subscription_service_pb2.CANCEL_OPTION_REQUESTED_DATE, on="2027-04-21")
    after_end = await expect_error(change_plan(clocked_api, sub.id, plans_["pro"].id, ON_DATE, on="2027-04-21"))
    assert after_end.reason == "SUBSCRIPTION_ENDS_BEFORE_CHANGE"
    clock.set(at("2027-04-22T10:00"))
    ended = await expect_error(change_plan(clocked_api, sub.id, plans_["pro"].id, IMMEDIATE))
    assert ended.reason == "SUBSCRIPTION_ENDED"
    unknown = await expect_error(subscription_changes(clocked_api, "sub_missing"))
    assert unknown.code == grpc.StatusCode.NOT_FOUND
    # The cancellation refunds the unused 10 days: 30.00 - 30.00 × 20/30 = 10.00.
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == D("10.00")


async def test_a_plan_change_racing_the_period_end_runner_bills_the_period_once(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    """Fixed fees only, auto-issued: at May 1 00:00:01 the runner generates and issues May's invoice while
    immediate changes to Pro (effective May 1) commit. Whichever wins, May's fees come to Pro's 90.00 once: on
    May's invoice, or as Basic's 30.00 plus a -30.00 credit and a 90.00 charge on June's. Two subscriptions
    change before the runner's pass and two after it (both outcomes, for sure); six race it."""
    clock.set(at("2027-04-01T00:05"))
    basic = await create_plan(clocked_api, fixed_fee("Platform", "30.00"), name="Basic")
    pro = await create_plan(clocked_api, fixed_fee("Pro platform", "90.00"), name="Pro")
    subscriptions = []
    for _ in range(10):
        customer = await create_customer(clocked_api, auto_issuance=True)
        subscriptions.append(await subscribe(clocked_api, customer, basic, "2027-04-01"))
    await run_billing(clocked_server, clock, at("2027-04-01T00:05"))
    before, racing, after = subscriptions[:2], subscriptions[2:8], subscriptions[8:]

    boundary = at("2027-05-01T00:00") + dt.timedelta(seconds=1)
    clock.set(boundary)
    for subscription in before:
        await change_plan(clocked_api, subscription.id, pro.id, IMMEDIATE)

    async def change_after(delay_s: float, subscription_id: str) -> None:
        await asyncio.sleep(delay_s)
        await change_plan(clocked_api, subscription_id, pro.id, IMMEDIATE)

    await asyncio.gather(
        clocked_server.runner.run_once(boundary, clock.account_id),
        *(change_after(index * 0.005, s.id) for index, s in enumerate(racing)),
    )
    await run_billing(clocked_server, clock, at("2027-05-01T00:10"))  # anything the race left for the next pass
    for subscription in after:
        await change_plan(clocked_api, subscription.id, pro.id, IMMEDIATE)
    await run_billing(clocked_server, clock, at("2027-06-01T00:10"))

    outcomes = []
    for subscription in subscriptions:
        invoices = await invoices_of(clocked_api, subscription_id=subscription.id)
        assert [day_of(i.invoice_date) for i in invoices] == [day("2027-04-01"), day("2027-05-01"), day("2027-06-01")]
        assert all(i.status in (ISSUED, PAID) for i in invoices)
        may_fees = [(li.name, li.amount) for i in invoices for li in i.line_items if day_of(li.start_date).month == 5]
        assert sum(D(amount) for _, amount in may_fees) == D("90.00"), may_fees
        outcomes.append(may_fees)
    pro_in_may = [("Pro platform", "90.00")]
    prorated = [("Platform", "30.00"), ("Platform", "-30.00"), ("Pro platform", "90.00")]
    assert outcomes[:2] == [pro_in_may] * 2
    assert outcomes[8:] == [prorated] * 2
    assert all(outcome in (pro_in_may, prorated) for outcome in outcomes[2:8])
