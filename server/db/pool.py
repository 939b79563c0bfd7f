"""Connection pools and transactions, bounded by the caller's deadline.

Two pools: one for short unary work, one for List streams, so that slow or
numerous streams can never take the connections unary RPCs need.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.context import remaining_seconds

Connection = asyncpg.Connection


@dataclass(frozen=True)
class PoolSettings:
    """Sizes and timeouts of the pools."""

    min_size: int = 2
    max_size: int = 10
    stream_max_size: int = 4
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 5_000
    acquire_timeout_s: float = 5.0
    statement_cache_size: int = 256


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects; numbers stay exact (money is never a JSON number).
    for kind in ("jsonb", "json"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query: sessions carry no state (SET LOCAL only, no session locks).

    asyncpg still rolls back an open transaction before calling this.
    """


class Database:
    """The pools of one server process."""

    def __init__(self, pool: asyncpg.Pool, stream_pool: asyncpg.Pool, settings: PoolSettings) -> None:
        self.pool = pool
        self.stream_pool = stream_pool
        self.settings = settings

    @classmethod
    async def connect(cls, dsn: str, settings: PoolSettings | None = None) -> Database:
        """Open both pools."""
        settings = settings or PoolSettings()
        server_settings = {
            "statement_timeout": str(settings.statement_timeout_ms),
            "lock_timeout": str(settings.lock_timeout_ms),
            "application_name": "invoice-service",
        }
        common: dict[str, Any] = {
            "init": _init_connection,
            "reset": _no_reset,
            "server_settings": server_settings,
            "statement_cache_size": settings.statement_cache_size,
            "command_timeout": settings.statement_timeout_ms / 1000 + 5,
        }
        pool = await asyncpg.create_pool(dsn, min_size=settings.min_size, max_size=settings.max_size, **common)
        try:
            stream_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=settings.stream_max_size, **common)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, stream_pool, settings)

    async def close(self) -> None:
        """Close both pools, waiting for connections in use to come back."""
        await asyncio.gather(self.pool.close(), self.stream_pool.close())

    def _acquire_timeout(self) -> float:
        left = remaining_seconds()
        if left is None:
            return self.settings.acquire_timeout_s
        return max(0.001, min(left, self.settings.acquire_timeout_s))

    async def _bound_to_deadline(self, conn: asyncpg.Connection) -> None:
        """Make the statements of this transaction stop when the caller's deadline passes."""
        left = remaining_seconds()
        if left is None:
            return
        ms = str(max(1, int(left * 1000)))
        lock_ms = str(max(1, min(int(left * 1000), self.settings.lock_timeout_ms)))
        await conn.execute(
            "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)", ms, lock_ms
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A read-committed read-write transaction on the unary pool."""
        async with self.pool.acquire(timeout=self._acquire_timeout()) as conn, conn.transaction():
            await self._bound_to_deadline(conn)
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for single-statement reads (each statement is its own snapshot)."""
        async with self.pool.acquire(timeout=self._acquire_timeout()) as conn:
            yield conn

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """A read-only repeatable-read transaction on the stream pool: one snapshot for a whole stream."""
        async with (
            self.stream_pool.acquire(timeout=self._acquire_timeout()) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            await self._bound_to_deadline(conn)
            yield conn
