"""Coalesced lookups of stored invoice wire forms: many concurrent GetInvoice calls, one statement.

Each lookup waits on a future; a drain task takes every lookup pending at that moment and reads them all with
one `= ANY`-style statement, then the next batch, so under load the cost of a statement (and of a connection
taken from the database's lookup lane) is shared by every call that arrived meanwhile, and at one call in
flight a lookup is still a single primary-key statement. The drain runs in a context of its own: no caller's
deadline or account share bounds the shared statement; each caller still stops waiting at its own deadline.
"""

from __future__ import annotations

import asyncio
import contextvars

from server.db import invoices as repo
from server.db.pool import Database

_Key = tuple[str, str]


class WireLoader:
    """Looks up stored wire forms, batching the lookups that overlap in time."""

    def __init__(self, db: Database, schema: str, *, max_batch: int = 256, max_statements: int = 2) -> None:
        self._db = db
        self._schema = schema
        self._max_batch = max_batch
        self._max_statements = max_statements
        self._pending: dict[_Key, list[asyncio.Future[repo.StoredWire | None]]] = {}
        self._draining = 0
        self._drains: set[asyncio.Task[None]] = set()  # (referenced until done: the loop keeps weak ones)
        # Lookups asked for and statements run for them, since the loader was made (their ratio is the
        # coalescing; shown in the metrics).
        self.lookups = 0
        self.statements = 0

    async def load(self, account_id: str, invoice_id: str) -> repo.StoredWire | None:
        """The invoice's stored wire form and its freshness; None when there is no such invoice."""
        self.lookups += 1
        future: asyncio.Future[repo.StoredWire | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault((account_id, invoice_id), []).append(future)
        if self._draining < self._max_statements:
            self._draining += 1
            drain = asyncio.create_task(self._drain(), context=contextvars.Context())
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
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
            self._draining -= 1
