"""GetCreditNoteDocument, and invoice documents that list real credit notes: real PDFs read back with pypdf.

A credit note prints with the same layout as an invoice: the seller and the customer copied onto the
invoice, the note's number, date, invoice, type and reason, each credited line with its period, the total
and how it was applied, the ledger rows, the memo, and a VOID mark once voided. The same version renders
to the same bytes; voiding makes version 2. The invoice's own document lists its notes and takes live
adjustments off the amount due.
"""

from __future__ import annotations

import datetime as dt

import grpc
from invoicing.v1 import common_pb2, credit_note_service_pb2, document_pb2

from tests.support.builders import create_customer, create_invoice, date, line
from tests.support.calls import adjust_balance, get_invoice, issue, mark_paid
from tests.support.client import Api, expect_error
from tests.support.credit_notes import create_note, void_note
from tests.support.documents import fetch_credit_note_document, fetch_document, set_profile, text_of

PERIOD = "2024-01-01 – 2024-01-31"


async def _polish_issued_invoice(api: Api) -> tuple[str, str, str]:
    """An issued USD invoice of 120.00 + 30.00 to a Polish customer: (invoice id, its number, its line ids)."""
    await set_profile(
        api,
        name="Northwind Analytics Inc.",
        address=common_pb2.Address(line1="500 Market Street", city="San Francisco", postal_code="94105", country="US"),
    )
    customer = await create_customer(
        api,
        name="Łódź GmbH",
        billing_address=common_pb2.Address(
            line1="ul. Piotrkowska 104", postal_code="90-926", city="Łódź", country="PL"
        ),
        tax_id=common_pb2.CustomerTaxId(
            country=common_pb2.TAX_ID_COUNTRY_PL, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="PL7251234567"
        ),
    )
    draft = await create_invoice(api, customer, line_items=[line("Seats", "4", "30.00"), line("Support", "1", "30.00")])
    invoice = await issue(api, draft.id)
    return invoice.id, invoice.invoice_number, ",".join(item.id for item in invoice.line_items)


async def test_an_adjustment_note_prints_its_parties_invoice_lines_and_how_it_was_applied(api: Api) -> None:
    invoice_id, number, lines = await _polish_issued_invoice(api)
    seats, support = lines.split(",")
    note = await create_note(api, invoice_id, (seats, "25.00"), (support, "10.50"), memo="Two seats unused.")
    issued_on = note.created_at.ToDatetime(tzinfo=dt.UTC).date()  # the customer's timezone is UTC

    fetched = await fetch_credit_note_document(api, note.id)
    text = text_of(fetched.data)

    assert (fetched.first.filename, fetched.first.version) == ("CN-00001.pdf", 1)
    assert note.credit_note_pdf == (
        f"grpc://invoicing.v1.CreditNoteService/GetCreditNoteDocument?credit_note_id={note.id}&version=1"
    )
    for expected in (
        "Credit note",
        "Northwind Analytics Inc.",
        "500 Market Street",
        "Łódź GmbH",
        "ul. Piotrkowska 104",
        "EU VAT PL7251234567",
        "Credit note number CN-00001",
        f"Issued {issued_on.isoformat()}",
        f"Invoice {number}",
        "Invoice date 2024-02-01",
        "Type Adjustment",
        "Reason Product unsatisfactory",
        "Currency USD",
        "Credited line Period Credited (USD)",
        f"Seats {PERIOD} 25.00",
        f"Support {PERIOD} 10.50",
        "Total credited USD 35.50",
        f"Taken off the amount due of invoice {number} USD -35.50",
        "Two seats unused.",
        f"Credit note CN-00001 · {note.id} · invoice {number} · version 1",
    ):
        assert expected in text, (expected, text)
    assert "VOID" not in text
    assert "Credited to the customer balance" not in text


