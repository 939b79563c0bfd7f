"""The engine against an independent reference pricer (tests/support/reference_pricer.py), for random plans and
events.

Plans cover all five models, fixed fees in advance and in arrears, one-time
prices, usage prices of every aggregation, discounts of every kind, minimums,
maximums, every cadence, calendar and start-date alignment, partial periods
and cancellations; events carry numbers, text and matrix dimensions. Two
paths:
- fast: the engine's pure billing function (`boundary_lines`, with the plan
  parsed as the server stores it) on usage the reference measures, for many
  examples; and the same across plan and quantity changes (two plans, one to
  three changes, some known only after the previous invoice was made, so
  that it carries proration lines); and the prepaid credits such lines draw
  from random blocks;
- end to end: a real plan, subscription and events through the clocked
  server, whose GetUpcomingInvoice must equal the reference, for a few.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoicing.v1 import price_pb2

from server.api import converters as conv
from server.domain import money
from server.domain.billing import Usage, billed_in_advance, boundary_lines, in_arrears
from server.domain.credits import CreditBlock, draw_credits
from server.domain.errors import Violations
from server.domain.invoices import Line
from server.domain.periods import Period, Schedule, instant
from server.domain.plans import Plan, parse_price
from server.domain.pricing import Price, PricedLine
from server.domain.timeline import ChangeKind, Timeline, build_timeline
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


# --- plan and quantity changes (the fast path) ------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """A change as the engine replays it (the TimelineStep of a stored change)."""

    kind: ChangeKind
    effective_date: dt.date
    sequence: int
    plan: Plan
    price_id: str = ""
    quantity: Decimal | None = None
    superseded_by: str = ""


def _plan(name: str, specs: list[ref.PriceSpec], currency: str) -> Plan:
    documents = []
    for spec in specs:
        data = conv.price_data(price_proto(spec))
        data["id"] = spec.id
        documents.append(data)
    return Plan(name, "", name, currency, tuple(documents), {}, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))


@st.composite
def fee_specs(draw: st.DrawFn, index: int, currency: str, cadence: str) -> ref.PriceSpec:
    """A recurring fixed fee billed in advance (what proration credits and charges), unit model, maybe with a
    minimum, a maximum and discounts."""
    exponent = EXPONENTS[currency]
    low, high = sorted(draw(st.lists(decimals(300, exponent), min_size=2, max_size=2)))
    discounts = draw(st.lists(st.sampled_from(["amount", "percentage"]), max_size=2))
    return ref.PriceSpec(
        id=f"p{index}",
        name=f"Fee {index}",
        model="unit",
        kind="fixed",
        cadence=cadence,
        mode="in_advance",
        quantity=draw(positive(20, 2)),
        unit_amount=draw(decimals(50, exponent + 2)),
        minimum=low if draw(st.integers(0, 3)) == 0 else None,
        maximum=high if draw(st.integers(0, 3)) == 0 else None,
        discounts=tuple(
            (kind, draw(positive(40, exponent) if kind == "amount" else positive(1, 4))) for kind in discounts
        ),
    )


@st.composite
def change_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Two plans of one cadence, a subscription (maybe cancelled) on the first, 1 to 3 changes (plan or quantity)
    on later days, the boundary k invoiced, and which changes were known when the invoice of k-1 was made."""
    currency = draw(st.sampled_from(sorted(EXPONENTS)))
    cadence = draw(st.sampled_from(sorted(ref.MONTHS)))
    specs = {
        name: [
            draw(fee_specs(first, currency, cadence)),
            *(draw(price_specs(first + i, currency, cadence)) for i in range(1, draw(st.integers(1, 4)))),
        ]
        for name, first in (("a", 0), ("b", 10))
    }
    months = ref.MONTHS[cadence]
    start = dt.date(2024, 1, 1) + dt.timedelta(days=draw(st.integers(0, 730)))
    sub = ref.SubscriptionSpec(start, months, draw(st.booleans()), draw(st.sampled_from(ZONES)))
    k = draw(st.sampled_from([1, 1, 2, 3]))
    # Mostly inside period k-1 (whose in-advance fees the previous invoice billed), anywhere up to period k else.
    inside = st.integers(max(1, (sub.edge(k - 1) - start).days), max(1, (sub.edge(k) - start).days - 1))
    anywhere = st.integers(1, (sub.edge(k + 1) - start).days)
    offsets = sorted(set(draw(st.lists(inside | inside | anywhere, min_size=1, max_size=3))))
    phases = [ref.PhaseSpec(start, "a")]
    steps: list[tuple[str, str, Decimal | None, dt.date]] = []
    for offset in offsets:
        day = start + dt.timedelta(days=offset)
        current = phases[-1]
        fees = [p for p in specs[current.plan] if p.kind == "fixed" and p.cadence != "one_time"]
        seats: bool = draw(st.booleans())
        if fees and seats:
            fee = draw(st.sampled_from(fees))
            quantity = draw(positive(20, 2))
            phases.append(ref.PhaseSpec(day, current.plan, {**current.quantities, fee.id: quantity}))
            steps.append(("quantity", fee.id, quantity, day))
        else:
            plan = draw(st.sampled_from(["a", "b"]))
            phases.append(ref.PhaseSpec(day, plan))
            steps.append(("plan", plan, None, day))
    if draw(st.integers(0, 2)) == 0:
        sub = ref.SubscriptionSpec(
            start, months, sub.align, sub.zone, start + dt.timedelta(days=draw(st.integers(1, 400)))
        )
    known = draw(st.integers(0, len(steps)) | st.just(0))
    low = ref._midnight(sub.edge(k - 1), sub.zone) - dt.timedelta(days=2)
    high = ref._midnight(sub.edge(k + 1), sub.zone) + dt.timedelta(days=2)
    events = draw(event_lists(low, high, max_size=30))
    now = None if draw(st.booleans()) else low + (high - low) * draw(st.integers(1, 99)) / 100
    return {
        "currency": currency,
        "specs": specs,
        "sub": sub,
        "k": k,
        "phases": phases,
        "steps": steps,
        "known": known,
        "events": events,
        "now": now,
    }


