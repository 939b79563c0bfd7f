"""Subscriptions (SQL only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from server.db.json import as_date
from server.db.plans import plan_columns, plan_from
from server.db.records import fetch_row, record_from
from server.db.snapshots import ListQuery
from server.db.where import Where
from server.domain.billing import BilledPeriods, CancelAt, Term
from server.domain.changes import ChangeRecord
from server.domain.ids import new_id
from server.domain.invoices import InvoiceStatus
from server.domain.periods import Schedule
from server.domain.plans import cadence_months, metered_events
from server.domain.pricing import Cadence
from server.domain.subscriptions import SubscriptionRecord
from server.domain.timeline import ChangeKind

_CHANGE_JSON = """
    json_build_object(
        'id', sc.id, 'subscription_id', sc.subscription_id, 'sequence', sc.sequence, 'kind', sc.kind,
        'option', sc.change_option, 'effective_date', sc.effective_date, 'previous_plan_id', sc.previous_plan_id,
        'price_id', sc.price_id, 'quantity', sc.quantity::text, 'previous_quantity', sc.previous_quantity::text,
        'superseded_by', sc.superseded_by, 'superseded_at', sc.superseded_at, 'created_at', sc.created_at,
        'plan', json_build_object(
            'id', cp.id, 'external_plan_id', cp.external_plan_id, 'name', cp.name, 'currency', cp.currency,
            'prices', cp.prices, 'metadata', cp.metadata, 'created_at', cp.created_at))
"""
_CHANGES_FROM = """
    FROM subscription_changes sc JOIN plans cp ON cp.account_id = sc.account_id AND cp.id = sc.plan_id
"""
SUBSCRIPTION_COLUMNS = f"""
    s.id, s.customer_id, c.external_customer_id, c.timezone,
    c.auto_issuance AS customer_auto_issuance, s.start_date, s.end_date, s.ended_at, s.align_to_start, s.net_terms,
    s.auto_issuance, s.metadata, s.next_boundary, s.created_at, s.invoicing_threshold, {plan_columns("plan_")},
    (SELECT coalesce(json_agg({_CHANGE_JSON} ORDER BY sc.sequence), '[]'::json) {_CHANGES_FROM}
      WHERE sc.account_id = s.account_id AND sc.subscription_id = s.id AND sc.superseded_by IS NULL) AS changes
"""
_FROM = """
    FROM subscriptions s
    JOIN customers c ON c.account_id = s.account_id AND c.id = s.customer_id
    JOIN plans p ON p.account_id = s.account_id AND p.id = s.plan_id
"""


def change_from(data: Mapping[str, Any]) -> ChangeRecord:
    """A stored change from its JSON form (_CHANGE_JSON)."""
    return record_from(ChangeRecord, data, plan=plan_from(data["plan"]))


def subscription_from(row: Mapping[str, Any]) -> SubscriptionRecord:
    """The subscription of a row selected with SUBSCRIPTION_COLUMNS and _FROM."""
    return record_from(
        SubscriptionRecord,
        row,
        plan=plan_from(row, "plan_"),
        changes=tuple(change_from(c) for c in row["changes"]),
    )


async def insert(
    conn: asyncpg.Connection,
    account_id: str,
    *,
    customer_id: str,
    plan_id: str,
    start_date: dt.date,
    align_to_start: bool,
    net_terms: int,
    auto_issuance: bool | None,
    metadata: dict[str, str],
    first_boundary_at: dt.datetime,
    invoicing_threshold: Decimal | None = None,
) -> str:
    """Insert a subscription; return its id."""
    subscription_id = new_id("sub")
    await conn.execute(
        """
        INSERT INTO subscriptions (account_id, id, customer_id, plan_id, start_date, align_to_start, net_terms,
            auto_issuance, metadata, next_boundary_at, invoicing_threshold)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        account_id,
        subscription_id,
        customer_id,
        plan_id,
        start_date,
        align_to_start,
        net_terms,
        auto_issuance,
        metadata,
        first_boundary_at,
        invoicing_threshold,
    )
    return subscription_id


