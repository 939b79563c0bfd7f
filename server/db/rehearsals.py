"""Dry runs (`validate_only`): what the database does differently for a transaction that will be rolled back.

A dry run takes the same locks as the real mutation, so it waits for other mutations like any other; but it
is a preview, so it gives up sooner: its lock waits are bounded by a short limit (and, as every call's, by
its deadline). Losing such a wait is PostgreSQL's lock_not_available (55P03), which the API reports as
ABORTED, reason LOCK_TIMEOUT, with RetryInfo.
"""

from __future__ import annotations

import asyncpg


async def bound_lock_waits(conn: asyncpg.Connection, milliseconds: int) -> None:
    """Make every lock wait of this transaction give up after `milliseconds` (at least 1)."""
    await conn.execute("SELECT set_config('lock_timeout', $1, true)", str(max(1, milliseconds)))
