"""What a document is made of, read in one statement (SQL only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from server.db.credit_notes import CREDIT_NOTE_SELECT, credit_note_from
from server.db.invoices import INVOICE_SELECT, invoice_from
from server.db.records import fetch_row, record_from
from server.domain.documents import (
    CreditedInvoice,
    CreditNoteDocument,
    DocumentParties,
    InvoiceDocument,
    listed_credit_notes,
)

# The invoice as GetInvoice reads it, and the parties copied onto it (migration 0005), from one snapshot.
_DOCUMENT_SELECT = f"""
SELECT inv.*, i.document_parties
FROM ({INVOICE_SELECT} WHERE i.account_id = $1 AND i.id = $2) inv
JOIN invoices i ON i.account_id = $1 AND i.id = inv.id
"""

# The credit note as GetCreditNote reads it, and what its document shows of the invoice it credits.
_CREDIT_NOTE_DOCUMENT_SELECT = f"""
SELECT note.*, i.document_parties, i.invoice_date, i.billing_address, i.customer_tax_id
FROM ({CREDIT_NOTE_SELECT} WHERE n.account_id = $1 AND n.id = $2) note
JOIN invoices i ON i.account_id = $1 AND i.id = note.invoice_id
"""


def _parties_from(parties: Mapping[str, Any]) -> DocumentParties:
    return record_from(DocumentParties, parties)


async def invoice_document(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> InvoiceDocument:
    """The invoice and the parties its document prints; NotFound for an unknown or another account's invoice."""
    row = await fetch_row(conn, "invoice", invoice_id, _DOCUMENT_SELECT, account_id, invoice_id)
    parties = _parties_from(row["document_parties"])
    invoice = invoice_from(row)
    return InvoiceDocument(
        invoice=invoice,
        parties=parties,
        credit_notes=listed_credit_notes(invoice, parties.customer.timezone),
    )


async def credit_note_document(conn: asyncpg.Connection, account_id: str, note_id: str) -> CreditNoteDocument:
    """The credit note, its invoice's number, date and billing details, and the parties copied onto the
    invoice; NotFound for an unknown or another account's note."""
    row = await fetch_row(conn, "credit_note", note_id, _CREDIT_NOTE_DOCUMENT_SELECT, account_id, note_id)
    note = credit_note_from(row)
    return CreditNoteDocument(
        note=note,
        invoice=record_from(CreditedInvoice, row, number=note.invoice_number),
        parties=_parties_from(row["document_parties"]),
    )
