"""Billing correctness at the edges, one test per defect an auditor found, in USD, JPY and KWD.

Every expectation is worked out by hand in a comment. The pure tests call the
domain's pricing and billing functions; the others go through the clocked
server (dates in 2027, clear of the other billing tests' periods).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import grpc
import pytest
from invoicing.v1 import customer_pb2, invoice_pb2, price_pb2, subscription_service_pb2

from server.app import RunningServer
from server.domain import money
from server.domain.billing import Usage, billable_usage, boundary_lines
from server.domain.invoices import AdjustmentKind, Discount, DiscountKind
from server.domain.periods import Schedule
from server.domain.pricing import (
    Aggregation,
    BillableMetric,
    BillingMode,
    Cadence,
    MatrixCell,
    ModelType,
    Price,
    PricedLine,
    PriceType,
    Tier,
    price_line,
)
from tests.support.builders import (
    at,
    create_customer,
    create_plan,
    date,
    day_of,
    event,
    fixed_fee,
    lines_by_name,
    metric,
    plan_request,
    subscribe,
    usage_price,
)
from tests.support.calls import cancel, get_invoice, get_subscription, ingest, ingest_ok, invoices_of, issue, upcoming
from tests.support.checks import assert_balance_matches_ledger
from tests.support.client import Api, expect_error
from tests.support.clock import Clock, run_billing
from tests.support.database import connection

D = Decimal
START = dt.date(2027, 1, 1)
END = dt.date(2027, 1, 31)


def usage(currency: str, **fields: Any) -> Price:
    """A monthly usage price in the currency (unit model unless overridden)."""
    base: dict[str, Any] = {
        "id": "price_u",
        "name": "Usage",
        "model": ModelType.UNIT,
        "price_type": PriceType.USAGE,
        "cadence": Cadence.MONTHLY,
        "billing_mode": BillingMode.IN_ARREAR,
        "currency": currency,
        "metric": BillableMetric("call", Aggregation.COUNT),
    }
    return Price(**(base | fields))


def fee(currency: str, amount: str, **fields: Any) -> Price:
    """A monthly fixed fee billed in advance."""
    base: dict[str, Any] = {
        "id": "price_f",
        "name": "Fee",
        "model": ModelType.UNIT,
        "price_type": PriceType.FIXED,
        "cadence": Cadence.MONTHLY,
        "billing_mode": BillingMode.IN_ADVANCE,
        "currency": currency,
        "unit_amount": D(amount),
    }
    return Price(**(base | fields))


def line(price: Price, quantity: str, **kwargs: Any) -> PricedLine:
    """Price a quantity over January 2027."""
    return price_line(price, quantity=D(quantity), start_date=START, end_date=END, **kwargs)


def wire(value: Decimal) -> str:
    """A money value as the wire shows it."""
    return format(value, "f")


# --- defect 5: unmatched matrix usage is one default group, priced once ---------------------------------


@pytest.mark.parametrize(
    ("currency", "default", "strays", "cell_rate", "expected", "per_value"),
    [
        # 2 × 0.50 = 1.00 in the "us" cell; 40 units at 0.005 = 0.200; 1.200 → 1.20 (per value: 40 × 0.01 + 1.00).
        ("USD", "0.005", 40, "0.50", "1.20", "1.40"),
        # 2 × 10 = 20; 3 × 0.5 = 1.5; 21.5 → 22 (per value: 3 × 1 + 20 = 23).
        ("JPY", "0.5", 3, "10", "22", "23"),
        # 2 × 0.5 = 1.0; 3 × 0.0005 = 0.0015; 1.0015 → 1.002 (per value: 3 × 0.001 + 1.000 = 1.003).
        ("KWD", "0.0005", 3, "0.5", "1.002", "1.003"),
    ],
)
def test_unmatched_matrix_usage_is_one_default_group(
    currency: str, default: str, strays: int, cell_rate: str, expected: str, per_value: str
) -> None:
    price = usage(
        currency,
        model=ModelType.MATRIX,
        dimensions=("region",),
        cells=(MatrixCell(("us",), D(cell_rate)),),
        default_unit_amount=D(default),
    )
    cells = {("us",): D(2)} | {(f"r{n}",): D(1) for n in range(strays)}
    priced = line(price, str(2 + strays), matrix=cells)
    assert wire(priced.amount) == expected != per_value
    assert [(s.name, s.values, s.quantity) for s in priced.sub_lines] == [
        ("us", ("us",), D(2)),
        ("Default", (), D(strays)),
    ]
    assert priced.sub_lines[1].amount == D(strays) * D(default)  # exact, not rounded


# --- defect 6: one rounding point per line ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "rate", "expected"),
    [
        ("USD", "0.005", "0.01"),  # 0.005 + 0.005 = 0.010 → 0.01 (rounding each tier: 0.01 + 0.01 = 0.02)
        ("JPY", "0.5", "1"),  # 0.5 + 0.5 = 1.0 → 1 (each tier: 1 + 1 = 2)
        ("KWD", "0.0005", "0.001"),  # 0.0005 + 0.0005 = 0.0010 → 0.001 (each tier: 0.002)
    ],
)
def test_tiers_are_exact_and_the_line_is_rounded_once(currency: str, rate: str, expected: str) -> None:
    tiers = (Tier(D(0), D(1), D(rate)), Tier(D(1), None, D(rate)))
    priced = line(usage(currency, model=ModelType.TIERED, tiers=tiers), "2")
    assert [s.amount for s in priced.sub_lines] == [D(rate), D(rate)]
    assert wire(priced.subtotal) == wire(priced.amount) == expected


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("USD", "10.005", "7.00"),  # 10.005 × 21/30 = 7.0035 → 7.00 (rounding first: 10.01 × 0.7 = 7.007 → 7.01)
        ("JPY", "10.5", "7"),  # 10.5 × 21/30 = 7.35 → 7 (rounding first: 11 × 0.7 = 7.7 → 8)
        ("KWD", "10.0005", "7.000"),  # 10.0005 × 21/30 = 7.00035 → 7.000 (rounding first: 7.0007 → 7.001)
    ],
)
def test_proration_applies_to_the_exact_amount(currency: str, amount: str, expected: str) -> None:
    priced = line(fee(currency, amount), "1", proration=D(21) / D(30))
    assert wire(priced.subtotal) == wire(priced.amount) == expected


@pytest.mark.parametrize(
    ("currency", "unit", "subtotal", "discount", "amount"),
    [
        # 10.05 × 0.9 = 9.045 → 9.05; the discount shown is 9.05 - 10.05 = -1.00 (rounding the discount:
        # 1.005 → 1.01, would bill 9.04).
        ("USD", "10.05", "10.05", "-1.00", "9.05"),
        # 105 × 0.9 = 94.5 → 95; -10 (rounding the discount: 10.5 → 11, would bill 94).
        ("JPY", "105", "105", "-10", "95"),
        # 10 × 1.0005 = 10.005; × 0.9 = 9.0045 → 9.005; -1.000 (rounding the discount: 1.0005 → 1.001, 9.004).
        ("KWD", "1.0005", "10.005", "-1.000", "9.005"),
    ],
)
def test_the_discounted_amount_is_rounded_not_the_discount(
    currency: str, unit: str, subtotal: str, discount: str, amount: str
) -> None:
    quantity = "10" if currency == "KWD" else "1"
    price = usage(currency, unit_amount=D(unit), discounts=(Discount(DiscountKind.PERCENTAGE, D("0.1")),))
    priced = line(price, quantity)
    assert wire(priced.subtotal) == subtotal
    assert [(a.kind, wire(a.amount)) for a in priced.adjustments] == [(AdjustmentKind.PERCENTAGE_DISCOUNT, discount)]
    assert wire(priced.adjusted_subtotal) == wire(priced.amount) == amount


@pytest.mark.parametrize(
    ("currency", "scale", "amount_off", "expected"),
    [
        # 7 × 0.3333 = 2.3331 → 2.33; usage -1: 6 × 0.3333 = 1.9998 → 2.00 (-0.33); amount -0.50: 1.4998 → 1.50
        # (-0.50); 25% off: 1.12485 → 1.12 (-0.38); minimum 1.2 × 20/31 = 0.774… not hit; maximum 1.5 × 20/31
        # = 0.967741… → 0.97 (-0.15). 2.33 - 0.33 - 0.50 - 0.38 - 0.15 = 0.97.
        ("USD", "1", "0.50", ("2.33", ["-0.33", "-0.50", "-0.38", "-0.15"], "0.97")),
        # 7 × 33.33 = 233.31 → 233; 199.98 → 200 (-33); -50: 149.98 → 150 (-50); 25% off: 112.485 → 112 (-38);
        # maximum 150 × 20/31 = 96.77… → 97 (-15). 233 - 33 - 50 - 38 - 15 = 97.
        ("JPY", "100", "50", ("233", ["-33", "-50", "-38", "-15"], "97")),
        # 2.3331 → 2.333; 1.9998 → 2.000 (-0.333); -0.501: 1.4988 → 1.499 (-0.501); 25% off: 1.1241 → 1.124
        # (-0.375); 1.5 × 20/31 = 0.967741… → 0.968 (-0.156). 2.333 - 0.333 - 0.501 - 0.375 - 0.156 = 0.968.
        ("KWD", "1", "0.501", ("2.333", ["-0.333", "-0.501", "-0.375", "-0.156"], "0.968")),
    ],
)
def test_adjustments_show_the_change_of_the_rounded_running_amount(
    currency: str, scale: str, amount_off: str, expected: tuple[str, list[str], str]
) -> None:
    price = usage(
        currency,
        unit_amount=D("0.3333") * D(scale),
        discounts=(
            Discount(DiscountKind.USAGE, D(1)),
            Discount(DiscountKind.AMOUNT, D(amount_off)),
            Discount(DiscountKind.PERCENTAGE, D("0.25")),
        ),
        minimum=D("1.2") * D(scale),
        maximum=D("1.5") * D(scale),
    )
    priced = line(price, "7", proration=D(20) / D(31))
    subtotal, changes, amount = expected
    assert wire(priced.subtotal) == subtotal
    assert [wire(a.amount) for a in priced.adjustments] == changes
    assert [a.kind for a in priced.adjustments] == [
        AdjustmentKind.USAGE_DISCOUNT,
        AdjustmentKind.AMOUNT_DISCOUNT,
        AdjustmentKind.PERCENTAGE_DISCOUNT,
        AdjustmentKind.MAXIMUM,
    ]
    assert priced.subtotal + sum((a.amount for a in priced.adjustments), D(0)) == priced.adjusted_subtotal
    assert wire(priced.amount) == amount


# --- defect 8: a negative quantity -----------------------------------------------------------------------


@pytest.mark.parametrize(("currency", "zero"), [("USD", "0.00"), ("JPY", "0"), ("KWD", "0.000")])
def test_a_negative_quantity_bills_as_zero_consistently(currency: str, zero: str) -> None:
    assert billable_usage(Usage(D(-5))) == Usage(D(0))
    assert billable_usage(Usage(D(1), {("a",): D(-2), ("b",): D(3)})) == Usage(D(3), {("a",): D(0), ("b",): D(3)})
    price = usage(currency, unit_amount=D(1), metric=BillableMetric("llm", Aggregation.SUM, "tokens"))
    schedule = Schedule(START, 1, align_to_start=False)
    [billed] = boundary_lines([price], schedule, 1, None, lambda _p, _period: Usage(D(-5)))
    # A sum of -5 shows quantity 0 and nothing else: subtotal = adjusted = amount = 0, no adjustment.
    assert (billed.quantity, wire(billed.subtotal), wire(billed.amount), billed.adjustments) == (D(0), zero, zero, ())


# --- defect 9: minimums are prorated in a partial period --------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "minimum", "expected"),
    [
        ("USD", "10.00", "5.16"),  # 10.00 × 16/31 = 5.1612… → 5.16
        ("JPY", "1000", "516"),  # 1000 × 16/31 = 516.129… → 516
        ("KWD", "10.000", "5.161"),  # 10 × 16/31 = 5.16129… → 5.161
    ],
)
def test_a_usage_minimum_is_prorated_in_a_partial_first_period(currency: str, minimum: str, expected: str) -> None:
    price = usage(currency, unit_amount=D(1), minimum=D(minimum))
    schedule = Schedule(dt.date(2027, 1, 16), 1, align_to_start=False)  # first period: Jan 16 to 31, 16 of 31 days
    [billed] = boundary_lines([price], schedule, 1, None, lambda _p, _period: Usage(D(0)))
    assert (billed.start_date, billed.end_date) == (dt.date(2027, 1, 16), dt.date(2027, 1, 31))
    assert [(a.kind, wire(a.amount)) for a in billed.adjustments] == [(AdjustmentKind.MINIMUM, expected)]
    assert wire(billed.amount) == expected
    full = Schedule(dt.date(2027, 1, 1), 1, align_to_start=False)
    [whole] = boundary_lines([price], full, 1, None, lambda _p, _period: Usage(D(0)))
    assert wire(whole.amount) == wire(D(minimum))  # a whole period has the whole minimum


# --- defect 4: a matrix price needs a default unit amount ----------------------------------------------------


def _matrix(default: str | None) -> price_pb2.Price:
    return usage_price(
        "Compute",
        billable=metric("compute", price_pb2.AGGREGATION_COUNT),
        config=price_pb2.MatrixConfig(
            dimensions=["region"],
            matrix_values=[price_pb2.MatrixValue(dimension_values=["us"], unit_amount="2")],
            default_unit_amount=default or "",
        ),
    )


@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD"])
async def test_create_plan_refuses_a_matrix_price_without_default(clocked_api: Api, currency: str) -> None:
    refused = await expect_error(
        clocked_api.plans.CreatePlan(plan_request(fixed_fee(), _matrix(None), currency=currency))
    )
    assert (refused.code, set(refused.field_violations)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        {"prices[1].matrix_config.default_unit_amount"},
    )
    free = await create_plan(clocked_api, _matrix("0"), currency=currency)  # "0": unmatched usage is free, said so
    assert free.prices[0].matrix_config.default_unit_amount == "0"


# --- end to end ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "call", "support", "usage_total", "support_total"),
    [
        # 3 calls × 1.00; support 25.00 × 10/30 (June 1 to 10, the 10th used) = 8.333… → 8.33.
        ("USD", "1.00", "25.00", "3.00", "8.33"),
        ("JPY", "100", "2500", "300", "833"),  # 3 × 100; 2500 × 10/30 = 833.3… → 833
        ("KWD", "1.000", "25.000", "3.000", "8.333"),  # 3 × 1.000; 25 × 10/30 = 8.3333… → 8.333
    ],
)
async def test_immediate_cancellation_bills_the_cancellation_day_of(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    currency: str,
    call: str,
    support: str,
    usage_total: str,
    support_total: str,
) -> None:
    """Defect 2: usage before the cancellation instant on its day is billed; fees count that day as used."""
    clock.set(at("2027-06-10T20:00"))  # 16:00 on June 10 in New York (EDT, -4)
    customer = await create_customer(clocked_api, currency=currency, timezone="America/New_York")
    plan = await create_plan(
        clocked_api,
        usage_price("Calls", call),
        fixed_fee("Support", support, billing_mode=price_pb2.BILLING_MODE_IN_ARREAR),
        currency=currency,
    )
    sub = await subscribe(clocked_api, customer, plan, "2027-06-01")
    await ingest_ok(
        clocked_api,
        [
            event(customer.id, at("2027-06-09T12:00")),
            event(customer.id, at("2027-06-10T05:00")),  # 01:00 local on the cancellation day
            event(customer.id, at("2027-06-10T19:59")),  # a minute before the cancellation
        ],
    )
    cancelled = await cancel(clocked_api, sub.id, subscription_service_pb2.CANCEL_OPTION_IMMEDIATE)
    assert (day_of(cancelled.end_date), cancelled.ended_at.ToDatetime(tzinfo=dt.UTC)) == (
        dt.date(2027, 6, 11),
        at("2027-06-10T20:00"),
    )
    await ingest_ok(clocked_api, [event(customer.id, at("2027-06-10T20:00"))])  # at the instant: not billed
    await run_billing(clocked_server, clock, at("2027-06-10T20:01"))
    invoices = await invoices_of(clocked_api, subscription_id=sub.id)
    final = invoices[-1]
    assert day_of(final.invoice_date) == dt.date(2027, 6, 10)
    assert lines_by_name(final) == {
        "Calls": ("3", usage_total, dt.date(2027, 6, 1), dt.date(2027, 6, 10)),
        "Support": ("1", support_total, dt.date(2027, 6, 1), dt.date(2027, 6, 10)),
    }


async def invoice_events(dsn: str, invoice_id: str) -> list[tuple[str, int]]:
    """(type, version) of every change event recorded for the invoice, in order."""
    async with connection(dsn) as conn:
        rows = await conn.fetch(
            "SELECT type, version FROM invoice_events WHERE invoice_id = $1 ORDER BY sequence", invoice_id
        )
    return [(r["type"], r["version"]) for r in rows]


@pytest.mark.parametrize(
    ("currency", "fee", "call", "credit", "final_total"),
    [
        # Used: Jan 1 to Mar 15 = 31 + 28 + 15 = 74 of 365 days; 1200.00 × 74/365 = 243.287… → 243.29, so
        # 1200.00 - 243.29 = 956.71 goes back. The final invoice bills 2 calls × 1.00.
        ("USD", "1200.00", "1.00", "956.71", "2.00"),
        ("JPY", "120000", "100", "95671", "200"),  # 120000 × 74/365 = 24328.7… → 24329; 120000 - 24329
        ("KWD", "1200.000", "1.000", "956.712", "2.000"),  # 243.2876… → 243.288; 1200 - 243.288
    ],
)
async def test_the_final_invoice_of_an_immediate_cancellation_is_due_at_once(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    currency: str,
    fee: str,
    call: str,
    credit: str,
    final_total: str,
) -> None:
    """Defect 3: on an annual plan, the final invoice comes with the next runner pass, not a year later."""
    clock.set(at("2027-01-01T00:05"))
    customer = await create_customer(clocked_api, currency=currency)
    plan = await create_plan(
        clocked_api,
        fixed_fee("Platform", fee, cadence=price_pb2.CADENCE_ANNUAL),
        usage_price("Calls", call, cadence=price_pb2.CADENCE_ANNUAL),
        currency=currency,
    )
    sub = await subscribe(clocked_api, customer, plan, "2027-01-01")
    await run_billing(clocked_server, clock, at("2027-01-01T00:05"))  # the year's fee, issued at once
    [first] = await invoices_of(clocked_api, subscription_id=sub.id)
    assert (first.status, first.total) == (invoice_pb2.INVOICE_STATUS_ISSUED, fee)

    clock.set(at("2027-03-15T12:00"))
    await ingest_ok(
        clocked_api, [event(customer.id, at("2027-02-10T10:00")), event(customer.id, at("2027-03-15T11:00"))]
    )
    await cancel(clocked_api, sub.id, subscription_service_pb2.CANCEL_OPTION_IMMEDIATE)
    preview = await upcoming(clocked_api, sub.id)  # until the runner has generated it
    assert (day_of(preview.target_date), preview.invoice.total) == (dt.date(2027, 3, 15), final_total)
    await run_billing(clocked_server, clock, at("2027-03-15T12:01"))
    first_after, final = await invoices_of(clocked_api, subscription_id=sub.id)
    assert day_of(final.invoice_date) == dt.date(2027, 3, 15)
    assert (final.status, final.total) == (invoice_pb2.INVOICE_STATUS_DRAFT, final_total)
    assert [li.amount for li in final.line_items] == [li.amount for li in preview.invoice.line_items]
    ended = await expect_error(upcoming(clocked_api, sub.id))
    assert (ended.code, ended.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SUBSCRIPTION_NOT_ACTIVE")
    # The year's fee was already issued: its unused part went to the balance, linked to that invoice.
    refunds = list(first_after.customer_balance_transactions)
    assert [(t.action, t.amount) for t in refunds] == [
        (customer_pb2.BALANCE_TRANSACTION_ACTION_PRORATED_REFUND, credit)
    ]
    assert sub.id in refunds[0].description
    assert await assert_balance_matches_ledger(clocked_api, customer.id) == D(credit)


@pytest.mark.parametrize(
    ("currency", "default", "strays", "rate", "total", "default_amount"),
    [
        ("USD", "0.005", 40, "0.50", "1.20", "0.20"),  # 2 × 0.50 + 40 × 0.005 = 1.00 + 0.200 → 1.20
        ("JPY", "0.5", 3, "10", "22", "1.5"),  # 2 × 10 + 3 × 0.5 = 21.5 → 22
        ("KWD", "0.0005", 3, "0.5", "1.002", "0.0015"),  # 1.0 + 0.0015 = 1.0015 → 1.002
    ],
)
async def test_unmatched_matrix_usage_is_one_group_end_to_end(
    clocked_api: Api, clock: Clock, currency: str, default: str, strays: int, rate: str, total: str, default_amount: str
) -> None:
    """Defect 5 through the server: events of distinct unpriced regions are one default group."""
    clock.set(at("2027-05-20T12:00"))
    customer = await create_customer(clocked_api, currency=currency)
    matrix = _matrix(default)
    matrix.matrix_config.matrix_values[0].unit_amount = rate
    plan = await create_plan(clocked_api, matrix, currency=currency)
    sub = await subscribe(clocked_api, customer, plan, "2027-05-01")
    regions = ["us", "us"] + [f"region-{n}" for n in range(strays)]
    await ingest_ok(
        clocked_api,
        [event(customer.id, at("2027-05-10T10:00"), name="compute", properties={"region": r}) for r in regions],
    )
    [compute] = (await upcoming(clocked_api, sub.id)).invoice.line_items
    assert compute.amount == total
    assert [(s.name, s.quantity, s.amount, list(s.matrix_config.dimension_values)) for s in compute.sub_line_items] == [
        ("us", "2", _times("2", rate, currency), ["us"]),
        ("Default", str(strays), default_amount, []),
    ]


def _times(quantity: str, rate: str, currency: str) -> str:
    """quantity × rate exactly, written at least to the currency's decimals (as sub-lines are)."""
    return money.to_wire(money.exact_amount(D(quantity) * D(rate), currency))


