"""Document use cases: load what a document shows, render it off the event loop.

Rendering is CPU work (tens of milliseconds, 0.2–0.3 s for 500 lines) in Typst, which releases the
GIL: it runs on a pool of `max_concurrent` worker threads (one per core by default, shared by invoice and
credit note documents), so that documents never stall the event loop nor run more renders at once than
the cores can do. A call cancelled while its render waits in the pool's queue takes the render out of
the queue.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from server.db import documents as repo
from server.db.pool import Database
from server.domain.documents import (
    MEDIA_TYPES,
    CreditNoteDocument,
    DocumentFormat,
    InvoiceDocument,
    RenderedDocument,
)
from server.domain.documents.content import (
    Sheet,
    credit_note_filename,
    credit_note_sheet,
    invoice_filename,
    invoice_sheet,
)
from server.domain.documents.pdf import render_pdf
from server.usecases.reads import read

D = TypeVar("D", InvoiceDocument, CreditNoteDocument)


def _rendered(sheet: Sheet, document_format: DocumentFormat, filename: str, version: int) -> RenderedDocument:
    """A sheet rendered in a format (PDF, the one format so far), named and versioned."""
    return RenderedDocument(
        data=render_pdf(sheet), media_type=MEDIA_TYPES[document_format], filename=filename, version=version
    )


async def load_invoice_document(db: Database, account_id: str, invoice_id: str) -> InvoiceDocument:
    """The invoice and the parties its document prints, read in one statement; NotFound otherwise."""
    return await read(db, repo.invoice_document, account_id, invoice_id)


def render_invoice_document(document: InvoiceDocument, document_format: DocumentFormat) -> RenderedDocument:
    """The document of an invoice version, in a format (PDF, the one format so far). Pure and deterministic."""
    return _rendered(
        invoice_sheet(document), document_format, invoice_filename(document), document.invoice.header.version
    )


async def load_credit_note_document(db: Database, account_id: str, note_id: str) -> CreditNoteDocument:
    """The credit note, what it shows of its invoice, and the parties, read in one statement; NotFound otherwise."""
    return await read(db, repo.credit_note_document, account_id, note_id)


def render_credit_note_document(document: CreditNoteDocument, document_format: DocumentFormat) -> RenderedDocument:
    """The document of a credit note version, by the same layout as invoices. Pure and deterministic."""
    return _rendered(
        credit_note_sheet(document), document_format, credit_note_filename(document), document.note.version
    )


@functools.cache
def render_threads(workers: int) -> ThreadPoolExecutor:
    """The process's render threads (one pool per size): invoice and credit note documents share them."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="document-render")


class Documents:
    """GetInvoiceDocument and GetCreditNoteDocument: load in the database, render in a worker thread."""

    def __init__(self, db: Database, max_concurrent: int | None = None) -> None:
        self._db = db
        self._renderers = render_threads(max_concurrent or os.cpu_count() or 1)

    async def invoice_document(
        self, account_id: str, invoice_id: str, document_format: DocumentFormat
    ) -> RenderedDocument:
        """The current version of the invoice as a document."""
        document = await load_invoice_document(self._db, account_id, invoice_id)
        return await self._render(render_invoice_document, document, document_format)

    async def credit_note_document(
        self, account_id: str, note_id: str, document_format: DocumentFormat
    ) -> RenderedDocument:
        """The current version of the credit note as a document."""
        document = await load_credit_note_document(self._db, account_id, note_id)
        return await self._render(render_credit_note_document, document, document_format)

    async def _render(
        self, render: Callable[[D, DocumentFormat], RenderedDocument], document: D, document_format: DocumentFormat
    ) -> RenderedDocument:
        """Render in a worker thread: rendering is CPU work that would stall the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._renderers, render, document, document_format)
