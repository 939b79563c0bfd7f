"""Credit notes under concurrency: notes racing on one line never credit more than it, and a note racing the
void of its invoice leaves exactly one of them done.

Every call carries a deadline, so a hang fails the test instead of stalling it. The only acceptable
failures are the rules' refusals and lost lock races (ABORTED with RetryInfo).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import grpc
from invoicing.v1 import credit_note_service_pb2, invoice_pb2, invoice_service_pb2

from tests.support.builders import create_customer, create_invoice, line
from tests.support.calls import get_invoice, issue
from tests.support.checks import assert_balance_matches_ledger
from tests.support.client import Api, StatusDetails, details_of
from tests.support.credit_notes import list_notes, note_request, note_sequence

DEADLINE_S = 10.0
REFUSED = grpc.StatusCode.FAILED_PRECONDITION


async def _attempt(call: Any) -> tuple[Any, StatusDetails | None]:
    try:
        return await call, None
    except grpc.aio.AioRpcError as error:
        return None, details_of(error)


async def test_concurrent_notes_on_one_line_never_credit_more_than_the_line(api: Api) -> None:
    customer = await create_customer(api)
    invoice = await issue(api, (await create_invoice(api, customer, line_items=[line("Seats", "1", "100.00")])).id)
    line_id = invoice.line_items[0].id
    calls = [
        api.credit_notes.CreateCreditNote(note_request(invoice.id, (line_id, "15.00")), timeout=DEADLINE_S)
        for _ in range(12)
    ]

    outcomes = await asyncio.gather(*(_attempt(call) for call in calls))

    notes = [note for note, error in outcomes if error is None]
    errors = [error for _, error in outcomes if error is not None]
    assert len(notes) == 6  # 6 × 15.00 = 90.00; a seventh would make 105.00
    for error in errors:
        if error.code == grpc.StatusCode.ABORTED:
            assert error.retry_delay_ms is not None, error
        else:
            assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CREDIT_NOTE_EXCEEDS_LINE")
            assert error.metadata["remaining"] == "10.00"
    assert sorted(note_sequence(n.credit_note_number) for n in notes) == list(range(1, 7))
    after = await get_invoice(api, invoice.id)
    assert after.amount_due == "10.00"
    assert after.version == invoice.version + 6
    assert sum(Decimal(n.total) for n in await list_notes(api, invoice_id=invoice.id)) == Decimal("90.00")


async def test_a_note_racing_the_void_of_its_invoice_one_wins(api: Api) -> None:
    customer = await create_customer(api)
    invoices = [await issue(api, (await create_invoice(api, customer)).id) for _ in range(8)]

    async def race(invoice: invoice_pb2.Invoice) -> tuple[StatusDetails | None, StatusDetails | None]:
        note = api.credit_notes.CreateCreditNote(
            note_request(invoice.id, (invoice.line_items[0].id, "5.00")), timeout=DEADLINE_S
        )
        void = api.invoices.VoidInvoice(
            invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice.id), timeout=DEADLINE_S
        )
        (_, note_error), (_, void_error) = await asyncio.gather(_attempt(note), _attempt(void))
        return note_error, void_error

    results = await asyncio.gather(*(race(invoice) for invoice in invoices))

    notes = {n.invoice_id: n for n in await list_notes(api)}
    for invoice, (note_error, void_error) in zip(invoices, results, strict=True):
        after = await get_invoice(api, invoice.id)
        if note_error is None:
            assert void_error is not None
            assert (void_error.code, void_error.reason) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "INVOICE_HAS_CREDIT_NOTES",
            )
            assert (after.status, after.amount_due) == (invoice_pb2.INVOICE_STATUS_ISSUED, "25.00")
            assert [n.id for n in after.credit_notes] == [notes[invoice.id].id]
        else:
            assert void_error is None, void_error
            assert (note_error.code, note_error.reason) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "INVOICE_NOT_CREDITABLE",
            )
            assert after.status == invoice_pb2.INVOICE_STATUS_VOID
            assert not after.credit_notes
            assert invoice.id not in notes
    assert sorted(note_sequence(n.credit_note_number) for n in notes.values()) == list(range(1, len(notes) + 1))
    await assert_balance_matches_ledger(api, customer.id)


async def test_concurrent_voids_of_one_note_undo_it_once(api: Api) -> None:
    customer = await create_customer(api)
    invoice = await issue(api, (await create_invoice(api, customer)).id)
    paid = await api.invoices.MarkInvoicePaid(
        invoice_service_pb2.MarkInvoicePaidRequest(invoice_id=invoice.id, payment_received_date=invoice.invoice_date)
    )
    refund = await api.credit_notes.CreateCreditNote(note_request(paid.id, (paid.line_items[0].id, "12.00")))
    calls = [
        api.credit_notes.VoidCreditNote(
            credit_note_service_pb2.VoidCreditNoteRequest(credit_note_id=refund.id), timeout=DEADLINE_S
        )
        for _ in range(6)
    ]

    outcomes = await asyncio.gather(*(_attempt(call) for call in calls))

    assert sum(error is None for _, error in outcomes) == 1
    assert {(e.code, e.reason) for _, e in outcomes if e is not None} <= {
        (grpc.StatusCode.FAILED_PRECONDITION, "CREDIT_NOTE_VOID")
    }
    assert await assert_balance_matches_ledger(api, customer.id) == Decimal("0.00")
