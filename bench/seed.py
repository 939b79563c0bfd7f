"""Bulk data for benchmarks, written with set-based SQL (the API path is measured, never used to seed).

Invoice number g of an account is a pure function of g (no random state), so a data set grows in steps
(10k, then up to 200k, then up to 2M) by inserting the next range of g, and every step looks alike:
- 5 lines each (quantity 1..5 of a unit amount), totals from 5.55 to 5,550.00;
- a spread of customers (hashed), of invoice dates (four years before the last month; drafts in the last
  four weeks) and of statuses: 5% drafts, 35% issued, 60% paid; in the "other" accounts 5% void too,
  so that the main account has no void invoice (a filter on void alone matches nothing there);
- one in ten issued invoices took customer credit (a balance transaction, a lower amount due); every paid
  invoice has its payment; issued invoices are numbered gaplessly.

Triggers and foreign key checks are off while seeding (`session_replication_role = replica`, when the role
allows it): the document parties the insert trigger would copy are joined in per customer instead.

Invoices written here have no stored wire form yet: `bench.forms` renders them (with the service's renderer)
before anything is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

CHUNK = 250_000

# Per-invoice values, as functions of g. $1 account id, $2 account tag (2 characters), $3 first g, $4 last g,
# $5 customer count, $6 mix ('main', 'other' or 'drafts'), $7 invoice number prefix.
_PLAN = """
SELECT $1::text AS account_id, g, s, c, status, invoice_date, total,
    'inv_' || lpad(to_hex(g), 8, '0') || $2::text || substr(md5($2::text || g), 1, 14) AS invoice_id,
    'cus_' || $2::text || lpad(c::text, 6, '0') || substr(md5('c' || $2::text || c), 1, 16) AS customer_id,
    CASE WHEN status <> 'draft' AND g % 10 = 3 THEN round(total * 0.1, 2) ELSE 0 END AS applied,
    CASE WHEN status <> 'draft' THEN $7::text || '-' || CASE WHEN g - g / 20 < 100000
        THEN lpad((g - g / 20)::text, 5, '0') ELSE (g - g / 20)::text END END AS invoice_number,
    (invoice_date + time '09:00') AT TIME ZONE 'UTC' AS created_at,
    invoice_date + (g % 25)::int AS paid_on
FROM (
    SELECT g, s, c, status, (s + 1) * 5.55 AS total,
        CASE WHEN status = 'draft' THEN current_date - (g % 28)::int
             ELSE current_date - 30 - (abs(hashint4((g * 3 + 2)::int)::bigint) % 1460)::int END AS invoice_date
    FROM (
        SELECT g, abs(hashint4((g * 5 + 3)::int)::bigint) % 1000 AS s,
            abs(hashint4((g * 7 + 1)::int)::bigint) % $5::int + 1 AS c,
            CASE WHEN $6::text = 'drafts' OR g % 20 = 0 THEN 'draft'
                 WHEN $6::text = 'other' AND g % 20 = 1 THEN 'void'
                 WHEN g % 20 < 8 THEN 'issued' ELSE 'paid' END AS status
        FROM generate_series($3::bigint, $4::bigint) g
    ) picked
) dated
"""

_CUSTOMERS = """
INSERT INTO customers (account_id, id, external_customer_id, name, email, currency, timezone, auto_collection,
    net_terms, metadata, balance, created_at, updated_at)
SELECT $1, 'cus_' || $2::text || lpad(c::text, 6, '0') || substr(md5('c' || $2::text || c), 1, 16),
    $2::text || '-customer-' || c, 'Customer ' || c || ' Ltd', 'billing' || c || '@customer' || c || '.example',
    'USD', (ARRAY['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo'])[c % 4 + 1], false, 30,
    jsonb_build_object('segment', (ARRAY['smb', 'mid-market', 'enterprise'])[c % 3 + 1]), 0,
    now() - interval '5 years', now() - interval '5 years'
