"""The service's transactions (`server.db.pool`): begun with the caller's timeouts in one message, savepoints
inside them, and a transaction that failed inside is never reported committed."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from server import context
from server.db.pool import Database, PoolSettings, savepoint
from tests.support.database import connection

TABLE = "transaction_probe"


@pytest.fixture
async def db(migrated_dsn: str) -> AsyncIterator[Database]:
    async with connection(migrated_dsn) as conn:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY)")
    database = await Database.connect(migrated_dsn, PoolSettings(min_size=1, max_size=2, lock_timeout_ms=5_000))
    try:
        yield database
    finally:
        await database.close()
        context.set_deadline(None)


async def stored(dsn: str, key: str) -> bool:
    async with connection(dsn) as conn:
        return bool(await conn.fetchval(f"SELECT count(*) FROM {TABLE} WHERE id = $1", key))


async def test_a_transaction_carries_the_callers_deadline_as_its_timeouts(db: Database) -> None:
    context.set_deadline(2.0)
    async with db.transaction() as conn:
        assert conn.is_in_transaction()
        statement_ms = int((await conn.fetchval("SHOW statement_timeout")).removesuffix("ms"))
        assert 1_000 < statement_ms <= 2_000  # what is left of the caller's 2 s
        assert await conn.fetchval("SHOW lock_timeout") in {f"{statement_ms}ms", f"{statement_ms - 1}ms", "2s"}
    context.set_deadline(60.0)
    async with db.transaction() as conn:
        assert await conn.fetchval("SHOW lock_timeout") == "5s"  # never more than the pool's own bound
    context.set_deadline(None)
    async with db.transaction() as conn:  # no deadline: the session's own timeouts
        assert await conn.fetchval("SHOW statement_timeout") == "30s"


async def test_a_read_snapshot_is_repeatable_read_and_read_only(db: Database) -> None:
    async with db.read_snapshot() as conn:
        assert await conn.fetchval("SHOW transaction_isolation") == "repeatable read"
        assert await conn.fetchval("SHOW transaction_read_only") == "on"
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            async with savepoint(conn):
                await conn.execute(f"INSERT INTO {TABLE} VALUES ('never')")


async def _insert_twice_in_a_savepoint(conn: asyncpg.Connection, first: str, second: str) -> None:
    async with savepoint(conn):
        await conn.execute(f"INSERT INTO {TABLE} VALUES ($1)", first)
        await conn.execute(f"INSERT INTO {TABLE} VALUES ($1)", second)


async def test_a_savepoint_undoes_its_block_and_the_transaction_commits_the_rest(
    db: Database, migrated_dsn: str
) -> None:
    kept, undone = f"kept-{uuid.uuid4().hex}", f"undone-{uuid.uuid4().hex}"
    async with db.transaction() as conn:
        await conn.execute(f"INSERT INTO {TABLE} VALUES ($1)", kept)
        with pytest.raises(asyncpg.UniqueViolationError):  # the second insert fails: `undone` is undone too
            await _insert_twice_in_a_savepoint(conn, undone, kept)
        await _insert_twice_in_a_savepoint(conn, undone + "-2", undone + "-3")  # a block that succeeds stays
    assert await stored(migrated_dsn, kept)
    assert not await stored(migrated_dsn, undone)
    assert await stored(migrated_dsn, undone + "-2")
    assert await stored(migrated_dsn, undone + "-3")


async def _swallow_a_failed_statement(db: Database, key: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(f"INSERT INTO {TABLE} VALUES ($1)", key)
        # Swallowed without a savepoint: a bug, which the commit must not hide.
        with contextlib.suppress(asyncpg.UndefinedTableError):
            await conn.execute("SELECT * FROM no_such_table")


async def test_a_failed_statement_swallowed_inside_is_not_reported_committed(db: Database, migrated_dsn: str) -> None:
    key = f"lost-{uuid.uuid4().hex}"
    with pytest.raises(RuntimeError, match="rolled back at COMMIT"):
        await _swallow_a_failed_statement(db, key)
    assert not await stored(migrated_dsn, key)
    async with db.transaction() as conn:  # the connection went back to the pool usable
        assert await conn.fetchval("SELECT 1") == 1


async def _refuse_after_insert(db: Database, key: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(f"INSERT INTO {TABLE} VALUES ($1)", key)
        raise LookupError("the use case refused")


async def test_a_block_that_raises_rolls_the_transaction_back(db: Database, migrated_dsn: str) -> None:
    key = f"rolled-back-{uuid.uuid4().hex}"
    with pytest.raises(LookupError):
        await _refuse_after_insert(db, key)
    assert not await stored(migrated_dsn, key)
