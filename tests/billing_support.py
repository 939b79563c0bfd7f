"""A second server whose clock the test moves, for the billing engine (subscriptions, periods, runner)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from server.app import RunningServer, start_server
from server.config import Settings
from tests.client import Api, open_api
from tests.conftest import Account


@dataclass
class Clock:
    """A clock the test sets; every rule of the clocked server reads it."""

    now: dt.datetime = dt.datetime(2024, 1, 15, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, moment: dt.datetime) -> None:
        """Move time (forwards or backwards)."""
        self.now = moment


async def run_billing(server: RunningServer, clock: Clock, when: dt.datetime) -> None:
    """Move the clock and run one pass of the period-end runner."""
    clock.set(when)
    await server.runner.run_once(when)


@pytest.fixture(scope="session")
def clock() -> Clock:
    """The clocked server's clock (shared by the session: each test sets it first)."""
    return Clock()


@pytest.fixture(scope="session")
async def clocked_server(
    settings: Settings, service_dsn: str, migrated_dsn: str, clock: Clock
) -> AsyncIterator[RunningServer]:
    """A server on its own port that reads `clock`; its period-end runner is driven by the tests."""
    running = await start_server(settings, service_dsn, clock, run_billing=False, direct_dsn=migrated_dsn)
    yield running
    await running.stop(grace=1)


@pytest.fixture
async def clocked_api(clocked_server: RunningServer, account: Account) -> AsyncIterator[Api]:
    """Stubs of the clocked server, authenticated as this test's account."""
    async with open_api(f"127.0.0.1:{clocked_server.port}", account.key) as client:
        yield client
