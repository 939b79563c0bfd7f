"""The pure pricing function: every price model, adjustments in Orb's order, proration and rounding.

Expected amounts are worked out by hand (Orb's published examples where there
is one); the properties check invariants over generated prices and quantities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain import money
from server.domain.invoices import AdjustmentKind, Discount, DiscountKind
from server.domain.pricing import (
    BillingMode,
    BulkTier,
    Cadence,
    MatrixCell,
    ModelType,
    Price,
    PricedLine,
    PriceType,
    SubLineKind,
    Tier,
    model_subtotal,
    price_line,
    proration,
    total_of,
)

START = dt.date(2024, 1, 1)
END = dt.date(2024, 1, 31)
D = Decimal


def make_price(**overrides: Any) -> Price:
    """A monthly USD usage price (unit model, 0 per unit) with overrides."""
    fields: dict[str, Any] = {
        "id": "price_1",
        "name": "API calls",
        "model": ModelType.UNIT,
        "price_type": PriceType.USAGE,
        "cadence": Cadence.MONTHLY,
        "billing_mode": BillingMode.IN_ARREAR,
        "currency": "USD",
    }
    fields.update(overrides)
    return Price(**fields)


def line_of(price: Price, quantity: str | Decimal, **kwargs: Any) -> PricedLine:
    """Price `quantity` over January 2024."""
    return price_line(price, quantity=Decimal(quantity), start_date=START, end_date=END, **kwargs)


def adjustments_of(line: PricedLine) -> list[tuple[AdjustmentKind, Decimal]]:
    """(kind, signed amount) of each adjustment, in order."""
    return [(a.kind, a.amount) for a in line.adjustments]


ORB_TIERS = (
    Tier(D(0), D(10_000), D("0.001")),
    Tier(D(10_000), D(100_000), D("0.0008")),
    Tier(D(100_000), None, D("0.0005")),
)
ORB_BULK = (BulkTier(D(10), D("0.50")), BulkTier(None, D("0.40")))


# --- unit ------------------------------------------------------------------------------


def test_unit_is_quantity_times_unit_amount_rounded_once() -> None:
    price = make_price(unit_amount=D("0.0005"))
    line = line_of(price, "12345")
    assert line.subtotal == D("6.17")  # 6.1725 → 6.17
    assert line.amount == line.adjusted_subtotal == D("6.17")
    assert line.adjustments == ()
    assert line.sub_lines == ()
    assert (line.start_date, line.end_date, line.name) == (START, END, "API calls")


def test_unit_rounds_half_up_at_the_minor_unit() -> None:
    price = make_price(unit_amount=D("0.005"))
    assert line_of(price, "1").amount == D("0.01")  # 0.005 → 0.01 (half-up, not half-even)
    assert line_of(price, "3").amount == D("0.02")  # 0.015 → 0.02
    assert line_of(price, "0").amount == D("0.00")


# --- tiered (graduated) -------------------------------------------------------------------


def test_tiered_orb_example_150000_calls_cost_107() -> None:
    price = make_price(model=ModelType.TIERED, tiers=ORB_TIERS)
    line = line_of(price, "150000")
    assert line.subtotal == line.amount == D("107.00")
    assert [(s.kind, s.quantity, s.amount) for s in line.sub_lines] == [
        (SubLineKind.TIER, D(10_000), D("10.00")),
        (SubLineKind.TIER, D(90_000), D("72.00")),
        (SubLineKind.TIER, D(50_000), D("25.00")),
    ]
    assert [(s.first_unit, s.last_unit, s.unit_amount) for s in line.sub_lines] == [
        (D(0), D(10_000), D("0.001")),
        (D(10_000), D(100_000), D("0.0008")),
        (D(100_000), None, D("0.0005")),
    ]


@pytest.mark.parametrize(
    ("quantity", "expected", "tiers_used"),
    [
        ("0", "0.00", 0),
        ("1", "0.00", 1),  # 0.001 rounds to 0.00
        ("10000", "10.00", 1),  # last_unit is inclusive: still the first tier
        ("10001", "10.00", 2),  # one unit at 0.0008
        ("100000", "82.00", 2),
        ("100001", "82.00", 3),
        ("1000000", "532.00", 3),  # 10 + 72 + 900000 × 0.0005
    ],
)
def test_tiered_boundaries_first_unit_exclusive_last_unit_inclusive(
    quantity: str, expected: str, tiers_used: int
) -> None:
    line = line_of(make_price(model=ModelType.TIERED, tiers=ORB_TIERS), quantity)
    assert line.amount == D(expected)
    assert len(line.sub_lines) == tiers_used
    assert sum((s.quantity for s in line.sub_lines), D(0)) == D(quantity)


def test_tiered_sub_lines_are_exact_and_the_line_rounds_once() -> None:
    tiers = (Tier(D(0), D(1), D("0.005")), Tier(D(1), None, D("0.005")))
    line = line_of(make_price(model=ModelType.TIERED, tiers=tiers), "2")
    # Each tier is 1 × 0.005 = 0.005 exactly; the subtotal is 0.010 rounded once: 0.01 (not 0.01 + 0.01).
    assert [s.amount for s in line.sub_lines] == [D("0.005"), D("0.005")]
    assert line.subtotal == line.amount == D("0.01")


# --- bulk (volume) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("10", "5.00"), ("101", "40.40"), ("11", "4.40"), ("1", "0.50"), ("0", "0.00")],
)
def test_bulk_orb_example_total_volume_picks_one_rate(quantity: str, expected: str) -> None:
    line = line_of(make_price(model=ModelType.BULK, bulk_tiers=ORB_BULK), quantity)
    assert line.subtotal == line.amount == D(expected)
    assert line.sub_lines == ()


# --- package ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "packages"),
    [("0", 0), ("1", 1), ("4", 1), ("10", 1), ("11", 2), ("20", 2), ("20.5", 3)],
)
def test_package_bills_partial_packages_as_whole_ones(quantity: str, packages: int) -> None:
    price = make_price(model=ModelType.PACKAGE, package_amount=D("5.00"), package_size=10)
    assert line_of(price, quantity).amount == D("5.00") * packages


# --- matrix ------------------------------------------------------------------------------------


def test_matrix_one_dimension_with_default_rate() -> None:
    price = make_price(
        model=ModelType.MATRIX,
        dimensions=("region",),
        cells=(MatrixCell(("us",), D("0.50")), MatrixCell(("eu",), D("0.75"))),
        default_unit_amount=D("0.10"),
    )
    line = line_of(price, "17", matrix={("us",): D(3), ("eu",): D(4), ("apac",): D(10)})
    # us 3 × 0.50 + eu 4 × 0.75 + apac (no cell) 10 × 0.10
    assert line.subtotal == line.amount == D("5.50")
    by_name = {s.name: (s.kind, s.quantity, s.unit_amount, s.amount, s.values) for s in line.sub_lines}
    assert by_name == {
        "us": (SubLineKind.MATRIX, D(3), D("0.50"), D("1.50"), ("us",)),
        "eu": (SubLineKind.MATRIX, D(4), D("0.75"), D("3.00"), ("eu",)),
        "Default": (SubLineKind.MATRIX, D(10), D("0.10"), D("1.00"), ()),
    }


def test_matrix_two_dimensions() -> None:
    price = make_price(
        model=ModelType.MATRIX,
        dimensions=("region", "instance"),
        cells=(
            MatrixCell(("us", "gpu"), D("2.00")),
            MatrixCell(("us", "cpu"), D("0.20")),
            MatrixCell(("eu", "gpu"), D("2.50")),
        ),
        default_unit_amount=D("1.00"),
    )
    quantities = {("us", "gpu"): D(3), ("us", "cpu"): D("7.5"), ("eu", "gpu"): D(2), ("eu", "cpu"): D(1)}
    line = line_of(price, "13.5", matrix=quantities)
    # 6.00 + 1.50 + 5.00 + 1.00 (eu/cpu has no cell: default rate)
    assert line.subtotal == D("13.50")
    assert {s.values: s.amount for s in line.sub_lines if s.values} == {
        ("us", "gpu"): D("6.00"),
        ("us", "cpu"): D("1.50"),
        ("eu", "gpu"): D("5.00"),
    }
    assert [s.amount for s in line.sub_lines if s.name == "Default"] == [D("1.00")]


def test_matrix_without_usage_is_zero() -> None:
    price = make_price(model=ModelType.MATRIX, dimensions=("region",), default_unit_amount=D("1.00"))
    line = line_of(price, "0", matrix={})
    assert (line.subtotal, line.amount, line.sub_lines) == (D("0.00"), D("0.00"), ())


# --- adjustments ----------------------------------------------------------------------------------


def test_percentage_discount_then_minimum_in_order() -> None:
    price = make_price(
        unit_amount=D("0.10"),
        discounts=(Discount(DiscountKind.PERCENTAGE, D("0.1"), "launch"),),
        minimum=D("50"),
    )
    line = line_of(price, "200")
    assert line.subtotal == D("20.00")
    assert adjustments_of(line) == [
        (AdjustmentKind.PERCENTAGE_DISCOUNT, D("-2.00")),
        (AdjustmentKind.MINIMUM, D("32.00")),
    ]
    assert [a.configured for a in line.adjustments] == [D("0.1"), D("50")]
    assert line.adjustments[0].reason == "launch"
    assert not any(a.is_invoice_level for a in line.adjustments)
    assert line.adjusted_subtotal == line.amount == D("50.00")


def test_minimum_not_reached_adds_nothing() -> None:
    line = line_of(make_price(unit_amount=D("1.00"), minimum=D("50")), "80")
    assert line.adjustments == ()
    assert line.amount == D("80.00")


def test_maximum_caps_the_amount() -> None:
    price = make_price(unit_amount=D("0.10"), maximum=D("15.00"))
    line = line_of(price, "200")
    assert adjustments_of(line) == [(AdjustmentKind.MAXIMUM, D("-5.00"))]
    assert line.amount == D("15.00")
    assert line_of(price, "100").adjustments == ()


def test_amount_discount_is_capped_at_the_subtotal() -> None:
    price = make_price(unit_amount=D("1.00"), discounts=(Discount(DiscountKind.AMOUNT, D("30.00")),))
    line = line_of(price, "20")
    assert adjustments_of(line) == [(AdjustmentKind.AMOUNT_DISCOUNT, D("-20.00"))]
    assert line.adjusted_subtotal == line.amount == D("0.00")
    smaller = line_of(price, "45")
    assert adjustments_of(smaller) == [(AdjustmentKind.AMOUNT_DISCOUNT, D("-30.00"))]
    assert smaller.amount == D("15.00")


@pytest.mark.parametrize(("currency", "discount", "expected"), [("USD", "5", "-5.00"), ("KWD", "1.5", "-1.500")])
def test_amount_discount_is_stated_at_the_currency_scale(currency: str, discount: str, expected: str) -> None:
    """A discount configured as "5" takes 5.00 off: the adjustment is money, written to the minor unit."""
    price = make_price(currency=currency, unit_amount=D("1"), discounts=(Discount(DiscountKind.AMOUNT, D(discount)),))
    line = line_of(price, "20")
    assert [money.to_wire(a.amount) for a in line.adjustments] == [expected]
    assert line.adjustments[0].configured == D(discount)


def test_usage_discount_takes_units_off_before_the_model() -> None:
    price = make_price(
        model=ModelType.TIERED,
        tiers=ORB_TIERS,
        discounts=(
            Discount(DiscountKind.PERCENTAGE, D("0.5")),
            Discount(DiscountKind.USAGE, D(50_000)),
        ),
    )
    line = line_of(price, "150000")
    # 100000 units billed: 10 + 72 = 82.00, so the usage discount is -25.00 (the most expensive units go
    # first), then 50% of 82.00.
    assert line.subtotal == D("107.00")
    assert adjustments_of(line) == [
        (AdjustmentKind.USAGE_DISCOUNT, D("-25.00")),
        (AdjustmentKind.PERCENTAGE_DISCOUNT, D("-41.00")),
    ]
    assert line.amount == D("41.00")
    assert line.quantity == D(150_000)  # the line shows the measured quantity


def test_usage_discount_larger_than_the_quantity_bills_nothing() -> None:
    price = make_price(unit_amount=D("2.00"), discounts=(Discount(DiscountKind.USAGE, D(10)),))
    line = line_of(price, "4")
    assert adjustments_of(line) == [(AdjustmentKind.USAGE_DISCOUNT, D("-8.00"))]
    assert line.amount == D("0.00")


def test_every_adjustment_kind_in_orb_order() -> None:
    price = make_price(
        unit_amount=D("1.00"),
        discounts=(
            Discount(DiscountKind.PERCENTAGE, D("0.25")),
            Discount(DiscountKind.AMOUNT, D("10.00")),
            Discount(DiscountKind.USAGE, D(20)),
        ),
        minimum=D("10.00"),
        maximum=D("40.00"),
    )
    line = line_of(price, "100")
    # 100 → usage -20 → 80; amount -10 → 70; 25% → -17.50 → 52.50; minimum not hit; maximum → 40.
    assert adjustments_of(line) == [
        (AdjustmentKind.USAGE_DISCOUNT, D("-20.00")),
        (AdjustmentKind.AMOUNT_DISCOUNT, D("-10.00")),
        (AdjustmentKind.PERCENTAGE_DISCOUNT, D("-17.50")),
        (AdjustmentKind.MAXIMUM, D("-12.50")),
    ]
    assert line.amount == D("40.00")


# --- proration -------------------------------------------------------------------------------------


def test_proration_by_days() -> None:
    feb = (dt.date(2024, 2, 1), dt.date(2024, 3, 1))  # 29 days
    assert proration(dt.date(2024, 2, 1), dt.date(2024, 2, 16), *feb) == D(15) / D(29)
    assert proration(dt.date(2024, 1, 1), dt.date(2024, 4, 1), *feb) == D(1)
    assert proration(dt.date(2024, 3, 1), dt.date(2024, 4, 1), *feb) == D(0)
    assert proration(dt.date(2024, 2, 28), dt.date(2024, 3, 10), *feb) == D(2) / D(29)


def test_prorated_fixed_fee_and_prorated_minimum() -> None:
    fee = make_price(
        price_type=PriceType.FIXED, billing_mode=BillingMode.IN_ADVANCE, unit_amount=D("100.00"), minimum=D("90.00")
    )
    fraction = proration(dt.date(2024, 1, 16), dt.date(2024, 2, 1), START, dt.date(2024, 2, 1))  # 16/31
    line = line_of(fee, "1", proration=fraction)
    assert line.proration == fraction
    assert line.subtotal == D("51.61")  # 100 × 16/31 = 51.6129…
    assert line.adjustments == ()  # the minimum is prorated as well: 46.45 < 51.61
    seats = line_of(make_price(price_type=PriceType.FIXED, unit_amount=D("30.00")), "3", proration=fraction)
    assert seats.amount == D("46.45")  # 90 × 16/31 = 46.4516…


# --- currencies ---------------------------------------------------------------------------------------


def test_jpy_has_no_decimals() -> None:
    price = make_price(currency="JPY", unit_amount=D("0.5"))
    line = line_of(price, "3")
    assert line.amount == D("2")  # 1.5 → 2
    assert line.amount.as_tuple().exponent == 0
    tiered = line_of(make_price(currency="JPY", model=ModelType.TIERED, tiers=ORB_TIERS), "150000")
    assert tiered.amount == D("107")
    assert [s.amount for s in tiered.sub_lines] == [D(10), D(72), D(25)]


def test_kwd_has_three_decimals() -> None:
    price = make_price(
        currency="KWD", unit_amount=D("0.0005"), discounts=(Discount(DiscountKind.PERCENTAGE, D("0.1")),)
    )
    line = line_of(price, "12345")
    assert line.subtotal == D("6.173")  # 12345 × 0.0005 = 6.1725 → 6.173 (half-up)
    # 6.1725 × 0.9 = 5.55525 → 5.555: the discounted amount is rounded, and the discount shown is
    # 5.555 - 6.173 = -0.618 (rounding the discount, 0.61725 → 0.617, would bill 5.556).
    assert adjustments_of(line) == [(AdjustmentKind.PERCENTAGE_DISCOUNT, D("-0.618"))]
    assert line.amount == D("5.555")
    assert line.amount.as_tuple().exponent == -3


def test_total_is_the_sum_of_line_amounts() -> None:
    lines = [
        line_of(make_price(model=ModelType.TIERED, tiers=ORB_TIERS), "150000"),
        line_of(make_price(model=ModelType.BULK, bulk_tiers=ORB_BULK), "101"),
    ]
    assert total_of(lines, "USD") == D("147.40")
    assert total_of([], "USD") == D("0.00")


# --- properties ------------------------------------------------------------------------------------------

CURRENCIES = ("USD", "JPY", "KWD")


def decimals(max_value: int, places: int, *, min_value: int = 0) -> st.SearchStrategy[Decimal]:
    """Decimals in [min_value, max_value] with at most `places` decimals, built from integers (never floats)."""
    scale = 10**places
    return st.integers(min_value * scale, max_value * scale).map(lambda n: plain(Decimal(n).scaleb(-places)))


def plain(value: Decimal) -> Decimal:
    """The value as a person writes it on the wire: no trailing zeros ("12.5", "10", "0.0005")."""
    normal = value.normalize()
    return normal.quantize(D(1)) if normal.as_tuple().exponent > 0 else normal  # type: ignore[operator]


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[Tier, ...]:
    """Contiguous graduated tiers starting at 0, the last one open."""
    widths = draw(st.lists(decimals(1000, 2, min_value=1), min_size=0, max_size=5))
    rates = draw(st.lists(decimals(5, 6), min_size=len(widths) + 1, max_size=len(widths) + 1))
    tiers = []
    first = D(0)
    for width, rate in zip(widths, rates, strict=False):
        tiers.append(Tier(first, first + width, rate))
        first += width
    tiers.append(Tier(first, None, rates[-1]))
    return tuple(tiers)


@st.composite
def bulk_tier_lists(draw: st.DrawFn) -> tuple[BulkTier, ...]:
    """Bulk tiers with growing caps, the last one open."""
    caps = sorted(set(draw(st.lists(decimals(5000, 2, min_value=1), max_size=4))))
    rates = draw(st.lists(decimals(5, 6), min_size=len(caps) + 1, max_size=len(caps) + 1))
    return (*(BulkTier(c, r) for c, r in zip(caps, rates, strict=False)), BulkTier(None, rates[-1]))


@st.composite
def discount_lists(draw: st.DrawFn, currency: str) -> tuple[Discount, ...]:
    """Up to three discounts of any kind; amounts fit the currency (any scale up to its minor unit)."""
    exponent = money.exponent(currency)
    kinds = draw(st.lists(st.sampled_from(list(DiscountKind)), max_size=3))
    result = []
    for kind in kinds:
        if kind is DiscountKind.PERCENTAGE:
            value = draw(decimals(1, 4, min_value=0).filter(lambda v: v > 0))
        elif kind is DiscountKind.AMOUNT:
            value = draw(st.integers(1, 50).map(Decimal) | decimals(500, exponent, min_value=0).filter(lambda v: v > 0))
        else:
            value = draw(decimals(2000, 2, min_value=0).filter(lambda v: v > 0))
        result.append(Discount(kind, value))
    return tuple(result)


@st.composite
def priced_lines(draw: st.DrawFn) -> PricedLine:
    """A line from a random price of any model, with random adjustments, quantity and proration."""
    currency = draw(st.sampled_from(CURRENCIES))
    exponent = money.exponent(currency)
    model = draw(st.sampled_from(list(ModelType)))
    fields: dict[str, Any] = {"currency": currency, "model": model, "discounts": draw(discount_lists(currency))}
    matrix: dict[tuple[str, ...], Decimal] | None = None
    quantity = draw(decimals(20_000, 3))
    if model is ModelType.UNIT:
        fields["unit_amount"] = draw(decimals(20, 6))
    elif model is ModelType.PACKAGE:
        fields["package_amount"] = draw(decimals(100, exponent))
        fields["package_size"] = draw(st.integers(1, 500))
    elif model is ModelType.TIERED:
        fields["tiers"] = draw(tier_lists())
    elif model is ModelType.BULK:
        fields["bulk_tiers"] = draw(bulk_tier_lists())
    else:
        fields["dimensions"] = ("region",)
        fields["cells"] = (MatrixCell(("us",), draw(decimals(5, 6))), MatrixCell(("eu",), draw(decimals(5, 6))))
        fields["default_unit_amount"] = draw(decimals(5, 6))
        matrix = {(region,): draw(decimals(5000, 3)) for region in draw(st.sets(st.sampled_from(["us", "eu", "x"])))}
        quantity = sum(matrix.values(), D(0))
    minimum = draw(st.none() | decimals(300, exponent))
    maximum = draw(st.none() | decimals(3000, exponent))
    if minimum is not None and maximum is not None and minimum > maximum:
        minimum, maximum = maximum, minimum
    fields.update(minimum=minimum, maximum=maximum)
    days = draw(st.integers(1, 31))
    fraction = proration(START, START + dt.timedelta(days=days), START, dt.date(2024, 2, 1))
    return price_line(
        make_price(**fields), quantity=quantity, start_date=START, end_date=END, proration=fraction, matrix=matrix
    )


def money_fields(line: PricedLine) -> Sequence[object]:
    """Every rounded money value of a line: subtotal, adjusted subtotal, amount and adjustments."""
    return [line.subtotal, line.adjusted_subtotal, line.amount, *(a.amount for a in line.adjustments)]


@settings(max_examples=400, deadline=None)
@given(priced_lines())
def test_every_money_field_is_a_decimal_at_the_currency_exponent(line: PricedLine) -> None:
    exponent = -money.exponent(line.price.currency)
    for value in money_fields(line):
        assert isinstance(value, Decimal), value
        assert not isinstance(value, float)
        assert value.as_tuple().exponent == exponent, (value, line)
    assert isinstance(line.quantity, Decimal)
    for sub in line.sub_lines:  # exact, never rounded
        assert isinstance(sub.amount, Decimal)
        assert sub.amount == sub.quantity * sub.unit_amount


@settings(max_examples=400, deadline=None)
@given(priced_lines())
def test_amount_is_the_adjusted_subtotal_clamped_at_zero(line: PricedLine) -> None:
    assert line.amount == max(line.adjusted_subtotal, D(0))
    assert line.amount >= 0
    assert line.subtotal + sum((a.amount for a in line.adjustments), D(0)) == line.adjusted_subtotal
    kinds = [a.kind for a in line.adjustments]
    order = list(AdjustmentKind)
    assert kinds == sorted(kinds, key=order.index)  # Orb's order
    if line.price.maximum is not None:
        assert line.amount <= money.round_money(line.price.maximum * line.proration, line.price.currency)


@settings(max_examples=300, deadline=None)
@given(tier_lists(), decimals(20_000, 3), st.sampled_from(CURRENCIES))
def test_tiered_subtotal_is_the_sum_of_its_sub_lines(tiers: tuple[Tier, ...], quantity: Decimal, currency: str) -> None:
    price = make_price(model=ModelType.TIERED, tiers=tiers, currency=currency)
    subtotal, subs = model_subtotal(price, quantity)
    assert subtotal == sum((s.amount for s in subs), D(0))
    assert sum((s.quantity for s in subs), D(0)) == quantity
    for sub in subs:
        assert sub.amount == sub.quantity * sub.unit_amount  # exact: the line rounds once, at the end
    line = price_line(price, quantity=quantity, start_date=START, end_date=END)
    assert line.subtotal == money.round_money(subtotal, currency)


@settings(max_examples=300, deadline=None)
@given(tier_lists(), decimals(20_000, 3), decimals(20_000, 3), st.sampled_from(CURRENCIES))
def test_tiered_cost_is_monotonic_in_quantity(tiers: tuple[Tier, ...], a: Decimal, b: Decimal, currency: str) -> None:
    price = make_price(model=ModelType.TIERED, tiers=tiers, currency=currency)
    low, high = sorted((a, b))
    assert model_subtotal(price, low)[0] <= model_subtotal(price, high)[0]
