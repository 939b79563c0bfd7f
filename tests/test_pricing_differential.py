"""The engine against an independent reference pricer (tests/support/reference_pricer.py), for random plans and
events.

Plans cover all five models, fixed fees in advance and in arrears, one-time
prices, usage prices of every aggregation, discounts of every kind, minimums,
maximums, every cadence, calendar and start-date alignment, partial periods
and cancellations; events carry numbers, text and matrix dimensions. Two
paths:
- fast: the engine's pure billing function (`boundary_lines`, with the plan
  parsed as the server stores it) on usage the reference measures, for many
  examples;
- end to end: a real plan, subscription and events through the clocked
  server, whose GetUpcomingInvoice must equal the reference, for a few.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoicing.v1 import price_pb2

from server.api import converters as conv
from server.domain import money
from server.domain.billing import Usage, boundary_lines
from server.domain.errors import Violations
from server.domain.periods import Period, Schedule, instant
from server.domain.plans import parse_price
from server.domain.pricing import Price, PricedLine
from tests.support import reference_pricer as ref
from tests.support.builders import create_customer, create_plan, day_of, event, subscribe
from tests.support.calls import ingest_ok, upcoming
from tests.support.client import Api
from tests.support.clock import Clock
from tests.support.money import EXPONENTS

T = TypeVar("T")
D = Decimal
ZONES = ("UTC", "America/New_York", "Asia/Kathmandu", "Australia/Adelaide", "Europe/Paris")
EVENT_NAMES = ("call", "tokens")
USERS = ("ann", "bob", "cy", "dee")
REGIONS = ("us", "eu", "apac", "sa", "af")
TIERS = ("cpu", "gpu")
FAST = settings(max_examples=250, deadline=None, derandomize=True, database=None)
SLOW = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# No honest end-to-end case (a plan, a subscription, up to 20 events, one preview) comes near this bound.
CASE_BOUND_S = 20

# --- strategies ----------------------------------------------------------------------------------


def decimals(max_value: int, places: int, *, min_value: int = 0) -> st.SearchStrategy[Decimal]:
    """Decimals in [min_value, max_value] with at most `places` decimals, built from integers."""
    scale = 10**places
    return st.integers(min_value * scale, max_value * scale).map(lambda n: D(n).scaleb(-places).normalize() + 0)


def positive(max_value: int, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals in (0, max_value]."""
    return decimals(max_value, places).filter(lambda v: v > 0)


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[tuple[Decimal, Decimal | None, Decimal], ...]:
    widths = draw(st.lists(positive(8, 1), max_size=3))
    rates = draw(st.lists(decimals(3, 4), min_size=len(widths) + 1, max_size=len(widths) + 1))
    tiers: list[tuple[Decimal, Decimal | None, Decimal]] = []
    first = D(0)
    for width, rate in zip(widths, rates, strict=False):
        tiers.append((first, first + width, rate))
        first += width
    tiers.append((first, None, rates[-1]))
    return tuple(tiers)


@st.composite
def bulk_lists(draw: st.DrawFn) -> tuple[tuple[Decimal | None, Decimal], ...]:
    caps = sorted(set(draw(st.lists(positive(30, 1), max_size=3))))
    rates = draw(st.lists(decimals(3, 4), min_size=len(caps) + 1, max_size=len(caps) + 1))
    return (*((c, r) for c, r in zip(caps, rates, strict=False)), (None, rates[-1]))


