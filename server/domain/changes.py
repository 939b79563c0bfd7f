"""Subscription changes: when a plan or fixed-fee quantity change takes effect, and which changes are allowed.

The phases the changes lay out are `server.domain.timeline`'s; the invoices
they lead to are `server.domain.billing`'s (both sides of a change as separate
lines, proration credits for in-advance fees already billed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from server.domain.billing import CancelAt, Term, scheduled_day, today_while_open
from server.domain.errors import FailedPrecondition, Violations
from server.domain.invoices import add_months
from server.domain.plans import Plan, PlanRef, plan_months
from server.domain.pricing import Cadence, Price, PriceType
from server.domain.timeline import ChangeKind, Phase, parsed_prices

# How far ahead a change may be dated (as cancellations): its periods are laid out when it is made.
CHANGE_WINDOW_MONTHS: Final = 60


class ChangeStatus(StrEnum):
    """Where a change is at an instant: waiting for its date, in effect, or replaced before it took effect."""

    SCHEDULED = "scheduled"
    APPLIED = "applied"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class ChangeRecord:
    """A stored subscription change.

    `plan` is the plan in effect from `effective_date` (for a quantity change,
    the plan whose fee changes); `previous_plan_id` and `previous_quantity` are
    what was to be in effect on that date when the change was made.
    """

    id: str
    subscription_id: str
    sequence: int
    kind: ChangeKind
    option: CancelAt
    effective_date: dt.date
    plan: Plan
    previous_plan_id: str
    price_id: str  # "" for a plan change
    quantity: Decimal | None
    previous_quantity: Decimal | None
    superseded_by: str  # "" unless superseded
    superseded_at: dt.datetime | None
    created_at: dt.datetime

    def status(self, today: dt.date) -> ChangeStatus:
        """The change's status on the customer's `today`."""
        if self.superseded_by:
            return ChangeStatus.SUPERSEDED
        return ChangeStatus.APPLIED if self.effective_date <= today else ChangeStatus.SCHEDULED


@dataclass(frozen=True)
class PlanChange:
    """ChangeSubscriptionPlan, after its fields were read from the request."""

    plan: PlanRef
    option: CancelAt
    requested: dt.date | None


@dataclass(frozen=True)
class QuantityChange:
    """UpdateFixedFeeQuantity, after its fields were read from the request."""

    price_id: str
    quantity: Decimal
    option: CancelAt
    requested: dt.date | None


def check_change_date(requested: dt.date, today: dt.date, violations: Violations) -> None:
    """A requested change date lies within five years of today (its periods are laid out when it is made)."""
    if requested > add_months(today, CHANGE_WINDOW_MONTHS):
        violations.add("change_date", "must be within five years of today")


def change_date(term: Term, option: CancelAt, now: dt.datetime, requested: dt.date | None) -> dt.date:
    """The day a change takes effect (its local midnight), or FailedPrecondition if it cannot be made so.

    - immediately: today (the start date, for a subscription that has not
      started): today's fees and usage bill on the new terms;
    - at the end of the term: the first day of the next billing period (of the
      first period, before the start);
    - on a date: today or later, not before the start date.
    A subscription that has ended cannot change, nor can one on or after the
    day it ends.
    """
    today = today_while_open(term, now)
    if option is CancelAt.IMMEDIATE:
        day = max(today, term.schedule.start_date)
    else:
        day = scheduled_day(term, option, today, requested, "change_date")
    if term.end_date is not None and day >= term.end_date:
        raise FailedPrecondition(
            "SUBSCRIPTION_ENDS_BEFORE_CHANGE",
            f"the subscription ends on {term.end_date.isoformat()}, before the change would take effect",
            subject="end_date",
        )
    return day


def check_new_plan(plan: Plan, currency: str, months: int) -> None:
    """A plan a subscription can change to: in its currency, and billed over periods of the same length."""
    if plan.currency != currency:
        raise FailedPrecondition(
            "CURRENCY_MISMATCH",
            f"the plan's currency {plan.currency} is not the subscription's {currency}",
            subject="plan_id",
        )
    prices, _ = parsed_prices(plan)
    if plan_months(prices) != months:
        raise FailedPrecondition(
            "PLAN_CADENCE_MISMATCH",
            "the new plan must bill over periods as long as the subscription's: a plan change keeps the billing cycle",
            subject="plan_id",
        )


def check_fixed_fee(phase: Phase, price_id: str) -> Price:
    """The recurring fixed fee of the phase's plan whose quantity a change sets (FailedPrecondition otherwise)."""
    price = next((p for p in phase.prices if p.id == price_id), None)
    if price is None:
        raise FailedPrecondition(
            "PRICE_NOT_IN_PLAN",
            f"price {price_id!r} is not a price of the plan in effect then ({phase.plan_id})",
            subject="price_id",
        )
    if price.price_type is not PriceType.FIXED or price.cadence is Cadence.ONE_TIME:
        raise FailedPrecondition(
            "PRICE_NOT_FIXED_FEE",
            "only a recurring fixed fee has a quantity to change",
            subject="price_id",
        )
    return price
