"""Reading invoices in their stored wire form: one lookup, no message built.

Every mutation stores the invoice's wire form (`publish.invoice_changed`); a
read hands those bytes out as they are. A form that is missing or stale (an
invoice stored before forms were kept, or after an upgrade that changed the
message schema or its rendering) is rendered again on read, and in the
background by `sweep_stale_forms` (once per account and schema), so the next read finds it current.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace

import asyncpg

from server.db import accounts, snapshots
from server.db import invoices as repo
from server.db.pool import Database
from server.db.wire_loader import WireLoader
from server.domain.errors import NotFound
from server.domain.invoices import Invoice, InvoiceFilter, StoredInvoice
from server.domain.pages import Page
from server.usecases.publish import InvoiceRenderer

log = logging.getLogger(__name__)

RENDER_SLICE_S = 0.005
"""How long rendering many forms keeps the event loop before it lets other calls run."""


async def render_many(render: InvoiceRenderer, invoices: Sequence[Invoice]) -> list[bytes]:
    """The invoices' wire forms, in their order, handing the event loop back every `RENDER_SLICE_S`.

    A form costs a millisecond or two of the loop's CPU. After an upgrade makes every form stale, the
    background refresher renders them by the hundred, and so does a stream that lists them: in one go, each
    batch would hold every other call on the loop up for most of a second (500 forms at 1–2 ms each).
    """
    forms = []
    slice_started = time.perf_counter()
    for invoice in invoices:
        forms.append(render(invoice))
        if time.perf_counter() - slice_started >= RENDER_SLICE_S:
            await asyncio.sleep(0)
            slice_started = time.perf_counter()
    return forms


class InvoiceReads:
    """GetInvoice and ListInvoices over stored wire forms."""

    def __init__(self, db: Database, render: InvoiceRenderer) -> None:
        self._db = db
        self._render = render
        self.loader = WireLoader(db, render.schema)

    async def wire(self, account_id: str, invoice_id: str) -> bytes:
        """GetInvoice: the invoice's wire form; NotFound for an unknown id or another account's invoice."""
        stored = await self.loader.load(account_id, invoice_id)
        if stored is None:
            raise NotFound("invoice", invoice_id)
        if stored.fresh and stored.wire is not None:
            return stored.wire
        return await self._render_again(account_id, invoice_id)

    async def _render_again(self, account_id: str, invoice_id: str) -> bytes:
        """Render the invoice as it is now and keep the form (unless a change overtook this read)."""
        async with self._db.transaction() as conn:
            invoice = await repo.get(conn, account_id, invoice_id)
            wire = self._render(invoice)
            await repo.store_wire(conn, account_id, invoice_id, invoice.header.version, wire, self._render.schema)
        return wire

    def list(
        self, account_id: str, filters: InvoiceFilter, page: Page[tuple[dt.date, str]]
    ) -> AsyncGenerator[list[StoredInvoice], None]:
        """ListInvoices: the matching invoices from one snapshot, most recent invoice date first, in batches.

        A stale form in a batch is rendered from the same snapshot (not stored: the snapshot is read-only).
        """

        async def complete(conn: asyncpg.Connection, listed: list[StoredInvoice]) -> list[StoredInvoice]:
            stale = [item.id for item in listed if item.wire is None]
            if not stale:
                return listed
            invoices = await repo.get_many(conn, account_id, stale)
            forms = await render_many(self._render, invoices)
            rendered = {invoice.header.id: form for invoice, form in zip(invoices, forms, strict=True)}
            return [item if item.wire is not None else replace(item, wire=rendered[item.id]) for item in listed]

        query = repo.list_query(account_id, filters, page.after, self._render.schema, page.limit)
        return snapshots.batches(self._db, query, page, complete=complete)


async def refresh_stale_forms(
    db: Database, render: InvoiceRenderer, batch: int = 500, account_id: str | None = None
) -> int:
    """Render and store every wire form that is missing or stale (of every account, or of one), a batch at a
    time; return how many. Reads every invoice of the accounts (`render-invoices`, tests); the background job
    is `sweep_stale_forms`.

    Safe in several processes at once: each form is stored only for the version it was rendered from.
    """
    if account_id is None:
        async with db.connection() as conn:
            owners = await accounts.account_ids(conn)
    else:
        owners = [account_id]
    refreshed = 0
    for owner in owners:
        refreshed += await _refresh_account(db, render, owner, batch)
    return refreshed


async def sweep_stale_forms(db: Database, render: InvoiceRenderer, batch: int = 500) -> int:
    """The background job: refresh the stale forms of each account not yet swept under this rendering schema,
    then record it swept; return how many forms were rendered.

    Every change stores its invoice's current form in the same transaction, so only an upgrade (a new schema)
    or a row changed behind the service's back leaves a form stale, and every read checks the form it finds
    (a stale one is rendered on read). So an account swept under this schema is not read again: a server's
    start and its hourly round read the accounts, not every invoice. (A server of an older schema writing
    during a rolling upgrade leaves forms the reads render again.)
    """
    async with db.connection() as conn:
        owners = await accounts.account_ids(conn, unswept_for=render.schema)
    refreshed = 0
    for owner in owners:
        refreshed += await _refresh_account(db, render, owner, batch)
        async with db.connection() as conn:
            await accounts.mark_swept(conn, owner, render.schema)
    return refreshed


async def _refresh_account(db: Database, render: InvoiceRenderer, account_id: str, batch: int) -> int:
    """Render and store the account's missing or stale forms, reading its invoices once in id order."""
    refreshed, after = 0, ""
    while True:
        async with db.connection() as conn:
            stale = await repo.stale_wires(conn, account_id, render.schema, after, batch)
            invoices = await repo.get_many(conn, account_id, stale) if stale else []
        if not stale:
            return refreshed
        # Rendered between two statements, holding no connection; stored without a lock: each form is kept
        # only for the version it shows.
        wires = await render_many(render, invoices)
        forms = [(i.header.id, i.header.version, wire) for i, wire in zip(invoices, wires, strict=True)]
        async with db.transaction() as conn:
            await repo.store_wires(conn, account_id, forms, render.schema)
        refreshed += len(forms)
        if len(stale) < batch:
            return refreshed
        after = stale[-1]