FROM generate_series(1, $3::int) c
ON CONFLICT DO NOTHING
"""

_INVOICES = f"""
WITH plan AS ({_PLAN}),
parties AS MATERIALIZED (
    SELECT id, invoice_document_parties(account_id, id) AS parties FROM customers WHERE account_id = $1
)
INSERT INTO invoices (account_id, id, customer_id, invoice_source, status, version, invoice_number, currency,
    invoice_date, due_date, net_terms, subtotal, total, amount_due, memo, metadata, auto_collection,
    issued_at, paid_at, voided_at, created_at, updated_at, document_parties)
SELECT $1, p.invoice_id, p.customer_id, 'one_off', p.status,
    CASE p.status WHEN 'draft' THEN 1 WHEN 'issued' THEN 2 ELSE 3 END, p.invoice_number, 'USD',
    p.invoice_date, CASE WHEN p.status <> 'draft' THEN p.invoice_date + 30 END, 30, p.total, p.total,
    p.total - p.applied, CASE WHEN p.g % 4 = 0 THEN 'Thank you for your business.' ELSE '' END,
    jsonb_build_object('order', 'PO-' || p.g, 'region', (ARRAY['eu', 'us', 'apac'])[p.g % 3 + 1]), false,
    CASE WHEN p.status <> 'draft' THEN p.created_at END,
    CASE WHEN p.status = 'paid' THEN (p.paid_on + time '14:00') AT TIME ZONE 'UTC' END,
    CASE WHEN p.status = 'void' THEN p.created_at + interval '5 days' END,
    p.created_at, p.created_at, parties.parties
FROM plan p JOIN parties ON parties.id = p.customer_id
"""

_LINES = f"""
WITH plan AS ({_PLAN})
INSERT INTO invoice_line_items (account_id, invoice_id, id, position, name, quantity, unit_amount, start_date,
    end_date, subtotal, adjusted_subtotal, amount, price, is_one_off)
SELECT $1, p.invoice_id,
    'ili_' || lpad(to_hex(p.g), 8, '0') || $2::text || n || substr(md5('l' || $2::text || p.g || '_' || n), 1, 13),
    n, names.name, n + 1, (p.s + 1) * 0.37, p.invoice_date - 30, p.invoice_date - 1,
    (n + 1) * (p.s + 1) * 0.37, (n + 1) * (p.s + 1) * 0.37, (n + 1) * (p.s + 1) * 0.37,
    jsonb_build_object('id', 'price_' || lpad(to_hex(p.g), 8, '0') || $2::text || n || 'bench0000000',
        'name', names.name, 'model_type', 'unit', 'price_type', 'fixed_price', 'cadence', 'one_time',
        'billing_mode', 'in_advance', 'currency', 'USD', 'fixed_price_quantity', (n + 1)::text,
        'unit_config', jsonb_build_object('unit_amount', ((p.s + 1) * 0.37)::text)),
    true
FROM plan p
CROSS JOIN generate_series(0, 4) n
JOIN (VALUES (0, 'Platform fee'), (1, 'API requests'), (2, 'Storage (GB-months)'), (3, 'Seats'),
             (4, 'Premium support')) AS names(position, name) ON names.position = n
"""

_BALANCE_TRANSACTIONS = f"""
WITH plan AS ({_PLAN})
INSERT INTO customer_balance_transactions (account_id, id, customer_id, action, type, amount, starting_balance,
    ending_balance, invoice_id, description, created_at)
SELECT $1, 'cbt_' || lpad(to_hex(p.g), 8, '0') || $2::text || substr(md5('t' || $2::text || p.g), 1, 14),
    p.customer_id, 'applied_to_invoice', 'decrement', p.applied, p.applied, 0, p.invoice_id,
    'Credit applied to invoice ' || p.invoice_number, p.created_at
FROM plan p WHERE p.applied > 0
"""

_PAYMENTS = f"""
WITH plan AS ({_PLAN})
INSERT INTO payments (account_id, id, invoice_id, amount, payment_received_date, notes, created_at)
SELECT $1, 'pay_' || lpad(to_hex(p.g), 8, '0') || $2::text || substr(md5('p' || $2::text || p.g), 1, 14),
    p.invoice_id, p.total - p.applied, p.paid_on, 'Bank transfer', (p.paid_on + time '14:00') AT TIME ZONE 'UTC'