async def test_a_refund_prints_the_balance_it_credited_and_once_voided_a_void_version(api: Api) -> None:
    invoice_id, number, lines = await _polish_issued_invoice(api)
    await mark_paid(api, invoice_id, payment_received_date=date("2024-02-03"))
    refund = await create_note(api, invoice_id, (lines.split(",")[1], "15.00"))
    first = await fetch_credit_note_document(api, refund.id)
    again = await fetch_credit_note_document(api, refund.id)

    voided = await void_note(api, refund.id)
    after = await fetch_credit_note_document(api, refund.id)
    day = voided.voided_at.ToDatetime(tzinfo=dt.UTC).date().isoformat()

    assert again.data == first.data
    assert after.data != first.data
    assert (first.first.version, after.first.version) == (1, 2)
    before_text, after_text = text_of(first.data), text_of(after.data)
    assert "Type Refund" in before_text
    assert "Credited to the customer balance USD +15.00" in before_text
    assert "Taken off the amount due" not in before_text
    assert f"Credited {refund.created_at.ToDatetime(tzinfo=dt.UTC).date().isoformat()} USD +15.00" in before_text
    assert "VOID" not in before_text
    assert "VOID" in after_text
    assert f"Voided {day}" in after_text
    assert f"Taken back on voiding {day} USD -15.00" in after_text
    assert f"invoice {number} · version 2" in after_text


async def test_yen_notes_print_without_decimals(api: Api) -> None:
    customer = await create_customer(api, currency="JPY", name="株式会社テスト")
    invoice = await issue(api, (await create_invoice(api, customer, line_items=[line("Seats", "3", "1200")])).id)
    note = await create_note(api, invoice.id, (invoice.line_items[0].id, "1200"))

    text = text_of((await fetch_credit_note_document(api, note.id)).data)

    assert "株式会社テスト" in text
    assert f"Seats {PERIOD} 1,200" in text
    assert "Total credited JPY 1,200" in text
    assert "1,200.00" not in text


async def test_the_invoice_document_lists_its_real_notes_and_takes_live_adjustments_off(api: Api) -> None:
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "10.00")
    invoice = await issue(
        api, (await create_invoice(api, customer, line_items=[line("A", "1", "60.00"), line("B", "1", "40.00")])).id
    )
    adjustment = await create_note(api, invoice.id, (invoice.line_items[0].id, "25.00"))
    day = adjustment.created_at.ToDatetime(tzinfo=dt.UTC).date().isoformat()

    text = text_of((await fetch_document(api, invoice.id)).data)

    assert "Customer balance applied USD -10.00" in text
    assert "Credit note CN-00001 USD -25.00" in text
    assert "Amount due USD 65.00" in text
    assert f"CN-00001 · {day} · Product unsatisfactory · adjustment USD 25.00" in text

    await void_note(api, adjustment.id)
    await mark_paid(api, invoice.id)
    refund = await create_note(api, invoice.id, (invoice.line_items[1].id, "5.00"))
    paid = await get_invoice(api, invoice.id)
    text = text_of((await fetch_document(api, invoice.id)).data)

    assert "Credit note CN-00001 USD" not in text  # void: no longer taken off
    assert "Credit note CN-00002 USD" not in text  # a refund goes to the balance, not off the amount due
    assert "Amount due USD 90.00" in text
    assert f"CN-00001 · {day} · Product unsatisfactory · adjustment · void USD 25.00" in text
    assert f"{refund.credit_note_number} · {day} · Product unsatisfactory · refund USD 5.00" in text
    assert f"version {paid.version}" in text


async def test_unknown_foreign_and_malformed_requests_are_refused(api: Api, other_api: Api) -> None:
    customer = await create_customer(api)
    invoice = await issue(api, (await create_invoice(api, customer)).id)
    note = await create_note(api, invoice.id, (invoice.line_items[0].id, "1.00"))

    unknown = await expect_error(fetch_credit_note_document(api, "cn_does_not_exist"))
    foreign = await expect_error(fetch_credit_note_document(other_api, note.id))
    request = credit_note_service_pb2.GetCreditNoteDocumentRequest(credit_note_id=note.id)
    request.MergeFromString(bytes([0x10, 7]))  # field 2 (format), varint 7: a format no DocumentFormat names
    unsupported = await expect_error(api.credit_notes.GetCreditNoteDocument(request))
    missing = await expect_error(
        api.credit_notes.GetCreditNoteDocument(credit_note_service_pb2.GetCreditNoteDocumentRequest())
    )

    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "CREDIT_NOTE_NOT_FOUND")
    assert (foreign.code, foreign.reason) == (grpc.StatusCode.NOT_FOUND, "CREDIT_NOTE_NOT_FOUND")
    assert (unsupported.code, set(unsupported.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"format"})
    assert (missing.code, set(missing.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"credit_note_id"})
    named = await fetch_credit_note_document(api, note.id, format=document_pb2.DOCUMENT_FORMAT_PDF)
    assert named.data == (await fetch_credit_note_document(api, note.id)).data
