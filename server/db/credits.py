"""Prepaid credit blocks and their ledger (SQL only).

Every ledger write goes through `append_entry`, which in one statement appends
the entry and moves the block's `remaining` and the customer's `credit_balance`
by it, so both always equal the sums of their entries. The caller holds the
customer's row lock (the one order: customer before invoices).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from server.db.records import record_from
from server.db.snapshots import ListQuery
from server.db.where import Where
from server.domain.credits import CreditBlock, LedgerEntry, LedgerEntryType
from server.domain.ids import new_id

_BLOCK_JSON = """
    json_build_object(
        'id', b.id, 'customer_id', b.customer_id, 'currency', b.currency, 'amount', b.amount::text,
        'remaining', b.remaining::text, 'per_unit_cost_basis', b.per_unit_cost_basis::text,
        'effective_date', b.effective_date, 'expiry_date', b.expiry_date, 'description', b.description,
        'created_at', b.created_at)
"""


def block_from(data: Mapping[str, Any]) -> CreditBlock:
    """A block from its JSON form (_BLOCK_JSON)."""
    return record_from(CreditBlock, data)


def _entry_from(row: Mapping[str, Any]) -> LedgerEntry:
    return record_from(LedgerEntry, row)


_ENTRY_SELECT = f"""
    SELECT e.id, e.customer_id, e.entry_type, e.amount, e.starting_balance, e.ending_balance, e.invoice_id,
        e.line_item_id, e.description, e.created_at, {_BLOCK_JSON} AS block
    FROM credit_ledger_entries e JOIN credit_blocks b ON b.account_id = e.account_id AND b.id = e.block_id
"""


async def insert_block(
    conn: asyncpg.Connection,
    account_id: str,
    customer_id: str,
    *,
    currency: str,
    amount: Decimal,
    per_unit_cost_basis: Decimal | None,
    effective_date: dt.date,
    expiry_date: dt.date | None,
    description: str,
) -> str:
    """Insert a block with nothing in it yet (its increment entry fills it); return its id."""
    block_id = new_id("cblk")
    await conn.execute(
        """
        INSERT INTO credit_blocks (account_id, id, customer_id, currency, amount, remaining, per_unit_cost_basis,
            effective_date, expiry_date, description)
        VALUES ($1, $2, $3, $4, $5::numeric, $5::numeric * 0, $6, $7, $8, $9)
        """,
        account_id,
        block_id,
        customer_id,
        currency,
        amount,
        per_unit_cost_basis,
        effective_date,
        expiry_date,
        description,
    )
    return block_id


async def append_entry(
    conn: asyncpg.Connection,
    account_id: str,
    customer_id: str,
    block_id: str,
    entry_type: LedgerEntryType,
    amount: Decimal,
    *,
    invoice_id: str = "",
    line_item_id: str = "",
    description: str = "",
) -> LedgerEntry:
    """Append an entry and move the block's remainder and the customer's credit balance by it."""
    delta = amount if entry_type.adds else -amount
    row = await conn.fetchrow(
        """
        WITH c AS (
            UPDATE customers SET credit_balance = credit_balance + $5, updated_at = now()
            WHERE account_id = $1 AND id = $2 RETURNING credit_balance
        ), b AS (
            UPDATE credit_blocks SET remaining = remaining + $5 WHERE account_id = $1 AND id = $3 RETURNING id
        ), e AS (
            INSERT INTO credit_ledger_entries (account_id, id, customer_id, block_id, sequence, entry_type, amount,
                starting_balance, ending_balance, invoice_id, line_item_id, description)
            SELECT $1, $6, $2, b.id,
                (SELECT coalesce(max(sequence), 0) + 1 FROM credit_ledger_entries
                  WHERE account_id = $1 AND customer_id = $2),
                $4, $7, c.credit_balance - $5, c.credit_balance, NULLIF($8, ''), NULLIF($9, ''), $10
            FROM c, b
            RETURNING *
        )
        SELECT e.id FROM e
        """,
        account_id,
        customer_id,
        block_id,
        entry_type.value,
        delta,
        new_id("cle"),
        amount,
        invoice_id,
        line_item_id,
        description,
    )
    return await entry(conn, account_id, row["id"])


async def entry(conn: asyncpg.Connection, account_id: str, entry_id: str) -> LedgerEntry:
    """One ledger entry with its block (as the block is now)."""
    row = await conn.fetchrow(_ENTRY_SELECT + " WHERE e.account_id = $1 AND e.id = $2", account_id, entry_id)
    return _entry_from(row)


async def block(conn: asyncpg.Connection, account_id: str, block_id: str) -> CreditBlock:
    """One block."""
    value = await conn.fetchval(
        f"SELECT {_BLOCK_JSON} FROM credit_blocks b WHERE b.account_id = $1 AND b.id = $2", account_id, block_id
    )
    return block_from(value)


async def has_blocks(conn: asyncpg.Connection, account_id: str, customer_id: str) -> bool:
    """True once the customer was granted credits."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM credit_blocks WHERE account_id = $1 AND customer_id = $2)",
        account_id,
        customer_id,
    )
    return found


