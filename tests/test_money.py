"""Money rules of the domain, without a server: rounding, parsing, pricing lines, dates.

Expected values are computed here independently of the code under test, with
exact Decimal arithmetic (a wide context) and one half-up rounding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from server.domain import money
from server.domain.errors import FieldViolation, Violations
from server.domain.invoices import (
    AdjustmentKind,
    Discount,
    DiscountKind,
    Line,
    LineInput,
    Totals,
    add_months,
    line_subtotal,
    parse_due_date_window,
    price_lines,
    totals,
)
from tests.support.money import EXPONENTS, LINE_AMOUNTS, half_up

START = dt.date(2024, 1, 1)
END = dt.date(2024, 1, 31)


def exact_product(a: Decimal, b: Decimal) -> Decimal:
    """a × b without rounding."""
    with localcontext(prec=200):
        return a * b


def inputs(*pairs: tuple[str, str]) -> list[LineInput]:
    """One-off lines from (quantity, unit_amount) pairs."""
    return [LineInput(f"line {i}", Decimal(q), Decimal(u), START, END) for i, (q, u) in enumerate(pairs)]


def discount_taken(line: Line) -> Decimal:
    """How much the invoice-level discount took from a line (positive)."""
    with localcontext(prec=200):
        return -sum((a.amount for a in line.adjustments), Decimal(0))


# --- round_money ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.5", "JPY", "3"),
        ("2.4999", "JPY", "2"),
        ("3.5", "JPY", "4"),
        ("0.125", "USD", "0.13"),
        ("0.135", "USD", "0.14"),
        ("0.1249999", "USD", "0.12"),
        ("0.005", "USD", "0.01"),
        ("0.0005", "KWD", "0.001"),
        ("1.2345", "KWD", "1.235"),
        ("1.23449", "KWD", "1.234"),
        ("7", "USD", "7.00"),
        ("7", "KWD", "7.000"),
        ("0", "USD", "0.00"),
    ],
)
def test_round_money_rounds_half_up_to_the_currency_exponent(amount: str, currency: str, expected: str) -> None:
    """Ties go up (never to even), and the result always carries the currency's exponent."""
    rounded = money.round_money(Decimal(amount), currency)
    assert str(rounded) == expected
    assert rounded.as_tuple().exponent == -EXPONENTS[currency]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [("-0.125", "USD", "-0.13"), ("-2.5", "JPY", "-3"), ("-0.124", "USD", "-0.12"), ("-0.0005", "KWD", "-0.001")],
)
def test_round_money_rounds_negative_ties_away_from_zero(amount: str, currency: str, expected: str) -> None:
    """Half-up is symmetric: a negative tie moves away from zero (-0.125 → -0.13), like its positive."""
    assert str(money.round_money(Decimal(amount), currency)) == expected


def test_round_money_handles_amounts_wider_than_the_default_decimal_context() -> None:
    """36 integer digits do not fit Python's 28-digit default context; rounding must still work."""
    value = Decimal("999999999999999999999999999999999999.125")
    assert str(money.round_money(value, "USD")) == "999999999999999999999999999999999999.13"


def test_exponents_follow_iso_4217() -> None:
    """JPY has no minor unit, USD two decimals, KWD three."""
    assert {code: money.exponent(code) for code in EXPONENTS} == EXPONENTS
    assert str(money.zero("USD")) == "0.00"
    assert str(money.zero("JPY")) == "0"
    assert str(money.zero("KWD")) == "0.000"
    assert money.is_currency("EUR")
    assert not money.is_currency("usd")
    assert not money.is_currency("XXX")


def test_to_wire_never_uses_exponent_notation() -> None:
    """Wire strings are plain notation whatever the Decimal's internal exponent."""
    assert money.to_wire(Decimal("1E+3")) == "1000"
    assert money.to_wire(Decimal("1.5E-7")) == "0.00000015"
    assert money.to_wire(Decimal("12.50")) == "12.50"


