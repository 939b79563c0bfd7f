"""Subscriptions: as stored, and as billing sees them (schedule, term, prices), and their invoice lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from server.domain import money
from server.domain.billing import Term
from server.domain.changes import ChangeRecord
from server.domain.customers import CustomerRef
from server.domain.errors import Violations
from server.domain.invoices import Line, add_months
from server.domain.periods import Schedule
from server.domain.plans import Plan, PlanRef, plan_months
from server.domain.pricing import PricedLine, SubLine, SubLineKind
from server.domain.timeline import Timeline, build_timeline, parsed_prices
from server.domain.validation import MetadataPatch

# How long an invoice that bills usage waits after its period for late events, unless configured otherwise.
DEFAULT_GRACE: Final = dt.timedelta(hours=12)

# How far a start or cancellation date may lie from today: backdating bills every period since (and usage
# older than five years is not accepted anyway), and a date far ahead is a typo more often than a plan.
DATE_WINDOW_MONTHS: Final = 60


def check_start_date(start: dt.date, today: dt.date, violations: Violations) -> None:
    """A subscription starts within five years of today, either way."""
    if not add_months(today, -DATE_WINDOW_MONTHS) <= start <= add_months(today, DATE_WINDOW_MONTHS):
        violations.add("start_date", "must be within five years of today")


def check_cancellation_date(requested: dt.date, today: dt.date, violations: Violations) -> None:
    """A requested cancellation date lies within five years of today (its periods are laid out when set)."""
    if requested > add_months(today, DATE_WINDOW_MONTHS):
        violations.add("cancellation_date", "must be within five years of today")


@dataclass(frozen=True)
class NewSubscription:
    """CreateSubscription, after its fields were read from the request."""

    customer: CustomerRef
    plan: PlanRef
    start_date: dt.date
    align_to_start: bool
    net_terms: int | None  # None: the customer's
    auto_issuance: bool | None  # None: the customer's
    metadata: Mapping[str, str]
    invoicing_threshold: Decimal | None = None


@dataclass(frozen=True)
class SubscriptionUpdate:
    """UpdateSubscription: the fields named; None leaves one alone (a threshold of 0 removes it)."""

    metadata: MetadataPatch | None = None
    invoicing_threshold: Decimal | None = None


@dataclass(frozen=True)
class SubscriptionRecord:
    """A subscription row with its customer's billing settings, its first plan and the changes in effect."""

    id: str
    customer_id: str
    external_customer_id: str  # "" when none
    timezone: str  # the customer's: it decides which instant a billing date means
    customer_auto_issuance: bool | None
    plan: Plan  # the plan it started on
    start_date: dt.date
    end_date: dt.date | None  # exclusive: the first day not billed
    ended_at: dt.datetime | None  # the instant billing stops (set with end_date)
    align_to_start: bool
    net_terms: int
    auto_issuance: bool | None
    metadata: Mapping[str, str]
    next_boundary: int  # the next period boundary not invoiced yet
    created_at: dt.datetime
    changes: tuple[ChangeRecord, ...] = ()  # the changes not superseded, oldest first
    invoicing_threshold: Decimal | None = None  # accrued usage that triggers a partial invoice

    @property
    def timeline(self) -> Timeline:
        """Its phases: the plans and quantities it bills over time."""
        return build_timeline(self.start_date, self.plan, self.changes)


@dataclass(frozen=True)
class Subscription:
    """What billing needs of a subscription: its schedule, term, phases and customer settings."""

    account_id: str
    id: str
    customer_id: str
    timezone: str
    currency: str
    schedule: Schedule
    end_date: dt.date | None
    timeline: Timeline
    net_terms: int
    auto_issue: bool
    ended_at: dt.datetime | None = None

    @property
    def term(self) -> Term:
        """Its periods and end, as the domain rules see them."""
        return Term(self.schedule, self.timezone, self.end_date, self.ended_at)

    def boundary_at(self, k: int) -> dt.datetime:
        """The instant boundary k arrives (the final one: when billing stops)."""
        return self.term.boundary_at(k)

    def boundary_date(self, k: int) -> dt.date:
        """The date of the invoice of boundary k."""
        return self.term.boundary_date(k)

    def last_boundary(self) -> int | None:
        """The last boundary that bills anything, if the subscription ends."""
        return self.term.last_boundary()


def subscription_from(record: SubscriptionRecord, account_id: str) -> Subscription:
    """Billing's view of a stored subscription (every plan it changes to shares the first plan's cadence)."""
    prices, _ = parsed_prices(record.plan)
    auto = record.auto_issuance
    if auto is None:
        auto = record.customer_auto_issuance
    return Subscription(
        account_id=account_id,
        id=record.id,
        customer_id=record.customer_id,
        timezone=record.timezone,
        currency=record.plan.currency,
        schedule=Schedule(record.start_date, plan_months(prices), record.align_to_start),
        end_date=record.end_date,
        timeline=record.timeline,
        net_terms=record.net_terms,
        auto_issue=True if auto is None else auto,
        ended_at=record.ended_at,
    )


def sub_line_document(sub: SubLine, currency: str) -> dict[str, Any]:
    """The stored form of a tier or matrix sub-line (the proto's JSON shape, exact amounts)."""
    data: dict[str, Any] = {
        "type": sub.kind.value,
        "name": sub.name,
        "quantity": money.to_wire(sub.quantity),
        "amount": money.to_wire(money.exact_amount(sub.amount, currency)),  # exact: the line rounds once
    }
    if sub.kind is SubLineKind.TIER:
        data["tier_config"] = {
            "first_unit": money.to_wire(sub.first_unit if sub.first_unit is not None else Decimal(0)),
            "last_unit": "" if sub.last_unit is None else money.to_wire(sub.last_unit),
            "unit_amount": money.to_wire(sub.unit_amount),
        }
    else:
        data["matrix_config"] = {"dimension_values": list(sub.values)}
    return data


def invoice_lines(priced: Sequence[PricedLine], sub: Subscription) -> list[Line]:
    """Priced lines in the form invoices store, each carrying its price (with the quantity billed)."""
    return [
        Line(
            name=p.name,
            quantity=p.quantity,
            unit_amount=p.price.unit_amount,
            start_date=p.start_date,
            end_date=p.end_date,
            subtotal=p.subtotal,
            adjustments=p.adjustments,
            adjusted_subtotal=p.adjusted_subtotal,
            amount=p.amount,
            is_one_off=False,
            price_data=p.document,
            sub_line_data=tuple(sub_line_document(s, sub.currency) for s in p.sub_lines),
        )
        for p in priced
    ]
