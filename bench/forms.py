"""Stored wire forms for the invoices the bench seeds in SQL, rendered in bulk by the server's own renderer.

`python -m server render-invoices` renders one invoice per transaction (about 600 a second on the 2-core
development machine: an hour for 2M invoices). The bench knows which invoices it inserted, so it reads them a
thousand at a time (`invoices.get_many`), renders each with the service's renderer (`InvoiceWire`) and stores
the forms with `invoices.store_wires` (one statement per thousand forms), in one process per core.
The bytes are the ones the service itself would store.
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
from server.db import invoices as repo
from server.db.pool import init_connection

CHUNK = 1000

Chunk = tuple[SeedAccount, int, int]


async def _render(dsn: str, chunks: Sequence[Chunk]) -> int:
    render = InvoiceWire()
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        done = 0
        for account, first, last in chunks:
            account_id = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", account.name)
            ids = await invoice_ids(dsn, account, first, last)
            invoices = await repo.get_many(conn, account_id, ids)
            forms = [(invoice.header.id, invoice.header.version, render(invoice)) for invoice in invoices]
            async with conn.transaction():
                await repo.store_wires(conn, account_id, forms, render.schema)
            done += len(forms)
        return done
    finally:
        await conn.close()


def _render_in_process(dsn: str, chunks: Sequence[Chunk]) -> int:
    return asyncio.run(_render(dsn, chunks))


def render(dsn: str, ranges: Sequence[Chunk], processes: int | None = None) -> int:
    """Store the wire forms of the accounts' invoices g = first..last (each range); how many were stored."""
    chunks = [
        (account, start, min(last, start + CHUNK - 1))
        for account, first, last in ranges
        for start in range(first, last + 1, CHUNK)
    ]
    if not chunks:
        return 0
    workers = max(1, min(processes or os.cpu_count() or 1, len(chunks)))
    if workers == 1:
        return _render_in_process(dsn, chunks)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return sum(pool.map(_render_in_process, [dsn] * workers, [chunks[i::workers] for i in range(workers)]))
