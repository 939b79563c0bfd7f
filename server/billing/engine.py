"""Subscription invoices: the upcoming invoice, the invoice of a period boundary, and its refresh.

All three price through `server.domain.billing.boundary_lines` with usage
measured by `server.billing.usage.measure`; they differ only in how far the
usage reaches (now, for the upcoming invoice; the period's end otherwise).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from server.billing.usage import measure
from server.db import customers as customers_repo
from server.db import invoices as invoices_repo
from server.db import subscriptions as repo
from server.domain import money
from server.domain.billing import Usage, boundary_date, boundary_lines, has_usage, last_boundary
from server.domain.errors import Violations
from server.domain.invoices import InvoiceSource, Line, totals
from server.domain.periods import Period, Schedule, instant
from server.domain.plans import parse_price, plan_months
from server.domain.pricing import Price, PricedLine, PriceType, SubLine, SubLineKind
from server.domain.subscriptions import SubscriptionRecord

DEFAULT_GRACE = dt.timedelta(hours=12)


@dataclass(frozen=True)
class Subscription:
    """What the engine needs of a subscription: its schedule, prices and customer settings."""

    account_id: str
    id: str
    customer_id: str
    timezone: str
    currency: str
    schedule: Schedule
    end_date: dt.date | None
    prices: tuple[Price, ...]
    price_data: Mapping[str, Mapping[str, Any]]
    net_terms: int
    auto_issue: bool

    def boundary_at(self, k: int) -> dt.datetime:
        """The instant boundary k arrives (local midnight of its date)."""
        return instant(self.boundary_date(k), self.timezone)

    def boundary_date(self, k: int) -> dt.date:
        """The date of the invoice of boundary k."""
        return boundary_date(self.schedule, k, self.end_date)

    def last_boundary(self) -> int | None:
        """The last boundary that bills anything, if the subscription ends."""
        return last_boundary(self.schedule, self.end_date)


def subscription_from(record: SubscriptionRecord, account_id: str) -> Subscription:
    """The engine's view of a stored subscription."""
    data = record.plan.prices
    prices = []
    for index, item in enumerate(data):
        price = parse_price(item, f"prices[{index}]", record.plan.currency, Violations())
        assert price is not None, "stored prices were validated when the plan was created"
        prices.append(price)
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
        prices=tuple(prices),
        price_data={p["id"]: p for p in data},
        net_terms=record.net_terms,
        auto_issue=True if auto is None else auto,
    )


async def price_boundary(
    conn: asyncpg.Connection, sub: Subscription, k: int, usage_until: dt.datetime | None = None
) -> list[PricedLine]:
    """The priced lines of boundary k, with usage measured up to usage_until (default: the period's end)."""
    measured: dict[tuple[str, dt.date], Usage] = {}
    if k >= 1:
        period = sub.schedule.period(k - 1)
        start = instant(period.start, sub.timezone)
        end = instant(min(period.end, sub.end_date or period.end), sub.timezone)
        if usage_until is not None:
            end = min(end, usage_until)
        for price in sub.prices:
            if price.price_type is PriceType.USAGE:
                used = await measure(conn, sub.account_id, sub.customer_id, price, start, max(end, start))
                measured[(price.id, period.start)] = used

    def lookup(price: Price, billed: Period) -> Usage:
        return measured[(price.id, billed.start)]

    return boundary_lines(sub.prices, sub.schedule, k, sub.end_date, lookup)


def _sub_line_data(sub: SubLine) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": sub.kind.value,
        "name": sub.name,
        "quantity": money.to_wire(sub.quantity),
        "amount": money.to_wire(sub.amount),
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
    """Priced lines in the form invoices store, each carrying its plan price."""
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
            price_data=sub.price_data[p.price.id],
            sub_line_data=tuple(_sub_line_data(s) for s in p.sub_lines),
        )
        for p in priced
    ]


async def generate(
    conn: asyncpg.Connection, sub: Subscription, k: int, grace: dt.timedelta = DEFAULT_GRACE
) -> str | None:
    """Create the draft invoice of boundary k (None when it would bill nothing).

    Raises asyncpg.UniqueViolationError if that boundary was already invoiced.
    """
    priced = await price_boundary(conn, sub, k)
    if not priced:
        return None
    lines = invoice_lines(priced, sub)
    customer = await customers_repo.get(conn, sub.account_id, customer_id=sub.customer_id)
    boundary = sub.boundary_at(k)
    return await invoices_repo.insert(
        conn,
        sub.account_id,
        customer=customer,
        source=InvoiceSource.SUBSCRIPTION,
        currency=sub.currency,
        invoice_date=sub.boundary_date(k),
        due_date=None,
        net_terms=sub.net_terms,
        lines=lines,
        totals=totals(lines, sub.currency),
        memo="",
        metadata={},
        discounts=(),
        auto_collection=customer.auto_collection,
        will_auto_issue=sub.auto_issue,
        subscription_id=sub.id,
        billing_boundary=k,
        # Usage invoices wait out a grace period so that late events still count.
        eligible_to_issue_at=boundary + grace if has_usage(priced) else boundary,
    )


async def refresh(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> dict[str, object] | None:
    """Re-price a subscription draft's generated lines with the usage stored now; return its new totals.

    Called when the draft is issued, so events that arrived late (within the
    grace period) are billed. None for invoices that are not from a subscription.
    """
    link = await invoices_repo.subscription_invoice(conn, account_id, invoice_id)
    if link is None:
        return None
    subscription_id, k = link
    sub = subscription_from(await repo.get(conn, account_id, subscription_id), account_id)
    generated = invoice_lines(await price_boundary(conn, sub, k), sub)
    await invoices_repo.replace_generated_lines(conn, account_id, invoice_id, generated, sub.currency)
    all_lines = await invoices_repo.lines(conn, account_id, invoice_id)
    result = totals(all_lines, sub.currency)
    return {"subtotal": result.subtotal, "total": result.total, "amount_due": result.total}
