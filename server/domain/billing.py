"""Which lines a subscription invoice carries, at each period boundary, and when a subscription stops.

Boundary k is the first day of period k. The invoice dated on it bills:
- usage prices over period k-1, in arrears (their usage is looked up by the caller);
- fixed fees billed in arrears over period k-1;
- fixed fees billed in advance over period k;
- one-time prices on the first invoice (k = 0).
A period cut short by the subscription's end date is prorated by days, and so
is the partial first period of a calendar-aligned subscription; periods that
start on or after the end date are not billed. Minimums and maximums are
prorated by the same fraction, for usage prices too (Orb's default): a
partial first period of 16 days out of 31 has 16/31 of the minimum.

The upcoming invoice of period k is the invoice of boundary k+1 computed with
the usage so far; the invoice generated when period k elapses is the same
computation with the whole period's usage, so both agree for the same events.

A subscription that ends has a `Term` end: the first day not billed (fees run
up to the day before) and the instant usage stops; the final invoice falls due
at that instant. An immediate cancellation stops at the cancellation instant,
its day billed as used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Final

from server.domain import money
from server.domain.errors import FailedPrecondition
from server.domain.invoices import InvoiceStatus
from server.domain.periods import Period, Schedule, instant
from server.domain.pricing import BillingMode, Cadence, Price, PricedLine, PriceType, price_line, proration
from server.domain.validation import today_in

# How close to a period boundary an ingestion counts as racing the runner that invoices it: the
# subscription is then locked while the events are stored, so the runner cannot invoice without them.
BOUNDARY_MARGIN: Final = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Usage:
    """A usage price's quantity over a period, and its breakdown by matrix cell when the price has one."""

    quantity: Decimal
    matrix: Mapping[tuple[str, ...], Decimal] | None = None


UsageLookup = Callable[[Price, Period], Usage]


