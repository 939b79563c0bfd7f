"""Which lines a subscription invoice carries, at each period boundary, and when a subscription stops.

Boundary k is the first day of period k. The invoice dated on it bills:
- usage prices over period k-1, in arrears (their usage is looked up by the caller);
- fixed fees billed in arrears over period k-1;
- fixed fees billed in advance over period k;
- one-time prices on the first invoice (k = 0), and those of a plan a change
  starts with the in-advance fees of the period it starts in.
The subscription's phases (`server.domain.timeline`) say which prices bill
which days: each price bills its segment of a period (the days its phase, or
consecutive phases with the same quantity, cover) as a line of its own, so an
invoice shows both sides of a change as separate lines with their periods.
In-advance fees already billed when a change alters their period are prorated
on the next invoice: a credit for the days no longer billed so, and a charge
for the new terms (`proration_lines`).
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
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final

from server.domain import money
from server.domain.errors import FailedPrecondition, Violations
from server.domain.invoices import InvoiceStatus, Line
from server.domain.periods import Period, Schedule, instant
from server.domain.plans import PriceDocument, parse_price
from server.domain.pricing import BillingMode, Cadence, Price, PricedLine, PriceType, day_fraction, price_line
from server.domain.timeline import Phase, Timeline
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


def _fraction(schedule: Schedule, index: int, billed: Period) -> Fraction:
    full = Period(schedule.boundary(index), schedule.boundary(index + 1))
    return day_fraction(billed.start, billed.end, full.start, full.end)


def cut_short(schedule: Schedule, index: int, end_date: dt.date | None) -> bool:
    """True when the subscription's end falls inside period `index` (its last days are not billed)."""
    return end_date is not None and end_date < schedule.period(index).end


@dataclass(frozen=True)
class Segment:
    """The days of a period one price bills with one quantity: consecutive phases that bill the same price with
    the same quantity make one segment. `rank` (phase, position of the price in its plan) orders the lines."""

    price: Price
    document: PriceDocument
    days: Period
    rank: tuple[int, int]


def _overlap(period: Period, start: dt.date, end: dt.date | None) -> Period | None:
    first, after = max(period.start, start), period.end if end is None else min(period.end, end)
    return Period(first, after) if first < after else None


def segments(timeline: Timeline, period: Period, wanted: Callable[[Phase, Price], bool]) -> list[Segment]:
    """The segments of the wanted prices of each phase over the days of `period`, in line order."""
    runs: dict[tuple[str, Decimal], list[Segment]] = {}
    for index, phase in enumerate(timeline.phases):
        days = _overlap(period, phase.start, timeline.end_of(index))
        if days is None:
            continue
        for position, price in enumerate(phase.prices):
            if not wanted(phase, price):
                continue
            found = runs.setdefault((price.id, price.fixed_quantity), [])
            if found and found[-1].days.end == days.start:
                found[-1] = replace(found[-1], days=Period(found[-1].days.start, days.end))
            else:
                found.append(Segment(price, phase.documents.get(price.id, {}), days, (index, position)))
    return sorted((segment for group in runs.values() for segment in group), key=lambda s: s.rank)


def in_arrears(price: Price) -> bool:
    """True for a price billed in arrears (usage, and fees billed at the end of their period): what prepaid
    credits pay."""
    return price.cadence is not Cadence.ONE_TIME and (
        price.price_type is PriceType.USAGE or price.billing_mode is BillingMode.IN_ARREAR
    )


def _in_advance_fee(price: Price) -> bool:
    return (
        price.price_type is PriceType.FIXED
        and price.billing_mode is BillingMode.IN_ADVANCE
        and price.cadence is not Cadence.ONE_TIME
    )


def advance_segments(timeline: Timeline, current: Period) -> list[Segment]:
    """What is billed in advance for a period: its recurring in-advance fees, and the one-time prices of a plan
    that starts in it."""
    return segments(
        timeline,
        current,
        lambda phase, price: (
            _in_advance_fee(price)
            or (price.cadence is Cadence.ONE_TIME and phase.bills_one_time and phase.start >= current.start)
        ),
    )


def usage_segments(timeline: Timeline, schedule: Schedule, k: int, end_date: dt.date | None) -> list[Segment]:
    """The segments of usage prices the invoice of boundary k bills (their usage is for the caller to measure)."""
    previous = _billable(schedule.period(k - 1), end_date) if k >= 1 else None
    if previous is None:
        return []
    return [
        segment
        for segment in segments(timeline, previous, lambda _phase, price: in_arrears(price))
        if segment.price.price_type is PriceType.USAGE
    ]