FROM plan p WHERE p.status = 'paid'
"""

SEEDED_TABLES = ("customers", "invoices", "invoice_line_items", "customer_balance_transactions", "payments")


@dataclass(frozen=True)
class SeedAccount:
    """An account the bench fills: its name, a two-character tag for ids, its customers and its mix."""

    name: str
    tag: str
    prefix: str
    customers: int
    mix: str = "main"


async def _account_id(conn: asyncpg.Connection, name: str) -> str:
    account_id: str | None = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", name)
    if account_id is None:
        raise RuntimeError(f"no account {name!r}: create its key first")
    return account_id


async def _replica_role(conn: asyncpg.Connection) -> bool:
    """Triggers and foreign key checks off for this session, when the role is allowed to."""
    try:
        await conn.execute("SET session_replication_role = replica")
    except asyncpg.InsufficientPrivilegeError:
        return False
    return True


async def insert_invoices(dsn: str, account: SeedAccount, first: int, last: int) -> None:
    """Insert invoices g = first..last (with their lines, credits and payments) into the account."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await _replica_role(conn)
        account_id = await _account_id(conn, account.name)
        await conn.execute(_CUSTOMERS, account_id, account.tag, account.customers)
        for start in range(first, last + 1, CHUNK):
            stop = min(last, start + CHUNK - 1)
            args = (account_id, account.tag, start, stop, account.customers, account.mix, account.prefix)
            async with conn.transaction():
                for statement in (_INVOICES, _LINES, _BALANCE_TRANSACTIONS, _PAYMENTS):
                    await conn.execute(statement, *args)
        await conn.execute(
            """
            INSERT INTO invoice_number_sequences AS s (account_id, last_number) VALUES ($1, $2)
            ON CONFLICT (account_id) DO UPDATE SET last_number = greatest(s.last_number, excluded.last_number)
            """,
            account_id,
            max(1, last - last // 20),
        )
    finally:
        await conn.close()


async def vacuum(dsn: str) -> None:
    """VACUUM ANALYZE the seeded tables: fresh statistics and visibility maps, no autovacuum mid-measurement."""
    conn = await asyncpg.connect(dsn)
    try:
        for table in SEEDED_TABLES:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


async def invoice_ids(dsn: str, account: SeedAccount, first: int, last: int, *, by_date: bool = False) -> list[str]:
    """The ids of the account's invoices g = first..last, in order of g, or oldest first with `by_date`
    (by invoice date, then id: the reverse of a list's order)."""
    order = "invoice_date, invoice_id" if by_date else "g"
    conn = await asyncpg.connect(dsn)
    try:
        account_id = await _account_id(conn, account.name)
        rows = await conn.fetch(
            f"SELECT invoice_id FROM ({_PLAN}) p ORDER BY {order}",
            account_id, account.tag, first, last, account.customers, account.mix, account.prefix,
        )  # fmt: skip
        return [row["invoice_id"] for row in rows]
    finally:
        await conn.close()


async def sample_invoices(dsn: str, account_name: str, count: int, status: str | None = None) -> list[str]:
    """`count` invoice ids of the account picked at random (of one status when given)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT i.id FROM invoices i JOIN accounts a ON a.id = i.account_id
            WHERE a.name = $1 AND ($2::text IS NULL OR i.status = $2) ORDER BY random() LIMIT $3
            """,
            account_name,
            status,
            count,
        )
        return [row["id"] for row in rows]
    finally:
        await conn.close()


async def seed_invoices(dsn: str, account_name: str, count: int) -> str:
    """Give an existing account `count` invoices of 5 lines (the bench's mix) and 100 customers; one invoice id."""
    conn = await asyncpg.connect(dsn)
    try:
        prefix: str = await conn.fetchval("SELECT invoice_prefix FROM accounts WHERE name = $1", account_name)
    finally:
        await conn.close()
    account = SeedAccount(account_name, "tt", prefix, customers=100)
    await insert_invoices(dsn, account, 1, count)
    return (await invoice_ids(dsn, account, 1, 1))[0]
