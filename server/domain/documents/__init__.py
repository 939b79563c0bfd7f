"""Documents: what an invoice document is made of, and the formats it comes in.

`content` turns these records into a Sheet of printed text, `pdf` typesets a Sheet with the layout
`sheet.typ`; both are pure (the same input gives the same bytes; they read only the layout and fonts
that ship with the service). `sample` is the README's sample invoice.

An invoice document prints the invoice and the parties copied onto it when it was created and when
it was issued (migration 0005), never live customer or profile data: so the same invoice version
always makes the same document, and a document can be cached or hashed by (invoice id, version).
A credit note document is made of the credit note, the invoice it credits and the same parties: it
changes only when the note is voided (its version 2).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from server.domain.accounts import Seller
from server.domain.credit_notes import CreditNote
from server.domain.customers import Address
from server.domain.invoices import Invoice
from server.domain.tax_ids import TaxId


class DocumentFormat(StrEnum):
    """The formats a document is rendered in."""

    PDF = "pdf"


MEDIA_TYPES: dict[DocumentFormat, str] = {DocumentFormat.PDF: "application/pdf"}


@dataclass(frozen=True)
class BilledCustomer:
    """The customer as its documents print it: name and e-mail, and the timezone its dates are in."""

    name: str
    email: str
    timezone: str


@dataclass(frozen=True)
class DocumentParties:
    """Who a document is from and to, as copied onto the invoice."""

    seller: Seller
    customer: BilledCustomer


@dataclass(frozen=True)
class CreditNoteSummary:
    """A credit note as an invoice document lists it."""

    number: str
    issued_on: dt.date
    reason: str
    kind: str  # "adjustment" or "refund"
    total: Decimal
    voided: bool = False
    # What an adjustment took off the amount due (None: its total); the rest went to the customer balance.
    applied: Decimal | None = None


def local_date(instant: dt.datetime, timezone: str) -> dt.date:
    """The calendar date of an instant in a timezone."""
    return instant.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def listed_credit_notes(invoice: Invoice, timezone: str) -> tuple[CreditNoteSummary, ...]:
    """The invoice's credit notes as its document lists them, dated in the customer's timezone."""
    return tuple(
        CreditNoteSummary(
            number=note.number,
            issued_on=local_date(note.created_at, timezone),
            reason=note.reason.label,
            kind=note.kind.value,
            total=note.total,
            voided=not note.live,
            applied=note.applied_to_amount_due,
        )
        for note in invoice.credit_notes
    )


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything an invoice document shows."""

    invoice: Invoice
    parties: DocumentParties
    credit_notes: tuple[CreditNoteSummary, ...] = ()


@dataclass(frozen=True)
class CreditedInvoice:
    """What a credit note document shows of the invoice it credits (as copied onto the invoice)."""

    number: str
    invoice_date: dt.date
    billing_address: Address | None
    customer_tax_id: TaxId | None


@dataclass(frozen=True)
class CreditNoteDocument:
    """Everything a credit note document shows."""

    note: CreditNote
    invoice: CreditedInvoice
    parties: DocumentParties


@dataclass(frozen=True)
class RenderedDocument:
    """A rendered document: its bytes, what they are, and which version of its subject they show."""

    data: bytes
    media_type: str
    filename: str
    version: int
