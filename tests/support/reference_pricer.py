"""A deliberately simple reference pricer, written only for the tests.

It prices a subscription invoice straight from Orb's documented order and the
service's documented rules, with exact rational arithmetic (`Fraction`) and
one half-up rounding per figure at the very end, and it shares no code with
the engine: its own month arithmetic, periods, aggregation of raw events,
price models and adjustments. The differential tests check that the engine
agrees with it for random plans and events.

Rules it encodes (README, "The billing engine"):
- boundary k bills usage and in-arrears fees of period k-1, in-advance fees of
  period k, one-time prices at k = 0; periods cut at the end date;
- quantity: count, sum or max of numeric values, or the number of distinct
  values, over the events in [period start, min(period end, ended, now));
  never below zero (per matrix cell too);
- model: unit, package (whole packages), tiered (graduated, first unit
  exclusive), bulk (one rate for all units), matrix (a rate per cell, one
  default group for the rest);
- proration by days: a fixed fee's amount, and every minimum and maximum;
- adjustments: usage discount (units off; off matrix cells in proportion),
  amount discounts, percentage discounts, minimum, maximum;
- one half-up rounding to the currency's minor unit of each shown figure.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tests.support.money import EXPONENTS

MONTHS = {"monthly": 1, "quarterly": 3, "semi_annual": 6, "annual": 12}
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


@dataclass(frozen=True)
class PriceSpec:
    """A price in plain terms: what the test generates, the plan is created from and the reference reads."""

    id: str
    name: str
    model: str  # unit, package, tiered, bulk, matrix
    kind: str  # fixed, usage
    cadence: str  # one_time, monthly, quarterly, semi_annual, annual
    mode: str = "in_advance"  # in_advance, in_arrear (usage: always in_arrear)
    quantity: Decimal = Decimal(1)  # fixed fees
    event: str = ""
    aggregation: str = ""  # count, sum, max, unique_count
    prop: str = ""
    unit_amount: Decimal = Decimal(0)
    package_amount: Decimal = Decimal(0)
    package_size: int = 1
    tiers: tuple[tuple[Decimal, Decimal | None, Decimal], ...] = ()  # (first, last, unit amount)
    bulk: tuple[tuple[Decimal | None, Decimal], ...] = ()  # (maximum units, unit amount)
    dimensions: tuple[str, ...] = ()
    cells: tuple[tuple[tuple[str, ...], Decimal], ...] = ()
    default: Decimal = Decimal(0)
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    discounts: tuple[tuple[str, Decimal], ...] = ()  # (usage | amount | percentage, value)


@dataclass(frozen=True)
class SentEvent:
    """A usage event as the test sends it."""

    at: dt.datetime
    name: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefLine:
    """A reference line: what the customer sees of it."""

    price_id: str
    start: dt.date
    end: dt.date  # inclusive
    quantity: Fraction
    subtotal: Decimal
    amount: Decimal


# --- calendar -------------------------------------------------------------------------------------


def _plus_months(day: dt.date, months: int) -> dt.date:
    year = day.year + (day.month - 1 + months) // 12
    month = (day.month - 1 + months) % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _midnight(day: dt.date, zone: str) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC)


@dataclass(frozen=True)
class SubscriptionSpec:
    """A subscription: start, alignment, timezone and, if cancelled, its end (first day not billed)."""

    start: dt.date
    months: int
    align: bool
    zone: str
    end: dt.date | None = None

    def edge(self, index: int) -> dt.date:
        """First day of period `index` (the start date for the first one)."""
        if index == 0:
            return self.start
        anchor = self.start if self.align else self.start.replace(day=1)
        return _plus_months(anchor, index * self.months)

    def full(self, index: int) -> tuple[dt.date, dt.date]:
        """The whole period `index` as the calendar lays it out, [start, end)."""
        anchor = self.start if self.align else self.start.replace(day=1)
        return _plus_months(anchor, index * self.months), _plus_months(anchor, (index + 1) * self.months)

    def billed(self, index: int) -> tuple[dt.date, dt.date] | None:
        """The part of period `index` before the end, [start, end); None if nothing is left."""
        start, end = self.edge(index), self.edge(index + 1)
        if self.end is not None:
            end = min(end, self.end)
        return (start, end) if start < end else None

    def fraction(self, index: int, billed: tuple[dt.date, dt.date]) -> Fraction:
        """The part of the whole period that `billed` covers, by days."""
        start, end = self.full(index)
        return Fraction((billed[1] - billed[0]).days, (end - start).days)


# --- usage ------------------------------------------------------------------------------------------


def _number(value: Any) -> Fraction | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return Fraction(Decimal(value))
    return None


def _aggregate(price: PriceSpec, events: Sequence[SentEvent]) -> Fraction:
    if price.aggregation == "count":
        return Fraction(len(events))
    if price.aggregation == "unique_count":
        return Fraction(len({str(e.properties[price.prop]) for e in events if price.prop in e.properties}))
    numbers = [n for e in events if (n := _number(e.properties.get(price.prop))) is not None]
    if price.aggregation == "sum":
        return sum(numbers, Fraction(0))
    return max(numbers, default=Fraction(0))


def usage(
    price: PriceSpec, events: Sequence[SentEvent], start: dt.datetime, end: dt.datetime
) -> tuple[Fraction, dict[tuple[str, ...], Fraction] | None]:
    """The price's quantity over [start, end) (and its matrix cells), never below zero."""
    chosen = [e for e in events if e.name == price.event and start <= e.at < end]
    if price.model != "matrix":
        return max(_aggregate(price, chosen), Fraction(0)), None
    groups: dict[tuple[str, ...], list[SentEvent]] = {}
    for e in chosen:
        groups.setdefault(tuple(str(e.properties.get(d, "")) for d in price.dimensions), []).append(e)
    cells = {key: max(_aggregate(price, group), Fraction(0)) for key, group in groups.items()}
    return sum(cells.values(), Fraction(0)), cells


