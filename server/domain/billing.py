"""Which lines a subscription invoice carries, at each period boundary.

Boundary k is the first day of period k. The invoice dated on it bills:
- usage prices over period k-1, in arrears (their usage is looked up by the caller);
- fixed fees billed in arrears over period k-1;
- fixed fees billed in advance over period k;
- one-time prices on the first invoice (k = 0).
A period cut short by the subscription's end date is prorated by days, and so
is the partial first period of a calendar-aligned subscription; periods that
start on or after the end date are not billed.

The upcoming invoice of period k is the invoice of boundary k+1 computed with
the usage so far; the invoice generated when period k elapses is the same
computation with the whole period's usage, so both agree for the same events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from server.domain.periods import Period, Schedule
from server.domain.pricing import BillingMode, Cadence, Price, PricedLine, PriceType, price_line, proration


@dataclass(frozen=True)
class Usage:
    """A usage price's quantity over a period, and its breakdown by matrix cell when the price has one."""

    quantity: Decimal
    matrix: Mapping[tuple[str, ...], Decimal] | None = None


UsageLookup = Callable[[Price, Period], Usage]


def _billable(period: Period, end_date: dt.date | None) -> Period | None:
    """The part of a period before the end date (None if nothing is left)."""
    if end_date is None or period.end <= end_date:
        return period
    if period.start >= end_date:
        return None
    return Period(period.start, end_date)


def _fraction(schedule: Schedule, index: int, billed: Period) -> Decimal:
    full = Period(schedule.boundary(index), schedule.boundary(index + 1))
    return proration(billed.start, billed.end, full.start, full.end)


def boundary_date(schedule: Schedule, k: int, end_date: dt.date | None = None) -> dt.date:
    """The date of the invoice for boundary k: the first day of period k, or the end date when the
    subscription ends inside period k-1 (its final invoice is dated, and generated, when it ends)."""
    natural = schedule.period(k).start
    if k >= 1 and end_date is not None and schedule.period(k - 1).start < end_date < natural:
        return end_date
    return natural


def boundary_lines(
    prices: Sequence[Price],
    schedule: Schedule,
    k: int,
    end_date: dt.date | None,
    usage: UsageLookup,
) -> list[PricedLine]:
    """The priced lines of the invoice at boundary k, in the plan's price order."""
    lines: list[PricedLine] = []
    previous = _billable(schedule.period(k - 1), end_date) if k >= 1 else None
    current = _billable(schedule.period(k), end_date)
    for price in prices:
        if price.cadence is Cadence.ONE_TIME:
            if k == 0 and current is not None:
                lines.append(_fixed(price, current, Decimal(1)))
            continue
        if price.price_type is PriceType.USAGE:
            if previous is not None:
                used = usage(price, previous)
                lines.append(
                    price_line(
                        price,
                        quantity=used.quantity,
                        matrix=used.matrix,
                        start_date=previous.start,
                        end_date=previous.last_day,
                    )
                )
            continue
        if price.billing_mode is BillingMode.IN_ARREAR:
            if previous is not None:
                lines.append(_fixed(price, previous, _fraction(schedule, k - 1, previous)))
        elif current is not None:
            lines.append(_fixed(price, current, _fraction(schedule, k, current)))
    return lines


def _fixed(price: Price, period: Period, fraction: Decimal) -> PricedLine:
    return price_line(
        price, quantity=price.fixed_quantity, start_date=period.start, end_date=period.last_day, proration=fraction
    )


def has_usage(lines: Sequence[PricedLine]) -> bool:
    """True when an invoice bills usage (it then waits out a grace period for late events)."""
    return any(line.price.price_type is PriceType.USAGE for line in lines)


def last_boundary(schedule: Schedule, end_date: dt.date | None) -> int | None:
    """The last boundary that bills anything for a subscription that ends (None if it runs on)."""
    if end_date is None:
        return None
    return schedule.index_of(max(end_date - dt.timedelta(days=1), schedule.start_date)) + 1
