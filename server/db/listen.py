"""Wake-ups for watchers of the invoice change stream: one LISTEN connection per process.

The outbox (`server.db.events`) notifies its channel when a transaction with
events commits; the Notifier wakes the watchers of that account. A one-second
poll by the watchers covers the moments this connection is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator

import asyncpg

from server.db import events as repo

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0


class Notifier:
    """Wakes the watchers of an account when events of that account commit."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        # True while the LISTEN connection is up, and how many times it was lost (health reports both).
        self.listening = False
        self.losses = 0

    def start(self) -> None:
        """Keep a LISTEN connection open in the background (reconnecting after failures)."""
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        """Close the LISTEN connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def subscription(self, account_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the account's events commit, for as long as the block runs."""
        wake = asyncio.Event()
        self._waiters[account_id].add(wake)
        try:
            yield wake
        finally:
            self._waiters[account_id].discard(wake)
            if not self._waiters[account_id]:
                del self._waiters[account_id]

    def _notified(self, _conn: object, _pid: int, _channel: str, account_id: str) -> None:
        for wake in self._waiters.get(account_id, ()):
            wake.set()

    async def _listen(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                await conn.add_listener(repo.CHANNEL, self._notified)
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _conn, gone=closed: gone.set())
                self.listening = True
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.debug("invoice event listener down; watchers poll until it is back", exc_info=True)
            finally:
                if self.listening:
                    self.losses += 1
                self.listening = False
                if conn is not None and not conn.is_closed():
                    await conn.close()
            await asyncio.sleep(POLL_INTERVAL_S)
