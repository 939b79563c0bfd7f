"""The pure rules behind cancellation, the upcoming invoice and late usage (server/domain/billing.py, usage.py)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from server.domain.billing import (
    BilledPeriods,
    CancelAt,
    SubscriptionStatus,
    Term,
    cancellation_end,
    check_periods,
    fee_credit,
)
from server.domain.errors import FailedPrecondition
from server.domain.invoices import InvoiceStatus
from server.domain.periods import Period, Schedule, instant
from server.domain.pricing import BillingMode, Cadence, ModelType, Price, PriceType
from server.domain.usage import Event, PropertyValue, negative_quantity

D = Decimal
NY = "America/New_York"
MONTHLY_FROM_JAN = Schedule(dt.date(2027, 1, 1), 1, align_to_start=False)


def utc(text: str) -> dt.datetime:
    """An aware UTC instant from "YYYY-MM-DDTHH:MM"."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# --- the term of a subscription --------------------------------------------------------------------------


def test_an_immediate_cancellation_ends_at_the_instant_and_bills_its_local_day() -> None:
    term = Term(MONTHLY_FROM_JAN, NY)
    now = utc("2027-03-10T02:00")  # still March 9 in New York (EST, -5)
    end_date, ended_at = cancellation_end(term, CancelAt.IMMEDIATE, now, None)
    assert (end_date, ended_at) == (dt.date(2027, 3, 10), now)
    ended = Term(MONTHLY_FROM_JAN, NY, end_date, ended_at)
    assert ended.status(now - dt.timedelta(seconds=1)) == (
        SubscriptionStatus.ACTIVE,
        Period(dt.date(2027, 3, 1), dt.date(2027, 3, 10)),
    )
    assert ended.status(now) == (SubscriptionStatus.ENDED, None)
    # The final boundary (3: it bills March) arrives when billing stops, dated on the local cancellation day.
    assert ended.last_boundary() == 3
    assert (ended.boundary_at(3), ended.boundary_date(3)) == (now, dt.date(2027, 3, 9))
    assert ended.boundary_at(2) == instant(dt.date(2027, 3, 1), NY)  # earlier boundaries keep their dates
    assert ended.usage_end(Period(dt.date(2027, 3, 1), dt.date(2027, 4, 1))) == now
    assert ended.event_boundary(now - dt.timedelta(seconds=1)) == 3
    assert ended.event_boundary(now) is None


def test_cancellation_on_a_date_and_at_the_end_of_the_term() -> None:
    term = Term(MONTHLY_FROM_JAN, NY)
    now = utc("2027-03-10T15:00")
    assert cancellation_end(term, CancelAt.REQUESTED_DATE, now, dt.date(2027, 3, 20)) == (
        dt.date(2027, 3, 20),
        instant(dt.date(2027, 3, 20), NY),
    )
    assert cancellation_end(term, CancelAt.END_OF_TERM, now, None) == (
        dt.date(2027, 4, 1),
        instant(dt.date(2027, 4, 1), NY),
    )
    with pytest.raises(FailedPrecondition) as past:
        cancellation_end(term, CancelAt.REQUESTED_DATE, now, dt.date(2027, 3, 9))
    assert past.value.reason == "CANCELLATION_DATE_IN_PAST"
    ended = Term(MONTHLY_FROM_JAN, NY, dt.date(2027, 3, 11), now)
    with pytest.raises(FailedPrecondition) as again:
        cancellation_end(ended, CancelAt.IMMEDIATE, now, None)
    assert again.value.reason == "SUBSCRIPTION_ENDED"


def test_cancelling_before_the_start_ends_it_before_it_begins() -> None:
    term = Term(Schedule(dt.date(2027, 5, 1), 1, align_to_start=False), "UTC")
    now = utc("2027-04-10T12:00")
    end_date, ended_at = cancellation_end(term, CancelAt.IMMEDIATE, now, None)
    assert (end_date, ended_at) == (dt.date(2027, 5, 1), now)
    assert Term(term.schedule, "UTC", end_date, ended_at).status(now)[0] is SubscriptionStatus.ENDED