# --- parse_decimal / parse_amount -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", "0"),
        ("0.0", "0.0"),
        ("12.50", "12.50"),
        ("0.0005", "0.0005"),
        ("1000000", "1000000"),
        ("123456789012345678", "123456789012345678"),
        ("0.123456789012", "0.123456789012"),
        ("123456789012345678.123456789012", "123456789012345678.123456789012"),
    ],
)
def test_parse_decimal_accepts_plain_notation_and_keeps_precision(text: str, expected: str) -> None:
    """Plain decimals parse to the exact Decimal, trailing zeros and all."""
    v = Violations()
    value = money.parse_decimal(text, "quantity", v)
    assert v.items == []
    assert isinstance(value, Decimal)
    assert value.as_tuple() == Decimal(expected).as_tuple()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1e3",
        "1E3",
        "1E+3",
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        " 1",
        "1 ",
        "1 000",
        "+1",
        "01",
        "00",
        "-01",
        "1.",
        ".5",
        "-.5",
        "1,5",
        "1.2.3",
        "0x10",
        "１",
        "1_000",
        "--1",
    ],
)
def test_parse_decimal_rejects_anything_but_plain_notation(text: str) -> None:
    """Exponents, NaN, infinities, spaces, signs other than a leading minus and leading zeros all fail."""
    v = Violations()
    assert money.parse_decimal(text, "line_items[0].quantity", v, allow_negative=True) is None
    assert [item.field for item in v.items] == ["line_items[0].quantity"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1234567890123456789", "more than 18 integer digits"),
        ("-1234567890123456789", "more than 18 integer digits"),
        ("0.1234567890123", "more than 12 decimal places"),
    ],
)
def test_parse_decimal_rejects_too_many_digits(text: str, why: str) -> None:
    """At most 18 integer digits and 12 decimals."""
    v = Violations()
    assert money.parse_decimal(text, "amount", v, allow_negative=True) is None
    assert v.items == [FieldViolation("amount", f"has {why}")]


def test_parse_decimal_honours_a_smaller_fraction_limit() -> None:
    """A caller can ask for fewer decimals."""
    v = Violations()
    assert money.parse_decimal("1.234", "f", v, max_fraction_digits=2) is None
    assert [item.field for item in v.items] == ["f"]
    assert money.parse_decimal("1.23", "f", Violations(), max_fraction_digits=2) == Decimal("1.23")


def test_parse_decimal_rejects_negative_unless_allowed() -> None:
    """ "-1" fails by default and parses when negatives are allowed."""
    v = Violations()
    assert money.parse_decimal("-1", "quantity", v) is None
    assert v.items == [FieldViolation("quantity", "must not be negative")]
    allowed = Violations()
    assert money.parse_decimal("-1.50", "quantity", allowed, allow_negative=True) == Decimal("-1.50")
    assert allowed.items == []


@pytest.mark.parametrize("text", ["0", "0.00", "0.000000000000"])
def test_parse_decimal_rejects_zero_when_not_allowed(text: str) -> None:
    """allow_zero=False refuses every spelling of zero."""
    v = Violations()
    assert money.parse_decimal(text, "amount", v, allow_zero=False) is None
    assert v.items == [FieldViolation("amount", "must be greater than zero")]


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.345", "USD"), ("0.001", "USD"), ("1.5", "JPY"), ("0.1", "JPY"), ("1.2345", "KWD")],
)
def test_parse_amount_rejects_more_decimals_than_the_currency_has(text: str, currency: str) -> None:
    """An amount cannot be more precise than the currency's minor unit."""
    v = Violations()
    assert money.parse_amount(text, currency, "amount_discount", v) is None
    assert [item.field for item in v.items] == ["amount_discount"]
    assert currency in v.items[0].description


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.34", "USD"), ("12", "USD"), ("12.340", "USD"), ("15", "JPY"), ("15.0", "JPY"), ("1.234", "KWD")],
)
def test_parse_amount_accepts_amounts_that_fit_the_currency(text: str, currency: str) -> None:
    """Trailing zeros beyond the minor unit are harmless: "12.340" is 12.34 USD."""
    v = Violations()
    assert money.parse_amount(text, currency, "amount", v) == Decimal(text)
    assert v.items == []


def test_parse_amount_applies_the_decimal_rules_first() -> None:
    """A malformed amount reports one violation, not two."""
    v = Violations()
    assert money.parse_amount("1e2", "USD", "amount", v) is None
    assert len(v.items) == 1


# --- line amounts -----------------------------------------------------------------


@pytest.mark.parametrize(("currency", "quantity", "unit_amount", "expected"), LINE_AMOUNTS)
def test_line_subtotal_is_quantity_times_unit_amount_rounded_half_up_once(
    currency: str, quantity: str, unit_amount: str, expected: str
) -> None:
    """The exact product, rounded once; huge products neither fail nor get rounded twice."""
    assert str(line_subtotal(Decimal(quantity), Decimal(unit_amount), currency)) == expected


