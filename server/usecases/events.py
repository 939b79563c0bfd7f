"""Watching an account's invoice change stream: replay from a sequence, then follow new commits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection

from server.db import events as repo
from server.db.listen import POLL_INTERVAL_S, Notifier
from server.db.pool import Database
from server.domain.events import InvoiceEvent, InvoiceEventKind, check_resume_position

# Events read per query while catching up.
_EVENT_PAGE = 500


class InvoiceEvents:
    """The change stream's readers: the outbox, and the process's wake-ups when new events commit."""

    def __init__(self, db: Database, notifier: Notifier) -> None:
        self._db = db
        self._notifier = notifier

    def watch(
        self, account_id: str, after_sequence: int, kinds: Collection[InvoiceEventKind], customer_id: str
    ) -> AsyncIterator[InvoiceEvent]:
        """WatchInvoiceEvents: see watch_invoice_events."""
        return watch_invoice_events(self._db, self._notifier, account_id, after_sequence, kinds, customer_id)


async def watch_invoice_events(
    db: Database,
    notifier: Notifier,
    account_id: str,
    after_sequence: int,
    kinds: Collection[InvoiceEventKind],
    customer_id: str,
) -> AsyncIterator[InvoiceEvent]:
    """The account's events after `after_sequence`, in commit order, forever (filtered by kind and customer).

    Fails OUT_OF_RANGE when the position is older than what retention keeps.
    """
    async with db.connection() as conn:
        oldest, last = await repo.retained_range(conn, account_id)
    check_resume_position(after_sequence, oldest, last)
    position = after_sequence
    with notifier.subscription(account_id) as wake:
        while True:
            wake.clear()  # before reading, so that a commit during the read is not missed
            async with db.connection() as conn:
                events = await repo.after(conn, account_id, position, _EVENT_PAGE)
            for event in events:
                position = event.sequence
                if (kinds and event.kind not in kinds) or (customer_id and event.customer_id != customer_id):
                    continue
                yield event
            if len(events) < _EVENT_PAGE:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=POLL_INTERVAL_S)
