"""Credit notes, their credited lines and their number sequence (SQL only).

A note is read in one statement with its lines (named and dated after the invoice lines they credit), the
ledger rows linked to it, its invoice's number and its customer's external id; `credit_note_from` turns
such a row into the typed CreditNote, the one place that knows its columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from server.db.customers import transaction_from
from server.db.invoices import TRANSACTION_JSON
from server.db.records import fetch_row, record_from
from server.db.snapshots import ListQuery
from server.db.where import Where
from server.domain.credit_notes import CreditNote, CreditNoteFilter, CreditNoteKind, CreditNoteLine, CreditNoteReason
from server.domain.ids import new_id

_LINE_JSON = """
    json_build_object(
        'id', l.id, 'invoice_line_item_id', l.invoice_line_item_id, 'name', li.name, 'amount', l.amount::text,
        'start_date', li.start_date, 'end_date', li.end_date)
"""

CREDIT_NOTE_SELECT = f"""
SELECT n.id, n.credit_note_number, n.invoice_id, i.invoice_number, n.customer_id, c.external_customer_id,
    n.currency, n.type, n.reason, n.memo, n.total, n.applied_to_amount_due, n.credited_to_balance, n.created_at,
    n.voided_at,
    (SELECT coalesce(json_agg({_LINE_JSON} ORDER BY l.position), '[]'::json)
       FROM credit_note_line_items l
       JOIN invoice_line_items li ON li.account_id = l.account_id AND li.id = l.invoice_line_item_id
      WHERE l.account_id = n.account_id AND l.credit_note_id = n.id) AS line_items,
    (SELECT coalesce(json_agg({TRANSACTION_JSON} ORDER BY t.created_at, t.id), '[]'::json)
       FROM customer_balance_transactions t
      WHERE t.account_id = n.account_id AND t.credit_note_id = n.id) AS balance_transactions
FROM credit_notes n
JOIN invoices i ON i.account_id = n.account_id AND i.id = n.invoice_id
JOIN customers c ON c.account_id = n.account_id AND c.id = n.customer_id
"""


def credit_note_from(row: Mapping[str, Any]) -> CreditNote:
    """The credit note of a row selected with CREDIT_NOTE_SELECT."""
    return record_from(
        CreditNote,
        row,
        number=row["credit_note_number"],
        kind=CreditNoteKind(row["type"]),
        lines=tuple(record_from(CreditNoteLine, li) for li in row["line_items"]),
        balance_transactions=tuple(transaction_from(t) for t in row["balance_transactions"]),
    )


async def next_number(conn: asyncpg.Connection, account_id: str) -> int:
    """Bump the account's credit note counter row and return the new number.

    The row lock is held until commit, so numbers are gapless: a rolled-back note (a dry run included)
    gives its number back. Taken after the invoice's lock (the lock order of server.usecases).
    """
    number: int = await conn.fetchval(
        """
        INSERT INTO credit_note_number_sequences AS s (account_id, last_number) VALUES ($1, 1)
        ON CONFLICT (account_id) DO UPDATE SET last_number = s.last_number + 1
        RETURNING last_number
        """,
        account_id,
    )
    return number


@dataclass(frozen=True)
class NoteToStore:
    """A new credit note's columns and its credited lines ((invoice line id, amount) in order)."""

    number: str
    invoice_id: str
    customer_id: str
    kind: CreditNoteKind
    reason: CreditNoteReason
    memo: str
    currency: str
    total: Decimal
    applied_to_amount_due: Decimal
    credited_to_balance: Decimal
    created_at: dt.datetime
    lines: Sequence[tuple[str, Decimal]]