async def get(
    conn: asyncpg.Connection, account_id: str, subscription_id: str, *, lock: Literal["update"] | None = None
) -> SubscriptionRecord:
    """One subscription with its customer and plan; NotFound otherwise. `lock` takes its row lock."""
    clause = " FOR NO KEY UPDATE OF s" if lock else ""
    sql = f"SELECT {SUBSCRIPTION_COLUMNS} {_FROM} WHERE s.account_id = $1 AND s.id = $2{clause}"
    return subscription_from(await fetch_row(conn, "subscription", subscription_id, sql, account_id, subscription_id))


async def set_end(
    conn: asyncpg.Connection,
    account_id: str,
    subscription_id: str,
    end_date: dt.date,
    ended_at: dt.datetime,
    next_boundary_at: dt.datetime | None,
) -> None:
    """Record when billing stops (the first day not billed, and the instant) and when the next boundary to
    invoice now arrives (None: nothing left to bill)."""
    await conn.execute(
        "UPDATE subscriptions SET end_date = $3, ended_at = $4, next_boundary_at = $5"
        " WHERE account_id = $1 AND id = $2",
        account_id,
        subscription_id,
        end_date,
        ended_at,
        next_boundary_at,
    )


async def set_next_boundary(
    conn: asyncpg.Connection, account_id: str, subscription_id: str, boundary: int, at: dt.datetime | None
) -> None:
    """Record the next period boundary to invoice and when it arrives (None: nothing left to bill)."""
    await conn.execute(
        "UPDATE subscriptions SET next_boundary = $3, next_boundary_at = $4 WHERE account_id = $1 AND id = $2",
        account_id,
        subscription_id,
        boundary,
        at,
    )


def list_query(
    account_id: str,
    customer_id: str | None,
    external_customer_id: str | None,
    statuses: list[str],
    now: dt.datetime,
    after: tuple[dt.datetime, str] | None,
) -> ListQuery[SubscriptionRecord]:
    """SQL and arguments listing subscriptions newest first, after a keyset position.

    The status of a subscription depends on the customer's local date at `now`,
    so it is computed here rather than stored.
    """
    where = Where("s.account_id = $1", account_id)
    if statuses:
        at = where.arg(now)
        today = f"({at}::timestamptz AT TIME ZONE c.timezone)::date"
        where.add(
            f"CASE WHEN s.ended_at IS NOT NULL AND s.ended_at <= {at}::timestamptz THEN 'ended'"
            f" WHEN s.start_date > {today} THEN 'upcoming' ELSE 'active' END"
            f" = ANY({where.arg(statuses)}::text[])"
        )
    if customer_id:
        where.add(f"s.customer_id = {where.arg(customer_id)}")
    if external_customer_id:
        where.add(f"c.external_customer_id = {where.arg(external_customer_id)}")
    return where.newest_first(f"SELECT {SUBSCRIPTION_COLUMNS} {_FROM}", "s", after, subscription_from)


async def due_for_invoicing(
    conn: asyncpg.Connection, now: dt.datetime, limit: int, account_id: str | None = None
) -> list[tuple[str, SubscriptionRecord]]:
    """Subscriptions whose next boundary has arrived, locked for this transaction.

    This is the one query that spans accounts: the period-end runner serves them
    all. SKIP LOCKED lets several processes work through the queue at once
    without waiting on each other; the unique boundary index is the final guard.
    """
    rows = await conn.fetch(
        f"""
        SELECT s.account_id, {SUBSCRIPTION_COLUMNS} {_FROM}
        WHERE s.next_boundary_at <= $1 AND ($3::text IS NULL OR s.account_id = $3)
        ORDER BY s.next_boundary_at
        LIMIT $2
        FOR NO KEY UPDATE OF s SKIP LOCKED
        """,
        now,
        limit,
        account_id,
    )
    return [(row["account_id"], subscription_from(row)) for row in rows]


