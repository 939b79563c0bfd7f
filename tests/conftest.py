"""A real PostgreSQL and a real gRPC server on a real port, shared by the whole session.

PostgreSQL is an ephemeral embedded server unless DATABASE_URL names one, in
which case a fresh database is created on it for the session. The server runs
in-process on the session's event loop; every test gets its own account (and
so its own tenant), which keeps tests independent without truncating tables.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest

from server.app import RunningServer, start_server
from server.config import Settings
from server.db import embedded
from server.db.migrate import migrate
from server.keys import create_key
from tests.client import Api, open_api

pytest_plugins = ["tests.billing_support"]


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


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _on_same_server(dsn: str, database: str) -> str:
    """The DSN of another database on the server that dsn names."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def _fresh_database(server_dsn: str) -> Iterator[str]:
    name = f"invoicing_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(server_dsn, f'CREATE DATABASE "{name}"'))
    yield _on_same_server(server_dsn, name)
    asyncio.run(_execute(server_dsn, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
async def migrated_dsn(database_dsn: str) -> str:
    """The session database with the schema applied."""
    await migrate(database_dsn)
    return database_dsn


@pytest.fixture
async def empty_dsn(migrated_dsn: str) -> AsyncIterator[str]:
    """DSN of a brand-new, empty database on the test PostgreSQL server, dropped afterwards."""
    name = f"invoicing_empty_{uuid.uuid4().hex[:12]}"
    await _execute(migrated_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield _on_same_server(migrated_dsn, name)
    finally:
        await _execute(migrated_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(migrated_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Server settings for tests: a free port, no key cache, small batches so streams have many messages."""
    return Settings(
        database_url=migrated_dsn,
        data_dir=tmp_path_factory.mktemp("data"),
        listen="127.0.0.1:0",
        api_key_cache_seconds=0,
        stream_batch_records=50,
        health_check_interval_s=0.5,
        shutdown_grace_s=1,
    )


@pytest.fixture(scope="session")
async def server(settings: Settings, migrated_dsn: str) -> AsyncIterator[RunningServer]:
    """The gRPC server under test."""
    # The period-end runner is driven by the billing tests themselves (on the clocked server), never by
    # the wall clock in the background.
    running = await start_server(settings, migrated_dsn, run_billing=False)
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