# --- models and adjustments -----------------------------------------------------------------------


def _model(price: PriceSpec, quantity: Fraction, cells: Mapping[tuple[str, ...], Fraction] | None) -> Fraction:
    if price.model == "unit":
        return quantity * Fraction(price.unit_amount)
    if price.model == "package":
        return math.ceil(quantity / price.package_size) * Fraction(price.package_amount)
    if price.model == "tiered":
        total = Fraction(0)
        for first, last, rate in price.tiers:
            top = quantity if last is None else min(quantity, Fraction(last))
            total += max(top - Fraction(first), Fraction(0)) * Fraction(rate)
        return total
    if price.model == "bulk":
        for cap, rate in price.bulk:
            if cap is None or quantity <= cap:
                return quantity * Fraction(rate)
        raise AssertionError("the last bulk tier has no cap")
    rates = {values: Fraction(rate) for values, rate in price.cells}
    return sum(
        (units * rates.get(values, Fraction(price.default)) for values, units in (cells or {}).items()), Fraction(0)
    )


def half_up(value: Fraction, currency: str) -> Decimal:
    """The one rounding: half-up to the currency's minor unit (values here are never negative)."""
    assert value >= 0
    scale = 10 ** EXPONENTS[currency]
    units = math.floor(value * scale + Fraction(1, 2))
    return Decimal(units).scaleb(-EXPONENTS[currency])


def price_amounts(
    price: PriceSpec,
    quantity: Fraction,
    cells: Mapping[tuple[str, ...], Fraction] | None,
    fraction: Fraction,
    currency: str,
) -> tuple[Decimal, Decimal]:
    """(subtotal, amount) of one line, in Orb's order, rounded once each."""
    scale = fraction if price.kind == "fixed" else Fraction(1)
    subtotal = _model(price, quantity, cells) * scale
    running = subtotal
    usage_off = sum((Fraction(v) for k, v in price.discounts if k == "usage"), Fraction(0))
    if usage_off:
        billed = max(quantity - usage_off, Fraction(0))
        if cells is None:
            running = _model(price, billed, None) * scale
        else:  # the cells shrink in proportion, and the matrix is linear in them
            running = subtotal * billed / quantity if quantity else subtotal
    for kind, value in price.discounts:
        if kind == "amount":
            running -= min(Fraction(value), max(running, Fraction(0)))
    for kind, value in price.discounts:
        if kind == "percentage":
            running -= max(running, Fraction(0)) * Fraction(value)
    if price.minimum is not None:
        running = max(running, Fraction(price.minimum) * fraction)
    if price.maximum is not None:
        running = min(running, Fraction(price.maximum) * fraction)
    return half_up(subtotal, currency), half_up(max(running, Fraction(0)), currency)


