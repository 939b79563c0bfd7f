"""Credit notes through the real server: worked examples, the rules of SPEC 14.1, and bad input.

The issue's example: an invoice of 60.00 + 40.00 issued with a 10.00 credit balance (amount due 90.00); a
25.00 note on the first line makes it 65.00; a note beyond what is left of a line is refused; after payment
a 15.00 note on the second line raises the balance by 15.00; voiding that note takes it back; the note
numbers are consecutive. Then our own numbers: an adjustment larger than the amount due, JPY and KWD, and
every refusal with its reason.
"""

from __future__ import annotations

from decimal import Decimal

import grpc
from invoicing.v1 import credit_note_service_pb2, customer_pb2, invoice_pb2, invoice_service_pb2

from tests.support.builders import create_customer, create_invoice, line
from tests.support.calls import adjust_balance, balance_of, get_invoice, issue, ledger, mark_paid, void
from tests.support.checks import assert_balance_matches_ledger
from tests.support.client import Api, expect_error
from tests.support.credit_notes import (
    ADJUSTMENT,
    REFUND,
    create_note,
    events_of,
    get_note,
    list_notes,
    note_request,
    void_note,
)

ACTIONS = customer_pb2.BalanceTransactionAction


async def _issued_example(api: Api) -> tuple[invoice_pb2.Invoice, str]:
    """60.00 + 40.00, issued with a 10.00 credit balance: (the invoice, its customer id)."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "10.00")
    draft = await create_invoice(api, customer, line_items=[line("Seats", "1", "60.00"), line("Support", "1", "40.00")])
    issued = await issue(api, draft.id)
    assert (issued.total, issued.amount_due) == ("100.00", "90.00")
    return issued, customer.id


async def test_the_worked_example_adjustment_refund_and_void(api: Api) -> None:
    issued, customer_id = await _issued_example(api)
    first, second = (item.id for item in issued.line_items)

    adjustment = await create_note(api, issued.id, (first, "25.00"))
    after_adjustment = await get_invoice(api, issued.id)
    assert after_adjustment.amount_due == "65.00"
    assert after_adjustment.version == issued.version + 1
    assert after_adjustment.status == invoice_pb2.INVOICE_STATUS_ISSUED
    assert (adjustment.type, adjustment.total, adjustment.applied_to_amount_due, adjustment.credited_to_balance) == (
        ADJUSTMENT,
        "25.00",
        "25.00",
        "0.00",
    )
    assert [(n.id, n.credit_note_number, n.type, n.total, n.reason) for n in after_adjustment.credit_notes] == [
        (adjustment.id, adjustment.credit_note_number, "adjustment", "25.00", "product_unsatisfactory")
    ]
    assert await balance_of(api, customer_id) == Decimal("0.00")  # the 10.00 went to the invoice at issue

    beyond = await expect_error(api.credit_notes.CreateCreditNote(note_request(issued.id, (first, "35.01"))))
    assert beyond.code == grpc.StatusCode.FAILED_PRECONDITION
    assert beyond.reason == "CREDIT_NOTE_EXCEEDS_LINE"
    assert beyond.metadata == {"invoice_line_item_id": first, "remaining": "35.00"}
    assert await get_invoice(api, issued.id) == after_adjustment

    paid = await mark_paid(api, issued.id)
    assert [p.amount for p in paid.payments] == ["65.00"]

    refund = await create_note(api, issued.id, (second, "15.00"))
    assert (refund.type, refund.applied_to_amount_due, refund.credited_to_balance) == (REFUND, "0.00", "15.00")
    assert await balance_of(api, customer_id) == Decimal("15.00")
    after_refund = await get_invoice(api, issued.id)
    assert after_refund.amount_due == "65.00"  # a refund does not change what was due
    [applied] = [
        t for t in await ledger(api, customer_id) if t.action == ACTIONS.BALANCE_TRANSACTION_ACTION_CREDIT_NOTE_APPLIED
    ]
    assert (applied.amount, applied.credit_note.id, applied.invoice.id) == ("15.00", refund.id, issued.id)
    assert [t.id for t in refund.customer_balance_transactions] == [applied.id]

    voided = await void_note(api, refund.id)
    assert voided.HasField("voided_at")
    assert voided.version == 2
    assert await balance_of(api, customer_id) == Decimal("0.00")
    taken_back = [
        t for t in await ledger(api, customer_id) if t.action == ACTIONS.BALANCE_TRANSACTION_ACTION_CREDIT_NOTE_VOIDED
    ]
    assert [(t.amount, t.credit_note.id, t.type) for t in taken_back] == [
        ("15.00", refund.id, customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT)
    ]
    assert [t.id for t in voided.customer_balance_transactions] == [applied.id, taken_back[0].id]
    await assert_balance_matches_ledger(api, customer_id)

    numbers = [adjustment.credit_note_number, refund.credit_note_number]
    assert numbers == ["CN-00001", "CN-00002"]  # the refused note took no number
    final = await get_invoice(api, issued.id)
    assert [(n.credit_note_number, n.HasField("voided_at")) for n in final.credit_notes] == [
        ("CN-00001", False),
        ("CN-00002", True),
    ]


async def test_an_adjustment_beyond_the_amount_due_credits_the_rest_and_pays_the_invoice(api: Api) -> None:
    """Our numbers: 30.00 + 20.00 with 45.00 of credit: 5.00 due; a 12.50 note takes 5.00 off, 7.50 to the balance."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "45.00")
    draft = await create_invoice(api, customer, line_items=[line("A", "1", "30.00"), line("B", "2", "10.00")])
    issued = await issue(api, draft.id)
    assert issued.amount_due == "5.00"

    note = await create_note(api, issued.id, (issued.line_items[1].id, "12.50"))

    assert (note.applied_to_amount_due, note.credited_to_balance) == ("5.00", "7.50")
    invoice = await get_invoice(api, issued.id)
    assert (invoice.status, invoice.amount_due) == (invoice_pb2.INVOICE_STATUS_PAID, "0.00")
    assert invoice.HasField("paid_at")
    assert not invoice.payments  # paid by the credit note, not by a payment
    assert await balance_of(api, customer.id) == Decimal("7.50")
    # The invoice is settled: the adjustment can no longer be undone (the balance can be adjusted instead).
    refused = await expect_error(
        api.credit_notes.VoidCreditNote(credit_note_service_pb2.VoidCreditNoteRequest(credit_note_id=note.id))
    )
    assert (refused.code, refused.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_NOT_ISSUED")
    # A further note on the paid invoice is a refund of the rest of the line.
    refund = await create_note(api, issued.id, (issued.line_items[1].id, "7.50"))
    assert refund.type == REFUND
    assert await balance_of(api, customer.id) == Decimal("15.00")
    over = await expect_error(
        api.credit_notes.CreateCreditNote(note_request(issued.id, (issued.line_items[1].id, "0.01")))
    )
    assert over.reason == "CREDIT_NOTE_EXCEEDS_LINE"
    assert over.metadata["remaining"] == "0.00"
    await assert_balance_matches_ledger(api, customer.id)


async def test_amounts_follow_the_currency_minor_unit(api: Api) -> None:
    """JPY has no decimals and KWD three: a note in each, and an amount finer than the currency refused."""
    yen = await create_customer(api, currency="JPY")
    invoice = await issue(api, (await create_invoice(api, yen, line_items=[line("Plan", "1", "12000")])).id)
    note = await create_note(api, invoice.id, (invoice.line_items[0].id, "2500"))
    assert (note.total, note.currency) == ("2500", "JPY")
    assert (await get_invoice(api, invoice.id)).amount_due == "9500"
    too_fine = await expect_error(
        api.credit_notes.CreateCreditNote(note_request(invoice.id, (invoice.line_items[0].id, "1.5")))
    )
    assert too_fine.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(too_fine.field_violations) == ["line_items[0].amount"]

    dinar = await create_customer(api, currency="KWD")
    kwd = await issue(api, (await create_invoice(api, dinar, line_items=[line("Plan", "1", "10.125")])).id)
    note = await create_note(api, kwd.id, (kwd.line_items[0].id, "0.125"))
    assert note.total == "0.125"
    assert (await get_invoice(api, kwd.id)).amount_due == "10.000"


async def test_voiding_an_invoice_with_a_live_adjustment_is_refused_until_the_note_is_voided(api: Api) -> None:
    customer = await create_customer(api)
    invoice = await issue(api, (await create_invoice(api, customer)).id)
    note = await create_note(api, invoice.id, (invoice.line_items[0].id, "5.00"))
    before = await get_invoice(api, invoice.id)

    refused = await expect_error(
        api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice.id))
    )

    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.reason == "INVOICE_HAS_CREDIT_NOTES"
    assert refused.metadata == {"credit_notes": note.credit_note_number}
    assert await get_invoice(api, invoice.id) == before
    voided_note = await void_note(api, note.id, expected_version=before.version)
    assert voided_note.HasField("voided_at")
    restored = await get_invoice(api, invoice.id)
    assert restored.amount_due == "30.00"
    assert (await void(api, invoice.id)).status == invoice_pb2.INVOICE_STATUS_VOID
    again = await expect_error(
        api.credit_notes.VoidCreditNote(credit_note_service_pb2.VoidCreditNoteRequest(credit_note_id=note.id))
    )
    assert (again.code, again.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CREDIT_NOTE_VOID")


async def test_notes_are_refused_on_drafts_and_void_invoices_and_name_their_reason(api: Api) -> None:
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    voided = await void(api, (await issue(api, (await create_invoice(api, customer)).id)).id)
    for invoice, status in ((draft, "draft"), (voided, "void")):
        error = await expect_error(
            api.credit_notes.CreateCreditNote(note_request(invoice.id, (invoice.line_items[0].id, "1.00")))
        )
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert error.reason == "INVOICE_NOT_CREDITABLE"
        assert error.metadata == {"status": status, "action": "credit"}
    assert await list_notes(api) == []


async def test_bad_requests_name_the_field_and_change_nothing(api: Api) -> None:
    customer = await create_customer(api)
    invoice = await issue(api, (await create_invoice(api, customer, line_items=[line(), line("Extra")])).id)
    first, second = (item.id for item in invoice.line_items)
    other = await issue(api, (await create_invoice(api, customer)).id)
    stub = api.credit_notes
    cases = {
        "line_items": note_request(invoice.id),
        "line_items[0].amount": note_request(invoice.id, (first, "0")),
        "line_items[1].amount": note_request(invoice.id, (first, "1.00"), (second, "-1")),
        "line_items[1].invoice_line_item_id": note_request(invoice.id, (first, "1.00"), (first, "2.00")),
        "reason": note_request(invoice.id, (first, "1.00"), reason=0),
        "invoice_id": note_request("", (first, "1.00")),
    }
    for field, request in cases.items():
        error = await expect_error(stub.CreateCreditNote(request))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in error.field_violations, (field, error.field_violations)
    duplicate = await expect_error(stub.CreateCreditNote(note_request(invoice.id, (first, "1.00"), (first, "2.00"))))
    assert duplicate.violation_reasons == {"line_items[1].invoice_line_item_id": "FIELD_CONFLICT"}
    foreign_line = await expect_error(stub.CreateCreditNote(note_request(invoice.id, (other.line_items[0].id, "1.00"))))
    assert (foreign_line.code, foreign_line.reason) == (grpc.StatusCode.NOT_FOUND, "LINE_ITEM_NOT_FOUND")
    unknown = await expect_error(stub.CreateCreditNote(note_request("inv_missing", (first, "1.00"))))
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    stale = await expect_error(
        stub.CreateCreditNote(note_request(invoice.id, (first, "1.00"), expected_version=invoice.version - 1))
    )
    assert (stale.code, stale.reason) == (grpc.StatusCode.ABORTED, "VERSION_MISMATCH")
    missing = await expect_error(
        stub.GetCreditNote(credit_note_service_pb2.GetCreditNoteRequest(credit_note_id="cn_missing"))
    )
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "CREDIT_NOTE_NOT_FOUND")
    assert await get_invoice(api, invoice.id) == invoice
    assert await list_notes(api) == []