def test_which_invoice_the_upcoming_invoice_previews() -> None:
    future = Term(Schedule(dt.date(2027, 5, 1), 1, align_to_start=False), "UTC")
    assert future.upcoming_boundary(utc("2027-04-10T12:00"), 0) == 0  # the first invoice, as Orb does
    running = Term(MONTHLY_FROM_JAN, "UTC")
    assert running.upcoming_boundary(utc("2027-03-10T12:00"), 3) == 3  # March bills on boundary 3
    stopped = Term(MONTHLY_FROM_JAN, "UTC", dt.date(2027, 3, 11), utc("2027-03-10T12:00"))
    assert stopped.upcoming_boundary(utc("2027-03-10T13:00"), 3) == 3  # the final one, not generated yet
    assert stopped.upcoming_boundary(utc("2027-03-10T13:00"), 4) is None  # generated: nothing is upcoming


# --- late usage -----------------------------------------------------------------------------------------------


def _periods(
    sub_id: str, customer: str, invoices: dict[int, tuple[str, InvoiceStatus]], **term: object
) -> BilledPeriods:
    return BilledPeriods(sub_id, customer, Term(MONTHLY_FROM_JAN, "UTC", **term), frozenset({"call"}), invoices)  # type: ignore[arg-type]


def test_check_periods_refuses_closed_periods_and_finds_drafts_and_pending_boundaries() -> None:
    # Boundary 1 bills January's usage, boundary 2 February's.
    subs = [
        _periods("sub_a", "cus_1", {1: ("inv_jan", InvoiceStatus.ISSUED), 2: ("inv_feb", InvoiceStatus.DRAFT)}),
        _periods("sub_b", "cus_2", {1: ("inv_b", InvoiceStatus.VOID)}),
    ]
    now = utc("2027-03-01T06:00")
    events = [
        ("cus_1", "call", utc("2027-01-20T10:00")),  # 0: January, issued → refused
        ("cus_1", "call", utc("2027-02-20T10:00")),  # 1: February, a draft → re-priced
        ("cus_1", "call", utc("2027-03-01T05:00")),  # 2: March, boundary 4 not arrived → nothing to do
        ("cus_1", "page_view", utc("2027-01-20T10:00")),  # 3: not metered → accepted
        ("cus_2", "call", utc("2027-01-20T10:00")),  # 4: a void invoice closed the period too
        ("cus_2", "call", utc("2027-02-27T10:00")),  # 5: February of sub_b arrived, no invoice yet → hold
        ("cus_3", "call", utc("2027-01-20T10:00")),  # 6: no subscription
        ("cus_1", "call", utc("2026-12-31T23:59")),  # 7: before the start
    ]
    check = check_periods(events, subs, now)
    assert sorted(check.closed) == [0, 4]
    assert "issued" in check.closed[0]
    assert "2027-01-01 to 2027-01-31" in check.closed[0]
    assert "void" in check.closed[4]
    assert check.drafts == {"inv_feb": {1}}
    assert check.pending == {"sub_b"}


def test_check_periods_near_a_boundary_and_after_the_end() -> None:
    subs = [_periods("sub_a", "cus_1", {}, end_date=dt.date(2027, 2, 11), ended_at=utc("2027-02-10T12:00"))]
    # An event of the current period five minutes before it ends: the runner may invoice it any moment.
    near = check_periods([("cus_1", "call", utc("2027-01-31T23:58"))], subs, utc("2027-01-31T23:57"))
    assert near.pending == {"sub_a"}
    far = check_periods([("cus_1", "call", utc("2027-01-20T10:00"))], subs, utc("2027-01-20T10:00"))
    assert (far.closed, far.drafts, far.pending) == ({}, {}, set())
    # After billing stopped no period bills the event: accepted, never billed.
    late = check_periods([("cus_1", "call", utc("2027-02-10T12:00"))], subs, utc("2027-03-01T00:00"))
    assert (late.closed, late.drafts, late.pending) == ({}, {}, set())


