"""Invoice history use cases: read a version, list the versions, and complete the first versions of old invoices.

Versions are written by `publish.invoice_changed`, in the transaction of every change. Invoices older
than history got a first version from the migration (0008_invoice_history) without its wire form, which
only the API layer can render: `complete_first_versions` renders them, each under its invoice's lock, and
runs before the server serves (and before the billing command runs), so no change can come first.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator

from server.db import history as repo
from server.db import invoices as invoices_repo
from server.db import snapshots
from server.db.pool import Database
from server.domain.errors import NotFound
from server.domain.history import InvoiceVersion
from server.domain.pages import Page
from server.usecases.publish import InvoiceRenderer

log = logging.getLogger(__name__)

# First versions completed per transaction.
_BATCH = 200


async def get_invoice_version(db: Database, account_id: str, invoice_id: str, version: int) -> bytes:
    """GetInvoice with a version: the invoice as that version left it (its wire form); NotFound otherwise."""
    async with db.connection() as conn:
        await invoices_repo.customer_of(conn, account_id, invoice_id)  # NotFound for an unknown invoice
        found = await repo.invoice_at(conn, account_id, invoice_id, version)
    if found is None:
        raise NotFound("invoice_version", f"{invoice_id} version {version}")
    return found


async def list_invoice_versions(
    db: Database, account_id: str, invoice_id: str, page: Page[int]
) -> AsyncGenerator[list[InvoiceVersion], None]:
    """ListInvoiceVersions: the invoice's versions, oldest first, from one snapshot, in batches."""
    async with db.connection() as conn:
        await invoices_repo.customer_of(conn, account_id, invoice_id)  # NotFound before the stream starts
    async with contextlib.aclosing(
        snapshots.batches(db, repo.versions_query(account_id, invoice_id, page.after), page)
    ) as stream:
        async for records in stream:
            yield records


async def complete_first_versions(db: Database, render: InvoiceRenderer) -> int:
    """Render every first version the history migration left pending; return how many were completed.

    Several processes may run this at once: each takes pending versions the others do not hold.
    """
    completed = 0
    while True:
        async with db.transaction() as conn:
            pending = await repo.lock_pending(conn, _BATCH)
            for item in pending:
                await invoices_repo.lock(conn, item.account_id, item.invoice_id)
                invoice = await invoices_repo.get(conn, item.account_id, item.invoice_id)
                await repo.complete_pending(conn, item, invoice.header, render(invoice))
        completed += len(pending)
        if len(pending) < _BATCH:
            if completed:
                log.info("recorded the current state of %d invoices as their first version", completed)
            return completed