def _fee_line(segment: Segment, schedule: Schedule, index: int) -> PricedLine:
    """A fixed fee over its segment of period `index`: prorated by days (a one-time price is never prorated)."""
    price = segment.price
    fraction = Fraction(1) if price.cadence is Cadence.ONE_TIME else _fraction(schedule, index, segment.days)
    line = price_line(
        price,
        quantity=price.fixed_quantity,
        start_date=segment.days.start,
        end_date=segment.days.last_day,
        proration=fraction,
    )
    return replace(line, document=segment.document)


def boundary_lines(
    prices: Sequence[Price] | Timeline,
    schedule: Schedule,
    k: int,
    end_date: dt.date | None,
    usage: UsageLookup,
    billed: Sequence[BilledFee] | None = None,
) -> list[PricedLine]:
    """The priced lines of the invoice at boundary k, in line order (phase, then the plan's price order).

    `prices` is the subscription's timeline (a plain list of prices: one plan
    that never changed). `billed` is what the invoice of boundary k-1 billed in
    advance for period k-1 (None when there is no such invoice, or it is
    void): when the phases of that period changed after it was billed, and the
    subscription's end does not cut the period short (a cancellation settles
    that on the balance), the proration lines (`proration_lines`) follow.
    """
    timeline = prices if isinstance(prices, Timeline) else Timeline.of_prices(schedule.start_date, prices)
    ranked: list[tuple[tuple[int, int], PricedLine]] = []
    previous = _billable(schedule.period(k - 1), end_date) if k >= 1 else None
    current = _billable(schedule.period(k), end_date)
    if previous is not None:
        for segment in segments(timeline, previous, lambda _phase, price: in_arrears(price)):
            price = segment.price
            if price.price_type is PriceType.USAGE:
                used = billable_usage(usage(price, segment.days))
                priced = price_line(
                    price,
                    quantity=used.quantity,
                    matrix=used.matrix,
                    start_date=segment.days.start,
                    end_date=segment.days.last_day,
                    proration=_fraction(schedule, k - 1, segment.days),
                )
                line = replace(priced, document=segment.document)
            else:
                line = _fee_line(segment, schedule, k - 1)
            ranked.append((segment.rank, line))
    if current is not None:
        ranked += [(segment.rank, _fee_line(segment, schedule, k)) for segment in advance_segments(timeline, current)]
    lines = [line for _, line in sorted(ranked, key=lambda item: item[0])]
    if previous is not None and billed is not None and not cut_short(schedule, k - 1, end_date):
        lines += proration_lines(timeline, schedule, k - 1, billed)
    return lines


@dataclass(frozen=True)
class BilledFee:
    """A line an invoice billed in advance for its period: its price (with the quantity billed), days, amount."""

    price: Price
    document: PriceDocument
    days: Period
    amount: Decimal


def billed_in_advance(lines: Sequence[Line], period: Period, currency: str) -> list[BilledFee]:
    """The lines of a subscription invoice that bill fees in advance for `period` (not the proration lines of
    the period before, which it may also carry)."""
    billed = []
    for line in lines:
        if line.is_one_off or line.price_data is None or line.start_date < period.start:
            continue
        price = parse_price(line.price_data, "price", currency, Violations(), stored=True)
        if price is None or price.price_type is not PriceType.FIXED:
            continue
        if price.cadence is Cadence.ONE_TIME or price.billing_mode is BillingMode.IN_ADVANCE:
            days = Period(line.start_date, line.end_date + dt.timedelta(days=1))
            billed.append(BilledFee(replace(price, fixed_quantity=line.quantity), line.price_data, days, line.amount))
    return billed


def _intersection(a: Period, b: Period) -> Period | None:
    return _overlap(a, b.start, b.end)


def _minus(ranges: Sequence[Period], taken: Sequence[Period]) -> list[Period]:
    """The days of `ranges` outside every range of `taken`."""
    left = list(ranges)
    for cut in taken:
        pieces = []
        for piece in left:
            if _intersection(piece, cut) is None:
                pieces.append(piece)
                continue
            if piece.start < cut.start:
                pieces.append(Period(piece.start, cut.start))
            if cut.end < piece.end:
                pieces.append(Period(cut.end, piece.end))
        left = pieces
    return left


def _hull(ranges: Sequence[Period]) -> Period:
    return Period(min(r.start for r in ranges), max(r.end for r in ranges))


def _flat_line(price: Price, document: PriceDocument, days: Period, amount: Decimal) -> PricedLine:
    """A line that is only an amount (a proration credit or the difference charged), no adjustments."""
    return PricedLine(
        price=price,
        name=price.name,
        quantity=price.fixed_quantity,
        start_date=days.start,
        end_date=days.last_day,
        subtotal=amount,
        sub_lines=(),
        adjustments=(),
        adjusted_subtotal=amount,
        amount=amount,
        proration=Decimal(0),
        document=document,
    )


