"""Subscriptions and the billing engine on the clocked server: periods, cancellation, the upcoming invoice and
the period-end runner (exactly once, grace period, auto-issue).

Each test moves a clock of its own and runs the period-end runner over its own account only
(tests.support.clock), so no test sees another's periods being invoiced.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.type import date_pb2
from invoicing.v1 import (
    customer_pb2,
    invoice_pb2,
    price_pb2,
    subscription_service_pb2,
)

from server.app import RunningServer, build_services, start_server
from server.config import Settings
from server.db.migrate import migrate
from server.db.pool import Database
from server.domain.periods import instant
from tests.support.accounts import new_account
from tests.support.builders import (
    at,
    bulk,
    create_customer,
    create_plan,
    date,
    day_of,
    event,
    fixed_fee,
    lines_by_name,
    metric,
    moment_of,
    subscribe,
    tokens_price,
    usage_off,
    usage_price,
)
from tests.support.calls import cancel, get_subscription, ingest, ingest_ok, invoices_of, list_subscriptions, upcoming
from tests.support.client import Api, assert_field_reasons, expect_error, open_api
from tests.support.clock import START, Clock, Clocks, run_billing
from tests.support.wire import DRAFT, END_OF_TERM, IMMEDIATE, ISSUED, REQUESTED_DATE

UTC = dt.UTC
ACTIVE = subscription_service_pb2.SUBSCRIPTION_STATUS_ACTIVE
UPCOMING = subscription_service_pb2.SUBSCRIPTION_STATUS_UPCOMING
ENDED = subscription_service_pb2.SUBSCRIPTION_STATUS_ENDED
GRACE = dt.timedelta(hours=12)


def line_view(li: invoice_pb2.InvoiceLineItem) -> tuple[object, ...]:
    """Everything the customer sees of a line, ids aside."""
    return (
        li.name,
        Decimal(li.quantity),
        day_of(li.start_date),
        day_of(li.end_date),
        li.subtotal,
        tuple((a.adjustment_type, a.amount) for a in li.adjustments),
        li.adjusted_subtotal,
        li.amount,
        tuple((s.name, Decimal(s.quantity), s.amount) for s in li.sub_line_items),
        li.price.id,
    )


# --- the clocked server's time ----------------------------------------------------------------------------


async def test_each_account_reads_its_own_clock(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, clocks: Clocks, migrated_dsn: str
) -> None:
    """The clocked server answers each account with that account's clock, and START for one without a clock."""

    async def current_period(api: Api, subscription_id: str) -> tuple[dt.date, dt.date]:
        sub = await get_subscription(api, subscription_id)
        return day_of(sub.current_billing_period_start_date), day_of(sub.current_billing_period_end_date)

    clock.set(at("2024-01-10T12:00"))
    mine = await subscribe(
        clocked_api, await create_customer(clocked_api), await create_plan(clocked_api, fixed_fee()), "2024-01-01"
    )
    other = await new_account(migrated_dsn)
    async with open_api(f"127.0.0.1:{clocked_server.port}", other.key) as other_api:
        with clocks.bound(Clock(other.id, at("2024-03-10T12:00"))) as other_clock:
            theirs = await subscribe(
                other_api, await create_customer(other_api), await create_plan(other_api, fixed_fee()), "2024-01-01"
            )
            assert await current_period(other_api, theirs.id) == (dt.date(2024, 3, 1), dt.date(2024, 4, 1))
            other_clock.set(at("2024-05-10T12:00"))
            assert await current_period(other_api, theirs.id) == (dt.date(2024, 5, 1), dt.date(2024, 6, 1))
            assert await current_period(clocked_api, mine.id) == (dt.date(2024, 1, 1), dt.date(2024, 2, 1))
        assert START.date() == dt.date(2024, 1, 15)
        assert await current_period(other_api, theirs.id) == (dt.date(2024, 1, 1), dt.date(2024, 2, 1))
    clock.set(at("2024-02-10T12:00"))
    assert await current_period(clocked_api, mine.id) == (dt.date(2024, 2, 1), dt.date(2024, 3, 1))


# --- CreateSubscription ---------------------------------------------------------------------------------


