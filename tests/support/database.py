"""The tests' own connection to the session database, for reading what the API cannot show.

Tests read stored rows here (counts, hashes, fingerprints), and fixtures create the databases some
tests need. Tests write rows only where no RPC can reach the state, and each such write says why.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from server.db.pool import APPLICATION_NAME, STREAMS_APPLICATION_NAME


@asynccontextmanager
async def connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own to dsn, closed afterwards."""
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def execute(dsn: str, sql: str, *args: object) -> str:
    """Run one statement on a connection of its own; return its status ("UPDATE 1", ...)."""
    async with connection(dsn) as conn:
        status: str = await conn.execute(sql, *args)
        return status


def partitions_under_test() -> int:
    """INVOICING_TEST_PARTITIONS: the session schema's account-scoped tables hash-partitioned by account into this
    many partitions (0 or unset: plain tables); `make test-partitioned` runs the suite so."""
    return int(os.environ.get("INVOICING_TEST_PARTITIONS") or 0)


def on_same_server(dsn: str, database: str) -> str:
    """The DSN of another database on the PostgreSQL server that dsn names."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


async def idle_in_transaction(dsn: str, *, streams_only: bool = False) -> int:
    """How many of the service's connections sit idle inside an open transaction (List snapshots only, or all)."""
    names = [STREAMS_APPLICATION_NAME] if streams_only else [APPLICATION_NAME, STREAMS_APPLICATION_NAME]
    async with connection(dsn) as conn:
        count: int = await conn.fetchval(
            """
            SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = ANY($1::text[])
               AND state LIKE 'idle in transaction%'
            """,
            names,
        )
    return count