def test_price_lines_without_discount_keeps_inputs_and_has_no_adjustments() -> None:
    """Each line's amount is its subtotal; quantity and unit price keep their precision."""
    lines = price_lines(inputs(("3", "0.125"), ("2.5", "10.004")), "USD", None)
    assert [str(li.subtotal) for li in lines] == ["0.38", "25.01"]
    assert [str(li.amount) for li in lines] == ["0.38", "25.01"]
    assert [li.adjustments for li in lines] == [(), ()]
    assert [str(li.unit_amount) for li in lines] == ["0.125", "10.004"]
    assert [str(li.quantity) for li in lines] == ["3", "2.5"]
    assert all(li.is_one_off for li in lines)


def test_amount_discount_is_spread_by_largest_remainder() -> None:
    """10.00 over three equal lines: 3.34 + 3.33 + 3.33, the extra cent to the first (ties by position)."""
    discount = Discount(DiscountKind.AMOUNT, Decimal("10.00"), "loyalty")
    lines = price_lines(inputs(("1", "10"), ("1", "10"), ("1", "10")), "USD", discount)
    assert [str(discount_taken(li)) for li in lines] == ["3.34", "3.33", "3.33"]
    assert [str(li.amount) for li in lines] == ["6.66", "6.67", "6.67"]
    first = lines[0].adjustments[0]
    assert first.kind is AdjustmentKind.AMOUNT_DISCOUNT
    assert str(first.amount) == "-3.34"
    assert first.configured == Decimal("10.00")
    assert first.is_invoice_level is True
    assert first.reason == "loyalty"
    assert str(totals(lines, "USD").total) == "20.00"


def test_amount_discount_gives_the_leftover_unit_to_the_largest_remainder() -> None:
    """1.00 over 1.00 and 2.00: exact shares 0.333… and 0.666…; the cent goes to the larger remainder."""
    discount = Discount(DiscountKind.AMOUNT, Decimal("1.00"))
    lines = price_lines(inputs(("1", "1"), ("1", "2")), "USD", discount)
    assert [str(discount_taken(li)) for li in lines] == ["0.33", "0.67"]


def test_amount_discount_in_jpy_spreads_whole_yen() -> None:
    """2 JPY over three 1 JPY lines: whole units, sum exactly 2."""
    discount = Discount(DiscountKind.AMOUNT, Decimal("2"))
    lines = price_lines(inputs(("1", "1"), ("1", "1"), ("1", "1")), "JPY", discount)
    assert [str(li.amount) for li in lines] == ["0", "0", "1"]
    assert sum(discount_taken(li) for li in lines) == Decimal(2)


def test_amount_discount_is_capped_at_the_invoice_subtotal() -> None:
    """A discount larger than the subtotal takes the whole subtotal and no more."""
    discount = Discount(DiscountKind.AMOUNT, Decimal("100.00"))
    lines = price_lines(inputs(("1", "10"), ("2", "10")), "USD", discount)
    assert [str(discount_taken(li)) for li in lines] == ["10.00", "20.00"]
    assert [str(li.amount) for li in lines] == ["0.00", "0.00"]
    assert str(totals(lines, "USD").total) == "0.00"
    assert str(totals(lines, "USD").subtotal) == "30.00"


def test_amount_discount_skips_lines_with_nothing_to_discount() -> None:
    """A zero line takes no share and gets no adjustment."""
    discount = Discount(DiscountKind.AMOUNT, Decimal("1.00"))
    lines = price_lines(inputs(("0", "10"), ("1", "5")), "USD", discount)
    assert lines[0].adjustments == ()
    assert str(lines[0].amount) == "0.00"
    assert str(discount_taken(lines[1])) == "1.00"


def test_amount_discount_on_a_zero_invoice_takes_nothing() -> None:
    """With a zero subtotal there is nothing to take."""
    discount = Discount(DiscountKind.AMOUNT, Decimal("5.00"))
    lines = price_lines(inputs(("0", "10"), ("3", "0")), "USD", discount)
    assert [li.adjustments for li in lines] == [(), ()]
    assert str(totals(lines, "USD").total) == "0.00"


def test_percentage_discount_rounds_the_discounted_amount_per_line() -> None:
    """The discounted amount is rounded, not the discount: 10.05 × 0.9 = 9.045 → 9.05 (so 1.00 off);
    0.05 × 0.9 = 0.045 → 0.05 (nothing off, and no adjustment shown)."""
    discount = Discount(DiscountKind.PERCENTAGE, Decimal("0.1"), "promo")
    lines = price_lines(inputs(("1", "10.05"), ("1", "0.05")), "USD", discount)
    assert [str(discount_taken(li)) for li in lines] == ["1.00", "0"]
    assert [str(li.amount) for li in lines] == ["9.05", "0.05"]
    assert [str(li.adjusted_subtotal) for li in lines] == ["9.05", "0.05"]
    assert lines[1].adjustments == ()
    adjustment = lines[0].adjustments[0]
    assert adjustment.kind is AdjustmentKind.PERCENTAGE_DISCOUNT
    assert adjustment.configured == Decimal("0.1")
    assert adjustment.is_invoice_level is True
    result = totals(lines, "USD")
    assert (str(result.subtotal), str(result.total)) == ("10.10", "9.10")