def billable_usage(used: Usage) -> Usage:
    """Usage as billed: never below zero.

    Ingestion refuses negative values of the properties that `sum` and `max`
    prices read, so a negative quantity comes only from events stored before a
    plan read that property; it bills as zero (the line shows quantity 0), and
    so does a matrix cell whose quantity is negative.
    """
    if used.matrix is None:
        return used if used.quantity >= 0 else Usage(Decimal(0))
    if all(units >= 0 for units in used.matrix.values()):
        return used
    cells = {values: max(units, Decimal(0)) for values, units in used.matrix.items()}
    return Usage(sum(cells.values(), Decimal(0)), cells)


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
                used = billable_usage(usage(price, previous))
                lines.append(
                    price_line(
                        price,
                        quantity=used.quantity,
                        matrix=used.matrix,
                        start_date=previous.start,
                        end_date=previous.last_day,
                        proration=_fraction(schedule, k - 1, previous),
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


class SubscriptionStatus(StrEnum):
    """Where a subscription is at an instant."""

    UPCOMING = "upcoming"
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True)
class Term:
    """A subscription's life in time: its periods in the customer's timezone and, once cancelled, its end.

    `end_date` is the first day not billed (fees are billed and prorated up to
    the day before); `ended_at` is the instant usage stops counting and the
    final invoice falls due. Both are set together: for an end on a date,
    `ended_at` is that date's local midnight; for an immediate cancellation it
    is the cancellation instant and `end_date` the next day (the cancellation
    day is billed as used).
    """

    schedule: Schedule
    timezone: str
    end_date: dt.date | None = None
    ended_at: dt.datetime | None = None

    def last_boundary(self) -> int | None:
        """The last boundary that bills anything, if the subscription ends."""
        return last_boundary(self.schedule, self.end_date)

    def boundary_at(self, k: int) -> dt.datetime:
        """When boundary k arrives: local midnight of period k's first day, except the final boundary of an
        ended subscription, which arrives when billing stops (its invoice is due then, not at the period end)."""
        natural = instant(self.schedule.period(k).start, self.timezone)
        if self.ended_at is not None and self.ended_at < natural and k == self.last_boundary():
            return self.ended_at
        return natural

    def boundary_date(self, k: int) -> dt.date:
        """The date of the invoice of boundary k: the local date on which it arrives."""
        return today_in(self.timezone, self.boundary_at(k))

    def usage_end(self, period: Period) -> dt.datetime:
        """The instant the usage of a period stops counting: its end, or the end of the subscription."""
        end = instant(period.end, self.timezone)
        return end if self.ended_at is None else min(end, self.ended_at)

    def status(self, now: dt.datetime) -> tuple[SubscriptionStatus, Period | None]:
        """The status at an instant, and the current billing period when active (cut at the end date)."""
        if self.ended_at is not None and now >= self.ended_at:
            return SubscriptionStatus.ENDED, None
        today = today_in(self.timezone, now)
        if today < self.schedule.start_date:
            return SubscriptionStatus.UPCOMING, None
        period = self.schedule.period_containing(today)
        if self.end_date is not None and period.end > self.end_date:
            period = Period(period.start, self.end_date)
        return SubscriptionStatus.ACTIVE, period

    def upcoming_boundary(self, now: dt.datetime, next_boundary: int) -> int | None:
        """The boundary whose invoice GetUpcomingInvoice previews (None when nothing is left to bill).

        Active: the current period's (boundary k+1). Upcoming (starting in the
        future): the first invoice, as Orb does. Ended: the final invoice until
        the runner has generated it (next_boundary, the first boundary not yet
        invoiced, is then past the last one).
        """
        status, _ = self.status(now)
        if status is SubscriptionStatus.UPCOMING:
            return 0
        if status is SubscriptionStatus.ENDED:
            last = self.last_boundary()
            return last if last is not None and next_boundary <= last else None
        return self.schedule.index_of(today_in(self.timezone, now)) + 1

    def event_boundary(self, occurred_at: dt.datetime) -> int | None:
        """The boundary whose invoice bills usage that occurred at this instant (None: no billed period)."""
        if self.ended_at is not None and occurred_at >= self.ended_at:
            return None
        day = today_in(self.timezone, occurred_at)
        if day < self.schedule.start_date:
            return None
        return self.schedule.index_of(day) + 1


class CancelAt(StrEnum):
    """When a cancellation takes effect."""

    END_OF_TERM = "end_of_term"
    REQUESTED_DATE = "requested_date"
    IMMEDIATE = "immediate"


def cancellation_end(
    term: Term, option: CancelAt, now: dt.datetime, requested: dt.date | None
) -> tuple[dt.date, dt.datetime]:
    """The end (first day not billed, instant billing stops) a cancellation sets (FailedPrecondition if it
    cannot be cancelled so).

    - immediate: billing stops now; today is billed as a used day (end date
      tomorrow), usage counts up to this instant. Before the start date: it
      ends before it begins and bills nothing.
    - on a date (today or later, not before the start): billing stops at that
      date's local midnight.
    - at the end of the term: at the end of the current (or, before the start,
      the first) billing period.
    """
    schedule, zone = term.schedule, term.timezone
    if term.ended_at is not None and term.ended_at <= now:
        raise FailedPrecondition("SUBSCRIPTION_ENDED", "the subscription has already ended", subject="status")
    today = today_in(zone, now)
    if option is CancelAt.IMMEDIATE:
        if today < schedule.start_date:
            return schedule.start_date, now
        return today + dt.timedelta(days=1), now
    if option is CancelAt.REQUESTED_DATE:
        assert requested is not None
        if requested < schedule.start_date or requested < today:
            raise FailedPrecondition(
                "CANCELLATION_DATE_IN_PAST",
                "cancellation_date must not be before today or the start date",
                subject="cancellation_date",
            )
        end = requested
    else:
        end = schedule.period_containing(max(today, schedule.start_date)).end
    return end, instant(end, zone)


def _in_advance_fee(price: Price) -> bool:
    return (
        price.price_type is PriceType.FIXED
        and price.billing_mode is BillingMode.IN_ADVANCE
        and price.cadence is not Cadence.ONE_TIME
    )


@money.exact
def fee_credit(
    prices: Sequence[Price],
    schedule: Schedule,
    k: int,
    end_date: dt.date | None,
    billed: Mapping[str, Decimal],
    refunded: Decimal,
    currency: str,
) -> Decimal:
    """What a cancellation owes back for the in-advance fees of the invoice of boundary k (negative: takes back).

    `billed` is the amount of each subscription line on that invoice, by price
    id; `refunded` what earlier cancellations already credited for it. The
    credit is the billed amount of each recurring in-advance fee minus what the
    shortened period costs through the same pricing function (the fee prorated
    by the days used, up to the end date, then the price's adjustments; a fee
    whose period now lies wholly after the end costs nothing), so a
    cancellation after the invoice nets to exactly what a cancellation before
    it would have billed. A later cancellation that moves the end later takes
    back the difference.
    """
    fees = [p for p in prices if _in_advance_fee(p) and p.id in billed]
    costs = {
        line.price.id: line.amount
        for line in boundary_lines(fees, schedule, k, end_date, lambda _price, _period: Usage(Decimal(0)))
    }
    owed = sum((billed[p.id] - costs.get(p.id, Decimal(0)) for p in fees), money.zero(currency))
    return owed - refunded  # both in minor units already: nothing to round


@dataclass(frozen=True)
class BilledPeriods:
    """A subscription as the ingestion check sees it: the events it bills, its term, and the status of the
    invoice of each boundary invoiced so far (boundary → (invoice id, status))."""

    id: str
    customer_id: str
    term: Term
    event_names: frozenset[str]
    invoices: Mapping[int, tuple[str, InvoiceStatus]]


@dataclass
class PeriodCheck:
    """What a batch of events meets: the events refused (position → why), the drafts whose periods accepted
    events fall in (invoice id → positions: to re-price), and the subscriptions whose boundary for an accepted
    event has arrived without an invoice yet (to hold still while the events are stored)."""

    closed: dict[int, str] = field(default_factory=dict)
    drafts: dict[str, set[int]] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)