@money.exact
def proration_lines(
    timeline: Timeline, schedule: Schedule, index: int, billed: Sequence[BilledFee]
) -> list[PricedLine]:
    """Both sides of the changes made to period `index` after its in-advance fees were billed (Orb's proration).

    For each fee (price and quantity), billed or now due: the days still
    billed at the same terms keep what they cost; the credit is what was
    billed minus what those kept days cost through the pricing function (a
    negative line over the days no longer billed so); the charge is what the
    fee costs now minus the same kept days (the priced line itself over the new
    days when nothing is kept). So the period's in-advance fees come to exactly
    what the pricing function charges for the phases as they are, on both
    invoices together.
    """
    period = schedule.period(index)
    now: dict[tuple[str, Decimal], list[Segment]] = {}
    for segment in advance_segments(timeline, period):
        now.setdefault((segment.price.id, segment.price.fixed_quantity), []).append(segment)
    was: dict[tuple[str, Decimal], list[BilledFee]] = {}
    for fee in billed:
        was.setdefault((fee.price.id, fee.price.fixed_quantity), []).append(fee)
    lines: list[PricedLine] = []
    for key in [*was, *(key for key in now if key not in was)]:
        due, paid = now.get(key, []), was.get(key, [])
        due_days, paid_days = [s.days for s in due], [f.days for f in paid]
        if sorted(due_days, key=lambda d: d.start) == sorted(paid_days, key=lambda d: d.start):
            continue
        kept = [
            replace(segment, days=common)
            for segment in due
            for days in paid_days
            if (common := _intersection(segment.days, days)) is not None
        ]
        kept_cost = sum((_fee_line(s, schedule, index).amount for s in kept), Decimal(0))
        priced_now = [_fee_line(s, schedule, index) for s in due]
        credit = sum((f.amount for f in paid), Decimal(0)) - kept_cost
        if paid and credit != 0:
            unused = _minus(paid_days, due_days) or paid_days
            lines.append(_flat_line(paid[0].price, paid[0].document, _hull(unused), -credit))
        if not due:
            continue
        if not kept:
            lines += [line for line in priced_now if line.amount != 0]
            continue
        charge = sum((line.amount for line in priced_now), Decimal(0)) - kept_cost
        if charge != 0:
            added = _minus(due_days, paid_days) or due_days
            lines.append(_flat_line(due[0].price, due[0].document, _hull(added), charge))
    return lines


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

    def event_boundary(self, occurred_at: dt.datetime, day: dt.date | None = None) -> int | None:
        """The boundary whose invoice bills usage that occurred at this instant (None: no billed period); `day` is
        the instant's date in the term's timezone, when the caller has it already."""
        if self.ended_at is not None and occurred_at >= self.ended_at:
            return None
        day = today_in(self.timezone, occurred_at) if day is None else day
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
    today = today_while_open(term, now)
    if option is CancelAt.IMMEDIATE:
        if today < term.schedule.start_date:
            return term.schedule.start_date, now
        return today + dt.timedelta(days=1), now
    end = scheduled_day(term, option, today, requested, "cancellation_date")
    return end, instant(end, term.timezone)


def today_while_open(term: Term, now: dt.datetime) -> dt.date:
    """Today in the subscription's timezone; FailedPrecondition once it has ended (it can no longer change)."""
    if term.ended_at is not None and term.ended_at <= now:
        raise FailedPrecondition("SUBSCRIPTION_ENDED", "the subscription has already ended", subject="status")
    return today_in(term.timezone, now)


def scheduled_day(term: Term, option: CancelAt, today: dt.date, requested: dt.date | None, field: str) -> dt.date:
    """The day a cancellation or change not made immediately takes effect: the requested date (today or later,
    not before the start: FailedPrecondition naming `field` otherwise), or the end of the current (before the
    start, the first) billing period."""
    schedule = term.schedule
    if option is CancelAt.REQUESTED_DATE:
        assert requested is not None
        if requested < schedule.start_date or requested < today:
            raise FailedPrecondition(
                f"{field.upper()}_IN_PAST", f"{field} must not be before today or the start date", subject=field
            )
        return requested
    return schedule.period_containing(max(today, schedule.start_date)).end


@money.exact
def advance_refund(
    timeline: Timeline,
    schedule: Schedule,
    k: int,
    end_date: dt.date | None,
    billed: Sequence[BilledFee],
    refunded: Decimal,
    currency: str,
) -> Decimal:
    """What a cancellation owes back for the fees the invoice of boundary k billed in advance (negative: takes
    back), once it is no longer a draft.

    When the end cuts period k short, the customer is owed what was billed in
    advance for it minus what the shortened period costs through the same
    pricing function under the phases as they are (a fee prorated by the days
    up to the end date, then its adjustments; a fee whose days now lie wholly
    after the end costs nothing), so a cancellation after the invoice nets to
    exactly what a cancellation before it would have billed. Otherwise nothing
    is owed on the balance (plan changes within the period are prorated on the
    next invoice), and what earlier cancellations credited (`refunded`) is
    taken back.
    """
    target = money.zero(currency)
    current = _billable(schedule.period(k), end_date)
    if cut_short(schedule, k, end_date):
        cost = sum(
            (_fee_line(s, schedule, k).amount for s in (advance_segments(timeline, current) if current else [])),
            money.zero(currency),
        )
        target = sum((fee.amount for fee in billed), money.zero(currency)) - cost
    return target - refunded  # in minor units already: nothing to round


