"""Fixtures: a real PostgreSQL and real gRPC servers on real ports, shared by the whole session.

PostgreSQL is an ephemeral embedded server unless DATABASE_URL names one, in
which case a fresh database is created on it for the session. The servers run
in-process on the session's event loop: `server` on the wall clock, and
`clocked_server` on the test clocks (see tests.support.clock). Every test gets
its own account (and so its own tenant) and its own clock, which keeps tests
independent without truncating tables. Helpers live in tests.support.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from server.app import RunningServer, start_server
from server.config import Settings
from server.db import embedded
from server.db.migrate import migrate
from tests.support import pgbouncer
from tests.support.accounts import Account, new_account
from tests.support.client import Api, open_api
from tests.support.clock import Clock, Clocks
from tests.support.database import execute, on_same_server, partitions_under_test
from tests.support.serve import Launcher

pytest_plugins = ["tests.support.go_client", "tests.support.keepalive"]


@pytest.fixture(scope="session")
def database_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a database that lives for the session."""
    external = os.environ.get("DATABASE_URL")
    if external:
        name = f"invoicing_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(execute(external, f'CREATE DATABASE "{name}"'))
        yield on_same_server(external, name)
        asyncio.run(execute(external, f'DROP DATABASE "{name}" WITH (FORCE)'))
        return
    # Not under pytest's temp folder: a concurrent pytest run resets that folder to owner-only
    # permissions, and the embedded server runs as its own unprivileged user.
    folder = Path(tempfile.mkdtemp(prefix="invoicing-test-pg-"))
    pg = embedded.start(folder / "data", ephemeral=True)
    yield pg.dsn
    pg.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def migrated_dsn(database_dsn: str) -> str:
    """The session database with the schema applied (partitioned by account when INVOICING_TEST_PARTITIONS)."""
    await migrate(database_dsn, partitions_under_test())
    return database_dsn


@pytest.fixture
async def empty_dsn(migrated_dsn: str) -> AsyncIterator[str]:
    """DSN of a brand-new, empty database on the test PostgreSQL server, dropped afterwards."""
    name = f"invoicing_empty_{uuid.uuid4().hex[:12]}"
    await execute(migrated_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield on_same_server(migrated_dsn, name)
    finally:
        await execute(migrated_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')


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


@pytest.fixture(scope="session")
def clocks() -> Clocks:
    """The clocked server's time: each test's clock, by account."""
    return Clocks()


@pytest.fixture(scope="session")
async def clocked_server(
    settings: Settings, service_dsn: str, migrated_dsn: str, clocks: Clocks
) -> AsyncIterator[RunningServer]:
    """A server on its own port whose time is the calling test's clock; the tests drive its period-end runner."""
    running = await start_server(settings, service_dsn, clocks, run_billing=False, direct_dsn=migrated_dsn)
    yield running
    await running.stop(grace=1)


@pytest.fixture
def clock(clocks: Clocks, account: Account) -> Iterator[Clock]:
    """This test's clock on the clocked server (it starts at tests.support.clock.START)."""
    with clocks.bound(Clock(account.id)) as bound:
        yield bound


@pytest.fixture
async def clocked_api(clocked_server: RunningServer, account: Account, clock: Clock) -> AsyncIterator[Api]:
    """Stubs of the clocked server, authenticated as this test's account (whose calls read `clock`)."""
    async with open_api(f"127.0.0.1:{clocked_server.port}", account.key) as client:
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


@pytest.fixture
async def launcher(project_root: Path, tmp_path: Path) -> AsyncIterator[Launcher]:
    """Serve processes for one test, all stopped at the end."""
    running = Launcher(project_root, tmp_path)
    try:
        yield running
    finally:
        await running.close()