async def billed_periods(
    conn: asyncpg.Connection, account_id: str, customer_ids: Sequence[str], event_names: Sequence[str]
) -> list[BilledPeriods]:
    """The customers' subscriptions any of whose plans meter any of the event names, with what the usage check
    needs: the term, the events each plan meters from its first day, and, per invoiced boundary, the invoice id
    and status (a void invoice only when the boundary has no other)."""
    rows = await conn.fetch(
        """
        SELECT s.id, s.customer_id, s.start_date, s.end_date, s.ended_at, s.align_to_start, c.timezone, p.prices,
            (SELECT coalesce(json_agg(json_build_object('day', sc.effective_date, 'prices', cp.prices)
                                      ORDER BY sc.effective_date, sc.sequence), '[]'::json)
               FROM subscription_changes sc JOIN plans cp ON cp.account_id = sc.account_id AND cp.id = sc.plan_id
              WHERE sc.account_id = s.account_id AND sc.subscription_id = s.id AND sc.superseded_by IS NULL
                AND sc.kind = 'plan') AS plan_changes,
            (SELECT coalesce(json_agg(json_build_object('k', b.billing_boundary, 'id', b.id, 'status', b.status)),
                             '[]'::json)
               FROM (SELECT DISTINCT ON (i.billing_boundary) i.billing_boundary, i.id, i.status
                       FROM invoices i
                      WHERE i.account_id = s.account_id AND i.subscription_id = s.id
                        AND i.invoice_source = 'subscription' AND i.billing_boundary IS NOT NULL
                      ORDER BY i.billing_boundary, i.status = 'void') b) AS invoices
        FROM subscriptions s
        JOIN customers c ON c.account_id = s.account_id AND c.id = s.customer_id
        JOIN plans p ON p.account_id = s.account_id AND p.id = s.plan_id
        WHERE s.account_id = $1 AND s.customer_id = ANY($2::text[])
          AND EXISTS (SELECT 1 FROM plans ap, jsonb_array_elements(ap.prices) pr
                      WHERE ap.account_id = s.account_id
                        AND (ap.id = s.plan_id OR ap.id IN (
                            SELECT sc.plan_id FROM subscription_changes sc
                            WHERE sc.account_id = s.account_id AND sc.subscription_id = s.id
                              AND sc.superseded_by IS NULL))
                        AND pr -> 'billable_metric' ->> 'event_name' = ANY($3::text[]))
        """,
        account_id,
        list(customer_ids),
        list(event_names),
    )
    return [_billed_periods(r) for r in rows]


def _billed_periods(row: Mapping[str, Any]) -> BilledPeriods:
    prices = row["prices"]
    schedule = Schedule(row["start_date"], cadence_months(Cadence(p["cadence"]) for p in prices), row["align_to_start"])
    changed = [(max(as_date(c["day"]), row["start_date"]), metered_events(c["prices"])) for c in row["plan_changes"]]
    return BilledPeriods(
        id=row["id"],
        customer_id=row["customer_id"],
        term=Term(schedule, row["timezone"], row["end_date"], row["ended_at"]),
        event_names=metered_events(prices),
        invoices={i["k"]: (i["id"], InvoiceStatus(i["status"])) for i in row["invoices"]},
        changed=tuple(changed),
    )


async def hold(conn: asyncpg.Connection, account_id: str, subscription_ids: Sequence[str]) -> None:
    """Share-lock subscriptions (in id order) so that no boundary of theirs is invoiced, and no cancellation
    changes them, until this transaction ends."""
    await conn.execute(
        "SELECT 1 FROM subscriptions WHERE account_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR SHARE",
        account_id,
        sorted(subscription_ids),
    )