def test_a_full_percentage_discount_zeroes_every_line() -> None:
    """100% off leaves nothing to pay."""
    discount = Discount(DiscountKind.PERCENTAGE, Decimal("1"))
    lines = price_lines(inputs(("3", "0.125"), ("1", "7")), "USD", discount)
    assert [str(li.amount) for li in lines] == ["0.00", "0.00"]


def test_totals_are_the_sums_over_the_lines() -> None:
    """subtotal sums line subtotals; total sums line amounts."""
    lines = price_lines(inputs(("3", "0.125"), ("0.1", "0.2"), ("7", "1.111")), "USD", None)
    result = totals(lines, "USD")
    assert str(result.subtotal) == "8.18"
    assert result.total == sum((li.amount for li in lines), Decimal(0))


def test_totals_of_no_lines_is_zero_in_the_currency_scale() -> None:
    """An empty sum still has the currency's exponent."""
    assert str(totals([], "KWD").total) == "0.000"


# --- properties of price_lines ----------------------------------------------------------


@st.composite
def wire_decimals(draw: st.DrawFn, max_places: int = 6) -> Decimal:
    """Non-negative decimals of up to 18 integer digits and max_places decimals, often full width."""
    places = draw(st.integers(0, max_places))
    digits = draw(st.sampled_from([0, 1, 2, 3, 6, 9, 12, 15, 17, 18, 18]))
    width = digits + places
    if width == 0:
        return Decimal(0)
    coefficient = draw(st.integers(0, 10**width - 1) | st.integers(10 ** (width - 1), 10**width - 1))
    return Decimal(coefficient).scaleb(-places)


@st.composite
def priced_cases(draw: st.DrawFn) -> tuple[str, list[LineInput], Discount | None]:
    """A currency, 1 to 8 lines and an optional amount or percentage discount."""
    currency = draw(st.sampled_from(sorted(EXPONENTS)))
    count = draw(st.integers(1, 8))
    lines = [LineInput(f"line {i}", draw(wire_decimals()), draw(wire_decimals()), START, END) for i in range(count)]
    kind = draw(st.sampled_from(["none", "amount", "percentage"]))
    discount: Discount | None = None
    if kind == "amount":
        places = EXPONENTS[currency]
        minor_units = draw(st.integers(1, 10 ** (18 + places) - 1))
        discount = Discount(DiscountKind.AMOUNT, Decimal(minor_units).scaleb(-places))
    elif kind == "percentage":
        ten_thousandths = draw(st.integers(1, 10_000))
        discount = Discount(DiscountKind.PERCENTAGE, Decimal(ten_thousandths).scaleb(-4))
    return currency, lines, discount


def _assert_all_decimal(values: Sequence[object]) -> None:
    for value in values:
        assert type(value) is Decimal, f"{value!r} is not a Decimal"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(priced_cases())
# 29 significant digits whose exact product sits just below a half cent.
@example(("USD", inputs(("1", "12345678901234567.124999999999")), None))
@example(("KWD", inputs(("999999999999999999.999999", "999999999999999999.999999")), None))
def test_priced_lines_are_exact_and_total_is_their_sum(
    case: tuple[str, list[LineInput], Discount | None],
) -> None:
    """For any lines and discount: exact Decimals in the currency's scale, and total == Σ line amounts."""
    currency, items, discount = case
    lines = price_lines(items, currency, discount)
    result = totals(lines, currency)
    with localcontext(prec=200):  # the checks' own arithmetic must not round
        _check_priced(EXPONENTS[currency], items, discount, lines, result)


