"""Stored wire forms for the invoices the bench seeds in SQL, rendered in bulk by the server's own renderer.

`python -m server render-invoices` renders one invoice per transaction (about 600 a second on the 2-core
development machine: an hour for 2M invoices). The bench knows which invoices it inserted, so it reads them a
thousand at a time (`invoices.get_many`), renders each with the service's renderer (`InvoiceWire`) and stores
the forms with `invoices.store_wires` (one statement per thousand forms), in one process per core.
The bytes are the ones the service itself would store.

Storing a form writes a new version of the invoice's row at the end of the table, so the order of rendering
is the order of the table. It goes oldest invoice first: an account's invoices lie in the order they were
dated, as an account written day by day would hold them, and a list of its newest invoices reads a run of
pages. (The seed dates its invoices at random: rendered in the order of their numbers, the newest 5,000 of
2M lay one to a page, and a list's cost per record at 2M measured 1.4-1.5 times the cost at 10k.)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import asyncpg

from bench.seed import SeedAccount, invoice_ids
from server.api.converters import InvoiceWire
from server.db import accounts
from server.db import invoices as repo
from server.db.pool import init_connection

CHUNK = 1000

Range = tuple[SeedAccount, int, int]
Chunk = tuple[str, list[str]]
"""An account's name and the ids of some of its invoices."""


async def _render(dsn: str, chunks: Sequence[Chunk]) -> int:
    render = InvoiceWire()
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        done = 0
        for account_name, ids in chunks:
            account_id = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", account_name)
            invoices = await repo.get_many(conn, account_id, ids)
            forms = [(invoice.header.id, invoice.header.version, render(invoice)) for invoice in invoices]
            async with conn.transaction():
                await repo.store_wires(conn, account_id, forms, render.schema)
            done += len(forms)
        return done
    finally:
        await conn.close()


def _chunks(account_name: str, ids: Sequence[str]) -> list[Chunk]:
    return [(account_name, list(ids[start : start + CHUNK])) for start in range(0, len(ids), CHUNK)]


def _render_in_process(dsn: str, chunks: Sequence[Chunk]) -> int:
    return asyncio.run(_render(dsn, chunks))


def render(dsn: str, ranges: Sequence[Range], processes: int | None = None) -> int:
    """Store the wire forms of the accounts' invoices g = first..last (each range), oldest first; how many
    were stored."""
    chunks: list[Chunk] = []
    for account, first, last in ranges:
        ids = asyncio.run(invoice_ids(dsn, account, first, last, by_date=True))
        chunks.extend(_chunks(account.name, ids))
    if not chunks:
        return 0
    workers = max(1, min(processes or os.cpu_count() or 1, len(chunks)))
    if workers == 1:
        done = _render_in_process(dsn, chunks)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            done = sum(pool.map(_render_in_process, [dsn] * workers, [chunks[i::workers] for i in range(workers)]))
    asyncio.run(_mark_swept(dsn, sorted({account.name for account, _, _ in ranges})))
    return done


async def _mark_swept(dsn: str, account_names: Sequence[str]) -> None:
    """Record the accounts swept under the renderer's schema, as the service's background sweep would once it
    found the forms current (every seeded invoice has its form now): a server started on the seeded database
    then does not read every invoice again in the middle of a measurement."""
    conn = await asyncpg.connect(dsn)
    try:
        for name in account_names:
            account_id = await accounts.find_account_by_name(conn, name)
            assert account_id is not None, f"no account named {name}"
            await accounts.mark_swept(conn, account_id, InvoiceWire.schema)
    finally:
        await conn.close()


async def render_account(dsn: str, account_name: str) -> int:
    """Store the wire form of every invoice of the account that has none, oldest first, in this process and
    on the running loop (for tests that seed an account in SQL); how many were stored."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT i.id FROM invoices i JOIN accounts a ON a.id = i.account_id
            WHERE a.name = $1 AND i.wire IS NULL ORDER BY i.invoice_date, i.id
            """,
            account_name,
        )
    finally:
        await conn.close()
    done = await _render(dsn, _chunks(account_name, [row["id"] for row in rows]))
    await _mark_swept(dsn, [account_name])
    return done
