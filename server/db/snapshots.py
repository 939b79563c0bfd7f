"""Reading a list query from one snapshot, a batch at a time (what every List RPC streams from).

The query runs in one read-only repeatable-read transaction on the stream
pool, through a server-side cursor, one batch at a time: rows committed while
it runs are not seen, memory stays bounded by one batch whatever the client's
speed, and closing the iterator (a cancelled call, a passed deadline) releases
the cursor, transaction and connection at once.

A list may also be several ordered queries merged (`MergedQuery`): one cursor
each, in the same snapshot, merged by their common order as rows are taken.
Each branch is then a plain ordered index scan, which PostgreSQL will not
always choose for the branches of one UNION ALL.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
import asyncpg.cursor

from server.db.pool import Database
from server.domain.pages import Page

R = TypeVar("R")


@dataclass(frozen=True)
class ListQuery(Generic[R]):
    """A list's SQL and arguments, and how one of its rows becomes a typed record."""

    sql: str
    args: list[Any]
    row: Callable[[asyncpg.Record], R]


@dataclass(frozen=True)
class MergedQuery(Generic[R]):
    """Queries whose rows each come in the same descending `order`: the list is their merge in that order."""

    branches: tuple[ListQuery[R], ...]
    order: Callable[[R], Any]
    # Whether the branches may run on plans made once for every value of their parameters (where sessions keep
    # their statements: `Database.snapshot`): statements whose plan no value can change and that cost more to
    # plan than to run.
    generic_plans: bool = False


class _Branch(Generic[R]):
    """One cursor of a merged list, with the rows it read ahead."""

    def __init__(self, cursor: asyncpg.cursor.Cursor, row: Callable[[asyncpg.Record], R]) -> None:
        self._cursor = cursor
        self._row = row
        self.ahead: deque[R] = deque()
        self._exhausted = False

    async def fill(self, size: int) -> None:
        """Read the next rows when none are left ahead (and the cursor has more)."""
        if not self.ahead and not self._exhausted:
            rows = await self._cursor.fetch(size)
            self._exhausted = len(rows) < size
            self.ahead.extend(self._row(row) for row in rows)


async def _merged(conn: asyncpg.Connection, query: MergedQuery[R], size: int) -> AsyncGenerator[list[R], None]:
    """The records of every branch, merged in the (descending) order, in batches of at most size."""
    branches = [_Branch(await conn.cursor(b.sql, *b.args), b.row) for b in query.branches]
    while True:
        batch: list[R] = []
        while len(batch) < size:
            for branch in branches:
                await branch.fill(size)
            live = [branch for branch in branches if branch.ahead]
            if not live:
                break
            batch.append(max(live, key=lambda branch: query.order(branch.ahead[0])).ahead.popleft())
        if not batch:
            return
        yield batch
        if len(batch) < size:
            return


async def _single(conn: asyncpg.Connection, query: ListQuery[R], size: int) -> AsyncGenerator[list[R], None]:
    cursor = await conn.cursor(query.sql, *query.args)
    while True:
        rows = await cursor.fetch(size)
        if rows:
            yield [query.row(row) for row in rows]
        if len(rows) < size:
            return


async def batches(
    db: Database,
    query: ListQuery[R] | MergedQuery[R],
    page: Page[Any],
    *,
    complete: Callable[[asyncpg.Connection, list[R]], Awaitable[list[R]]] | None = None,
) -> AsyncGenerator[list[R], None]:
    """The query's records (built to start after `page.after`) in the page's batches, at most its limit in all.

    `complete`, when given, finishes each batch on the same connection, inside the same snapshot (reading
    what the batch's rows refer to).
    """
    remaining = page.limit if page.limit > 0 else None
    async with db.snapshot(generic_plans=isinstance(query, MergedQuery) and query.generic_plans) as conn:
        want = page.batch if remaining is None else min(page.batch, remaining)
        reader = _merged(conn, query, want) if isinstance(query, MergedQuery) else _single(conn, query, want)
        async with contextlib.aclosing(reader):
            async for records in reader:
                taken = records if remaining is None else records[:remaining]
                yield taken if complete is None else await complete(conn, taken)
                if remaining is not None:
                    remaining -= len(taken)
                    if remaining <= 0:
                        return