async def test_create_subscription_by_id_and_by_external_ids(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2024-01-10T12:00"))
    customer = await create_customer(clocked_api, net_terms=15)
    plan = await create_plan(clocked_api, fixed_fee(), external_plan_id=f"pro-{uuid.uuid4().hex[:8]}")
    by_id = await subscribe(clocked_api, customer, plan, "2024-01-01", metadata={"deal": "q1"})
    assert by_id.id.startswith("sub_")
    assert (by_id.customer.id, by_id.customer.external_customer_id) == (customer.id, customer.external_customer_id)
    assert by_id.plan == plan
    assert by_id.start_date == date("2024-01-01")
    assert not by_id.HasField("end_date")
    assert by_id.status == ACTIVE
    assert by_id.net_terms == 15  # the customer's default
    assert not by_id.HasField("auto_issuance")  # the customer's setting applies
    assert dict(by_id.metadata) == {"deal": "q1"}

    by_external = await clocked_api.subscriptions.CreateSubscription(
        subscription_service_pb2.CreateSubscriptionRequest(
            external_customer_id=customer.external_customer_id,
            external_plan_id=plan.external_plan_id,
            start_date=date("2024-02-01"),
            net_terms=0,
            auto_issuance=False,
        )
    )
    assert (by_external.customer.id, by_external.plan.id) == (customer.id, plan.id)
    assert (by_external.net_terms, by_external.auto_issuance, by_external.status) == (0, False, UPCOMING)
    assert await get_subscription(clocked_api, by_id.id) == by_id


async def test_create_subscription_errors(clocked_api: Api, other_api: Api, clock: Clock) -> None:
    clock.set(at("2024-01-10T12:00"))
    usd_customer = await create_customer(clocked_api)
    eur_customer = await create_customer(clocked_api, currency="EUR")
    plan = await create_plan(clocked_api, fixed_fee())
    foreign_plan = await create_plan(other_api, fixed_fee())
    create = clocked_api.subscriptions.CreateSubscription
    request = subscription_service_pb2.CreateSubscriptionRequest

    mismatch = await expect_error(
        create(request(customer_id=eur_customer.id, plan_id=plan.id, start_date=date("2024-01-01")))
    )
    assert (mismatch.code, mismatch.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CURRENCY_MISMATCH")

    for plan_id in ("plan_unknown", foreign_plan.id):
        missing_plan = await expect_error(
            create(request(customer_id=usd_customer.id, plan_id=plan_id, start_date=date("2024-01-01")))
        )
        assert (missing_plan.code, missing_plan.reason) == (grpc.StatusCode.NOT_FOUND, "PLAN_NOT_FOUND")
    missing_customer = await expect_error(
        create(request(customer_id="cus_unknown", plan_id=plan.id, start_date=date("2024-01-01")))
    )
    assert (missing_customer.code, missing_customer.reason) == (grpc.StatusCode.NOT_FOUND, "CUSTOMER_NOT_FOUND")
    missing_external = await expect_error(
        create(request(customer_id=usd_customer.id, external_plan_id="nope", start_date=date("2024-01-01")))
    )
    assert missing_external.code == grpc.StatusCode.NOT_FOUND

    invalid: list[tuple[dict[str, Any], str]] = [
        ({"plan_id": plan.id, "start_date": date("2024-01-01")}, "customer_id"),
        (
            {
                "customer_id": usd_customer.id,
                "external_customer_id": usd_customer.external_customer_id,
                "plan_id": plan.id,
                "start_date": date("2024-01-01"),
            },
            "customer_id",
        ),
        ({"customer_id": usd_customer.id, "start_date": date("2024-01-01")}, "plan_id"),
        (
            {
                "customer_id": usd_customer.id,
                "plan_id": plan.id,
                "external_plan_id": "x",
                "start_date": date("2024-01-01"),
            },
            "plan_id",
        ),
        ({"customer_id": usd_customer.id, "plan_id": plan.id}, "start_date"),
        (
            {
                "customer_id": usd_customer.id,
                "plan_id": plan.id,
                "start_date": date_pb2.Date(year=2024, month=2, day=30),
            },
            "start_date",
        ),
        (
            {"customer_id": usd_customer.id, "plan_id": plan.id, "start_date": date("2024-01-01"), "net_terms": 400},
            "net_terms",
        ),
    ]
    for fields, field in invalid:
        error = await expect_error(create(request(**fields)))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert set(error.field_violations) == {field}, fields
        assert_field_reasons(error)
    assert await list_subscriptions(clocked_api) == []


async def test_create_subscription_replays_its_request_id(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2024-01-10T12:00"))
    customer = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, fixed_fee())
    key = uuid.uuid4().hex
    first = await subscribe(clocked_api, customer, plan, "2024-01-01", request_id=key)
    again = await subscribe(clocked_api, customer, plan, "2024-01-01", request_id=key)
    assert again.id == first.id
    reused = await expect_error(subscribe(clocked_api, customer, plan, "2024-02-01", request_id=key))
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")
    assert [s.id for s in await list_subscriptions(clocked_api)] == [first.id]


# --- GetSubscription: the current period ------------------------------------------------------------------


async def test_current_period_aligned_to_the_start_date_clamps_month_ends(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2024-02-10T12:00"))
    customer = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, fixed_fee())
    sub = await subscribe(clocked_api, customer, plan, "2024-01-31", align_billing_with_subscription_start_date=True)
    assert sub.align_billing_with_subscription_start_date
    assert (sub.current_billing_period_start_date, sub.current_billing_period_end_date) == (
        date("2024-01-31"),
        date("2024-02-29"),
    )
    expected = {
        "2024-02-29T00:00": ("2024-02-29", "2024-03-31"),
        "2024-03-30T23:59": ("2024-02-29", "2024-03-31"),
        "2024-03-31T00:00": ("2024-03-31", "2024-04-30"),
    }
    for now, (start, end) in expected.items():
        clock.set(at(now))
        current = await get_subscription(clocked_api, sub.id)
        assert (current.current_billing_period_start_date, current.current_billing_period_end_date) == (
            date(start),
            date(end),
        ), now


async def test_current_period_calendar_aligned_starts_partial(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2024-01-20T12:00"))
    customer = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, fixed_fee())
    sub = await subscribe(clocked_api, customer, plan, "2024-01-15")
    assert (sub.current_billing_period_start_date, sub.current_billing_period_end_date) == (
        date("2024-01-15"),
        date("2024-02-01"),
    )
    clock.set(at("2024-02-10T12:00"))
    later = await get_subscription(clocked_api, sub.id)
    assert (later.current_billing_period_start_date, later.current_billing_period_end_date) == (
        date("2024-02-01"),
        date("2024-03-01"),
    )


async def test_quarterly_periods(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2024-05-20T12:00"))
    customer = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, fixed_fee(cadence=price_pb2.CADENCE_QUARTERLY))
    sub = await subscribe(clocked_api, customer, plan, "2023-11-30", align_billing_with_subscription_start_date=True)
    assert (sub.current_billing_period_start_date, sub.current_billing_period_end_date) == (
        date("2024-02-29"),
        date("2024-05-30"),
    )


async def test_current_period_follows_the_customer_timezone(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2024-01-31T10:00"))  # 23:00 on Jan 31 in Auckland (+13)
    customer = await create_customer(clocked_api, timezone="Pacific/Auckland")
    plan = await create_plan(clocked_api, fixed_fee())
    sub = await subscribe(clocked_api, customer, plan, "2024-01-01")
    assert sub.current_billing_period_end_date == date("2024-02-01")
    clock.set(at("2024-01-31T11:00"))  # midnight, Feb 1 in Auckland
    later = await get_subscription(clocked_api, sub.id)
    assert (later.current_billing_period_start_date, later.current_billing_period_end_date) == (
        date("2024-02-01"),
        date("2024-03-01"),
    )


async def test_get_subscription_errors(clocked_api: Api, other_api: Api, clock: Clock) -> None:
    clock.set(at("2024-01-10T12:00"))
    customer = await create_customer(clocked_api)
    sub = await subscribe(clocked_api, customer, await create_plan(clocked_api, fixed_fee()), "2024-01-01")
    empty = await expect_error(
        clocked_api.subscriptions.GetSubscription(subscription_service_pb2.GetSubscriptionRequest())
    )
    assert (empty.code, set(empty.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"subscription_id"})
    for api in (clocked_api, other_api):
        missing = await expect_error(
            api.subscriptions.GetSubscription(
                subscription_service_pb2.GetSubscriptionRequest(
                    subscription_id="sub_unknown" if api is clocked_api else sub.id
                )
            )
        )
        assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "SUBSCRIPTION_NOT_FOUND")


# --- ListSubscriptions ---------------------------------------------------------------------------------------


async def test_list_subscriptions_by_status_follows_the_clock(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2024-03-10T12:00"))
    customer = await create_customer(clocked_api)
    other_customer = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, fixed_fee())
    ended = await subscribe(clocked_api, customer, plan, "2024-02-01")
    active = await subscribe(clocked_api, customer, plan, "2024-03-01")
    future = await subscribe(clocked_api, customer, plan, "2024-04-01")
    elsewhere = await subscribe(clocked_api, other_customer, plan, "2024-01-01")
    cancelled = await cancel(clocked_api, ended.id, IMMEDIATE)
    # Billing stops now; today is billed as used, so the first day not billed is tomorrow.
    assert (cancelled.status, cancelled.end_date) == (ENDED, date("2024-03-11"))
    assert moment_of(cancelled.ended_at) == at("2024-03-10T12:00")
    assert not cancelled.HasField("current_billing_period_start_date")

    async def ids(*statuses: int, **fields: Any) -> list[str]:
        return [s.id for s in await list_subscriptions(clocked_api, status=statuses, **fields)]

    assert await ids(customer_id=customer.id) == [future.id, active.id, ended.id]  # newest first
    assert await ids(ACTIVE, customer_id=customer.id) == [active.id]
    assert await ids(UPCOMING, ENDED, customer_id=customer.id) == [future.id, ended.id]
    assert await ids(ACTIVE, external_customer_id=other_customer.external_customer_id) == [elsewhere.id]
    assert await ids(ACTIVE) == [elsewhere.id, active.id]
    statuses = {s.id: s.status for s in await list_subscriptions(clocked_api, customer_id=customer.id)}
    assert statuses == {future.id: UPCOMING, active.id: ACTIVE, ended.id: ENDED}

    clock.set(at("2024-04-01T00:00"))
    assert await ids(ACTIVE, customer_id=customer.id) == [future.id, active.id]
    assert await ids(UPCOMING, customer_id=customer.id) == []

    bad = await expect_error(
        clocked_api.subscriptions.ListSubscriptions(
            subscription_service_pb2.ListSubscriptionsRequest(status=[ACTIVE, 9])  # type: ignore[list-item]
        )
    )
    assert (bad.code, set(bad.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"status[1]"})


# --- CancelSubscription ------------------------------------------------------------------------------------


async def platform_and_calls(
    api: Api, clock: Clock, now: str, call_amount: str
) -> tuple[customer_pb2.Customer, subscription_service_pb2.Subscription]:
    """At `now`, a new customer subscribed from 2024-01-01 to a plan of a 100.00 platform fee (in advance) and
    API calls at `call_amount` each."""
    clock.set(at(now))
    customer = await create_customer(api)
    plan = await create_plan(api, fixed_fee("Platform", "100.00"), usage_price("API calls", call_amount))
    return customer, await subscribe(api, customer, plan, "2024-01-01")


async def test_cancel_at_end_of_term_stops_billing_after_the_period(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    customer, sub = await platform_and_calls(clocked_api, clock, "2024-01-15T12:00", "0.10")
    cancelled = await cancel(clocked_api, sub.id, END_OF_TERM)
    assert (cancelled.status, cancelled.end_date) == (ACTIVE, date("2024-02-01"))
    assert cancelled.current_billing_period_end_date == date("2024-02-01")
    await ingest_ok(clocked_api, [event(customer.id, at(f"2024-01-{d:02d}T10:00")) for d in (3, 9, 14)])

    clock.set(at("2024-02-10T12:00"))
    await ingest_ok(clocked_api, [event(customer.id, at("2024-02-05T10:00"))])  # after the end: never billed
    for when in ("2024-02-01T00:01", "2024-03-01T00:01", "2024-06-01T00:01"):
        await run_billing(clocked_server, clock, at(when))

    invoices = await invoices_of(clocked_api, subscription_id=sub.id)
    assert [i.invoice_date for i in invoices] == [date("2024-01-01"), date("2024-02-01")]
    assert lines_by_name(invoices[0]) == {
        "Platform": ("1", "100.00", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
    }
    # The last invoice bills January's usage and no fee for February.
    assert lines_by_name(invoices[1]) == {
        "API calls": ("3", "0.30", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
    }

    ended = await get_subscription(clocked_api, sub.id)
    assert ended.status == ENDED
    assert not ended.HasField("current_billing_period_end_date")
    again = await expect_error(cancel(clocked_api, sub.id, IMMEDIATE))
    assert (again.code, again.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SUBSCRIPTION_ENDED")
    preview = await expect_error(upcoming(clocked_api, sub.id))
    assert (preview.code, preview.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SUBSCRIPTION_NOT_ACTIVE")


async def test_cancel_on_a_requested_date_prorates_the_last_period(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2024-01-20T12:00"))
    customer = await create_customer(clocked_api, auto_issuance=False)
    plan = await create_plan(
        clocked_api,
        fixed_fee("Platform", "100.00"),  # in advance
        fixed_fee("Support", "29.00", billing_mode=price_pb2.BILLING_MODE_IN_ARREAR),
        usage_price("API calls", "1.00"),
    )
    sub = await subscribe(clocked_api, customer, plan, "2024-01-01")
    past = await expect_error(cancel(clocked_api, sub.id, REQUESTED_DATE, "2024-01-19"))
    assert (past.code, past.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CANCELLATION_DATE_IN_PAST")
    missing = await expect_error(cancel(clocked_api, sub.id, REQUESTED_DATE))
    assert (missing.code, set(missing.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"cancellation_date"})
    unspecified = await expect_error(cancel(clocked_api, sub.id, subscription_service_pb2.CANCEL_OPTION_UNSPECIFIED))
    assert (unspecified.code, set(unspecified.field_violations)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        {"cancel_option"},
    )

    cancelled = await cancel(clocked_api, sub.id, REQUESTED_DATE, "2024-02-16")
    assert (cancelled.status, cancelled.end_date) == (ACTIVE, date("2024-02-16"))
    await ingest_ok(clocked_api, [event(customer.id, at("2024-01-10T10:00")) for _ in range(2)])
    await run_billing(clocked_server, clock, at("2024-01-20T12:00"))

    clock.set(at("2024-02-10T12:00"))
    current = await get_subscription(clocked_api, sub.id)
    assert (current.current_billing_period_start_date, current.current_billing_period_end_date) == (
        date("2024-02-01"),
        date("2024-02-16"),
    )
    await ingest_ok(clocked_api, [event(customer.id, at("2024-02-10T10:00"))])
    preview = await upcoming(clocked_api, sub.id)  # the last period's invoice, with the usage so far
    clock.set(at("2024-02-20T12:00"))
    await ingest_ok(clocked_api, [event(customer.id, at("2024-02-20T10:00"))])  # after the end date

    for when in ("2024-02-01T00:05", "2024-03-01T00:05", "2024-05-01T00:05"):
        await run_billing(clocked_server, clock, at(when))
    invoices = await invoices_of(clocked_api, subscription_id=sub.id)
    assert len(invoices) == 3
    first, second, last = (lines_by_name(i) for i in invoices)
    assert first == {"Platform": ("1", "100.00", dt.date(2024, 1, 1), dt.date(2024, 1, 31))}
    assert second == {
        "Support": ("1", "29.00", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),  # January, in arrears
        "API calls": ("2", "2.00", dt.date(2024, 1, 1), dt.date(2024, 1, 31)),
        "Platform": ("1", "51.72", dt.date(2024, 2, 1), dt.date(2024, 2, 15)),  # 15 of 29 days, in advance
    }
    assert last == {
        "Support": ("1", "15.00", dt.date(2024, 2, 1), dt.date(2024, 2, 15)),  # 15 of 29 days, in arrears
        "API calls": ("1", "1.00", dt.date(2024, 2, 1), dt.date(2024, 2, 15)),
    }
    assert [i.total for i in invoices] == ["100.00", "82.72", "16.00"]
    assert all(i.status == DRAFT for i in invoices)
    # The final invoice is dated on the end date, not at the next regular boundary.
    assert [i.invoice_date for i in invoices] == [date("2024-01-01"), date("2024-02-01"), date("2024-02-16")]
    # The preview of the shortened period is the invoice that bills it (all its usage was in by then).
    assert preview.target_date == invoices[2].invoice_date
    assert [line_view(li) for li in preview.invoice.line_items] == [line_view(li) for li in invoices[2].line_items]


async def test_cancel_immediately_bills_up_to_the_instant(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    customer, sub = await platform_and_calls(clocked_api, clock, "2024-01-20T10:00", "1.00")
    await ingest_ok(
        clocked_api,
        [
            event(customer.id, at("2024-01-05T10:00")),
            event(customer.id, at("2024-01-19T23:59")),
            event(customer.id, at("2024-01-20T01:00")),  # today, before the cancellation: billed
        ],
    )
    cancelled = await cancel(clocked_api, sub.id, IMMEDIATE)
    assert (cancelled.status, cancelled.end_date) == (ENDED, date("2024-01-21"))
    assert moment_of(cancelled.ended_at) == at("2024-01-20T10:00")
    await ingest_ok(clocked_api, [event(customer.id, at("2024-01-20T10:30"))])  # after the end: never billed
    # Until the runner generates it, the final invoice is the upcoming one, due now.
    preview = await upcoming(clocked_api, sub.id)
    assert preview.target_date == date("2024-01-20")
    assert lines_by_name(preview.invoice) == {"API calls": ("3", "3.00", dt.date(2024, 1, 1), dt.date(2024, 1, 20))}

    for when in ("2024-01-20T10:00", "2024-02-01T00:05", "2024-04-01T00:05"):
        await run_billing(clocked_server, clock, at(when))
    invoices = await invoices_of(clocked_api, subscription_id=sub.id)
    assert [lines_by_name(i) for i in invoices] == [
        # January's fee was not invoiced before the cancellation: 20 of 31 days (the 20th is used),
        # 100 × 20/31 = 64.516… → 64.52.
        {"Platform": ("1", "64.52", dt.date(2024, 1, 1), dt.date(2024, 1, 20))},
        {"API calls": ("3", "3.00", dt.date(2024, 1, 1), dt.date(2024, 1, 20))},
    ]
    assert [i.invoice_date for i in invoices] == [date("2024-01-01"), date("2024-01-20")]
    assert [line_view(li) for li in invoices[1].line_items] == [line_view(li) for li in preview.invoice.line_items]
    done = await expect_error(upcoming(clocked_api, sub.id))
    assert (done.code, done.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SUBSCRIPTION_NOT_ACTIVE")


async def test_start_date_within_five_years_of_today(clocked_api: Api, clock: Clock) -> None:
    """Backdating bills every period since, so a start date must lie within five years of today (either way)."""
    clock.set(at("2024-01-10T12:00"))
    customer = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, fixed_fee(cadence=price_pb2.CADENCE_ANNUAL))
    earliest = await subscribe(clocked_api, customer, plan, "2019-01-10")
    assert earliest.start_date == date("2019-01-10")
    latest = await subscribe(clocked_api, customer, plan, "2029-01-10")
    assert latest.status == UPCOMING
    for outside in ("2019-01-09", "2029-01-11", "9998-12-31", "0001-01-02"):
        refused = await expect_error(subscribe(clocked_api, customer, plan, outside))
        assert (refused.code, refused.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_OUT_OF_RANGE"), outside
        assert set(refused.field_violations) == {"start_date"}


# --- GetUpcomingInvoice ----------------------------------------------------------------------------------------


async def test_upcoming_invoice_previews_the_period_and_is_never_stored(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2024-03-10T12:00"))
    customer = await create_customer(clocked_api, timezone="America/New_York", net_terms=10)
    plan = await create_plan(
        clocked_api,
        fixed_fee("Platform", "100.00"),
        fixed_fee("Support", "30.00", billing_mode=price_pb2.BILLING_MODE_IN_ARREAR),
        usage_price("API calls", "0.10"),
        tokens_price(),
    )
    sub = await subscribe(clocked_api, customer, plan, "2024-03-01")
    await run_billing(clocked_server, clock, at("2024-03-10T12:00"))  # invoices boundary 0 (March's fee)
    stored_before = await invoices_of(clocked_api, customer_id=customer.id)
    assert len(stored_before) == 1

    await ingest_ok(
        clocked_api,
        [
            event(customer.id, at("2024-03-01T05:00")),  # just after local midnight (EST, -5)
            event(customer.id, at("2024-03-01T04:59")),  # February in New York: not this period
            event(customer.id, at("2024-03-05T10:00")),
            event(customer.id, at("2024-03-10T11:59")),
            event(customer.id, at("2024-03-10T13:00")),  # after now: not yet
            event(customer.id, at("2024-03-02T00:00"), name="llm", properties={"tokens": 100000}),
            event(customer.id, at("2024-03-09T00:00"), name="llm", properties={"tokens": "50000"}),
        ],
    )
    preview = await upcoming(clocked_api, sub.id)
    assert preview.target_date == date("2024-04-01")
    invoice = preview.invoice
    assert (invoice.id, invoice.invoice_number) == ("", "")
    assert invoice.status == DRAFT
    assert invoice.invoice_source == invoice_pb2.INVOICE_SOURCE_SUBSCRIPTION
    assert (invoice.customer.id, invoice.subscription.id, invoice.currency) == (customer.id, sub.id, "USD")
    assert invoice.invoice_date == date("2024-04-01")
    assert invoice.net_terms == 10
    assert lines_by_name(invoice) == {
        "Platform": ("1", "100.00", dt.date(2024, 4, 1), dt.date(2024, 4, 30)),  # next period, in advance
        "Support": ("1", "30.00", dt.date(2024, 3, 1), dt.date(2024, 3, 31)),  # this period, in arrears
        "API calls": ("3", "0.30", dt.date(2024, 3, 1), dt.date(2024, 3, 31)),  # usage so far
        "Tokens": ("150000", "107.00", dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
    }
    tokens = next(li for li in invoice.line_items if li.name == "Tokens")
    assert [(s.quantity, s.amount) for s in tokens.sub_line_items] == [
        ("10000", "10.00"),
        ("90000", "72.00"),
        ("50000", "25.00"),
    ]
    assert tokens.price.id == plan.prices[3].id
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == ("237.30", "237.30", "237.30")
    assert invoice.will_auto_issue
    # Usage lines wait out the grace period after the period's end, local midnight in New York (EDT, -4).
    assert moment_of(invoice.eligible_to_issue_at) == at("2024-04-01T04:00") + GRACE
    assert moment_of(invoice.scheduled_issue_at) == moment_of(invoice.eligible_to_issue_at)

    again = await upcoming(clocked_api, sub.id)
    assert again == preview
    stored_after = await invoices_of(clocked_api, customer_id=customer.id)
    assert [i.id for i in stored_after] == [i.id for i in stored_before]
    assert stored_after[0].version == stored_before[0].version

    clock.set(at("2024-03-10T13:30"))  # the later event now counts
    assert lines_by_name((await upcoming(clocked_api, sub.id)).invoice)["API calls"][0] == "4"


async def test_upcoming_invoice_of_future_and_ended_subscriptions(clocked_api: Api, clock: Clock) -> None:
    clock.set(at("2024-03-10T12:00"))
    customer = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, fixed_fee())
    future = await subscribe(clocked_api, customer, plan, "2024-04-01")
    first = await upcoming(clocked_api, future.id)  # as Orb does: the first invoice, dated on the start date
    assert first.target_date == date("2024-04-01")
    assert lines_by_name(first.invoice) == {"Platform": ("1", "100.00", dt.date(2024, 4, 1), dt.date(2024, 4, 30))}
    clock.set(at("2024-04-01T00:00"))
    assert (await upcoming(clocked_api, future.id)).target_date == date("2024-05-01")

    ending = await subscribe(clocked_api, customer, plan, "2024-03-01")
    await cancel(clocked_api, ending.id, END_OF_TERM)  # ends May 1
    assert (await upcoming(clocked_api, ending.id)).target_date == date("2024-05-01")
    clock.set(at("2024-05-01T00:00"))
    ended = await expect_error(upcoming(clocked_api, ending.id))
    assert (ended.code, ended.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SUBSCRIPTION_NOT_ACTIVE")

    missing = await expect_error(upcoming(clocked_api, "sub_unknown"))
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "SUBSCRIPTION_NOT_FOUND")
    empty = await expect_error(upcoming(clocked_api, ""))
    assert (empty.code, set(empty.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"subscription_id"})


# --- the period-end runner -----------------------------------------------------------------------------------


async def _subscriptions_for_runner(api: Api, count: int, start: str) -> list[str]:
    """`count` customers subscribed to a plan with a fee and usage, with a few events each."""
    plan = await create_plan(api, fixed_fee("Platform", "10.00"), usage_price("API calls", "0.50"))
    ids = []
    for n in range(count):
        customer = await create_customer(api)
        ids.append((await subscribe(api, customer, plan, start)).id)
        when = dt.datetime.combine(dt.date.fromisoformat(start), dt.time(6), UTC)
        response = await ingest(api, [event(customer.id, when) for _ in range(n + 1)])
        assert (response.ingested, list(response.errors)) == (n + 1, [])
    return ids


async def _assert_one_invoice_per_boundary(api: Api, subscription_ids: Sequence[str], dates: Sequence[str]) -> None:
    for n, subscription_id in enumerate(subscription_ids):
        invoices = await invoices_of(api, subscription_id=subscription_id)
        assert [i.invoice_date for i in invoices] == [date(d) for d in dates], subscription_id
        usage_lines = [li for i in invoices for li in i.line_items if li.name == "API calls"]
        assert [li.quantity for li in usage_lines] == [str(n + 1)] + ["0"] * (len(dates) - 2)


async def test_concurrent_runners_invoice_each_period_once(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2024-05-01T12:00"))
    ids = await _subscriptions_for_runner(clocked_api, 12, "2024-05-01")
    now = at("2024-07-01T00:10")
    clock.set(now)
    await asyncio.gather(*(clocked_server.runner.run_once(now, clock.account_id) for _ in range(4)))
    await asyncio.gather(*(clocked_server.runner.run_once(now, clock.account_id) for _ in range(3)))
    await _assert_one_invoice_per_boundary(clocked_api, ids, ["2024-05-01", "2024-06-01", "2024-07-01"])


async def test_runners_in_two_processes_invoice_each_period_once(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, migrated_dsn: str
) -> None:
    clock.set(at("2024-05-01T12:00"))
    ids = await _subscriptions_for_runner(clocked_api, 12, "2024-05-01")
    second_db = await Database.connect(migrated_dsn)
    second_process = build_services(second_db, clock).runner
    try:
        for now in (at("2024-06-01T00:10"), at("2024-08-01T00:10")):
            clock.set(now)
            await asyncio.gather(
                clocked_server.runner.run_once(now, clock.account_id),
                second_process.run_once(now, clock.account_id),
                clocked_server.runner.run_once(now, clock.account_id),
                second_process.run_once(now, clock.account_id),
            )
    finally:
        await second_db.close()
    await _assert_one_invoice_per_boundary(clocked_api, ids, ["2024-05-01", "2024-06-01", "2024-07-01", "2024-08-01"])


async def test_a_pass_without_an_account_serves_every_account(settings: Settings, empty_dsn: str) -> None:
    """The background runner's pass (no account named) invoices every account's due periods, not only the first's.

    On a database of its own, so that the pass meets no other test's subscriptions.
    """
    await migrate(empty_dsn)
    server = await start_server(settings, empty_dsn, lambda: at("2024-05-10T12:00"), run_billing=False)
    try:
        target = f"127.0.0.1:{server.port}"
        keys, subscription_ids = [], []
        for _ in range(3):
            account = await new_account(empty_dsn)
            async with open_api(target, account.key) as api:
                ids = await _subscriptions_for_runner(api, 2, "2024-05-01")
            keys.append(account.key)
            subscription_ids.append(ids)
        result = await server.runner.run_once(at("2024-06-01T00:10"))
        assert result.generated == 3 * 2 * 2
        for key, ids in zip(keys, subscription_ids, strict=True):
            async with open_api(target, key) as api:
                await _assert_one_invoice_per_boundary(api, ids, ["2024-05-01", "2024-06-01"])
    finally:
        await server.stop(grace=1)


async def test_eligible_to_issue_at_waits_a_grace_period_for_usage_only(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2024-06-10T12:00"))
    customer = await create_customer(clocked_api, timezone="America/New_York")
    with_usage = await create_plan(clocked_api, fixed_fee("Platform", "10.00"), usage_price("API calls", "1.00"))
    fixed_only = await create_plan(clocked_api, fixed_fee("Platform", "10.00"))
    metered = await subscribe(clocked_api, customer, with_usage, "2024-06-01", auto_issuance=False)
    flat = await subscribe(clocked_api, customer, fixed_only, "2024-06-01", auto_issuance=False)
    await ingest_ok(clocked_api, [event(customer.id, at("2024-06-05T12:00"))])

    midnight = at("2024-07-01T04:00")  # July 1 in New York (EDT, -4)
    assert instant(dt.date(2024, 7, 1), "America/New_York") == midnight
    clock.set(midnight + dt.timedelta(minutes=5))
    await clocked_server.runner.run_once(clock.now, clock.account_id)  # the default grace: 12 hours
    eligible = {}
    for sub in (metered, flat):
        invoices = await invoices_of(clocked_api, subscription_id=sub.id)
        eligible[sub.id] = [moment_of(i.eligible_to_issue_at) for i in invoices]
        assert all(i.status == DRAFT and not i.will_auto_issue for i in invoices)
        assert not any(i.HasField("scheduled_issue_at") for i in invoices)
    assert eligible[metered.id] == [at("2024-06-01T04:00"), midnight + GRACE]
    assert eligible[flat.id] == [at("2024-06-01T04:00"), midnight]

    await run_billing(clocked_server, clock, at("2024-07-20T12:00"))
    for sub in (metered, flat):
        invoices = await invoices_of(clocked_api, subscription_id=sub.id)
        assert [i.status for i in invoices] == [DRAFT, DRAFT]  # no auto-issue for these subscriptions


async def test_runner_grace_parameter(clocked_api: Api, clocked_server: RunningServer, clock: Clock) -> None:
    clock.set(at("2024-06-10T12:00"))
    customer = await create_customer(clocked_api, auto_issuance=False)
    plan = await create_plan(clocked_api, usage_price("API calls", "1.00"))
    sub = await subscribe(clocked_api, customer, plan, "2024-06-01")
    now = at("2024-07-01T00:01")
    clock.set(now)
    await build_services(clocked_server.db, clock, dt.timedelta(hours=2)).runner.run_once(now, clock.account_id)
    invoices = await invoices_of(clocked_api, subscription_id=sub.id)
    assert [moment_of(i.eligible_to_issue_at) for i in invoices] == [at("2024-07-01T02:00")]  # usage-only plan


async def test_auto_issue_follows_subscription_then_customer_setting(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2024-08-10T12:00"))
    plan = await create_plan(clocked_api, fixed_fee("Platform", "10.00"), usage_price("API calls", "1.00"))
    default_customer = await create_customer(clocked_api)
    manual_customer = await create_customer(clocked_api, auto_issuance=False)
    automatic = await subscribe(clocked_api, default_customer, plan, "2024-08-01")
    manual_by_customer = await subscribe(clocked_api, manual_customer, plan, "2024-08-01")
    manual_by_subscription = await subscribe(clocked_api, default_customer, plan, "2024-08-01", auto_issuance=False)
    overridden = await subscribe(clocked_api, manual_customer, plan, "2024-08-01", auto_issuance=True)
    assert (await ingest(clocked_api, [event(default_customer.id, at("2024-08-05T12:00"))])).ingested == 1

    async def statuses(sub: subscription_service_pb2.Subscription) -> list[int]:
        return [i.status for i in await invoices_of(clocked_api, subscription_id=sub.id)]

    await run_billing(clocked_server, clock, at("2024-09-01T00:05"))
    # The fixed-fee invoice of August issues at once; September's waits for its grace period.
    for sub in (automatic, overridden):
        invoices = await invoices_of(clocked_api, subscription_id=sub.id)
        assert [i.status for i in invoices] == [ISSUED, DRAFT]
        assert invoices[0].invoice_number
        assert moment_of(invoices[0].issued_at) == at("2024-09-01T00:05")
        assert invoices[1].will_auto_issue
        assert moment_of(invoices[1].scheduled_issue_at) == at("2024-09-01T12:00")
    for sub in (manual_by_customer, manual_by_subscription):
        invoices = await invoices_of(clocked_api, subscription_id=sub.id)
        assert [i.status for i in invoices] == [DRAFT, DRAFT]
        assert not any(i.will_auto_issue for i in invoices)

    await run_billing(clocked_server, clock, at("2024-09-01T11:59"))
    assert await statuses(automatic) == [ISSUED, DRAFT]
    await run_billing(clocked_server, clock, at("2024-09-01T12:00"))
    assert await statuses(automatic) == [ISSUED, ISSUED]
    assert await statuses(overridden) == [ISSUED, ISSUED]
    assert await statuses(manual_by_customer) == [DRAFT, DRAFT]
    assert await statuses(manual_by_subscription) == [DRAFT, DRAFT]
    issued = (await invoices_of(clocked_api, subscription_id=automatic.id))[1]
    assert lines_by_name(issued)["API calls"][:2] == ("1", "1.00")
    assert not issued.HasField("eligible_to_issue_at")


async def test_a_late_event_within_the_grace_period_is_billed(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(at("2024-10-10T12:00"))
    customer = await create_customer(clocked_api)
    plan = await create_plan(clocked_api, usage_price("API calls", "1.00"))
    sub = await subscribe(clocked_api, customer, plan, "2024-10-01")
    await ingest_ok(clocked_api, [event(customer.id, at("2024-10-05T12:00")) for _ in range(2)])

    await run_billing(clocked_server, clock, at("2024-11-01T00:05"))
    [draft] = await invoices_of(clocked_api, subscription_id=sub.id)
    assert (draft.status, draft.total) == (DRAFT, "2.00")
    assert moment_of(draft.eligible_to_issue_at) == at("2024-11-01T12:00")

    clock.set(at("2024-11-01T06:00"))
    late = await ingest(
        clocked_api,
        [
            event(customer.id, at("2024-10-31T23:50")),  # October's, arriving late
            event(customer.id, at("2024-11-01T00:30")),  # November's
        ],
    )
    assert late.ingested == 2
    await run_billing(clocked_server, clock, at("2024-11-01T12:00"))
    [issued] = await invoices_of(clocked_api, subscription_id=sub.id)
    assert issued.id == draft.id
    assert issued.status == ISSUED
    assert lines_by_name(issued) == {"API calls": ("3", "3.00", dt.date(2024, 10, 1), dt.date(2024, 10, 31))}
    assert (issued.subtotal, issued.total, issued.amount_due) == ("3.00", "3.00", "3.00")
    november = await upcoming(clocked_api, sub.id)
    assert lines_by_name(november.invoice)["API calls"][:2] == ("1", "1.00")


# --- preview and bill agree ------------------------------------------------------------------------------------


def _plan_prices() -> list[price_pb2.Price]:
    return [
        fixed_fee("Platform", "49.00"),
        fixed_fee("Seats", "12.50", quantity="3", billing_mode=price_pb2.BILLING_MODE_IN_ARREAR),
        usage_price(
            "API calls",
            "0.015",
            discounts=[usage_off("5")],
        ),
        tokens_price(),
        usage_price(
            "Peak storage",
            billable=metric("storage", price_pb2.AGGREGATION_MAX, "gb"),
            config=bulk(("10", "0.50"), ("", "0.40")),
            minimum_amount="1.00",
        ),
        usage_price(
            "Active users",
            billable=metric("login", price_pb2.AGGREGATION_UNIQUE_COUNT, "user"),
            config=price_pb2.PackageConfig(package_amount="5.00", package_size=3),
        ),
        usage_price(
            "Compute",
            billable=metric("compute", price_pb2.AGGREGATION_SUM, "hours"),
            config=price_pb2.MatrixConfig(
                dimensions=["region", "kind"],
                matrix_values=[
                    price_pb2.MatrixValue(dimension_values=["us", "gpu"], unit_amount="2.25"),
                    price_pb2.MatrixValue(dimension_values=["eu", "cpu"], unit_amount="0.125"),
                ],
                default_unit_amount="0.5",
            ),
            maximum_amount="400.00",
        ),
    ]


def _random_events(rng: random.Random, customer_id: str, start: dt.datetime, end: dt.datetime) -> list[Any]:
    """Events of every metric spread over [start, end), many in the last, unfinished bucket."""
    numbers: list[Any] = [1, 2.5, 0.1, "0.1", "7.25", 0.0000001, 12, "3", 1e-05]
    events = []
    span = int((end - start).total_seconds())
    for _ in range(rng.randrange(20, 60)):
        if rng.random() < 0.3:
            when = end - dt.timedelta(seconds=rng.randrange(1, 15 * 60))
        else:
            when = start + dt.timedelta(seconds=rng.randrange(span))
        kind = rng.choice(["api_call", "llm", "storage", "login", "compute"])
        properties: dict[str, Any] = {}
        if kind == "llm":
            properties["tokens"] = rng.choice([*numbers, 4000, "25000.5"])
        elif kind == "storage":
            properties["gb"] = rng.choice(numbers)
        elif kind == "login":
            properties["user"] = rng.choice(["ann", "bob", "cy", "dee", 7])
        elif kind == "compute":
            properties.update(
                region=rng.choice(["us", "eu", "apac"]), kind=rng.choice(["gpu", "cpu"]), hours=rng.choice(numbers)
            )
        events.append(event(customer_id, when, name=kind, properties=properties))
    # Tiny and huge JSON numbers in the unfinished bucket: the preview reads them from the raw events, the
    # generated invoice from the rollups.
    for value in (1e-07, 2.5e-07, 1e16):
        events.append(event(customer_id, end - dt.timedelta(seconds=30), name="llm", properties={"tokens": value}))
    events += rng.sample(events, 3)  # resent events count once
    return events


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
async def test_upcoming_invoice_just_before_the_end_equals_the_generated_invoice(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock, seed: int
) -> None:
    rng = random.Random(seed)
    zone = ["UTC", "America/New_York", "Asia/Kathmandu", "Australia/Adelaide", "Europe/Paris"][seed]
    first_day = dt.date(2025, 1 + 2 * seed, rng.choice([1, 15, 31]))  # months of 31 days
    clock.set(instant(first_day, zone) + dt.timedelta(hours=1))
    customer = await create_customer(clocked_api, timezone=zone, auto_issuance=False)
    plan = await create_plan(clocked_api, *_plan_prices())
    sub = await subscribe(
        clocked_api,
        customer,
        plan,
        first_day.isoformat(),
        align_billing_with_subscription_start_date=rng.random() < 0.5,
    )
    period_end = day_of(sub.current_billing_period_end_date)
    start = instant(day_of(sub.current_billing_period_start_date), zone)
    end = instant(period_end, zone)
    before_end = end - dt.timedelta(minutes=1)

    clock.set(before_end)
    events = _random_events(rng, customer.id, start, before_end)
    for chunk in range(0, len(events), 25):
        response = await ingest(clocked_api, events[chunk : chunk + 25])
        assert list(response.errors) == []
    preview = await upcoming(clocked_api, sub.id)
    assert preview.target_date == date(period_end)

    await run_billing(clocked_server, clock, end + dt.timedelta(minutes=1))
    invoices = await invoices_of(clocked_api, subscription_id=sub.id)
    generated = next(i for i in invoices if i.invoice_date == preview.target_date)
    assert [line_view(li) for li in generated.line_items] == [line_view(li) for li in preview.invoice.line_items]
    assert (generated.subtotal, generated.total) == (preview.invoice.subtotal, preview.invoice.total)
    assert generated.eligible_to_issue_at == preview.invoice.eligible_to_issue_at
    assert Decimal(generated.total) == sum((Decimal(li.amount) for li in generated.line_items), Decimal(0))
    assert {li.name for li in generated.line_items} == {p.name for p in plan.prices}