async def test_another_accounts_notes_are_not_found(api: Api, other_api: Api) -> None:
    customer = await create_customer(other_api)
    invoice = await issue(other_api, (await create_invoice(other_api, customer)).id)
    note = await create_note(other_api, invoice.id, (invoice.line_items[0].id, "1.00"))
    stub = api.credit_notes
    for call in (
        stub.GetCreditNote(credit_note_service_pb2.GetCreditNoteRequest(credit_note_id=note.id)),
        stub.VoidCreditNote(credit_note_service_pb2.VoidCreditNoteRequest(credit_note_id=note.id)),
        stub.CreateCreditNote(note_request(invoice.id, (invoice.line_items[0].id, "1.00"))),
    ):
        error = await expect_error(call)
        assert error.code == grpc.StatusCode.NOT_FOUND
    assert await list_notes(api, invoice_id=invoice.id) == []
    assert (await get_note(other_api, note.id)) == note


async def test_a_retry_with_the_same_request_id_replays_the_note(api: Api) -> None:
    customer = await create_customer(api)
    invoice = await issue(api, (await create_invoice(api, customer)).id)
    request = note_request(invoice.id, (invoice.line_items[0].id, "3.00"), request_id="note-1", memo="late delivery")
    first = await api.credit_notes.CreateCreditNote(request)
    again = await api.credit_notes.CreateCreditNote(request)
    assert again == first
    assert len(await list_notes(api)) == 1
    assert (await get_invoice(api, invoice.id)).amount_due == "27.00"
    request.line_items[0].amount = "4.00"
    reused = await expect_error(api.credit_notes.CreateCreditNote(request))
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")