async def available(conn: asyncpg.Connection, account_id: str, customer_id: str) -> list[CreditBlock]:
    """The customer's blocks with credit left."""
    values = await conn.fetch(
        f"SELECT {_BLOCK_JSON} AS block FROM credit_blocks b"
        " WHERE b.account_id = $1 AND b.customer_id = $2 AND b.remaining > 0",
        account_id,
        customer_id,
    )
    return [block_from(v["block"]) for v in values]


async def drawn_by(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> dict[str, Decimal]:
    """What an invoice has drawn from each block and not given back (block id → amount)."""
    rows = await conn.fetch(
        """
        SELECT block_id, sum(CASE entry_type WHEN 'decrement' THEN amount ELSE -amount END) AS drawn
        FROM credit_ledger_entries
        WHERE account_id = $1 AND invoice_id = $2 AND entry_type IN ('decrement', 'return_from_voiding')
        GROUP BY block_id ORDER BY block_id
        """,
        account_id,
        invoice_id,
    )
    return {r["block_id"]: r["drawn"] for r in rows}


# A block's remainder may expire once no invoice can still draw on it: its expiry date's local midnight has
# passed, no draft subscription invoice of the customer bills days before the expiry date, and no boundary of
# the customer's subscriptions has arrived without its invoice.
_EXPIRABLE = """
    b.remaining > 0 AND b.expiry_date IS NOT NULL
    AND (b.expiry_date::timestamp AT TIME ZONE c.timezone) <= $1
    AND NOT EXISTS (
        SELECT 1 FROM invoices i JOIN invoice_line_items li ON li.account_id = i.account_id AND li.invoice_id = i.id
        WHERE i.account_id = b.account_id AND i.customer_id = b.customer_id AND i.status = 'draft'
          AND i.subscription_id IS NOT NULL AND li.start_date < b.expiry_date)
    AND NOT EXISTS (
        SELECT 1 FROM subscriptions s
        WHERE s.account_id = b.account_id AND s.customer_id = b.customer_id AND s.next_boundary_at <= $1)
"""


async def customers_with_expiring(
    conn: asyncpg.Connection, now: dt.datetime, limit: int, account_id: str | None = None
) -> list[tuple[str, str]]:
    """(account id, customer id) of customers with blocks whose remainder may expire now (spans accounts, like
    the rest of the period-end runner)."""
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT b.account_id, b.customer_id
        FROM credit_blocks b JOIN customers c ON c.account_id = b.account_id AND c.id = b.customer_id
        WHERE {_EXPIRABLE} AND ($3::text IS NULL OR b.account_id = $3)
        ORDER BY b.account_id, b.customer_id LIMIT $2
        """,
        now,
        limit,
        account_id,
    )
    return [(r["account_id"], r["customer_id"]) for r in rows]


async def expirable(conn: asyncpg.Connection, account_id: str, customer_id: str, now: dt.datetime) -> list[str]:
    """The customer's blocks whose remainder may expire now, in id order (the caller holds the customer)."""
    rows = await conn.fetch(
        f"""
        SELECT b.id FROM credit_blocks b JOIN customers c ON c.account_id = b.account_id AND c.id = b.customer_id
        WHERE {_EXPIRABLE} AND b.account_id = $2 AND b.customer_id = $3
        ORDER BY b.id
        """,
        now,
        account_id,
        customer_id,
    )
    return [r["id"] for r in rows]


async def remaining_of(conn: asyncpg.Connection, account_id: str, block_ids: Sequence[str]) -> dict[str, Decimal]:
    """The remainder of each block."""
    rows = await conn.fetch(
        "SELECT id, remaining FROM credit_blocks WHERE account_id = $1 AND id = ANY($2::text[])",
        account_id,
        list(block_ids),
    )
    return {r["id"]: r["remaining"] for r in rows}


def blocks_query(account_id: str, customer_id: str, after: tuple[dt.datetime, str] | None) -> ListQuery[CreditBlock]:
    """SQL and arguments listing a customer's blocks, newest first."""
    return Where("b.account_id = $1 AND b.customer_id = $2", account_id, customer_id).newest_first(
        f"SELECT {_BLOCK_JSON} AS block FROM credit_blocks b", "b", after, lambda row: block_from(row["block"])
    )


def entries_query(account_id: str, customer_id: str, after: tuple[dt.datetime, str] | None) -> ListQuery[LedgerEntry]:
    """SQL and arguments listing a customer's ledger entries, newest first."""
    return Where("e.account_id = $1 AND e.customer_id = $2", account_id, customer_id).newest_first(
        _ENTRY_SELECT, "e", after, _entry_from
    )
