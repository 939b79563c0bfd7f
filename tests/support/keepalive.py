"""Idle watches held for 50 s while the rest of the suite runs.

The keepalive test needs streams that stay idle for 50 s. Rather than make the suite wait, the watches are
opened by a test that runs first (marker `starts_early`, moved to the front of the run here) and checked by
the keepalive test wherever it runs, which waits only for what is left of the 50 s. Run alone, the
keepalive test opens them itself and waits the whole time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.accounts import Account, new_account
from tests.support.cli import Completed, run

IDLE_S = 50
CLIENT_PING_MS = 10_000


@dataclass
class IdleWatches:
    """WatchInvoiceEvents streams of the same account from two client processes that ping every 10 s: the Go
    client (grpc-go) and a Python one (tests/support/watch_client.py)."""

    target: str
    account: Account
    go_client: Path
    started_at: float | None = None
    go_watch: asyncio.Task[Completed] | None = None
    python_watch: asyncio.Task[Completed] | None = None

    async def start(self) -> None:
        """Start both watching processes (once)."""
        if self.started_at is not None:
            return
        self.started_at = time.monotonic()
        args = (self.target, self.account.key, "0")
        limit = IDLE_S + 600
        self.go_watch = asyncio.create_task(run(self.go_client, "watch", *args, limit_s=limit))
        self.python_watch = asyncio.create_task(
            run(sys.executable, "-m", "tests.support.watch_client", *args, limit_s=limit)
        )

    async def idle_for(self, seconds: float) -> None:
        """Wait until the watches have been open (and idle) for seconds."""
        assert self.started_at is not None
        await asyncio.sleep(max(0.0, self.started_at + seconds - time.monotonic()))

    async def close(self) -> None:
        """Stop whatever still runs (cancelling `run` kills its process)."""
        for task in (self.go_watch, self.python_watch):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@pytest.fixture(scope="session")
async def idle_watches(target: str, migrated_dsn: str, go_client: Path) -> AsyncIterator[IdleWatches]:
    """The idle watches of the session (opened by the first test that starts them)."""
    watches = IdleWatches(target, await new_account(migrated_dsn), go_client)
    yield watches
    await watches.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests marked `starts_early` first."""
    items.sort(key=lambda item: item.get_closest_marker("starts_early") is None)
