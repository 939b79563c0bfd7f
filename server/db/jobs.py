"""Background jobs that one process at a time should run (SQL only)."""

from __future__ import annotations

import asyncpg


async def try_lock(conn: asyncpg.Connection, job: str) -> bool:
    """Take the job's lock until this transaction ends; False, at once, when another process holds it.

    A transaction-scoped advisory lock: it needs no table, works through PgBouncer in transaction pooling
    mode, and goes away with the transaction (or the connection) whatever happens.
    """
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"job:{job}")
    return taken
