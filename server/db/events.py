"""The invoice change stream's outbox (SQL only).

`publish` runs last in a mutation's transaction: with the invoice's wire form
and history version, it appends the change's events, bumping the account's
counter row (held until commit, so sequences follow commit order without gaps),
and notifies listeners, which PostgreSQL delivers only if the transaction
commits.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from server.db.invoices import STORE_WIRE
from server.db.records import record_from
from server.domain.events import InvoiceEvent, InvoiceEventKind
from server.domain.invoices import InvoiceHeader

CHANNEL = "invoice_events"


# Publishing a change: the wire form kept on the invoice (a no-op if the invoice has moved past that version),
# the version recorded in its history, and one event per kind ($10, in order) with consecutive sequences taken
# from the account's counter row (held until commit, so sequences follow commit order without gaps), the
# listeners notified.
_PUBLISH = f"""
WITH stored AS ({STORE_WIRE}), recorded AS (
    INSERT INTO invoice_versions (account_id, invoice_id, version, changed_at, method, key_id, request_id, invoice)
    VALUES ($1, $2, $3, $6, $7, $8, $9, $4)
), n AS (
    INSERT INTO invoice_event_sequences AS s (account_id, last_sequence) VALUES ($1, cardinality($10::text[]))
    ON CONFLICT (account_id) DO UPDATE SET last_sequence = s.last_sequence + cardinality($10::text[])
    RETURNING last_sequence
), e AS (
    INSERT INTO invoice_events (account_id, sequence, type, invoice_id, customer_id, version, invoice)
    SELECT $1, n.last_sequence - cardinality($10::text[]) + k.position, k.type, $2, $11, $3, $4
    FROM n, unnest($10::text[]) WITH ORDINALITY AS k(type, position)
    RETURNING sequence
)
SELECT pg_notify($12, $1) FROM (SELECT 1 FROM e LIMIT 1) AS appended
"""


async def publish(
    conn: asyncpg.Connection,
    account_id: str,
    header: InvoiceHeader,
    wire: bytes,
    schema: str,
    kinds: Sequence[InvoiceEventKind],
    *,
    method: str,
    key_id: str,
    request_id: str,
) -> None:
    """Publish an invoice's change in one statement: keep its wire form (of `schema`) on the invoice, record
    the version in its history (made by whom), and append one event per kind, in order, to the outbox (every
    change announces at least one).

    Runs last in a mutation's transaction (the events take the account's counter row until commit).
    """
    if not kinds:
        raise ValueError("a published change has at least one event")
    await conn.execute(
        _PUBLISH,
        account_id,
        header.id,
        header.version,
        wire,
        schema,
        header.updated_at,
        method,
        key_id,
        request_id,
        [kind.value for kind in kinds],
        header.customer_id,
        CHANNEL,
    )


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
