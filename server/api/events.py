"""The invoice change stream: events written with each change, and their delivery to watchers.

Every invoice mutation ends with `record`, which reads the invoice as the
change left it and appends one event per kind to the outbox in the same
transaction. Watchers read the outbox from a sequence on; a single LISTEN
connection per process wakes them when a transaction with events commits, and
a one-second poll covers the moments that connection is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence

import asyncpg
from invoicing.v1 import invoice_pb2

from server.api import converters as conv
from server.db import events as repo
from server.db import invoices as invoices_repo

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0


async def record(
    conn: asyncpg.Connection, account_id: str, invoice_id: str, kinds: Sequence[str]
) -> invoice_pb2.Invoice:
    """Append events of these kinds for the invoice as it is now; return that invoice."""
    invoice = conv.invoice_pb(await invoices_repo.get(conn, account_id, invoice_id))
    payload = invoice.SerializeToString(deterministic=True)
    for kind in kinds:
        await repo.append(
            conn,
            account_id,
            kind=kind,
            invoice_id=invoice_id,
            customer_id=invoice.customer.id,
            version=invoice.version,
            invoice=payload,
        )
    return invoice


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
