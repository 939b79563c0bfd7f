"""Coalesced lookups of stored invoice wire forms: many concurrent GetInvoice calls, one statement.

Each lookup waits on a future; one drain task at a time reads every lookup pending at that moment with one
`= ANY`-style statement, then the next batch, so under load the cost of a statement (its round trip, and the
event-loop work of sending it and reading its answer, which is most of what a GetInvoice costs beyond
gRPC's own work) is shared by every call that arrived meanwhile. A lone lookup is a single primary-key
statement, started at once.

A batch that follows another exists only because lookups overlapped the statement before it: the server is
busy. It first lets the event loop run a few more iterations (`GATHER_ITERATIONS`), in which the calls gRPC
is starting reach their lookups: grpc.aio accepts calls one at a time, about one per loop iteration under
load, so without this pause a batch seldom holds more than the one call that arrived during the previous
statement. An iteration of an idle loop takes microseconds, of a busy one as long as the work it runs: the
pause costs little when few calls overlap and gathers more when many do.

The drain runs in a context of its own: no caller's deadline or account share bounds the shared statement;
each caller still stops waiting at its own deadline.
"""

from __future__ import annotations

import asyncio
import contextvars

from server.db import invoices as repo
from server.db.pool import Database

_Key = tuple[str, str]

# Event-loop iterations a batch that follows another waits for more lookups (see the module docstring).
GATHER_ITERATIONS = 20


class WireLoader:
    """Looks up stored wire forms, batching the lookups that overlap in time."""

    def __init__(
        self, db: Database, schema: str, *, max_batch: int = 256, gather_iterations: int = GATHER_ITERATIONS
    ) -> None:
        self._db = db
        self._schema = schema
        self._max_batch = max_batch
        self._gather_iterations = gather_iterations
        self._pending: dict[_Key, list[asyncio.Future[repo.StoredWire | None]]] = {}
        self._drain: asyncio.Task[None] | None = None  # (referenced until done: the loop keeps weak ones)
        # Lookups asked for and statements run for them, since the loader was made (their ratio is the
        # coalescing).
        self.lookups = 0
        self.statements = 0

    async def load(self, account_id: str, invoice_id: str) -> repo.StoredWire | None:
        """The invoice's stored wire form and its freshness; None when there is no such invoice."""
        self.lookups += 1
        future: asyncio.Future[repo.StoredWire | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault((account_id, invoice_id), []).append(future)
        if self._drain is None:
            self._drain = asyncio.create_task(self._run(), context=contextvars.Context())
        return await future

    async def _gather(self) -> None:
        """Let the event loop run `gather_iterations` iterations, or until the batch is full."""
        for _ in range(self._gather_iterations):
            if len(self._pending) >= self._max_batch:
                return
            await asyncio.sleep(0)

    async def _run(self) -> None:
        """Read the pending lookups, a batch (one statement) at a time, until none is left."""
        try:
            follows = False  # whether this batch follows another (its lookups overlapped a statement)
            while self._pending:
                if follows:
                    await self._gather()
                follows = True
                keys = list(self._pending)[: self._max_batch]
                waiting = {key: self._pending.pop(key) for key in keys}
                self.statements += 1
                try:
                    async with self._db.lookup() as conn:
                        found = await repo.stored_wires(conn, keys, self._schema)
                except Exception as exc:  # every caller of the batch gets the failure, mapped in its own call
                    for futures in waiting.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for key, futures in waiting.items():
                    for future in futures:
                        if not future.done():  # (a caller may have gone: its deadline, a cancellation)
                            future.set_result(found.get(key))
        finally:
            self._drain = None