@pytest.mark.parametrize(
    ("currency", "call", "before", "after"),
    [
        ("USD", "0.50", "1.00", "1.50"),  # 2 × 0.50, then 3 × 0.50
        ("JPY", "50", "100", "150"),
        ("KWD", "0.500", "1.000", "1.500"),
    ],
)
async def test_late_usage_reprices_the_draft_then_is_refused_once_issued(
    clocked_api: Api,
    clocked_server: RunningServer,
    clock: Clock,
    migrated_dsn: str,
    currency: str,
    call: str,
    before: str,
    after: str,
) -> None:
    """Defect 7: within the grace period a late event re-prices the stored draft at once; after the period's
    invoice is issued, a late event is refused (PERIOD_CLOSED, field timestamp) and the others still go in."""
    clock.set(at("2027-04-10T12:00"))
    customer = await create_customer(clocked_api, currency=currency)
    plan = await create_plan(clocked_api, usage_price("Calls", call), currency=currency)
    sub = await subscribe(clocked_api, customer, plan, "2027-04-01")
    await ingest_ok(clocked_api, [event(customer.id, at("2027-04-05T10:00")) for _ in range(2)])
    await run_billing(clocked_server, clock, at("2027-05-01T00:05"))
    [draft] = await invoices_of(clocked_api, subscription_id=sub.id)
    assert (draft.status, draft.total) == (invoice_pb2.INVOICE_STATUS_DRAFT, before)

    clock.set(at("2027-05-01T06:00"))  # within the 12 hours of grace
    late_key = "late-april"
    await ingest_ok(
        clocked_api,
        [event(customer.id, at("2027-04-30T23:00"), key=late_key), event(customer.id, at("2027-05-01T01:00"))],
    )
    stored = await get_invoice(clocked_api, draft.id)  # the stored draft, read: it already bills the late event
    assert (stored.total, stored.line_items[0].quantity, stored.version) == (after, "3", draft.version + 1)
    assert (await invoice_events(migrated_dsn, draft.id))[-1] == ("updated", draft.version + 1)

    await run_billing(clocked_server, clock, at("2027-05-01T12:00"))
    issued = await get_invoice(clocked_api, draft.id)
    assert (issued.status, issued.total) == (invoice_pb2.INVOICE_STATUS_ISSUED, after)
    clock.set(at("2027-05-03T09:00"))
    response = await ingest(
        clocked_api,
        [
            event(customer.id, at("2027-04-20T10:00")),  # April's invoice is issued: refused
            event(customer.id, at("2027-04-30T23:00"), key=late_key),  # a resend of a stored event: a duplicate
            event(customer.id, at("2027-05-02T10:00")),  # May's: accepted
            event(customer.id, at("2027-04-20T10:00"), name="page_view"),  # no price meters it: accepted
        ],
    )
    assert [(e.index, e.reason, e.field) for e in response.errors] == [(0, "PERIOD_CLOSED", "timestamp")]
    assert "issued" in response.errors[0].message
    assert (response.ingested, response.duplicates) == (2, 1)
    assert await get_invoice(clocked_api, draft.id) == issued


