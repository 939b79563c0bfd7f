"""The bench's accounts: the main one (most invoices), a few others, and one per write-heavy scenario."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench import harness, seed
from server.db.migrate import migrate
from server.keys import create_key

MAIN = seed.SeedAccount("bench", "aa", "BENCH", customers=100)
OTHERS = tuple(seed.SeedAccount(f"bench-other-{n}", f"o{n}", f"OTHER{n}", customers=20, mix="other") for n in (1, 2, 3))
WRITES = seed.SeedAccount("bench-writes", "ww", "WRITES", customers=100, mix="drafts")
INGEST = "bench-ingest"
HOT = "bench-hot"
# Invoice 13 of the main account is paid and took customer credit: 5 lines, a balance transaction, a payment.
RICH_INVOICE = 13


@dataclass(frozen=True)
class Keys:
    """An API key of each bench account."""

    main: str
    writes: str
    ingest: str
    hot: str


async def _create(dsn: str) -> Keys:
    await migrate(dsn)
    made = {}
    named = [(MAIN.name, MAIN.prefix), (WRITES.name, WRITES.prefix), (INGEST, "INGEST"), (HOT, "HOT")]
    for name, prefix in [*named, *((o.name, o.prefix) for o in OTHERS)]:
        made[name] = (await create_key(dsn, name, invoice_prefix=prefix))[1]
    return Keys(made[MAIN.name], made[WRITES.name], made[INGEST], made[HOT])


def create(dsn: str) -> Keys:
    """Migrate the database and create the accounts with a key each."""
    return asyncio.run(_create(dsn))


def rich_invoice(dsn: str) -> str:
    """The id of the main account's richest seeded invoice (seed it first)."""
    return asyncio.run(seed.invoice_ids(dsn, MAIN, RICH_INVOICE, RICH_INVOICE))[0]


def first_customer(dsn: str) -> str:
    """The main account's first customer (by id)."""
    customer: str = harness.sql_value(
        dsn,
        "SELECT c.id FROM customers c JOIN accounts a ON a.id = c.account_id WHERE a.name = $1 ORDER BY c.id",
        MAIN.name,
    )
    return customer
