"""A read on one connection of the pool: what every Get RPC's use case does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

import asyncpg

from server.db.pool import Database

P = ParamSpec("P")
T = TypeVar("T")


async def read(
    db: Database, query: Callable[Concatenate[asyncpg.Connection, P], Awaitable[T]], *args: P.args, **kwargs: P.kwargs
) -> T:
    """`query(conn, *args, **kwargs)` on a connection of the pool (autocommit: one statement, one snapshot)."""
    async with db.connection() as conn:
        return await query(conn, *args, **kwargs)
