"""The pricing function: a price, a quantity (or matrix quantities) and a period become an invoice line.

Pure and deterministic: the upcoming invoice and the invoice generated when a
period ends both call `price_line`, so preview and bill agree for the same
inputs.

Order of operations for one line (Orb's), every step on exact values:
1. quantity: usage discounts take units off the quantity first;
2. subtotal: the price model applied to the quantity (tiers and matrix cells
   exact, as sub-line items), then, for a fixed fee, proration by days for a
   partial period;
3. adjustments: amount discounts (taken in full, at most what is left),
   percentage discounts (of what is left), the minimum and the maximum (both
   prorated by the part of the period billed, for fixed fees and usage alike);
4. amount = adjusted subtotal (never below zero).
Then the one rounding point of the line (`server.domain.money`): each figure
shown is its exact value rounded half-up once, and an adjustment shows the
change it makes to the rounded running value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from server.domain import money
from server.domain.invoices import AdjustmentKind, Discount, DiscountKind, LineAdjustment


class ModelType(StrEnum):
    """How a price turns a quantity into an amount."""

    UNIT = "unit"
    PACKAGE = "package"
    TIERED = "tiered"
    BULK = "bulk"
    MATRIX = "matrix"


class PriceType(StrEnum):
    """A fixed fee or metered usage."""

    FIXED = "fixed_price"
    USAGE = "usage_price"


class Cadence(StrEnum):
    """How often a price is billed, and how many months that is."""

    ONE_TIME = "one_time"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMI_ANNUAL = "semi_annual"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        """Months per billing period (0 for one-time prices)."""
        return {"one_time": 0, "monthly": 1, "quarterly": 3, "semi_annual": 6, "annual": 12}[self.value]


class BillingMode(StrEnum):
    """Billed at the start or at the end of the period it pays for."""

    IN_ADVANCE = "in_advance"
    IN_ARREAR = "in_arrear"


class Aggregation(StrEnum):
    """How usage events reduce to a quantity."""

    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    UNIQUE_COUNT = "unique_count"


@dataclass(frozen=True)
class Tier:
    """A graduated tier: units above first_unit up to and including last_unit (None: no end)."""

    first_unit: Decimal
    last_unit: Decimal | None
    unit_amount: Decimal


@dataclass(frozen=True)
class BulkTier:
    """A volume tier: when the total is at most maximum_units (None: no cap), every unit costs unit_amount."""

    maximum_units: Decimal | None
    unit_amount: Decimal


@dataclass(frozen=True)
class MatrixCell:
    """The unit price of one combination of dimension values."""

    values: tuple[str, ...]
    unit_amount: Decimal


@dataclass(frozen=True)
class BillableMetric:
    """What a usage price measures."""

    event_name: str
    aggregation: Aggregation
    property: str = ""


@dataclass(frozen=True)
class Price:
    """A price with exactly the configuration its model needs."""

    id: str
    name: str
    model: ModelType
    price_type: PriceType
    cadence: Cadence
    billing_mode: BillingMode
    currency: str
    fixed_quantity: Decimal = Decimal(1)
    metric: BillableMetric | None = None
    unit_amount: Decimal = Decimal(0)
    package_amount: Decimal = Decimal(0)
    package_size: int = 1
    tiers: tuple[Tier, ...] = ()
    bulk_tiers: tuple[BulkTier, ...] = ()
    dimensions: tuple[str, ...] = ()
    cells: tuple[MatrixCell, ...] = ()
    default_unit_amount: Decimal = Decimal(0)
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    discounts: tuple[Discount, ...] = ()


class SubLineKind(StrEnum):
    """What a sub-line item breaks down."""

    TIER = "tier"
    MATRIX = "matrix"


@dataclass(frozen=True)
class SubLine:
    """One tier or matrix cell (or the default group) of a line: its quantity, unit price and exact amount."""

    kind: SubLineKind
    name: str
    quantity: Decimal
    amount: Decimal
    unit_amount: Decimal
    first_unit: Decimal | None = None
    last_unit: Decimal | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class PricedLine:
    """The output of the pricing function for one price over one service period."""

    price: Price
    name: str
    quantity: Decimal
    start_date: dt.date
    end_date: dt.date
    subtotal: Decimal
    sub_lines: tuple[SubLine, ...]
    adjustments: tuple[LineAdjustment, ...]
    adjusted_subtotal: Decimal
    amount: Decimal
    proration: Decimal = Decimal(1)  # the part of the period billed, by days
    # The price as stored (the proto's JSON shape), with the quantity billed, when the caller knows it.
    document: Mapping[str, Any] | None = None


def _tier_amounts(price: Price, quantity: Decimal) -> list[SubLine]:
    sub_lines = []
    for tier in price.tiers:
        if quantity <= tier.first_unit:
            break
        top = quantity if tier.last_unit is None else min(quantity, tier.last_unit)
        units = top - tier.first_unit
        if units <= 0:
            continue
        last = "" if tier.last_unit is None else money.to_wire(tier.last_unit)
        sub_lines.append(
            SubLine(
                kind=SubLineKind.TIER,
                name=f"Tier {money.to_wire(tier.first_unit)}-{last}".rstrip("-") + ("+" if not last else ""),
                quantity=units,
                amount=units * tier.unit_amount,
                unit_amount=tier.unit_amount,
                first_unit=tier.first_unit,
                last_unit=tier.last_unit,
            )
        )
    return sub_lines


def _bulk_rate(price: Price, quantity: Decimal) -> Decimal:
    for tier in price.bulk_tiers:
        if tier.maximum_units is None or quantity <= tier.maximum_units:
            return tier.unit_amount
    return price.bulk_tiers[-1].unit_amount if price.bulk_tiers else Decimal(0)


def _matrix_amounts(price: Price, quantities: Mapping[tuple[str, ...], Decimal]) -> list[SubLine]:
    """One sub-line per priced cell with usage, then one default group for all the usage no cell matches.

    The default group is priced once, on its total: 40 unmatched units at 0.005
    are 0.20, whatever the number of distinct values they carry.
    """
    rates = {cell.values: cell.unit_amount for cell in price.cells}
    sub_lines = []
    unmatched = Decimal(0)
    for values in sorted(quantities):
        units = quantities[values]
        if values not in rates:
            unmatched += units
        elif units != 0:
            sub_lines.append(
                SubLine(
                    kind=SubLineKind.MATRIX,
                    name=", ".join(values),
                    quantity=units,
                    amount=units * rates[values],
                    unit_amount=rates[values],
                    values=values,
                )
            )
    if unmatched != 0:
        sub_lines.append(
            SubLine(
                kind=SubLineKind.MATRIX,
                name="Default",
                quantity=unmatched,
                amount=unmatched * price.default_unit_amount,
                unit_amount=price.default_unit_amount,
            )
        )
    return sub_lines


@money.exact
def model_subtotal(
    price: Price, quantity: Decimal, matrix: Mapping[tuple[str, ...], Decimal] | None = None
) -> tuple[Decimal, tuple[SubLine, ...]]:
    """The price model applied to a quantity, exactly (never rounded): the amount and its tier or cell breakdown."""
    if price.model is ModelType.UNIT:
        return quantity * price.unit_amount, ()
    if price.model is ModelType.PACKAGE:
        packages = (quantity / price.package_size).to_integral_value(rounding=ROUND_CEILING)
        return packages * price.package_amount, ()
    if price.model is ModelType.TIERED:
        subs = tuple(_tier_amounts(price, quantity))
        return sum((s.amount for s in subs), Decimal(0)), subs
    if price.model is ModelType.BULK:
        return quantity * _bulk_rate(price, quantity), ()
    subs = tuple(_matrix_amounts(price, matrix or {}))
    return sum((s.amount for s in subs), Decimal(0)), subs


@money.exact
def price_line(
    price: Price,
    *,
    quantity: Decimal,
    start_date: dt.date,
    end_date: dt.date,
    proration: Decimal | Fraction = Decimal(1),
    matrix: Mapping[tuple[str, ...], Decimal] | None = None,
) -> PricedLine:
    """Price one line over a service period: model, proration, then adjustments in Orb's order.

    `proration` is the part of the period billed (by days): a fixed fee's
    amount is prorated by it, a usage price's is not (its quantity is what was
    used), and the minimum and maximum of both are. `subtotal` is the model
    applied to the whole quantity (prorated); a usage discount is the first
    adjustment (the model on the discounted quantity, minus the subtotal); then
    amount and percentage discounts, the minimum and the maximum. Everything is
    exact until the one rounding of each shown figure (`money.rounded_steps`).
    Sub-line items show the undiscounted, unprorated breakdown, exactly.
    """
    currency = price.currency
    scale = proration if price.price_type is PriceType.FIXED else Decimal(1)
    full, subs = model_subtotal(price, quantity, matrix)
    exact_subtotal = _prorated(full, scale)
    running = exact_subtotal
    # Each step: (kind, exact value after it, configured value, reason).
    steps: list[tuple[AdjustmentKind, Decimal, Decimal, str]] = []
    usage_off = sum((d.value for d in price.discounts if d.kind is DiscountKind.USAGE), Decimal(0))
    if usage_off:
        billed = max(quantity - usage_off, Decimal(0))
        discounted, _ = model_subtotal(price, billed, _scale_matrix(matrix, billed, quantity) if matrix else None)
        running = _prorated(discounted, scale)
        steps.append((AdjustmentKind.USAGE_DISCOUNT, running, usage_off, ""))
    for kind, adjustment_kind in (
        (DiscountKind.AMOUNT, AdjustmentKind.AMOUNT_DISCOUNT),
        (DiscountKind.PERCENTAGE, AdjustmentKind.PERCENTAGE_DISCOUNT),
    ):
        for discount in price.discounts:
            if discount.kind is not kind:
                continue
            base = max(running, Decimal(0))
            running -= min(discount.value, base) if kind is DiscountKind.AMOUNT else base * discount.value
            steps.append((adjustment_kind, running, discount.value, discount.reason))
    if price.minimum is not None and running < (floor := _prorated(price.minimum, proration)):
        running = floor
        steps.append((AdjustmentKind.MINIMUM, running, price.minimum, ""))
    if price.maximum is not None and running > (cap := _prorated(price.maximum, proration)):
        running = cap
        steps.append((AdjustmentKind.MAXIMUM, running, price.maximum, ""))
    subtotal, changes = money.rounded_steps(exact_subtotal, [value for _, value, _, _ in steps], currency)
    adjustments = tuple(
        LineAdjustment(kind, change, configured, False, reason)
        for (kind, _, configured, reason), change in zip(steps, changes, strict=True)
    )
    adjusted = subtotal + sum(changes, money.zero(currency))
    return PricedLine(
        price=price,
        name=price.name,
        quantity=quantity,
        start_date=start_date,
        end_date=end_date,
        subtotal=subtotal,
        sub_lines=subs,
        adjustments=adjustments,
        adjusted_subtotal=adjusted,
        amount=max(adjusted, money.zero(currency)),
        proration=proration if isinstance(proration, Decimal) else Decimal(proration.numerator) / proration.denominator,
    )


def _scale_matrix(
    matrix: Mapping[tuple[str, ...], Decimal], billed: Decimal, total: Decimal
) -> dict[tuple[str, ...], Decimal]:
    """Take a usage discount off matrix cells in proportion to their quantities."""
    if total == 0:
        return dict(matrix)
    return {values: units * billed / total for values, units in matrix.items()}


def _prorated(value: Decimal, fraction: Decimal | Fraction) -> Decimal:
    """value × fraction, exactly when the product terminates: a fraction of days divides last, so that an amount
    that lands on a half of the minor unit (1.035 × 1/90 = 0.0115) is computed as such, not a hair below it."""
    if isinstance(fraction, Fraction):
        return value * fraction.numerator / fraction.denominator
    return value * fraction


def day_fraction(
    start: dt.date, end_exclusive: dt.date, period_start: dt.date, period_end_exclusive: dt.date
) -> Fraction:
    """The fraction of a period that [start, end) covers, by days, as an exact ratio (what billing passes to
    `price_line` as `proration`)."""
    days = (min(end_exclusive, period_end_exclusive) - max(start, period_start)).days
    period_days = (period_end_exclusive - period_start).days
    if period_days <= 0 or days <= 0:
        return Fraction(0)
    return min(Fraction(days, period_days), Fraction(1))


def proration(start: dt.date, end_exclusive: dt.date, period_start: dt.date, period_end_exclusive: dt.date) -> Decimal:
    """The fraction of a period that [start, end) covers, by days (as a Decimal; see `day_fraction`)."""
    days = (min(end_exclusive, period_end_exclusive) - max(start, period_start)).days
    period_days = (period_end_exclusive - period_start).days
    if period_days <= 0 or days <= 0:
        return Decimal(0)
    if days >= period_days:
        return Decimal(1)
    return Decimal(days) / Decimal(period_days)


def total_of(lines: Sequence[PricedLine], currency: str) -> Decimal:
    """An invoice total: the sum of its line amounts."""
    return sum((li.amount for li in lines), money.zero(currency))