def check_periods(
    events: Sequence[tuple[str, str, dt.datetime]], subscriptions: Sequence[BilledPeriods], now: dt.datetime
) -> PeriodCheck:
    """Which events (customer id, event name, timestamp) fall in a period whose invoice is no longer a draft.

    Such an event is refused (until backfills exist): nothing could bill it.
    An event a subscription's plan does not meter is never refused. Within a
    draft's grace window events are accepted and the draft is re-priced.
    """
    by_customer: dict[str, list[BilledPeriods]] = {}
    for sub in subscriptions:
        by_customer.setdefault(sub.customer_id, []).append(sub)
    result = PeriodCheck()
    for position, (customer_id, event_name, occurred_at) in enumerate(events):
        drafts: set[str] = set()
        pending: set[str] = set()
        for sub in by_customer.get(customer_id, ()):
            k = sub.term.event_boundary(occurred_at) if event_name in sub.event_names else None
            if k is None:
                continue
            invoice = sub.invoices.get(k)
            if invoice is None:
                if sub.term.boundary_at(k) <= now + BOUNDARY_MARGIN:
                    pending.add(sub.id)
            elif invoice[1] is InvoiceStatus.DRAFT:
                drafts.add(invoice[0])
            else:
                period = sub.term.schedule.period(k - 1)
                result.closed[position] = (
                    f"the invoice of the period {period.start.isoformat()} to {period.last_day.isoformat()} that"
                    f" bills this event is already {invoice[1].value}; usage is not accepted once its period is"
                    " invoiced"
                )
        if position not in result.closed:
            for invoice_id in drafts:
                result.drafts.setdefault(invoice_id, set()).add(position)
            result.pending |= pending
    return result