async def insert(conn: asyncpg.Connection, account_id: str, note: NoteToStore) -> str:
    """Insert a credit note and its lines; return its id."""
    note_id = new_id("cn")
    await conn.execute(
        """
        INSERT INTO credit_notes (account_id, id, credit_note_number, invoice_id, customer_id, type, reason, memo,
            currency, total, applied_to_amount_due, credited_to_balance, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        account_id,
        note_id,
        note.number,
        note.invoice_id,
        note.customer_id,
        note.kind.value,
        note.reason.value,
        note.memo,
        note.currency,
        note.total,
        note.applied_to_amount_due,
        note.credited_to_balance,
        note.created_at,
    )
    await conn.execute(
        """
        INSERT INTO credit_note_line_items (account_id, credit_note_id, id, position, invoice_line_item_id, amount)
        SELECT $1, $2, u.id, u.position - 1, u.line_id, u.amount
        FROM unnest($3::text[], $4::text[], $5::numeric[]) WITH ORDINALITY AS u(id, line_id, amount, position)
        """,
        account_id,
        note_id,
        [new_id("cnl") for _ in note.lines],
        [line_id for line_id, _ in note.lines],
        [amount for _, amount in note.lines],
    )
    return note_id


async def get(conn: asyncpg.Connection, account_id: str, note_id: str) -> CreditNote:
    """One credit note with its lines and ledger rows; NotFound otherwise."""
    sql = CREDIT_NOTE_SELECT + " WHERE n.account_id = $1 AND n.id = $2"
    return credit_note_from(await fetch_row(conn, "credit_note", note_id, sql, account_id, note_id))


async def parties_of(conn: asyncpg.Connection, account_id: str, note_id: str) -> tuple[str, str]:
    """(invoice id, customer id) of a note: they never change, so they can be read before taking locks."""
    sql = "SELECT invoice_id, customer_id FROM credit_notes WHERE account_id = $1 AND id = $2"
    row = await fetch_row(conn, "credit_note", note_id, sql, account_id, note_id)
    return row["invoice_id"], row["customer_id"]


async def lock(conn: asyncpg.Connection, account_id: str, note_id: str) -> CreditNote:
    """Lock the note's row for this transaction (after its invoice's lock) and read it whole."""
    await conn.execute(
        "SELECT 1 FROM credit_notes WHERE account_id = $1 AND id = $2 FOR NO KEY UPDATE", account_id, note_id
    )
    return await get(conn, account_id, note_id)


async def live_credits(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> list[tuple[str, Decimal]]:
    """(invoice line id, amount) of every line of the invoice's live notes (read under the invoice's lock)."""
    rows = await conn.fetch(
        """
        SELECT l.invoice_line_item_id, l.amount
        FROM credit_notes n JOIN credit_note_line_items l ON l.account_id = n.account_id AND l.credit_note_id = n.id
        WHERE n.account_id = $1 AND n.invoice_id = $2 AND n.voided_at IS NULL
        """,
        account_id,
        invoice_id,
    )
    return [(r["invoice_line_item_id"], r["amount"]) for r in rows]


async def set_voided(conn: asyncpg.Connection, account_id: str, note_id: str, at: dt.datetime) -> None:
    """Mark a locked live note void."""
    await conn.execute(
        "UPDATE credit_notes SET voided_at = $3 WHERE account_id = $1 AND id = $2 AND voided_at IS NULL",
        account_id,
        note_id,
        at,
    )


def list_query(
    account_id: str, filters: CreditNoteFilter, after: tuple[dt.datetime, str] | None
) -> ListQuery[CreditNote]:
    """SQL and arguments listing credit notes newest first (ties by id) after a keyset position."""
    where = Where("n.account_id = $1", account_id)
    if filters.customer_id is not None:
        where.add(f"n.customer_id = {where.arg(filters.customer_id)}")
    if filters.external_customer_id is not None:
        where.add(f"c.external_customer_id = {where.arg(filters.external_customer_id)}")
    if filters.invoice_id is not None:
        where.add(f"n.invoice_id = {where.arg(filters.invoice_id)}")
    where.within(filters.created, "n.created_at")
    return where.newest_first(CREDIT_NOTE_SELECT, "n", after, credit_note_from)
