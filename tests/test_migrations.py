"""Migrations apply once each, in order, even when several processes start at the same moment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.db import migrate as migrate_module
from server.db.migrate import migrate
from tests.support.database import connection, partitions_under_test


@pytest.fixture(scope="module")
def all_versions(project_root: Path) -> list[str]:
    """Every migration version shipped, in order."""
    versions = sorted(p.stem for p in (project_root / "server" / "db" / "migrations").glob("*.sql"))
    assert versions, "no migrations found"
    return versions


async def _recorded(dsn: str) -> list[str]:
    async with connection(dsn) as conn:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [row["version"] for row in rows]


async def _tables(dsn: str) -> set[str]:
    async with connection(dsn) as conn:
        rows = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    return {row["table_name"] for row in rows}


async def test_empty_database_points_at_a_different_database(empty_dsn: str, migrated_dsn: str) -> None:
    """The fixture really gives a separate, empty database (so the tests below start from nothing)."""
    assert empty_dsn != migrated_dsn
    assert await _tables(empty_dsn) == set()


@pytest.mark.parametrize("starters", [2, 5])
async def test_concurrent_migrations_apply_each_version_exactly_once(
    empty_dsn: str, all_versions: list[str], starters: int
) -> None:
    """Processes starting together: all succeed, and between them every migration ran exactly once."""
    results = await asyncio.gather(*(migrate(empty_dsn) for _ in range(starters)))

    applied = [version for result in results for version in result]
    assert sorted(applied) == all_versions
    assert sum(1 for result in results if result) == 1  # one starter did it all; the others waited, then saw it done
    assert await _recorded(empty_dsn) == all_versions


async def test_applied_versions_come_back_in_order(empty_dsn: str, all_versions: list[str]) -> None:
    """A single run on an empty database reports every version, oldest first."""
    assert await migrate(empty_dsn) == all_versions


async def test_second_and_third_runs_apply_nothing(empty_dsn: str, all_versions: list[str]) -> None:
    """Re-running migrate on an up-to-date schema is a no-op that leaves the records alone."""
    await asyncio.gather(migrate(empty_dsn), migrate(empty_dsn))
    before = await _recorded(empty_dsn)

    assert await migrate(empty_dsn) == []
    assert await migrate(empty_dsn) == []
    assert await _recorded(empty_dsn) == before == all_versions


async def test_fresh_schema_matches_the_session_schema(empty_dsn: str, migrated_dsn: str) -> None:
    """Migrating a fresh database (in the session's layout) produces the same tables the server under test runs
    on."""
    await asyncio.gather(*(migrate(empty_dsn, partitions_under_test()) for _ in range(2)))

    tables = await _tables(empty_dsn)
    assert "schema_migrations" in tables
    assert len(tables) > 1
    assert tables == await _tables(migrated_dsn)


async def test_migration_lock_is_released_afterwards(empty_dsn: str) -> None:
    """After migrate returns, no session still holds the migration advisory lock."""
    await asyncio.gather(migrate(empty_dsn), migrate(empty_dsn))

    async with connection(empty_dsn) as conn:
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND d.datname = current_database()"
        )
        key = migrate_module._MIGRATION_LOCK_KEY
        acquired = await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
        if acquired:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)
    assert held == 0
    assert acquired is True