def _timeline(case: dict[str, Any], steps: list[tuple[str, str, Decimal | None, dt.date]]) -> Timeline:
    plans_ = {name: _plan(name, specs, case["currency"]) for name, specs in case["specs"].items()}
    replayed = [
        _Step(ChangeKind.PLAN, day, n, plans_[target])
        if kind == "plan"
        else _Step(ChangeKind.QUANTITY, day, n, plans_["a"], target, quantity)
        for n, (kind, target, quantity, day) in enumerate(steps, start=1)
    ]
    return build_timeline(case["sub"].start, plans_["a"], replayed)


@pytest.mark.slow
@pytest.mark.timeout(300)  # 200 generated cases of the pure billing function
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(change_cases())
def test_engine_lines_equal_the_reference_across_changes(case: dict[str, Any]) -> None:
    """Both sides of each change as lines of their own, and the proration of fees billed before the changes
    known later, as the reference walks them day by day."""
    currency, sub, k = case["currency"], case["sub"], case["k"]
    specs = {s.id: s for prices in case["specs"].values() for s in prices}
    ended_at = None if sub.end is None else instant(sub.end, sub.zone)
    schedule = Schedule(sub.start, sub.months, sub.align)

    def lookup(price: Price, billed: Period) -> Usage:
        stops = [instant(billed.end, sub.zone), case["now"], ended_at]
        quantity, cells = ref.usage(
            specs[price.id], case["events"], instant(billed.start, sub.zone), min(s for s in stops if s is not None)
        )
        return Usage(exact(quantity), None if cells is None else {key: exact(q) for key, q in cells.items()})

    # What the invoice of boundary k-1 billed, with the changes known then.
    before = _timeline(case, case["steps"][: case["known"]])
    earlier = boundary_lines(before, schedule, k - 1, sub.end, lookup)
    phases_then = case["phases"][: case["known"] + 1]
    billed_ref = ref.changed_invoice_lines(
        case["specs"], phases_then, sub, k - 1, case["events"], currency, case["now"], ended_at
    )
    assert engine_view(earlier) == reference_view(billed_ref)
    stored = [
        Line(
            li.name,
            li.quantity,
            li.price.unit_amount,
            li.start_date,
            li.end_date,
            li.subtotal,
            li.adjustments,
            li.adjusted_subtotal,
            li.amount,
            is_one_off=False,
            price_data=li.document,
        )
        for li in earlier
    ]
    billed = billed_in_advance(stored, schedule.period(k - 1), currency)

    lines = boundary_lines(_timeline(case, case["steps"]), schedule, k, sub.end, lookup, billed)
    expected = ref.changed_invoice_lines(
        case["specs"], case["phases"], sub, k, case["events"], currency, case["now"], ended_at, billed_ref
    )
    assert engine_view(lines) == reference_view(expected)