# --- the invoice of a boundary -----------------------------------------------------------------------


def invoice_lines(
    prices: Sequence[PriceSpec],
    sub: SubscriptionSpec,
    k: int,
    events: Sequence[SentEvent],
    currency: str,
    now: dt.datetime | None = None,
    ended_at: dt.datetime | None = None,
) -> list[RefLine]:
    """The lines of the invoice of boundary k, usage counted up to `now` (and `ended_at`) when given."""
    lines = []
    previous = sub.billed(k - 1) if k >= 1 else None
    current = sub.billed(k)
    for price in prices:
        if price.cadence == "one_time":
            if k == 0 and current is not None:
                subtotal, amount = price_amounts(price, Fraction(price.quantity), None, Fraction(1), currency)
                lines.append(_line(price, current, Fraction(price.quantity), subtotal, amount))
            continue
        if price.kind == "usage":
            if previous is not None:
                start = _midnight(previous[0], sub.zone)
                end = min(x for x in (_midnight(previous[1], sub.zone), now, ended_at) if x is not None)
                quantity, cells = usage(price, events, start, end)
                fraction = sub.fraction(k - 1, previous)
                subtotal, amount = price_amounts(price, quantity, cells, fraction, currency)
                lines.append(_line(price, previous, quantity, subtotal, amount))
            continue
        index, period = (k - 1, previous) if price.mode == "in_arrear" else (k, current)
        if period is not None and index >= 0:
            fraction = sub.fraction(index, period)
            subtotal, amount = price_amounts(price, Fraction(price.quantity), None, fraction, currency)
            lines.append(_line(price, period, Fraction(price.quantity), subtotal, amount))
    return lines


def _line(
    price: PriceSpec, period: tuple[dt.date, dt.date], quantity: Fraction, subtotal: Decimal, amount: Decimal
) -> RefLine:
    return RefLine(price.id, period[0], period[1] - dt.timedelta(days=1), quantity, subtotal, amount)


def total(lines: Sequence[RefLine], currency: str) -> Decimal:
    """The invoice total: the sum of the line amounts."""
    return sum((line.amount for line in lines), Decimal(0).scaleb(-EXPONENTS[currency]))


# --- subscriptions that change plan or quantities ----------------------------------------------------------
#
# Rules (README, "Subscription changes"): a phase bills one plan, with fixed-fee quantities, from its start day
# to the next phase's start; each price bills the runs of consecutive days on which it is billed with the same
# quantity, each run a line; a plan's one-time prices bill with the in-advance fees of the period in which a
# phase starting that plan begins (the first phase, or one whose plan differs from the phase before); lines in
# the order of (phase, position of the price in its plan) of their first day. When the in-advance fees billed
# for period k-1 differ from what the phases now bill for it, and the end does not cut that period short, the
# invoice of boundary k also carries, for each (price, quantity): a credit of what was billed minus what the
# days still billed so cost, over the days no longer billed so; and the charge of what the fee costs now minus
# those kept days (the fee's own lines when no day is kept). This reference walks the calendar day by day.


@dataclass(frozen=True)
class PhaseSpec:
    """From `start`, the subscription bills `plan` with these fixed-fee quantities (price id → quantity)."""

    start: dt.date
    plan: str
    quantities: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class _Run:
    price: PriceSpec
    quantity: Decimal
    days: tuple[dt.date, dt.date]  # [first, after)
    rank: tuple[int, int]


def _days(first: dt.date, after: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((after - first).days)]


