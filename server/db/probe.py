"""The health service's view of the database: a probe on a connection of its own.

The probe never borrows a pool connection, so busy pools (every connection
taken, calls queued for one) cannot make a healthy database look down; pool
saturation shows in the pool gauges instead (`server.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg


class DatabaseProbe:
    """`SELECT 1` over a dedicated connection, reconnecting after a failure."""

    def __init__(self, dsn: str, timeout_s: float) -> None:
        self._dsn = dsn
        self._timeout_s = timeout_s
        self._conn: asyncpg.Connection | None = None

    async def check(self) -> bool:
        """True if the database answered within the timeout."""
        try:
            async with asyncio.timeout(self._timeout_s):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(
                        self._dsn,
                        # No prepared statements to cache (PgBouncer in transaction mode may sit in between).
                        statement_cache_size=0,
                        server_settings={"application_name": "invoice-service-health"},
                    )
                # The simple query protocol: one round trip, nothing prepared (safe through PgBouncer).
                answer: str = await self._conn.execute("SELECT 1")
            return answer == "SELECT 1"
        except Exception:
            self.close()
            return False

    def close(self) -> None:
        """Drop the probe's connection (at once: a dead database would not answer a polite close)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.terminate()
            self._conn = None