async def test_a_late_event_racing_the_issue_is_billed_or_refused_never_lost(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    """Ingestion locks the draft its late event falls in, so the event is either in the issued invoice
    (accepted before the issue) or refused (after it): never accepted and left out."""
    clock.set(at("2027-02-10T12:00"))
    plan = await create_plan(clocked_api, usage_price("Calls", "1.00"))
    customers = [await create_customer(clocked_api, auto_issuance=False) for _ in range(8)]
    subs = [await subscribe(clocked_api, c, plan, "2027-02-01") for c in customers]
    await ingest_ok(clocked_api, [event(c.id, at("2027-02-05T10:00")) for c in customers])
    await run_billing(clocked_server, clock, at("2027-03-01T12:05"))  # drafts, their grace already over
    drafts = [(await invoices_of(clocked_api, subscription_id=s.id))[0] for s in subs]

    async def race(customer_id: str, invoice_id: str) -> tuple[Any, Any]:
        issued = asyncio.create_task(issue(clocked_api, invoice_id))
        late = asyncio.create_task(ingest(clocked_api, [event(customer_id, at("2027-02-28T23:00"))]))
        return await issued, await late

    outcomes = await asyncio.gather(*(race(c.id, d.id) for c, d in zip(customers, drafts, strict=True)))
    for issued, late in outcomes:
        final = await get_invoice(clocked_api, issued.id)
        if late.ingested:  # accepted: the issued invoice bills it (1 + 1 calls)
            assert (list(late.errors), final.total) == ([], "2.00")
        else:  # refused: the period was already invoiced
            assert ([e.reason for e in late.errors], final.total) == (["PERIOD_CLOSED"], "1.00")


@pytest.mark.parametrize(
    ("currency", "token", "billed", "zero"),
    [
        ("USD", "0.01", "0.05", "0.00"),  # 5 tokens × 0.01
        ("JPY", "1", "5", "0"),  # 5 × 1
        ("KWD", "0.001", "0.005", "0.000"),  # 5 × 0.001
    ],
)
async def test_negative_quantities_are_refused_or_bill_zero(
    clocked_api: Api, clock: Clock, currency: str, token: str, billed: str, zero: str
) -> None:
    """Defect 8: a negative number where a sum price reads a quantity is refused per event; one stored before
    any price read it bills as zero, with a line that adds up."""
    clock.set(at("2027-07-10T12:00"))
    early = await create_customer(clocked_api, currency=currency)
    when = at("2027-07-05T10:00")
    await ingest_ok(clocked_api, [event(early.id, when, name="credit", properties={"amount": -5})])  # nothing reads it
    tokens = usage_price("Tokens", token, billable=metric("llm", price_pb2.AGGREGATION_SUM, "tokens"))
    plan = await create_plan(clocked_api, tokens, currency=currency)
    customer = await create_customer(clocked_api, currency=currency)
    sub = await subscribe(clocked_api, customer, plan, "2027-07-01")
    response = await ingest(
        clocked_api,
        [
            event(customer.id, when, name="llm", properties={"tokens": -5}),
            event(customer.id, when, name="llm", properties={"tokens": "-2.5"}),
            event(customer.id, when, name="llm", properties={"tokens": 5, "delta": -3}),  # delta: not read
            event(customer.id, when, name="refund", properties={"tokens": -5}),  # not metered
        ],
    )
    assert [(e.index, e.reason, e.field) for e in response.errors] == [
        (0, "NEGATIVE_QUANTITY", "properties.tokens"),
        (1, "NEGATIVE_QUANTITY", "properties.tokens"),
    ]
    assert response.ingested == 2
    [line_item] = (await upcoming(clocked_api, sub.id)).invoice.line_items
    assert (line_item.quantity, line_item.amount) == ("5", billed)

    credits = usage_price("Credits", "1", billable=metric("credit", price_pb2.AGGREGATION_SUM, "amount"))
    credit_plan = await create_plan(clocked_api, credits, currency=currency)
    early_sub = await subscribe(clocked_api, early, credit_plan, "2027-07-01")
    [stored_before] = (await upcoming(clocked_api, early_sub.id)).invoice.line_items
    # The -5 stored before any price read it: quantity 0, and every figure of the line is zero.
    assert (stored_before.quantity, stored_before.subtotal, stored_before.adjusted_subtotal, stored_before.amount) == (
        "0",
        zero,
        zero,
        zero,
    )
    assert list(stored_before.adjustments) == []
    now_refused = await ingest(clocked_api, [event(early.id, when, name="credit", properties={"amount": -1})])
    assert [(e.reason, e.field) for e in now_refused.errors] == [("NEGATIVE_QUANTITY", "properties.amount")]


@pytest.mark.parametrize(
    ("currency", "platform", "setup", "minimum", "first_fee", "minimum_part"),
    [
        # From Sep 17: 14 of September's 30 days. 31.00 × 14/30 = 14.466… → 14.47; the calls minimum
        # 10.00 × 14/30 = 4.666… → 4.67.
        ("USD", "31.00", "100.00", "10.00", "14.47", "4.67"),
        ("JPY", "3100", "10000", "1000", "1447", "467"),  # 1446.6… → 1447; 466.6… → 467
        ("KWD", "31.000", "100.000", "10.000", "14.467", "4.667"),  # 14.4666… → 14.467; 4.6666… → 4.667
    ],
)
async def test_future_subscription_preview_and_prorated_minimum(
    clocked_api: Api,
    clock: Clock,
    currency: str,
    platform: str,
    setup: str,
    minimum: str,
    first_fee: str,
    minimum_part: str,
) -> None:
    """Defect 9: a subscription that starts later previews its first invoice (as Orb does), and a minimum is
    prorated in a partial first period (Orb's default)."""
    clock.set(at("2027-08-20T12:00"))
    customer = await create_customer(clocked_api, currency=currency)
    plan = await create_plan(
        clocked_api,
        fixed_fee("Platform", platform),
        fixed_fee("Setup", setup, cadence=price_pb2.CADENCE_ONE_TIME),
        usage_price("Calls", "1", minimum_amount=minimum),
        currency=currency,
    )
    sub = await subscribe(clocked_api, customer, plan, "2027-09-17")  # calendar-aligned: a partial first period
    first = await upcoming(clocked_api, sub.id)
    assert day_of(first.target_date) == dt.date(2027, 9, 17)
    assert {li.name: li.amount for li in first.invoice.line_items} == {"Platform": first_fee, "Setup": setup}
    clock.set(at("2027-09-20T12:00"))
    second = await upcoming(clocked_api, sub.id)
    assert day_of(second.target_date) == dt.date(2027, 10, 1)
    calls = next(li for li in second.invoice.line_items if li.name == "Calls")
    assert (calls.quantity, calls.amount) == ("0", minimum_part)
    assert [(a.adjustment_type, a.amount) for a in calls.adjustments] == [
        (invoice_pb2.ADJUSTMENT_TYPE_MINIMUM, minimum_part)
    ]
    assert (await get_subscription(clocked_api, sub.id)).current_billing_period_end_date == date("2027-10-01")
