"""A subscription's plans over time: the changes made to it, and the phases they lay out.

A subscription starts on its plan. A change takes effect at the local midnight
of its effective date, so every line on both sides of it covers whole days in
the customer's timezone (fees are prorated by days; usage is split at that
midnight):
- a plan change: from its date the subscription bills the new plan, with the
  plan's own fixed-fee quantities; it supersedes every change that was to take
  effect on or after that date (they were made for a plan that will no longer
  be in effect);
- a quantity change: from its date one recurring fixed fee of the plan in
  effect is billed at the new quantity, until a plan change; it supersedes a
  quantity change of the same fee on the same date.

Replaying the changes that were not superseded, in order of date (then of
recording), gives the phases: consecutive stretches of days each billed by one
plan with its quantities. The new plan's periods are the subscription's: a plan
change keeps the billing cycle, so the new plan must share the cadence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from server.domain import money
from server.domain.errors import Violations
from server.domain.plans import Plan, PriceDocument, parse_price
from server.domain.pricing import Price


class ChangeKind(StrEnum):
    """What a subscription change changes."""

    PLAN = "plan"
    QUANTITY = "quantity"


class TimelineStep(Protocol):
    """What replaying a change needs of it (a stored change is one)."""

    @property
    def kind(self) -> ChangeKind: ...

    @property
    def effective_date(self) -> dt.date: ...

    @property
    def sequence(self) -> int: ...

    @property
    def plan(self) -> Plan: ...

    @property
    def price_id(self) -> str: ...

    @property
    def quantity(self) -> Decimal | None: ...

    @property
    def superseded_by(self) -> str: ...


@dataclass(frozen=True)
class Phase:
    """Days billed by one plan with its quantities, from `start` to the next phase's start.

    `prices` and `documents` (by price id) carry the quantities in effect;
    `bills_one_time` is true when the phase starts the plan (the subscription's
    first phase, or one a plan change opened): its one-time prices are billed
    with the in-advance fees of the period it starts in.
    """

    start: dt.date
    plan_id: str
    prices: tuple[Price, ...]
    documents: Mapping[str, PriceDocument] = field(default_factory=dict)
    quantities: Mapping[str, Decimal] = field(default_factory=dict)
    bills_one_time: bool = True


def parsed_prices(plan: Plan) -> tuple[list[Price], dict[str, PriceDocument]]:
    """A stored plan's prices in their domain form, and their documents by price id."""
    prices = []
    for index, item in enumerate(plan.prices):
        price = parse_price(item, f"prices[{index}]", plan.currency, Violations(), stored=True)
        assert price is not None, "stored prices were validated when the plan was created"
        prices.append(price)
    return prices, {p["id"]: p for p in plan.prices}


def phase_of(start: dt.date, plan: Plan, quantities: Mapping[str, Decimal], bills_one_time: bool) -> Phase:
    """A phase of a plan with quantity overrides applied to its prices and their documents."""
    prices, documents = parsed_prices(plan)
    for price_id, quantity in quantities.items():
        documents[price_id] = {**documents[price_id], "fixed_price_quantity": money.to_wire(quantity)}
    applied = tuple(replace(p, fixed_quantity=quantities[p.id]) if p.id in quantities else p for p in prices)
    return Phase(start, plan.id, applied, documents, dict(quantities), bills_one_time)


@dataclass(frozen=True)
class Timeline:
    """A subscription's phases, in order (the first starts on the subscription's start date), and their plans."""

    phases: tuple[Phase, ...]
    plans: Mapping[str, Plan] = field(default_factory=dict)

    @classmethod
    def of_prices(cls, start: dt.date, prices: Sequence[Price]) -> Timeline:
        """One phase billing these prices from the start (a subscription that never changed)."""
        return cls((Phase(start, "", tuple(prices)),))

    def phase_on(self, day: dt.date) -> Phase:
        """The phase in effect on a day (the first one for a day before the start)."""
        found = self.phases[0]
        for phase in self.phases:
            if phase.start <= day:
                found = phase
        return found

    def end_of(self, index: int) -> dt.date | None:
        """The day after the last day of phase `index` (None for the last phase)."""
        return self.phases[index + 1].start if index + 1 < len(self.phases) else None

    def plan_on(self, day: dt.date) -> Plan:
        """The plan in effect on a day."""
        return self.plans[self.phase_on(day).plan_id]


def build_timeline(start: dt.date, first_plan: Plan, changes: Sequence[TimelineStep]) -> Timeline:
    """Replay the changes that were not superseded (in date order, then recording order) from the start."""
    live = sorted((c for c in changes if not c.superseded_by), key=lambda c: (c.effective_date, c.sequence))
    phases = [phase_of(start, first_plan, {}, True)]
    plans = {first_plan.id: first_plan}
    for change in live:
        plans.setdefault(change.plan.id, change.plan)
        current = phases[-1]
        day = max(change.effective_date, start)
        replacing = day == current.start  # a change on the day the current phase starts takes its place
        if change.kind is ChangeKind.PLAN:
            before = (phases[-2] if len(phases) > 1 else None) if replacing else current
            starts_plan = before is None or before.plan_id != change.plan.id
            new = phase_of(day, change.plan, {}, starts_plan)
        else:
            assert change.quantity is not None
            quantities = {**current.quantities, change.price_id: change.quantity}
            new = phase_of(day, plans[current.plan_id], quantities, current.bills_one_time and replacing)
        if replacing:
            phases[-1] = new
        else:
            phases.append(new)
    return Timeline(tuple(phases), plans)
