"""Credit note requests and calls, invoice versions and replayed change events (credit notes, dry runs, history)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from invoicing.v1 import credit_note_service_pb2, invoice_pb2, invoice_service_pb2

from tests.support.client import Api

REASON = credit_note_service_pb2.CREDIT_NOTE_REASON_PRODUCT_UNSATISFACTORY
ADJUSTMENT = credit_note_service_pb2.CREDIT_NOTE_TYPE_ADJUSTMENT
REFUND = credit_note_service_pb2.CREDIT_NOTE_TYPE_REFUND


def note_request(
    invoice_id: str, *lines: tuple[str, str], **fields: Any
) -> credit_note_service_pb2.CreateCreditNoteRequest:
    """A CreateCreditNoteRequest crediting (invoice line id, amount) pairs, for "product unsatisfactory"."""
    fields.setdefault("reason", REASON)
    return credit_note_service_pb2.CreateCreditNoteRequest(
        invoice_id=invoice_id,
        line_items=[
            credit_note_service_pb2.NewCreditNoteLineItem(invoice_line_item_id=line_id, amount=amount)
            for line_id, amount in lines
        ],
        **fields,
    )


async def create_note(
    api: Api, invoice_id: str, *lines: tuple[str, str], **fields: Any
) -> credit_note_service_pb2.CreditNote:
    """CreateCreditNote."""
    note: credit_note_service_pb2.CreditNote = await api.credit_notes.CreateCreditNote(
        note_request(invoice_id, *lines, **fields)
    )
    return note


async def void_note(api: Api, note_id: str, **fields: Any) -> credit_note_service_pb2.CreditNote:
    """VoidCreditNote."""
    note: credit_note_service_pb2.CreditNote = await api.credit_notes.VoidCreditNote(
        credit_note_service_pb2.VoidCreditNoteRequest(credit_note_id=note_id, **fields)
    )
    return note


async def get_note(api: Api, note_id: str) -> credit_note_service_pb2.CreditNote:
    """GetCreditNote."""
    note: credit_note_service_pb2.CreditNote = await api.credit_notes.GetCreditNote(
        credit_note_service_pb2.GetCreditNoteRequest(credit_note_id=note_id)
    )
    return note


async def list_notes(api: Api, **filters: Any) -> list[credit_note_service_pb2.CreditNote]:
    """Every credit note ListCreditNotes streams for the filters, in order."""
    notes: list[credit_note_service_pb2.CreditNote] = []
    async for batch in api.credit_notes.ListCreditNotes(credit_note_service_pb2.ListCreditNotesRequest(**filters)):
        notes.extend(batch.credit_notes)
    return notes


async def versions_of(api: Api, invoice_id: str, **fields: Any) -> list[invoice_pb2.InvoiceVersion]:
    """Every version ListInvoiceVersions streams for the invoice, oldest first."""
    versions: list[invoice_pb2.InvoiceVersion] = []
    request = invoice_service_pb2.ListInvoiceVersionsRequest(invoice_id=invoice_id, **fields)
    async for batch in api.invoices.ListInvoiceVersions(request):
        versions.extend(batch.versions)
    return versions


async def invoice_at(api: Api, invoice_id: str, version: int) -> invoice_pb2.Invoice:
    """GetInvoice of a recorded version."""
    invoice: invoice_pb2.Invoice = await api.invoices.GetInvoice(
        invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id, version=version)
    )
    return invoice


def note_sequence(number: str) -> int:
    """The sequence of a credit note number ("CN-00042" -> 42)."""
    prefix, _, sequence = number.partition("-")
    assert prefix == "CN", number
    assert len(sequence) == 5, number
    assert sequence.isdigit(), number
    return int(sequence)


def live_adjustments(invoice: invoice_pb2.Invoice, notes: list[credit_note_service_pb2.CreditNote]) -> Decimal:
    """What the invoice's live adjustment notes took off its amount due."""
    return sum(
        (
            Decimal(n.applied_to_amount_due)
            for n in notes
            if n.invoice_id == invoice.id and n.type == ADJUSTMENT and not n.HasField("voided_at")
        ),
        Decimal(0),
    )


async def events_of(api: Api, count: int, **filters: Any) -> list[invoice_pb2.InvoiceEvent]:
    """The account's first `count` change events that match the filters (replayed from the start)."""
    taken: list[invoice_pb2.InvoiceEvent] = []
    stream = api.invoices.WatchInvoiceEvents(invoice_service_pb2.WatchInvoiceEventsRequest(**filters), timeout=20)
    async for event in stream:
        taken.append(event)
        if len(taken) == count:
            stream.cancel()
            break
    return taken
