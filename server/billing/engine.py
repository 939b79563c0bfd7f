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
from server.domain.billing import BilledPeriods, PeriodCheck, Term, Usage, boundary_lines, check_periods, has_usage
from server.domain.errors import Violations
from server.domain.invoices import InvoiceSource, InvoiceStatus, Line, totals
from server.domain.periods import Period, Schedule, instant
from server.domain.plans import cadence_months, metered_events, parse_price, plan_months
from server.domain.pricing import Cadence, Price, PricedLine, PriceType, SubLine, SubLineKind
from server.domain.usage import Event

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


def subscription_from(row: Mapping[str, Any], account_id: str) -> Subscription:
    """The engine's view of a subscription row (as selected by server.db.subscriptions)."""
    data = row["prices"]
    prices = []
    for index, item in enumerate(data):
        price = parse_price(item, f"prices[{index}]", row["plan_currency"], Violations(), stored=True)
        assert price is not None, "stored prices were validated when the plan was created"
        prices.append(price)
    auto = row["auto_issuance"]
    if auto is None:
        auto = row["customer_auto_issuance"]
    return Subscription(
        account_id=account_id,
        id=row["id"],
        customer_id=row["customer_id"],
        timezone=row["timezone"],
        currency=row["plan_currency"],
        schedule=Schedule(row["start_date"], plan_months(prices), row["align_to_start"]),
        end_date=row["end_date"],
        prices=tuple(prices),
        price_data={p["id"]: p for p in data},
        net_terms=row["net_terms"],
        auto_issue=True if auto is None else auto,
        ended_at=row["ended_at"],
    )


async def price_boundary(
    conn: asyncpg.Connection, sub: Subscription, k: int, usage_until: dt.datetime | None = None
) -> list[PricedLine]:
    """The priced lines of boundary k, with usage measured up to usage_until (default: the period's end)."""
    measured: dict[tuple[str, dt.date], Usage] = {}
    if k >= 1:
        period = sub.schedule.period(k - 1)
        start = instant(period.start, sub.timezone)
        end = sub.term.usage_end(period)
        if usage_until is not None:
            end = min(end, usage_until)
        for price in sub.prices:
            if price.price_type is PriceType.USAGE:
                used = await measure(conn, sub.account_id, sub.customer_id, price, start, max(end, start))
                measured[(price.id, period.start)] = used

    def lookup(price: Price, billed: Period) -> Usage:
        return measured[(price.id, billed.start)]

    return boundary_lines(sub.prices, sub.schedule, k, sub.end_date, lookup)


def _sub_line_data(sub: SubLine, currency: str) -> dict[str, Any]:
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
            sub_line_data=tuple(_sub_line_data(s, sub.currency) for s in p.sub_lines),
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
        discounts=[],
        auto_collection=customer["auto_collection"],
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


def _billed_periods(row: Mapping[str, Any]) -> BilledPeriods:
    prices = row["prices"]
    schedule = Schedule(row["start_date"], cadence_months(Cadence(p["cadence"]) for p in prices), row["align_to_start"])
    return BilledPeriods(
        id=row["id"],
        customer_id=row["customer_id"],
        term=Term(schedule, row["timezone"], row["end_date"], row["ended_at"]),
        event_names=metered_events(prices),
        invoices={i["k"]: (i["id"], InvoiceStatus(i["status"])) for i in row["invoices"]},
    )


async def check_usage_periods(
    conn: asyncpg.Connection, account_id: str, events: Sequence[Event], now: dt.datetime
) -> PeriodCheck:
    """Which events fall in a period already invoiced (refused), and which drafts bill the others.

    One query for the whole batch. When accepted events touch a draft, or a
    boundary that has arrived but is not invoiced yet, those are locked in the
    one lock order (subscriptions, then the batch's customers, key-shared as
    storing their events would, then invoices) and the check is made again
    under the locks, so that no draft is issued, and no invoice generated,
    without the events this transaction stores.
    """
    if not events:
        return PeriodCheck()
    keys = [(e.customer_id, e.event_name, e.occurred_at) for e in events]
    customers = sorted({e.customer_id for e in events})
    names = sorted({e.event_name for e in events})
    held: set[str] = set()
    locked: set[str] = set()
    while True:
        rows = await repo.billed_periods(conn, account_id, customers, names)
        check = check_periods(keys, [_billed_periods(r) for r in rows], now)
        to_hold, to_lock = check.pending - held, set(check.drafts) - locked
        if not to_hold and not to_lock:
            return check
        if to_hold:
            await repo.hold(conn, account_id, sorted(to_hold))
        if not held and not locked:
            await customers_repo.share_keys(conn, account_id, customers)
        if to_lock:
            await invoices_repo.lock_drafts(conn, account_id, sorted(to_lock))
        held |= to_hold
        locked |= to_lock