def _check_priced(
    exponent: int, items: Sequence[LineInput], discount: Discount | None, lines: Sequence[Line], result: Totals
) -> None:
    for item, line in zip(items, lines, strict=True):
        _assert_all_decimal(
            [line.quantity, line.unit_amount, line.subtotal, line.adjusted_subtotal, line.amount]
            + [a.amount for a in line.adjustments]
            + [a.configured for a in line.adjustments]
        )
        assert line.quantity == item.quantity
        assert line.unit_amount == item.unit_amount
        assert line.subtotal == half_up(exact_product(item.quantity, item.unit_amount), exponent)
        for amount in [line.subtotal, line.adjusted_subtotal, line.amount, *(a.amount for a in line.adjustments)]:
            assert amount.as_tuple().exponent == -exponent
        taken = discount_taken(line)
        assert Decimal(0) <= taken <= line.subtotal
        assert line.amount == line.subtotal - taken
        assert line.adjusted_subtotal == line.amount
        assert all(a.is_invoice_level for a in line.adjustments)

    _assert_all_decimal([result.subtotal, result.total])
    assert result.total.as_tuple().exponent == -exponent
    assert result.subtotal.as_tuple().exponent == -exponent
    subtotal = sum((li.subtotal for li in lines), Decimal(0))
    assert result.subtotal == subtotal
    assert result.total == sum((li.amount for li in lines), Decimal(0))
    taken_total = sum((discount_taken(li) for li in lines), Decimal(0))

    if discount is None:
        assert taken_total == 0
    elif discount.kind is DiscountKind.AMOUNT:
        capped = min(discount.value, subtotal)
        assert taken_total == capped
        unit = Decimal(1).scaleb(-exponent)
        for line in lines:
            share = capped * line.subtotal / subtotal if subtotal else Decimal(0)
            assert abs(discount_taken(line) - share) < unit
    else:
        for line in lines:  # the discounted amount is rounded once, half-up
            exact_left = line.subtotal - exact_product(line.subtotal, discount.value)
            assert line.amount == half_up(exact_left, exponent)


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2023-01-31", 1, "2023-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2024-03-31", -1, "2024-02-29"),
        ("2023-03-31", -1, "2023-02-28"),
        ("2024-08-31", 1, "2024-09-30"),
        ("2024-01-30", 1, "2024-02-29"),
        ("2024-02-29", 12, "2025-02-28"),
        ("2024-02-29", 48, "2028-02-29"),
        ("2024-12-15", 1, "2025-01-15"),
        ("2024-01-15", -1, "2023-12-15"),
        ("2024-05-31", -3, "2024-02-29"),
        ("2024-05-31", 0, "2024-05-31"),
        ("2000-01-31", 1, "2000-02-29"),
        ("1900-01-31", 1, "1900-02-28"),
        ("9998-12-31", 12, "9999-12-31"),  # December 9999 has no next month to count back from
        ("9999-11-30", 1, "9999-12-30"),
    ],
)
def test_add_months_clamps_to_the_end_of_shorter_months(day: str, months: int, expected: str) -> None:
    """Jan 31 + 1 month is the last day of February (29 in leap years)."""
    assert add_months(dt.date.fromisoformat(day), months) == dt.date.fromisoformat(expected)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2199, 12, 31)), st.integers(-1200, 1200))
def test_add_months_moves_the_month_index_and_keeps_the_day_when_it_exists(day: dt.date, months: int) -> None:
    """The month index moves by exactly `months`; the day is kept or clamped to the month's last day."""
    result = add_months(day, months)
    assert result.year * 12 + result.month == day.year * 12 + day.month + months
    last_day = ((result.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)).day
    assert result.day == min(day.day, last_day)


@pytest.mark.parametrize(
    ("window", "today", "expected"),
    [
        ("7d", "2024-03-10", "2024-03-03"),
        ("1d", "2024-03-01", "2024-02-29"),
        ("9999d", "2024-03-10", "1996-10-24"),
        ("2m", "2024-03-10", "2024-01-10"),
        ("1m", "2024-03-31", "2024-02-29"),
        ("12m", "2024-02-29", "2023-02-28"),
    ],
)
def test_due_date_window_counts_back_from_today(window: str, today: str, expected: str) -> None:
    """ "Nd" goes back N days; "Nm" goes back N months with month-end clamping."""
    v = Violations()
    assert parse_due_date_window(window, dt.date.fromisoformat(today), v) == dt.date.fromisoformat(expected)
    assert v.items == []


@pytest.mark.parametrize(
    "window", ["", "7", "d", "0d", "07d", "10000d", "-7d", "7w", "7D", "7 d", " 7d", "7d ", "1.5d", "7dm", "m2"]
)
def test_due_date_window_rejects_malformed_windows(window: str) -> None:
    """Anything but 1-9999 followed by d or m fails on the due_date_window field."""
    v = Violations()
    assert parse_due_date_window(window, dt.date(2024, 3, 10), v) is None
    assert [item.field for item in v.items] == ["due_date_window"]