# --- prepaid credits (the fast path) -----------------------------------------------------------------------


@st.composite
def credit_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A billing case (as above, without `now`) and up to four credit blocks valid around its periods."""
    case = draw(billing_cases())
    case["now"] = None
    exponent = EXPONENTS[case["currency"]]
    around = case["sub"].edge(max(case["k"] - 1, 0))
    specs = []
    for n in range(draw(st.integers(0, 4))):
        effective = around + dt.timedelta(days=draw(st.integers(-40, 60)))
        lasting = draw(st.none() | st.integers(1, 120))
        specs.append(
            ref.BlockSpec(
                id=f"blk{n}",
                remaining=draw(positive(60, exponent)),
                effective=effective,
                expiry=None if lasting is None else effective + dt.timedelta(days=lasting),
                cost_basis=draw(st.none() | decimals(2, 2)),
                granted=n,
            )
        )
    case["blocks"] = specs
    return case


@pytest.mark.slow
@pytest.mark.timeout(300)  # 200 generated cases of the pure billing and drawdown functions
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(credit_cases())
def test_credits_drawn_equal_the_reference(case: dict[str, Any]) -> None:
    """The credits each line draws, its amount after them, and what each block gives, as the reference draws
    them (its own order and its own day-by-day validity)."""
    currency, sub = case["currency"], case["sub"]
    priced = engine_lines(case)
    lines = [
        Line(li.name, li.quantity, li.price.unit_amount, li.start_date, li.end_date, li.subtotal, li.adjustments,
             li.adjusted_subtotal, li.amount, is_one_off=False)
        for li in priced
    ]  # fmt: skip
    granted_at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    engine_blocks = [
        CreditBlock(
            b.id, "cus", currency, b.remaining, b.remaining, b.cost_basis, b.effective, b.expiry, "",
            granted_at + dt.timedelta(seconds=b.granted),
        )
        for b in case["blocks"]
    ]  # fmt: skip
    credited, draws = draw_credits(lines, [in_arrears(li.price) for li in priced], engine_blocks, currency)

    ended_at = None if sub.end is None else ref._midnight(sub.end, sub.zone)
    expected_lines = ref.invoice_lines(case["specs"], sub, case["k"], case["events"], currency, None, ended_at)
    payable = [
        spec.cadence != "one_time" and (spec.kind == "usage" or spec.mode == "in_arrear")
        for spec in ({s.id: s for s in case["specs"]}[li.price_id] for li in expected_lines)
    ]
    expected, given = ref.draw_credits(expected_lines, payable, case["blocks"])
    assert [(li.credits_applied, li.amount) for li in credited] == expected
    drawn: dict[str, Decimal] = {}
    for d in draws:
        drawn[d.block_id] = drawn.get(d.block_id, D(0)) + d.amount
    assert drawn == given
