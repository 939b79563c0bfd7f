"""Document use cases: load what a document shows, render it off the event loop.

Rendering is CPU work (tens of milliseconds, about 0.1 s for 500 lines) in Typst, which releases the
GIL: it runs in worker threads, at most `max_concurrent` at a time, so that documents never stall
the event loop nor pile up more work than the cores can do.
"""

from __future__ import annotations

import asyncio
import os

from server.db import documents as repo
from server.db.pool import Database
from server.documents.content import invoice_filename, invoice_sheet
from server.documents.pdf import render_pdf
from server.domain.documents import MEDIA_TYPES, DocumentFormat, InvoiceDocument, RenderedDocument


async def load_invoice_document(db: Database, account_id: str, invoice_id: str) -> InvoiceDocument:
    """The invoice and the parties its document prints, read in one statement; NotFound otherwise."""
    async with db.connection() as conn:
        return await repo.invoice_document(conn, account_id, invoice_id)


def render_invoice_document(document: InvoiceDocument, document_format: DocumentFormat) -> RenderedDocument:
    """The document of an invoice version, in a format (PDF, the one format so far). Pure and deterministic."""
    data = render_pdf(invoice_sheet(document))
    return RenderedDocument(
        data=data,
        media_type=MEDIA_TYPES[document_format],
        filename=invoice_filename(document),
        version=document.invoice.header.version,
    )


class Documents:
    """GetInvoiceDocument: load in the database, render in a worker thread."""

    def __init__(self, db: Database, max_concurrent: int | None = None) -> None:
        self._db = db
        self._renders = asyncio.Semaphore(max_concurrent or os.cpu_count() or 1)

    async def invoice_document(
        self, account_id: str, invoice_id: str, document_format: DocumentFormat
    ) -> RenderedDocument:
        """The current version of the invoice as a document."""
        document = await load_invoice_document(self._db, account_id, invoice_id)
        async with self._renders:
            return await asyncio.to_thread(render_invoice_document, document, document_format)
