"""A real PostgreSQL and a real gRPC server on a real port, shared by the whole session.

PostgreSQL is an ephemeral embedded server unless DATABASE_URL names one, in
which case a fresh database is created on it for the session. The server runs
in-process on the session's event loop; every test gets its own account (and
so its own tenant), which keeps tests independent without truncating tables.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest

from server.app import RunningServer, start_server
from server.config import Settings
from server.db import embedded
from server.db.migrate import migrate
from server.keys import create_key
from tests import pgbouncer
from tests.client import Api, open_api

pytest_plugins = ["tests.billing_support", "tests.go_client", "tests.keepalive_support"]


@pytest.fixture(scope="session")
def database_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a database that lives for the session."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield from _fresh_database(external)
        return
    # Not under pytest's temp folder: a concurrent pytest run resets that folder to owner-only
    # permissions, and the embedded server runs as its own unprivileged user.
    pg = embedded.start(Path(tempfile.mkdtemp(prefix="invoicing-test-pg-")) / "data", ephemeral=True)
    yield pg.dsn
    pg.stop()


def _fresh_database(server_dsn: str) -> Iterator[str]:
    import asyncio

    name = f"invoicing_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server_dsn)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))


def partitions_under_test() -> int:
    """INVOICING_TEST_PARTITIONS: the session schema's account-scoped tables hash-partitioned into this many
    partitions (0 or unset: plain tables); `make test-partitioned` runs the suite so."""
    return int(os.environ.get("INVOICING_TEST_PARTITIONS") or 0)


@pytest.fixture(scope="session")
async def migrated_dsn(database_dsn: str) -> str:
    """The session database with the schema applied (partitioned by account when INVOICING_TEST_PARTITIONS)."""
    await migrate(database_dsn, partitions_under_test())
    return database_dsn


@pytest.fixture(scope="session")
def service_dsn(migrated_dsn: str) -> Iterator[str]:
    """The DSN the session's servers use: the database itself, or a real PgBouncer in transaction pooling mode
    in front of it when INVOICING_TEST_PGBOUNCER=1 (migrations, LISTEN and fixtures stay direct)."""
    if not pgbouncer.wanted():
        yield migrated_dsn
        return
    with pgbouncer.running(migrated_dsn) as bouncer:
        yield bouncer.dsn


@pytest.fixture(scope="session")
def settings(migrated_dsn: str, service_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Server settings for tests: a free port, no key cache, small batches so streams have many messages.

    The admission limits are raised above the defaults: the race tests send a thousand concurrent calls of
    one account to prove the locking, not the refusals (tests/test_overload.py proves those on servers of
    their own, with the default shape of limits).
    """
    return Settings(
        database_url=service_dsn,
        direct_database_url=migrated_dsn,
        db_transaction_pooling=service_dsn != migrated_dsn,
        data_dir=tmp_path_factory.mktemp("data"),
        listen="127.0.0.1:0",
        api_key_cache_seconds=0,
        stream_batch_records=50,
        health_check_interval_s=0.5,
        shutdown_grace_s=1,
        max_concurrent_calls=4096,
        max_concurrent_calls_per_account=4096,
    )


@pytest.fixture(scope="session")
async def server(settings: Settings, service_dsn: str, migrated_dsn: str) -> AsyncIterator[RunningServer]:
    """The gRPC server under test."""
    # The period-end runner is driven by the billing tests themselves (on the clocked server), never by
    # the wall clock in the background.
    running = await start_server(settings, service_dsn, run_billing=False, direct_dsn=migrated_dsn)
    yield running
    await running.stop(grace=1)


@pytest.fixture(scope="session")
def target(server: RunningServer) -> str:
    """host:port of the server under test."""
    return f"127.0.0.1:{server.port}"


@dataclass
class Account:
    """A fresh tenant and its API key."""

    name: str
    key: str
    key_id: str


async def new_account(dsn: str) -> Account:
    """Create an account with one API key."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    key_id, key = await create_key(dsn, name, invoice_prefix="T" + uuid.uuid4().hex[:5].upper())
    return Account(name=name, key=key, key_id=key_id)


@pytest.fixture
async def account(migrated_dsn: str) -> Account:
    """A new account for this test."""
    return await new_account(migrated_dsn)


@pytest.fixture
async def api(target: str, account: Account) -> AsyncIterator[Api]:
    """Stubs for every service, authenticated as this test's account."""
    async with open_api(target, account.key) as client:
        yield client


@pytest.fixture
async def other_api(target: str, migrated_dsn: str) -> AsyncIterator[Api]:
    """Stubs authenticated as a second, unrelated account."""
    other = await new_account(migrated_dsn)
    async with open_api(target, other.key) as client:
        yield client


@pytest.fixture
async def anonymous_channel(target: str) -> AsyncIterator[grpc.aio.Channel]:
    """A channel that sends no credentials."""
    async with grpc.aio.insecure_channel(target) as channel:
        yield channel


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The repository's top folder."""
    return Path(__file__).resolve().parent.parent