def fee_credit(
    prices: Sequence[Price],
    schedule: Schedule,
    k: int,
    end_date: dt.date | None,
    billed: Mapping[str, Decimal],
    refunded: Decimal,
    currency: str,
) -> Decimal:
    """`advance_refund` for a subscription that stayed on one plan, given what its invoice of boundary k billed
    by price id (the fees billed in advance among them count)."""
    fees = [
        BilledFee(price, {}, schedule.period(k), billed[price.id])
        for price in prices
        if price.id in billed and (_in_advance_fee(price) or price.cadence is Cadence.ONE_TIME)
    ]
    timeline = Timeline.of_prices(schedule.start_date, prices)
    return advance_refund(timeline, schedule, k, end_date, fees, refunded, currency)


@dataclass(frozen=True)
class BilledPeriods:
    """A subscription as the ingestion check sees it: the events it bills (from each plan's first day on), its
    term, and the status of the invoice of each boundary invoiced so far (boundary → (invoice id, status))."""

    id: str
    customer_id: str
    term: Term
    event_names: frozenset[str]  # of its first plan
    invoices: Mapping[int, tuple[str, InvoiceStatus]]
    changed: tuple[tuple[dt.date, frozenset[str]], ...] = ()  # from each plan change on: the events it meters

    def meters(self, event_name: str, day: dt.date) -> bool:
        """True when the plan in effect on that (local) day bills events of that name."""
        names = self.event_names
        for start, plan_names in self.changed:
            if start <= day:
                names = plan_names
        return event_name in names


@dataclass
class PeriodCheck:
    """What a batch of events meets: the events refused (position → why), the drafts whose periods accepted
    events fall in (invoice id → positions: to re-price), and the subscriptions whose boundary for an accepted
    event has arrived without an invoice yet (to hold still while the events are stored)."""

    closed: dict[int, str] = field(default_factory=dict)
    drafts: dict[str, set[int]] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Verdict:
    """What one subscription makes of an event: refused (why), billed by a draft (its id), or billed by a boundary
    that has arrived without an invoice yet (pending); all empty: nothing to do."""

    closed: str = ""
    draft: str = ""
    pending: bool = False


def _verdict(sub: BilledPeriods, event_name: str, occurred_at: dt.datetime, day: dt.date, now: dt.datetime) -> _Verdict:
    """The verdict of one subscription on an event that occurred at an instant (of local date `day`)."""
    k = sub.term.event_boundary(occurred_at, day) if sub.meters(event_name, day) else None
    if k is None:
        return _Verdict()
    invoice = sub.invoices.get(k)
    if invoice is None:
        return _Verdict(pending=sub.term.boundary_at(k) <= now + BOUNDARY_MARGIN)
    if invoice[1] is InvoiceStatus.DRAFT:
        return _Verdict(draft=invoice[0])
    period = sub.term.schedule.period(k - 1)
    return _Verdict(
        closed=f"the invoice of the period {period.start.isoformat()} to {period.last_day.isoformat()} that bills"
        f" this event is already {invoice[1].value}; usage is not accepted once its period is invoiced"
    )


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
    # What a subscription makes of an event depends on its instant only through its local day and whether it is
    # past the subscription's end: one verdict per such case serves the batch's other events.
    verdicts: dict[tuple[str, str, dt.date, bool], _Verdict] = {}
    for position, (customer_id, event_name, occurred_at) in enumerate(events):
        drafts: set[str] = set()
        pending: set[str] = set()
        for sub in by_customer.get(customer_id, ()):
            day = today_in(sub.term.timezone, occurred_at)
            ended = sub.term.ended_at is not None and occurred_at >= sub.term.ended_at
            case = (sub.id, event_name, day, ended)
            verdict = verdicts.get(case)
            if verdict is None:
                verdict = verdicts[case] = _verdict(sub, event_name, occurred_at, day, now)
            if verdict.closed:
                result.closed[position] = verdict.closed
            elif verdict.draft:
                drafts.add(verdict.draft)
            elif verdict.pending:
                pending.add(sub.id)
        if position not in result.closed:
            for invoice_id in drafts:
                result.drafts.setdefault(invoice_id, set()).add(position)
            result.pending |= pending
    return result