def _runs(
    plans: Mapping[str, Sequence[PriceSpec]],
    phases: Sequence[PhaseSpec],
    period: tuple[dt.date, dt.date],
    wanted: Any,
) -> list[_Run]:
    """The runs of days of `period` on which each wanted price bills with one quantity, in line order."""
    open_runs: dict[tuple[str, Decimal], _Run] = {}
    done: list[_Run] = []
    for day in _days(*period):
        index = max(i for i, phase in enumerate(phases) if phase.start <= day)
        phase = phases[index]
        today = set()
        for position, price in enumerate(plans[phase.plan]):
            if not wanted(index, phase, price):
                continue
            quantity = phase.quantities.get(price.id, price.quantity) if price.kind == "fixed" else Decimal(1)
            key = (price.id, quantity)
            today.add(key)
            run = open_runs.get(key)
            if run is None:
                open_runs[key] = _Run(price, quantity, (day, day + dt.timedelta(days=1)), (index, position))
            else:
                open_runs[key] = _Run(price, quantity, (run.days[0], day + dt.timedelta(days=1)), run.rank)
        for key in [k for k in open_runs if k not in today]:
            done.append(open_runs.pop(key))
    done.extend(open_runs.values())
    return sorted(done, key=lambda run: run.rank)


def _starts_plan(phases: Sequence[PhaseSpec], index: int) -> bool:
    return index == 0 or phases[index - 1].plan != phases[index].plan


def _fee(run: _Run, sub: SubscriptionSpec, index: int, currency: str) -> RefLine:
    fraction = Fraction(1) if run.price.cadence == "one_time" else sub.fraction(index, run.days)
    subtotal, amount = price_amounts(
        replace(run.price, quantity=run.quantity), Fraction(run.quantity), None, fraction, currency
    )
    return _line(run.price, run.days, Fraction(run.quantity), subtotal, amount)


def _advance_runs(
    plans: Mapping[str, Sequence[PriceSpec]], phases: Sequence[PhaseSpec], period: tuple[dt.date, dt.date]
) -> list[_Run]:
    def wanted(index: int, phase: PhaseSpec, price: PriceSpec) -> bool:
        if price.cadence == "one_time":
            return _starts_plan(phases, index) and phase.start >= period[0]
        return price.kind == "fixed" and price.mode == "in_advance"

    return _runs(plans, phases, period, wanted)


def changed_invoice_lines(
    plans: Mapping[str, Sequence[PriceSpec]],
    phases: Sequence[PhaseSpec],
    sub: SubscriptionSpec,
    k: int,
    events: Sequence[SentEvent],
    currency: str,
    now: dt.datetime | None = None,
    ended_at: dt.datetime | None = None,
    billed: Sequence[RefLine] | None = None,
) -> list[RefLine]:
    """The lines of the invoice of boundary k of a subscription whose phases are these; `billed` is what the
    invoice of boundary k-1 billed (its lines), for the proration lines."""
    ranked: list[tuple[tuple[int, int], RefLine]] = []
    previous = sub.billed(k - 1) if k >= 1 else None
    current = sub.billed(k)
    if previous is not None:

        def arrears(_index: int, _phase: PhaseSpec, price: PriceSpec) -> bool:
            return price.cadence != "one_time" and (price.kind == "usage" or price.mode == "in_arrear")

        for run in _runs(plans, phases, previous, arrears):
            if run.price.kind == "usage":
                start = _midnight(run.days[0], sub.zone)
                end = min(x for x in (_midnight(run.days[1], sub.zone), now, ended_at) if x is not None)
                quantity, cells = usage(run.price, events, start, end)
                subtotal, amount = price_amounts(run.price, quantity, cells, sub.fraction(k - 1, run.days), currency)
                ranked.append((run.rank, _line(run.price, run.days, quantity, subtotal, amount)))
            else:
                ranked.append((run.rank, _fee(run, sub, k - 1, currency)))
    if current is not None:
        ranked += [(run.rank, _fee(run, sub, k, currency)) for run in _advance_runs(plans, phases, current)]
    lines = [line for _, line in sorted(ranked, key=lambda item: item[0])]
    cut_short = sub.end is not None and sub.end < sub.full(k - 1)[1] if k >= 1 else False
    if previous is not None and billed is not None and not cut_short:
        lines += _proration(plans, phases, sub, k - 1, billed, currency)
    return lines


def _price_of(plans: Mapping[str, Sequence[PriceSpec]], price_id: str) -> PriceSpec:
    return next(price for prices in plans.values() for price in prices if price.id == price_id)


