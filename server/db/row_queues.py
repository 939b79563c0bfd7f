"""Queues in the server for calls that would queue on one row's lock in PostgreSQL.

Calls that take one row's exclusive lock (a customer's, when an invoice is issued at creation and moves its
balance) run one after another whatever the server does: the second waits in PostgreSQL for the first to
commit. Waiting there, each holds a connection (up to its account's share of the pool) and a PostgreSQL
backend, and its lock timeout runs down. Waiting here instead, in arrival order, a call
holds nothing until its turn: one connection serves a hot customer however many calls it has in flight, the
rest of the pool stays free for the account's other customers and for other accounts, and the server's event
loop runs one of those transactions at a time instead of interleaving several that wait on each other.

This is only a queue in front of the lock, not the lock: other processes and hosts serving the same
database still meet at the row lock, which alone keeps the data right. A call waits within its deadline
(cancelled, it leaves the queue), and a row named two ways (a customer by its id and by its external id)
gets two queues, which only means those calls queue in PostgreSQL as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server import metrics
from server.db.shares import Shares


class RowQueues:
    """Arrival-order queues, one per (account, row) with calls in flight: a share of one slot per row."""

    def __init__(self) -> None:
        self._turns = Shares(1)

    @asynccontextmanager
    async def turn(self, account_id: str, row: str) -> AsyncIterator[None]:
        """Wait for the row's turn (in arrival order) and hold it for the block."""
        key = (account_id, row)
        waits = metrics.WAITING_ROW.track_inprogress() if self._turns.full(key) else contextlib.nullcontext()
        with waits:
            await self._turns.acquire(key)
        try:
            yield
        finally:
            self._turns.release(key)

    def __len__(self) -> int:
        """The rows with calls in flight (a row's queue is dropped when its last call ends)."""
        return len(self._turns)
