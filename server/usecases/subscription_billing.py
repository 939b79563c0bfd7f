"""Billing a subscription: the invoice of a period boundary, its refresh, its preview, and late usage.

Every path prices through `server.domain.billing.boundary_lines` with usage
measured by `server.usecases.metering.measure`; they differ only in how far
the usage reaches (now, for the upcoming invoice; the period's end otherwise),
so preview and bill agree for the same events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

import asyncpg

from server.db import credits as credits_repo
from server.db import customers as customers_repo
from server.db import invoices as invoices_repo
from server.db import subscriptions as repo
from server.domain.billing import (
    PeriodCheck,
    Usage,
    billed_in_advance,
    boundary_lines,
    check_periods,
    has_usage,
    in_arrears,
    usage_segments,
)
from server.domain.credits import Draw, draw_credits
from server.domain.customers import Customer
from server.domain.errors import FailedPrecondition
from server.domain.invoices import InvoiceHeader, InvoiceSource, Line, Totals, totals
from server.domain.periods import Period, instant
from server.domain.pricing import Price, PricedLine, PriceType
from server.domain.subscriptions import Subscription, SubscriptionRecord, invoice_lines, subscription_from
from server.domain.usage import Event
from server.usecases.metering import measure


async def price_boundary(
    conn: asyncpg.Connection, sub: Subscription, k: int, usage_until: dt.datetime | None = None
) -> list[PricedLine]:
    """The priced lines of boundary k, with usage measured up to usage_until (default: each segment's end), and
    the proration lines of what the invoice of boundary k-1 billed in advance."""
    measured: dict[tuple[str, dt.date], Usage] = {}
    for segment in usage_segments(sub.timeline, sub.schedule, k, sub.end_date):
        start = instant(segment.days.start, sub.timezone)
        end = sub.term.usage_end(segment.days)
        if usage_until is not None:
            end = min(end, usage_until)
        used = await measure(conn, sub.account_id, sub.customer_id, segment.price, start, max(end, start))
        measured[(segment.price.id, segment.days.start)] = used

    def lookup(price: Price, billed: Period) -> Usage:
        return measured[(price.id, billed.start)]

    billed = None
    if k >= 1:
        lines = await invoices_repo.boundary_invoice_lines(conn, sub.account_id, sub.id, k - 1)
        if lines is not None:
            billed = billed_in_advance(lines, sub.schedule.period(k - 1), sub.currency)
    return boundary_lines(sub.timeline, sub.schedule, k, sub.end_date, lookup, billed)


@dataclass(frozen=True)
class Billed:
    """The invoice of a boundary: its priced lines, the lines as stored (prepaid credits drawn), and the draws
    (by line position)."""

    priced: list[PricedLine]
    lines: list[Line]
    draws: list[Draw]


async def bill_boundary(
    conn: asyncpg.Connection,
    sub: Subscription,
    k: int,
    usage_until: dt.datetime | None = None,
    *,
    usage_only: bool = False,
) -> Billed:
    """The lines of boundary k as an invoice stores them (all of them, or only its usage lines): what partial
    invoices of the boundary already billed of each line deducted, then the prepaid credits they draw from the
    customer's blocks as they are now."""
    priced = await price_boundary(conn, sub, k, usage_until)
    if usage_only:
        priced = [p for p in priced if p.price.price_type is PriceType.USAGE]
    partial = await invoices_repo.partially_invoiced(conn, sub.account_id, sub.id, k)
    lines = [
        replace(line, partially_invoiced_amount=partial.get((p.price.id, p.start_date), line.amount * 0))
        for p, line in zip(priced, invoice_lines(priced, sub), strict=True)
    ]
    blocks = await credits_repo.available(conn, sub.account_id, sub.customer_id)
    credited, draws = draw_credits(lines, [in_arrears(p.price) for p in priced], blocks, sub.currency)
    return Billed(priced, credited, draws)


async def usage_lines(conn: asyncpg.Connection, sub: Subscription, k: int) -> list[Line]:
    """The usage lines of boundary k priced with the usage stored now, less what partial invoices billed of
    them, before credits (what a backfill compares with an issued invoice)."""
    priced = [p for p in await price_boundary(conn, sub, k) if p.price.price_type is PriceType.USAGE]
    partial = await invoices_repo.partially_invoiced(conn, sub.account_id, sub.id, k)
    return [
        replace(line, amount=line.amount - partial.get((p.price.id, p.start_date), line.amount * 0))
        for p, line in zip(priced, invoice_lines(priced, sub), strict=True)
    ]


async def generate(conn: asyncpg.Connection, sub: Subscription, k: int, grace: dt.timedelta) -> str | None:
    """Create the draft invoice of boundary k (None when it would bill nothing).

    Raises asyncpg.UniqueViolationError if that boundary was already invoiced.
    """
    billed = await bill_boundary(conn, sub, k)
    if not billed.priced:
        return None
    lines = billed.lines
    customer = await customers_repo.get(conn, sub.account_id, customer_id=sub.customer_id)
    boundary = sub.boundary_at(k)
    return await insert_invoice(
        conn,
        sub,
        customer,
        InvoiceSource.SUBSCRIPTION,
        sub.boundary_date(k),
        lines,
        will_auto_issue=sub.auto_issue,
        billing_boundary=k,
        # Usage invoices wait out a grace period so that late events still count.
        eligible_to_issue_at=boundary + grace if has_usage(billed.priced) else boundary,
    )


async def insert_invoice(
    conn: asyncpg.Connection,
    sub: Subscription,
    customer: Customer,
    source: InvoiceSource,
    invoice_date: dt.date,
    lines: list[Line],
    *,
    will_auto_issue: bool,
    eligible_to_issue_at: dt.datetime,
    billing_boundary: int | None = None,
    memo: str = "",
) -> str:
    """Insert a draft invoice of the subscription: in its currency, on its net terms, collected as the customer
    is, without discounts or metadata; return its id."""
    return await invoices_repo.insert(
        conn,
        sub.account_id,
        customer=customer,
        source=source,
        currency=sub.currency,
        invoice_date=invoice_date,
        due_date=None,
        net_terms=sub.net_terms,
        lines=lines,
        totals=totals(lines, sub.currency),
        memo=memo,
        metadata={},
        discounts=(),
        auto_collection=customer.auto_collection,
        will_auto_issue=will_auto_issue,
        subscription_id=sub.id,
        billing_boundary=billing_boundary,
        eligible_to_issue_at=eligible_to_issue_at,
    )


@dataclass(frozen=True)
class Refreshed:
    """A draft re-priced: its new totals, and the credits its lines draw (line id, block id, amount)."""

    totals: Totals
    draws: list[tuple[str, str, Decimal]]


async def refresh(conn: asyncpg.Connection, account_id: str, invoice: InvoiceHeader) -> Refreshed | None:
    """Re-price a subscription draft's generated lines with the usage and credits stored now.

    Called when the draft is issued (the credits it draws are then taken from
    the ledger) and when late events or new credits reach it, so events that
    arrived within the grace period are billed. None for invoices not from a
    subscription's period.
    """
    if (
        invoice.source is not InvoiceSource.SUBSCRIPTION
        or invoice.subscription_id is None
        or invoice.billing_boundary is None
    ):
        return None
    sub = subscription_from(await repo.get(conn, account_id, invoice.subscription_id), account_id)
    billed = await bill_boundary(conn, sub, invoice.billing_boundary)
    ids = await invoices_repo.replace_generated_lines(conn, account_id, invoice.id, billed.lines, sub.currency)
    draws = [(ids[d.line], d.block_id, d.amount) for d in billed.draws]
    return Refreshed(totals(await invoices_repo.lines(conn, account_id, invoice.id), sub.currency), draws)


def _shown(line: Line) -> tuple[object, ...]:
    price_id = None if line.price_data is None else line.price_data.get("id")
    return (
        price_id,
        line.name,
        line.quantity,
        line.start_date,
        line.end_date,
        line.subtotal,
        line.credits_applied,
        line.amount,
    )


async def reprices(conn: asyncpg.Connection, sub: Subscription, k: int, stored: Sequence[Line]) -> bool:
    """True when the draft of boundary k would bill other lines than the ones it has (its subscription changed)."""
    generated = (await bill_boundary(conn, sub, k)).lines
    return [_shown(li) for li in generated] != [_shown(li) for li in stored if not li.is_one_off]


async def stale_drafts(conn: asyncpg.Connection, account_id: str, invoice_ids: Sequence[str]) -> list[str]:
    """The subscription drafts among these whose lines would now differ (what they bill or the credits they draw)."""
    stale = []
    for invoice_id in invoice_ids:
        invoice = await invoices_repo.lock(conn, account_id, invoice_id)
        if invoice.subscription_id is None or invoice.billing_boundary is None:
            continue
        sub = subscription_from(await repo.get(conn, account_id, invoice.subscription_id), account_id)
        stored = await invoices_repo.priced_lines(conn, account_id, invoice_id)
        if await reprices(conn, sub, invoice.billing_boundary, stored):
            stale.append(invoice_id)
    return stale


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
        check = check_periods(keys, await repo.billed_periods(conn, account_id, customers, names), now)
        to_hold, to_lock = check.pending - held, set(check.drafts) - locked
        if not to_hold and not to_lock:
            return check
        if to_hold:
            await repo.hold(conn, account_id, sorted(to_hold))
        if not held and not locked:
            await customers_repo.share_keys(conn, account_id, customers)
        if to_lock:
            await invoices_repo.lock_many(conn, account_id, sorted(to_lock))
        held |= to_hold
        locked |= to_lock


@dataclass(frozen=True)
class UpcomingInvoice:
    """GetUpcomingInvoice: the invoice the next boundary would generate with the usage so far. Never stored."""

    subscription: SubscriptionRecord
    customer: Customer
    invoice_date: dt.date
    lines: tuple[Line, ...]
    totals: Totals
    net_terms: int
    will_auto_issue: bool
    eligible_to_issue_at: dt.datetime


async def upcoming_invoice(
    conn: asyncpg.Connection, account_id: str, subscription_id: str, now: dt.datetime, grace: dt.timedelta
) -> UpcomingInvoice:
    """The live draft of a subscription's next boundary, priced with the usage up to `now`."""
    record = await repo.get(conn, account_id, subscription_id)
    sub = subscription_from(record, account_id)
    k = sub.term.upcoming_boundary(now, record.next_boundary)
    billed = None if k is None else await bill_boundary(conn, sub, k, usage_until=now)
    if k == 0 and billed is not None and not billed.priced:  # starting later, and its first invoice bills nothing
        k = 1
        billed = await bill_boundary(conn, sub, k, usage_until=now)
    if k is None or billed is None or (not billed.priced and record.ended_at is not None and record.ended_at <= now):
        raise FailedPrecondition(
            "SUBSCRIPTION_NOT_ACTIVE",
            "the subscription has ended and its final invoice has been generated: nothing is upcoming",
            subject="subscription_id",
        )
    customer = await customers_repo.get(conn, account_id, customer_id=sub.customer_id)
    lines = billed.lines
    eligible = sub.boundary_at(k) + (grace if has_usage(billed.priced) else dt.timedelta(0))
    return UpcomingInvoice(
        subscription=record,
        customer=customer,
        invoice_date=sub.boundary_date(k),
        lines=tuple(lines),
        totals=totals(lines, sub.currency),
        net_terms=sub.net_terms,
        will_auto_issue=sub.auto_issue,
        eligible_to_issue_at=eligible,
    )