def _proration(
    plans: Mapping[str, Sequence[PriceSpec]],
    phases: Sequence[PhaseSpec],
    sub: SubscriptionSpec,
    index: int,
    billed: Sequence[RefLine],
    currency: str,
) -> list[RefLine]:
    period = (sub.edge(index), sub.edge(index + 1))
    due: dict[tuple[str, Decimal], list[_Run]] = {}
    for run in _advance_runs(plans, phases, period):
        due.setdefault((run.price.id, run.quantity), []).append(run)
    paid: dict[tuple[str, Decimal], list[RefLine]] = {}
    for line in billed:
        price = _price_of(plans, line.price_id)
        advance = price.kind == "fixed" and (price.cadence == "one_time" or price.mode == "in_advance")
        if advance and line.start >= period[0]:
            paid.setdefault((line.price_id, Decimal(line.quantity.numerator) / line.quantity.denominator), []).append(
                line
            )
    lines: list[RefLine] = []
    for key in [*paid, *(key for key in due if key not in paid)]:
        runs, lines_paid = due.get(key, []), paid.get(key, [])
        due_days = {d for run in runs for d in _days(*run.days)}
        paid_days = {d for line in lines_paid for d in _days(line.start, line.end + dt.timedelta(days=1))}
        if sorted(run.days for run in runs) == sorted((p.start, p.end + dt.timedelta(days=1)) for p in lines_paid):
            continue
        kept: list[_Run] = []
        for run in runs:
            for line in lines_paid:
                first = max(run.days[0], line.start)
                after = min(run.days[1], line.end + dt.timedelta(days=1))
                if first < after:
                    kept.append(replace(run, days=(first, after)))
        kept_cost = sum((_fee(run, sub, index, currency).amount for run in kept), Decimal(0))
        priced = [_fee(run, sub, index, currency) for run in runs]
        price = _price_of(plans, key[0])
        credit = sum((line.amount for line in lines_paid), Decimal(0)) - kept_cost
        if lines_paid and credit != 0:
            unused = sorted(paid_days - due_days) or sorted(paid_days)
            lines.append(RefLine(price.id, unused[0], unused[-1], Fraction(key[1]), -credit, -credit))
        if not runs:
            continue
        if not kept:
            lines += [line for line in priced if line.amount != 0]
            continue
        charge = sum((line.amount for line in priced), Decimal(0)) - kept_cost
        if charge != 0:
            added = sorted(due_days - paid_days) or sorted(due_days)
            lines.append(RefLine(price.id, added[0], added[-1], Fraction(key[1]), charge, charge))
    return lines


# --- prepaid credits -----------------------------------------------------------------------------------------
#
# Rules (README, "Prepaid credits"): in-arrears lines (usage, fees billed in arrears), in line order, draw what
# they have left from the blocks valid on at least one day of their service period, soonest expiry first
# (never-expiring last), then the lowest cost basis (none counts as 0), then the oldest grant.


@dataclass(frozen=True)
class BlockSpec:
    """A credit block: what it has left, the days it is valid [effective, expiry), its cost basis and grant order."""

    id: str
    remaining: Decimal
    effective: dt.date
    expiry: dt.date | None
    cost_basis: Decimal | None
    granted: int


def draw_credits(
    lines: Sequence[RefLine], payable: Sequence[bool], blocks: Sequence[BlockSpec]
) -> tuple[list[tuple[Decimal, Decimal]], dict[str, Decimal]]:
    """(credits applied, amount) of each line, and what each block gave."""
    left = {b.id: b.remaining for b in blocks}
    order = sorted(blocks, key=lambda b: (b.expiry is None, b.expiry or dt.date.max, b.cost_basis or 0, b.granted))
    result = []
    given: dict[str, Decimal] = {}
    for line, pays in zip(lines, payable, strict=True):
        due, drawn = line.amount, Decimal(0)
        days = set(_days(line.start, line.end + dt.timedelta(days=1)))
        for block in order if pays else []:
            valid = {d for d in days if block.effective <= d and (block.expiry is None or d < block.expiry)}
            take = min(left[block.id], due - drawn) if valid else Decimal(0)
            if take > 0:
                left[block.id] -= take
                drawn += take
                given[block.id] = given.get(block.id, Decimal(0)) + take
        result.append((drawn, due - drawn))
    return result, given
