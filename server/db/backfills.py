"""Backfills, what counts of their events, and the corrections they made (SQL only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from server.db.records import fetch_row, record_from
from server.domain.backfills import Backfill, BackfillAdjustment, BackfillStatus, NewBackfill
from server.domain.errors import NotFound
from server.domain.ids import new_id

_SELECT = """
    SELECT b.id, b.customer_id, c.external_customer_id, b.timeframe_start, b.timeframe_end,
        b.replace_existing_events, b.status, b.events_ingested, b.created_at, b.closed_at, b.reverted_at,
        (SELECT coalesce(json_agg(json_build_object(
                'invoice_id', a.invoice_id, 'price_id', a.price_id, 'name', a.name, 'start_date', a.start_date,
                'end_date', a.end_date, 'amount', a.amount::text, 'adjustment_invoice_id', a.adjustment_invoice_id,
                'balance_transaction_id', a.balance_transaction_id) ORDER BY a.created_at, a.id), '[]'::json)
           FROM backfill_adjustments a WHERE a.account_id = b.account_id AND a.backfill_id = b.id) AS adjustments
    FROM backfills b JOIN customers c ON c.account_id = b.account_id AND c.id = b.customer_id
"""


def _backfill_from(row: Mapping[str, Any]) -> Backfill:
    return record_from(Backfill, row)


async def insert(conn: asyncpg.Connection, account_id: str, customer_id: str, new: NewBackfill) -> str:
    """Insert a pending backfill; return its id."""
    backfill_id = new_id("bf")
    await conn.execute(
        """
        INSERT INTO backfills (account_id, id, customer_id, timeframe_start, timeframe_end, replace_existing_events,
            status)
        VALUES ($1, $2, $3, $4, $5, $6, 'pending')
        """,
        account_id,
        backfill_id,
        customer_id,
        new.timeframe_start,
        new.timeframe_end,
        new.replace_existing_events,
    )
    return backfill_id


async def get(
    conn: asyncpg.Connection, account_id: str, backfill_id: str, *, lock: Literal["update", "share"] | None = None
) -> Backfill:
    """One backfill; NotFound otherwise. `lock` takes its row lock (share: while events are added to it)."""
    if lock is not None:
        clause = "FOR NO KEY UPDATE" if lock == "update" else "FOR SHARE"
        found = await conn.fetchval(
            f"SELECT id FROM backfills WHERE account_id = $1 AND id = $2 {clause}", account_id, backfill_id
        )
        if found is None:
            raise NotFound("backfill", backfill_id)
    sql = _SELECT + " WHERE b.account_id = $1 AND b.id = $2"
    return _backfill_from(await fetch_row(conn, "backfill", backfill_id, sql, account_id, backfill_id))


async def pending_overlapping(
    conn: asyncpg.Connection, account_id: str, customer_id: str, start: dt.datetime, end: dt.datetime
) -> str | None:
    """The id of a pending backfill of the customer whose timeframe overlaps [start, end), if any."""
    found: str | None = await conn.fetchval(
        """
        SELECT id FROM backfills
        WHERE account_id = $1 AND customer_id = $2 AND status = 'pending'
          AND timeframe_start < $4 AND $3 < timeframe_end
        ORDER BY id LIMIT 1
        """,
        account_id,
        customer_id,
        start,
        end,
    )
    return found


async def count_ingested(conn: asyncpg.Connection, account_id: str, backfill_id: str, events: int) -> None:
    """Add to the number of events the backfill stored."""
    await conn.execute(
        "UPDATE backfills SET events_ingested = events_ingested + $3 WHERE account_id = $1 AND id = $2",
        account_id,
        backfill_id,
        events,
    )


async def set_status(
    conn: asyncpg.Connection, account_id: str, backfill_id: str, status: BackfillStatus, at: dt.datetime
) -> None:
    """Mark a backfill closed (reflected) or reverted, at `at`."""
    column = "closed_at" if status is BackfillStatus.REFLECTED else "reverted_at"
    await conn.execute(
        f"UPDATE backfills SET status = $3, {column} = $4 WHERE account_id = $1 AND id = $2",
        account_id,
        backfill_id,
        status.value,
        at,
    )


async def reflect(conn: asyncpg.Connection, account_id: str, backfill: Backfill) -> None:
    """Make the backfill's events count and, when it replaces, stop the customer's other events of the
    timeframe from counting."""
    if backfill.replace_existing_events:
        await conn.execute(
            """
            UPDATE usage_events SET billable = false, replaced_by = $3
            WHERE account_id = $1 AND customer_id = $2 AND occurred_at >= $4 AND occurred_at < $5 AND billable
              AND backfill_id IS DISTINCT FROM $3
            """,
            account_id,
            backfill.customer_id,
            backfill.id,
            backfill.timeframe_start,
            backfill.timeframe_end,
        )
    await conn.execute(
        "UPDATE usage_events SET billable = true WHERE account_id = $1 AND backfill_id = $2",
        account_id,
        backfill.id,
    )


async def unreflect(conn: asyncpg.Connection, account_id: str, backfill_id: str) -> None:
    """Undo `reflect`: the backfill's events stop counting, the events it replaced count again."""
    await conn.execute(
        "UPDATE usage_events SET billable = false WHERE account_id = $1 AND backfill_id = $2", account_id, backfill_id
    )
    await conn.execute(
        "UPDATE usage_events SET billable = true, replaced_by = NULL WHERE account_id = $1 AND replaced_by = $2",
        account_id,
        backfill_id,
    )


async def corrected(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> dict[tuple[str, dt.date], Decimal]:
    """What backfills charged (+) or credited (-) for each usage line (price id, first day) of an invoice; a charge
    whose invoice was voided does not count."""
    rows = await conn.fetch(
        """
        SELECT a.price_id, a.start_date, sum(a.amount) AS amount
        FROM backfill_adjustments a
        LEFT JOIN invoices x ON x.account_id = a.account_id AND x.id = a.adjustment_invoice_id
        WHERE a.account_id = $1 AND a.invoice_id = $2 AND (x.id IS NULL OR x.status <> 'void')
        GROUP BY 1, 2
        """,
        account_id,
        invoice_id,
    )
    return {(r["price_id"], r["start_date"]): r["amount"] for r in rows}


async def insert_adjustment(
    conn: asyncpg.Connection,
    account_id: str,
    backfill_id: str,
    adjustment: BackfillAdjustment,
) -> None:
    """Record a correction a backfill made."""
    await conn.execute(
        """
        INSERT INTO backfill_adjustments (account_id, id, backfill_id, invoice_id, price_id, name, start_date,
            end_date, amount, adjustment_invoice_id, balance_transaction_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''), NULLIF($11, ''))
        """,
        account_id,
        new_id("bfa"),
        backfill_id,
        adjustment.invoice_id,
        adjustment.price_id,
        adjustment.name,
        adjustment.start_date,
        adjustment.end_date,
        adjustment.amount,
        adjustment.adjustment_invoice_id,
        adjustment.balance_transaction_id,
    )