@st.composite
def price_specs(draw: st.DrawFn, index: int, currency: str, cadence: str) -> ref.PriceSpec:
    """One valid price of the plan: any model, type, mode, adjustments."""
    exponent = EXPONENTS[currency]
    kind = draw(st.sampled_from(["fixed", "usage"]))
    models = ["unit", "package", "tiered", "bulk"] + (["matrix"] if kind == "usage" else [])
    model = draw(st.sampled_from(models))
    fields: dict[str, Any] = {"id": f"p{index}", "name": f"Price {index}", "model": model, "kind": kind}
    if kind == "fixed":
        one_time = draw(st.integers(0, 5)) == 0
        fields["cadence"] = "one_time" if one_time else cadence
        fields["mode"] = "in_advance" if one_time else draw(st.sampled_from(["in_advance", "in_arrear"]))
        fields["quantity"] = draw(positive(20, 2))
    else:
        fields.update(cadence=cadence, mode="in_arrear", event=draw(st.sampled_from(EVENT_NAMES)))
        aggregation = draw(st.sampled_from(["count", "sum", "max", "unique_count"]))
        fields["aggregation"] = aggregation
        fields["prop"] = {"count": "", "sum": "v", "max": "v", "unique_count": "user"}[aggregation]
    if model == "unit":
        fields["unit_amount"] = draw(decimals(20, 4))
    elif model == "package":
        fields["package_amount"] = draw(decimals(50, exponent + 1))
        fields["package_size"] = draw(st.integers(1, 7))
    elif model == "tiered":
        fields["tiers"] = draw(tier_lists())
    elif model == "bulk":
        fields["bulk"] = draw(bulk_lists())
    else:
        dimensions = ("region",) if draw(st.booleans()) else ("region", "tier")
        keys = [(r,) for r in REGIONS] if len(dimensions) == 1 else [(r, t) for r in REGIONS for t in TIERS]
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=4))
        fields["dimensions"] = dimensions
        fields["cells"] = tuple((key, draw(decimals(3, 4))) for key in chosen)
        fields["default"] = draw(decimals(3, 4))
    bounds = draw(st.lists(decimals(300, exponent), min_size=2, max_size=2))
    low, high = sorted(bounds)
    fields["minimum"] = low if draw(st.integers(0, 2)) == 0 else None
    fields["maximum"] = high if draw(st.integers(0, 2)) == 0 else None
    discounts = []
    for discount_kind in draw(st.lists(st.sampled_from(["amount", "percentage", "usage"]), max_size=2)):
        if discount_kind == "amount":
            discounts.append(("amount", draw(positive(40, exponent))))
        elif discount_kind == "percentage":
            discounts.append(("percentage", draw(positive(1, 4))))
        elif kind == "usage":
            discounts.append(("usage", draw(positive(30, 1))))
    fields["discounts"] = tuple(discounts)
    return ref.PriceSpec(**fields)


@st.composite
def plans(draw: st.DrawFn) -> tuple[str, list[ref.PriceSpec], int]:
    """A currency, 2 to 5 prices sharing one recurring cadence, and its months."""
    currency = draw(st.sampled_from(sorted(EXPONENTS)))
    cadence = draw(st.sampled_from(sorted(ref.MONTHS)))
    count = draw(st.integers(2, 5))
    return currency, [draw(price_specs(i, currency, cadence)) for i in range(count)], ref.MONTHS[cadence]


def _properties(draw: st.DrawFn) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    value = draw(
        st.none() | st.integers(0, 500) | decimals(100, 3).map(lambda d: format(d, "f")) | st.just("n/a"),
    )
    if value is not None:
        properties["v"] = value
    if draw(st.booleans()):
        properties["user"] = draw(st.sampled_from(USERS))
    if draw(st.integers(0, 4)) > 0:
        properties["region"] = draw(st.sampled_from(REGIONS))
    if draw(st.booleans()):
        properties["tier"] = draw(st.sampled_from(TIERS))
    return properties