def test_check_periods_of_a_batch_agree_with_each_event_checked_alone() -> None:
    """A verdict is shared by the batch's events of one subscription, name, local day and side of the end: the
    batch's answer is the one each event gets alone, across local days (New York), the end instant and statuses."""
    rng = random.Random(3)
    ended = _periods(
        "sub_a", "cus_1", {1: ("inv_jan", InvoiceStatus.PAID), 2: ("inv_feb", InvoiceStatus.DRAFT)},
        end_date=dt.date(2027, 2, 11), ended_at=utc("2027-02-10T12:00"),
    )  # fmt: skip
    new_york = BilledPeriods(
        "sub_b", "cus_2", Term(MONTHLY_FROM_JAN, NY), frozenset({"call"}),
        {1: ("inv_b1", InvoiceStatus.ISSUED), 2: ("inv_b2", InvoiceStatus.DRAFT)},
    )  # fmt: skip
    subs = [ended, new_york, _periods("sub_c", "cus_3", {2: ("inv_c2", InvoiceStatus.DRAFT)})]
    now = utc("2027-03-01T00:02")
    instants = [
        utc("2027-01-31T23:30"), utc("2027-02-01T00:00"), utc("2027-02-01T04:59"), utc("2027-02-01T05:00"),
        utc("2027-02-10T11:59"), utc("2027-02-10T12:00"), utc("2027-02-10T18:00"), utc("2027-02-28T23:59"),
    ]  # fmt: skip
    events = [
        (
            rng.choice(["cus_1", "cus_2", "cus_3", "cus_4"]),
            rng.choice(["call", "call", "page_view"]),
            rng.choice(instants),
        )
        for _ in range(300)
    ]
    batch = check_periods(events, subs, now)
    closed: dict[int, str] = {}
    drafts: dict[str, set[int]] = {}
    pending: set[str] = set()
    for position, one in enumerate(events):
        alone = check_periods([one], subs, now)
        if alone.closed:
            closed[position] = alone.closed[0]
        for invoice_id in alone.drafts:
            drafts.setdefault(invoice_id, set()).add(position)
        pending |= alone.pending
    assert (batch.closed, batch.drafts, batch.pending) == (closed, drafts, pending)
    assert closed
    assert {"inv_feb", "inv_b2", "inv_c2"} <= set(drafts)
    assert pending == {"sub_c"}  # January has ended without an invoice: its boundary is held


# --- prorated refunds -----------------------------------------------------------------------------------------


def _fee(price_id: str, amount: str, **fields: Any) -> Price:
    base: dict[str, Any] = {
        "id": price_id,
        "name": price_id,
        "model": ModelType.UNIT,
        "price_type": PriceType.FIXED,
        "cadence": Cadence.MONTHLY,
        "billing_mode": BillingMode.IN_ADVANCE,
        "currency": "USD",
        "unit_amount": D(amount),
    }
    return Price(**(base | fields))


def test_fee_credit_is_what_was_billed_minus_what_the_shortened_period_costs() -> None:
    november = Schedule(dt.date(2027, 11, 1), 1, align_to_start=False)
    prices = [
        _fee("platform", "30.00"),
        _fee("support", "10.00", billing_mode=BillingMode.IN_ARREAR),  # billed later, for the days used
        _fee("setup", "99.00", cadence=Cadence.ONE_TIME),  # one-time: never refunded
    ]
    billed = {"platform": D("30.00"), "setup": D("99.00"), "calls": D("4.00")}
    # Ending Nov 11: 10 days of 30 used, 30.00 × 10/30 = 10.00 kept, 20.00 back.
    assert fee_credit(prices, november, 0, dt.date(2027, 11, 11), billed, D(0), "USD") == D("20.00")
    # 7.50 already credited by an earlier cancellation: 12.50 more.
    assert fee_credit(prices, november, 0, dt.date(2027, 11, 11), billed, D("7.50"), "USD") == D("12.50")
    # Ending before the period began: the whole fee back; at the period end: nothing.
    assert fee_credit(prices, november, 1, dt.date(2027, 12, 1), {"platform": D("30.00")}, D(0), "USD") == D("30.00")
    assert fee_credit(prices, november, 0, dt.date(2027, 12, 1), billed, D(0), "USD") == D("0.00")
    # Moving the end later takes back what was credited for days now billed.
    assert fee_credit(prices, november, 0, dt.date(2027, 12, 1), billed, D("20.00"), "USD") == D("-20.00")


def test_negative_numbers_are_refused_only_where_a_quantity_is_read() -> None:
    metered = {("llm", "tokens")}
    when = utc("2027-01-01T00:00")

    def problem(name: str, properties: dict[str, PropertyValue]) -> tuple[str, str] | None:
        found = negative_quantity(Event("k", "cus", name, when, properties), metered)
        return None if found is None else (found.reason, found.field)

    assert problem("llm", {"tokens": D(-5)}) == ("NEGATIVE_QUANTITY", "properties.tokens")
    assert problem("llm", {"tokens": "-0.5"}) == ("NEGATIVE_QUANTITY", "properties.tokens")
    assert problem("llm", {"tokens": D(0), "delta": D(-1)}) is None
    assert problem("other", {"tokens": D(-5)}) is None
    assert problem("llm", {"tokens": "-x"}) is None  # not a number: sum ignores it