async def test_list_filters_by_customer_invoice_and_time_and_resumes(api: Api) -> None:
    alice, bob = await create_customer(api), await create_customer(api)
    notes = []
    for customer in (alice, bob, alice):
        invoice = await issue(api, (await create_invoice(api, customer)).id)
        notes.append(await create_note(api, invoice.id, (invoice.line_items[0].id, "1.00")))
    newest_first = [n.id for n in reversed(notes)]
    assert [n.id for n in await list_notes(api)] == newest_first
    assert [n.id for n in await list_notes(api, customer_id=alice.id)] == [notes[2].id, notes[0].id]
    assert [n.id for n in await list_notes(api, external_customer_id=bob.external_customer_id)] == [notes[1].id]
    assert [n.id for n in await list_notes(api, invoice_id=notes[1].invoice_id)] == [notes[1].id]
    assert [n.id for n in await list_notes(api, created_at_gt=notes[0].created_at)] == newest_first[:2]
    assert [n.id for n in await list_notes(api, created_at_lte=notes[0].created_at)] == [notes[0].id]
    first = [
        batch
        async for batch in api.credit_notes.ListCreditNotes(credit_note_service_pb2.ListCreditNotesRequest(limit=1))
    ]
    assert [n.id for n in first[0].credit_notes] == newest_first[:1]
    rest = await list_notes(api, resume_token=first[-1].resume_token)
    assert [n.id for n in rest] == newest_first[1:]
    tampered = await expect_error(
        api.credit_notes.ListCreditNotes(
            credit_note_service_pb2.ListCreditNotesRequest(customer_id=alice.id, resume_token=first[-1].resume_token)
        )
    )
    assert tampered.reason == "RESUME_TOKEN_INVALID"


async def test_notes_are_on_the_change_stream_with_the_invoice_they_changed(api: Api) -> None:
    customer = await create_customer(api)
    invoice = await issue(api, (await create_invoice(api, customer)).id)
    note = await create_note(api, invoice.id, (invoice.line_items[0].id, "2.00"))
    credited = await get_invoice(api, invoice.id)
    await void_note(api, note.id)
    restored = await get_invoice(api, invoice.id)
    kinds = [invoice_pb2.INVOICE_EVENT_TYPE_CREDIT_NOTE_CREATED, invoice_pb2.INVOICE_EVENT_TYPE_CREDIT_NOTE_VOIDED]
    events = await events_of(api, 2, customer_id=customer.id, types=kinds)
    assert [(e.type, e.version, e.invoice) for e in events] == [
        (invoice_pb2.INVOICE_EVENT_TYPE_CREDIT_NOTE_CREATED, credited.version, credited),
        (invoice_pb2.INVOICE_EVENT_TYPE_CREDIT_NOTE_VOIDED, restored.version, restored),
    ]