@st.composite
def event_lists(draw: st.DrawFn, start: dt.datetime, end: dt.datetime, max_size: int = 25) -> list[ref.SentEvent]:
    """Events spread over [start, end) (whole minutes), of every name, with random properties."""
    minutes = max(1, int((end - start).total_seconds() // 60))
    count = draw(st.integers(0, max_size))
    return [
        ref.SentEvent(
            start + dt.timedelta(minutes=draw(st.integers(0, minutes - 1)), seconds=draw(st.integers(0, 59))),
            draw(st.sampled_from(EVENT_NAMES)),
            _properties(draw),
        )
        for _ in range(count)
    ]


# --- specs as the server takes them ------------------------------------------------------------------


def _wire(value: Decimal) -> str:
    return money.to_wire(value)


def price_proto(spec: ref.PriceSpec) -> price_pb2.Price:
    """The CreatePlan form of a price spec."""
    price = price_pb2.Price(
        name=spec.name,
        model_type=f"PRICE_MODEL_TYPE_{spec.model.upper()}",
        price_type=price_pb2.PRICE_TYPE_FIXED_PRICE if spec.kind == "fixed" else price_pb2.PRICE_TYPE_USAGE_PRICE,
        cadence=f"CADENCE_{spec.cadence.upper()}",
        billing_mode=f"BILLING_MODE_{spec.mode.upper()}",
        minimum_amount="" if spec.minimum is None else _wire(spec.minimum),
        maximum_amount="" if spec.maximum is None else _wire(spec.maximum),
    )
    if spec.kind == "fixed":
        price.fixed_price_quantity = _wire(spec.quantity)
    else:
        price.billable_metric.CopyFrom(
            price_pb2.BillableMetric(
                event_name=spec.event,
                aggregation=f"AGGREGATION_{spec.aggregation.upper()}",
                property=spec.prop,
            )
        )
    if spec.model == "unit":
        price.unit_config.unit_amount = _wire(spec.unit_amount)
    elif spec.model == "package":
        price.package_config.CopyFrom(
            price_pb2.PackageConfig(package_amount=_wire(spec.package_amount), package_size=spec.package_size)
        )
    elif spec.model == "tiered":
        for first, last, rate in spec.tiers:
            price.tiered_config.tiers.add(
                first_unit=_wire(first), last_unit="" if last is None else _wire(last), unit_amount=_wire(rate)
            )
    elif spec.model == "bulk":
        for cap, rate in spec.bulk:
            price.bulk_config.tiers.add(maximum_units="" if cap is None else _wire(cap), unit_amount=_wire(rate))
    else:
        price.matrix_config.dimensions.extend(spec.dimensions)
        for values, rate in spec.cells:
            price.matrix_config.matrix_values.add(dimension_values=list(values), unit_amount=_wire(rate))
        price.matrix_config.default_unit_amount = _wire(spec.default)
    for kind, value in spec.discounts:
        discount = price.discounts.add(discount_type=price_pb2.DiscountType.Value(f"DISCOUNT_TYPE_{kind.upper()}"))
        setattr(discount, f"{kind}_discount", _wire(value))
    return price


def domain_price(spec: ref.PriceSpec, currency: str) -> Price:
    """The engine's price, parsed from the stored form exactly as the server does."""
    data = conv.price_data(price_proto(spec))
    data["id"] = spec.id
    violations = Violations()
    price = parse_price(data, "price", currency, violations)
    assert price is not None, violations.items
    return price


def exact(value: Fraction) -> Decimal:
    """A quantity the reference measured, as a Decimal (sums of decimals: always a terminating decimal)."""
    with money.exact_context():
        return D(value.numerator) / D(value.denominator)


def engine_view(lines: list[PricedLine]) -> list[tuple[object, ...]]:
    """What the differential compares of each engine line."""
    return [(li.price.id, li.start_date, li.end_date, Fraction(li.quantity), li.subtotal, li.amount) for li in lines]


def reference_view(lines: list[ref.RefLine]) -> list[tuple[object, ...]]:
    """The same of each reference line."""
    return [(li.price_id, li.start, li.end, li.quantity, li.subtotal, li.amount) for li in lines]


# --- the fast path --------------------------------------------------------------------------------------


@st.composite
def billing_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A plan, a subscription (maybe cancelled), a boundary, events around its periods and maybe a `now`."""
    currency, specs, months = draw(plans())
    start = dt.date(2024, 1, 1) + dt.timedelta(days=draw(st.integers(0, 730)))
    sub = ref.SubscriptionSpec(start, months, draw(st.booleans()), draw(st.sampled_from(ZONES)))
    k = draw(st.sampled_from([0, 1, 1, 1, 2, 3]))
    if draw(st.integers(0, 2)) == 0:
        sub = ref.SubscriptionSpec(
            sub.start, months, sub.align, sub.zone, start + dt.timedelta(days=draw(st.integers(1, 400)))
        )
    low = ref._midnight(sub.edge(max(k - 1, 0)), sub.zone) - dt.timedelta(days=2)
    high = ref._midnight(sub.edge(k + 1), sub.zone) + dt.timedelta(days=2)
    events = draw(event_lists(low, high, max_size=40))
    now = None if draw(st.booleans()) else low + (high - low) * draw(st.integers(1, 99)) / 100
    return {"currency": currency, "specs": specs, "sub": sub, "k": k, "events": events, "now": now}


def engine_lines(case: dict[str, Any]) -> list[PricedLine]:
    """The engine's lines of the case's boundary, usage measured (by the reference) over the engine's periods."""
    currency, sub = case["currency"], case["sub"]
    specs = {s.id: s for s in case["specs"]}
    prices = [domain_price(s, currency) for s in case["specs"]]
    ended_at = None if sub.end is None else instant(sub.end, sub.zone)

    def lookup(price: Price, billed: Period) -> Usage:
        stops = [instant(billed.end, sub.zone), case["now"], ended_at]
        quantity, cells = ref.usage(
            specs[price.id], case["events"], instant(billed.start, sub.zone), min(s for s in stops if s is not None)
        )
        return Usage(exact(quantity), None if cells is None else {key: exact(q) for key, q in cells.items()})

    return boundary_lines(prices, Schedule(sub.start, sub.months, sub.align), case["k"], sub.end, lookup)


@pytest.mark.slow
@pytest.mark.timeout(300)  # 250 generated cases of the pure billing function
@FAST
@given(billing_cases())
def test_engine_lines_equal_the_reference(case: dict[str, Any]) -> None:
    currency, sub = case["currency"], case["sub"]
    ended_at = None if sub.end is None else ref._midnight(sub.end, sub.zone)
    expected = ref.invoice_lines(case["specs"], sub, case["k"], case["events"], currency, case["now"], ended_at)
    lines = engine_lines(case)
    assert engine_view(lines) == reference_view(expected)
    assert money.round_money(sum((li.amount for li in lines), D(0)), currency) == ref.total(expected, currency)


# --- end to end: the preview -------------------------------------------------------------------------


@st.composite
def preview_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A plan, a subscription, the instant of the preview inside one of its first periods, and events."""
    currency, specs, months = draw(plans())
    start = dt.date(2027, 1, 1) + dt.timedelta(days=draw(st.integers(0, 200)))  # clear of the runner tests
    sub = ref.SubscriptionSpec(start, months, draw(st.booleans()), draw(st.sampled_from(ZONES)))
    current = draw(st.integers(0, 1))
    period_start = ref._midnight(sub.edge(current), sub.zone)
    period_end = ref._midnight(sub.edge(current + 1), sub.zone)
    now = period_start + (period_end - period_start) * draw(st.integers(1, 999)) / 1000
    now = now.replace(microsecond=0)
    events = draw(event_lists(period_start - dt.timedelta(days=1), now + dt.timedelta(hours=6), max_size=20))
    return {"currency": currency, "specs": specs, "sub": sub, "k": current + 1, "events": events, "now": now}


async def _preview_case(api: Api, clock: Clock, case: dict[str, Any]) -> None:
    currency, sub, now = case["currency"], case["sub"], case["now"]
    clock.set(now)
    customer = await create_customer(api, currency=currency, timezone=sub.zone)
    plan = await create_plan(api, *(price_proto(s) for s in case["specs"]), currency=currency)
    ids = {spec.id: price.id for spec, price in zip(case["specs"], plan.prices, strict=True)}
    subscription = await subscribe(
        api, customer, plan, sub.start.isoformat(), align_billing_with_subscription_start_date=sub.align
    )
    if case["events"]:
        sent = [event(customer.id, e.at, name=e.name, properties=dict(e.properties)) for e in case["events"]]
        await ingest_ok(api, sent)
    preview = (await upcoming(api, subscription.id)).invoice
    expected = ref.invoice_lines(case["specs"], sub, case["k"], case["events"], currency, now)
    got = [
        (li.price.id, day_of(li.start_date), day_of(li.end_date), Fraction(D(li.quantity)), li.subtotal, li.amount)
        for li in preview.line_items
    ]
    want = [(ids[li.price_id], li.start, li.end, li.quantity, _wire(li.subtotal), _wire(li.amount)) for li in expected]
    assert got == want
    assert preview.total == _wire(ref.total(expected, currency))  # the sum, at the currency's scale


@pytest.mark.slow
@pytest.mark.timeout(300)  # 12 generated cases, each bounded by CASE_BOUND_S
async def test_upcoming_invoice_equals_the_reference(clocked_api: Api, clock: Clock) -> None:
    loop = asyncio.get_running_loop()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=CASE_BOUND_S)

    @SLOW
    @given(preview_cases())
    def check(case: dict[str, Any]) -> None:
        run(_preview_case(clocked_api, clock, case))

    await asyncio.to_thread(check)
