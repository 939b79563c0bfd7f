"""The invoice change stream's outbox (SQL only).

`append` runs last in a mutation's transaction: it bumps the account's counter
row (held until commit, so sequences follow commit order without gaps) and
notifies listeners, which PostgreSQL delivers only if the transaction commits.
"""

from __future__ import annotations

import asyncpg

from server.db.records import record_from
from server.domain.events import InvoiceEvent, InvoiceEventKind

CHANNEL = "invoice_events"


async def append(
    conn: asyncpg.Connection,
    account_id: str,
    *,
    kind: InvoiceEventKind,
    invoice_id: str,
    customer_id: str,
    version: int,
    invoice: bytes,
) -> int:
    """Record one event; return its sequence."""
    sequence: int = await conn.fetchval(
        """
        WITH n AS (
            INSERT INTO invoice_event_sequences AS s (account_id, last_sequence) VALUES ($1, 1)
            ON CONFLICT (account_id) DO UPDATE SET last_sequence = s.last_sequence + 1
            RETURNING last_sequence
        ), e AS (
            INSERT INTO invoice_events (account_id, sequence, type, invoice_id, customer_id, version, invoice)
            SELECT $1, n.last_sequence, $2, $3, $4, $5, $6 FROM n
            RETURNING sequence
        )
        SELECT e.sequence FROM e, LATERAL (SELECT pg_notify($7, $1)) notified
        """,
        account_id,
        kind.value,
        invoice_id,
        customer_id,
        version,
        invoice,
        CHANNEL,
    )
    return sequence


async def after(conn: asyncpg.Connection, account_id: str, sequence: int, limit: int) -> list[InvoiceEvent]:
    """Events with a greater sequence, in order, at most `limit`."""
    rows = await conn.fetch(
        """
        SELECT sequence, type, invoice_id, customer_id, version, occurred_at, invoice FROM invoice_events
        WHERE account_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3
        """,
        account_id,
        sequence,
        limit,
    )
    return [record_from(InvoiceEvent, r, kind=InvoiceEventKind(r["type"])) for r in rows]


async def retained_range(conn: asyncpg.Connection, account_id: str) -> tuple[int | None, int]:
    """(oldest sequence still kept or None, last sequence ever assigned or 0)."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT min(sequence) FROM invoice_events WHERE account_id = $1) AS oldest,
               coalesce((SELECT last_sequence FROM invoice_event_sequences WHERE account_id = $1), 0) AS last
        """,
        account_id,
    )
    return row["oldest"], row["last"]


async def purge_older_than(conn: asyncpg.Connection, days: int) -> int:
    """Delete events past their retention; return how many went."""
    status: str = await conn.execute(
        "DELETE FROM invoice_events WHERE occurred_at < now() - make_interval(days => $1)", days
    )
    return int(status.split()[-1])
