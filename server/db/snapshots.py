"""Reading a list query from one snapshot, a batch at a time (what every List RPC streams from).

The query runs in one read-only repeatable-read transaction on the stream
pool, through a server-side cursor, one batch at a time: rows committed while
it runs are not seen, memory stays bounded by one batch whatever the client's
speed, and closing the iterator (a cancelled call, a passed deadline) releases
the cursor, transaction and connection at once.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg

from server.db.pool import Database

R = TypeVar("R")


@dataclass(frozen=True)
class ListQuery(Generic[R]):
    """A list's SQL and arguments, and how one of its rows becomes a typed record."""

    sql: str
    args: list[Any]
    row: Callable[[asyncpg.Record], R]


async def batches(
    db: Database,
    query: ListQuery[R],
    *,
    size: int,
    limit: int,
    complete: Callable[[asyncpg.Connection, list[R]], Awaitable[list[R]]] | None = None,
) -> AsyncGenerator[list[R], None]:
    """The query's records in batches of at most `size`, at most `limit` in all (0: no limit).

    `complete`, when given, finishes each batch on the same connection, inside the same snapshot (reading
    what the batch's rows refer to).
    """
    remaining = limit if limit > 0 else None
    async with db.snapshot() as conn:
        cursor = await conn.cursor(query.sql, *query.args)
        while remaining is None or remaining > 0:
            want = size if remaining is None else min(size, remaining)
            rows = await cursor.fetch(want)
            if not rows:
                return
            records = [query.row(row) for row in rows]
            yield records if complete is None else await complete(conn, records)
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < want:
                return
