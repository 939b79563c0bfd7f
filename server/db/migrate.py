"""Apply the SQL files in migrations/ in order, once each, safely from many processes.

A session-level advisory lock serialises concurrent starters: the second one
waits, then finds every migration applied and does nothing.

A schema is created in one of two layouts and keeps it: plain tables, or every
account-scoped table hash-partitioned by account_id (server.db.partitioning).
The layout is read from the database itself, so later migrations follow it.
"""

from __future__ import annotations

import logging
from importlib import resources

import asyncpg

from server.db import partitioning

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every process.
_MIGRATION_LOCK_KEY = 7_245_110_318


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("server.db") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


class LayoutMismatch(Exception):
    """The database was created in another layout than the one asked for."""


async def migrate(dsn: str, partitions: int = 0) -> list[str]:
    """Bring the schema up to date; return the versions applied by this call.

    `partitions` > 0 creates a new schema with each account-scoped table hash-partitioned by account_id into
    that many partitions; 0 asks for nothing (a new schema is plain, an existing one keeps its layout).
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            layout = await _layout(conn, bool(done), partitions)
            applied: list[str] = []
            for version, sql in _migrations():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(partitioning.partitioned(sql, layout) if layout else sql)
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                log.info("applied migration %s", version)
                applied.append(version)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def _layout(conn: asyncpg.Connection, exists: bool, partitions: int) -> int:
    """The partitions of the schema's account-scoped tables: those it has, or those asked for a new one."""
    if not exists:
        return partitions
    existing = await partitioning.partitions_of(conn)
    if partitions and partitions != existing:
        have = f"{existing} partitions per table" if existing else "plain tables"
        raise LayoutMismatch(f"the database was created with {have}; it cannot be migrated to {partitions} partitions")
    return existing
