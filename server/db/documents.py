"""What an invoice document is made of, read in one statement (SQL only)."""

from __future__ import annotations

import asyncpg

from server.db.account_profiles import seller_from
from server.db.invoices import INVOICE_SELECT, invoice_from
from server.domain.documents import BilledCustomer, DocumentParties, InvoiceDocument
from server.domain.errors import NotFound

# The invoice as GetInvoice reads it, and the parties copied onto it (migration 0005), from one snapshot.
_DOCUMENT_SELECT = f"""
SELECT inv.*, i.document_parties
FROM ({INVOICE_SELECT} WHERE i.account_id = $1 AND i.id = $2) inv
JOIN invoices i ON i.account_id = $1 AND i.id = inv.id
"""


async def invoice_document(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> InvoiceDocument:
    """The invoice and the parties its document prints; NotFound for an unknown or another account's invoice."""
    row = await conn.fetchrow(_DOCUMENT_SELECT, account_id, invoice_id)
    if row is None:
        raise NotFound("invoice", invoice_id)
    parties = row["document_parties"]
    customer = parties["customer"]
    return InvoiceDocument(
        invoice=invoice_from(row),
        parties=DocumentParties(
            seller=seller_from(parties["seller"]),
            customer=BilledCustomer(name=customer["name"], email=customer["email"], timezone=customer["timezone"]),
        ),
    )