async def insert_change(
    conn: asyncpg.Connection,
    account_id: str,
    subscription_id: str,
    *,
    kind: ChangeKind,
    option: CancelAt,
    effective_date: dt.date,
    plan_id: str,
    previous_plan_id: str,
    price_id: str = "",
    quantity: Decimal | None = None,
    previous_quantity: Decimal | None = None,
) -> str:
    """Record a change (the caller holds the subscription's row lock, so sequences do not race); return its id."""
    change_id = new_id("sch")
    await conn.execute(
        """
        INSERT INTO subscription_changes (account_id, id, subscription_id, sequence, kind, change_option,
            effective_date, plan_id, previous_plan_id, price_id, quantity, previous_quantity)
        SELECT $1, $2, $3, coalesce(max(sequence), 0) + 1, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, $11
        FROM subscription_changes WHERE account_id = $1 AND subscription_id = $3
        """,
        account_id,
        change_id,
        subscription_id,
        kind.value,
        option.value,
        effective_date,
        plan_id,
        previous_plan_id,
        price_id,
        quantity,
        previous_quantity,
    )
    return change_id


async def supersede(
    conn: asyncpg.Connection, account_id: str, change_ids: Sequence[str], by: str, at: dt.datetime
) -> None:
    """Mark changes as superseded by a later one (they will not take effect)."""
    await conn.execute(
        "UPDATE subscription_changes SET superseded_by = $3, superseded_at = $4"
        " WHERE account_id = $1 AND id = ANY($2::text[])",
        account_id,
        list(change_ids),
        by,
        at,
    )


async def get_change(conn: asyncpg.Connection, account_id: str, change_id: str) -> ChangeRecord:
    """One stored change."""
    sql = f"SELECT {_CHANGE_JSON} {_CHANGES_FROM} WHERE sc.account_id = $1 AND sc.id = $2"
    return change_from((await fetch_row(conn, "subscription_change", change_id, sql, account_id, change_id))[0])


def changes_query(
    account_id: str, subscription_id: str, after: tuple[dt.datetime, str] | None
) -> ListQuery[ChangeRecord]:
    """SQL and arguments listing a subscription's changes (superseded ones too), newest first."""
    return Where("sc.account_id = $1 AND sc.subscription_id = $2", account_id, subscription_id).newest_first(
        f"SELECT {_CHANGE_JSON} AS change {_CHANGES_FROM}", "sc", after, lambda row: change_from(row["change"])
    )


async def update(
    conn: asyncpg.Connection,
    account_id: str,
    subscription_id: str,
    *,
    metadata: Mapping[str, str],
    invoicing_threshold: Decimal | None,
) -> None:
    """Write a locked subscription's metadata and invoicing threshold."""
    await conn.execute(
        "UPDATE subscriptions SET metadata = $3, invoicing_threshold = $4 WHERE account_id = $1 AND id = $2",
        account_id,
        subscription_id,
        dict(metadata),
        invoicing_threshold,
    )


async def with_threshold(
    conn: asyncpg.Connection, account_id: str, customer_ids: Sequence[str], now: dt.datetime
) -> list[str]:
    """The ids of the customers' subscriptions that have an invoicing threshold and have not ended, in id order."""
    rows = await conn.fetch(
        """
        SELECT id FROM subscriptions
        WHERE account_id = $1 AND customer_id = ANY($2::text[]) AND invoicing_threshold IS NOT NULL
          AND (ended_at IS NULL OR ended_at > $3)
        ORDER BY id
        """,
        account_id,
        list(customer_ids),
        now,
    )
    return [r["id"] for r in rows]


async def of_customer(conn: asyncpg.Connection, account_id: str, customer_id: str) -> list[str]:
    """The ids of the customer's subscriptions, in id order."""
    rows = await conn.fetch(
        "SELECT id FROM subscriptions WHERE account_id = $1 AND customer_id = $2 ORDER BY id", account_id, customer_id
    )
    return [r["id"] for r in rows]
