"""GetInvoiceDocument: a real PDF for every invoice, fetched over a real channel and read back with pypdf.

Every name, number and date a finance team reads is looked for in the text extracted from the PDF: USD,
JPY and KWD invoices, a draft, an issued, a paid and a voided one. The same version renders to the same
bytes; a new version renders differently; bad requests get the contract's codes.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest
from invoicing.v1 import common_pb2, customer_service_pb2, document_pb2, invoice_service_pb2, price_pb2

from server.app import RunningServer
from tests.support.builders import (
    create_customer,
    create_invoice,
    create_plan,
    date,
    event,
    fixed_fee,
    line,
    metadata_request,
    metric,
    subscribe,
    tiered,
    today_utc,
    usage_price,
)
from tests.support.calls import adjust_balance, get_invoice, ingest, invoices_of, issue, mark_paid, void
from tests.support.client import Api, expect_error
from tests.support.clock import Clock, run_billing
from tests.support.documents import fetch_document, pages_text, set_profile, text_of

PERIOD = "2024-01-01 – 2024-01-31"


def polish_customer() -> dict[str, object]:
    """A customer whose name and city need more than ASCII, with an address and an EU VAT id."""
    return {
        "name": "Łódź GmbH",
        "email": "ap@lodz.example",
        "billing_address": common_pb2.Address(
            line1="ul. Piotrkowska 104", postal_code="90-926", city="Łódź", country="PL"
        ),
        "tax_id": common_pb2.CustomerTaxId(
            country=common_pb2.TAX_ID_COUNTRY_PL, type=common_pb2.TAX_ID_TYPE_EU_VAT, value="PL7251234567"
        ),
        "net_terms": 15,
    }


async def seller_profile(api: Api) -> None:
    """The account's seller profile, printed in the "From" block."""
    await set_profile(
        api,
        name="Northwind Analytics Inc.",
        email="billing@northwind.example",
        address=common_pb2.Address(line1="500 Market Street", city="San Francisco", state="CA", postal_code="94105",
                                   country="US"),
        tax_id=common_pb2.CustomerTaxId(
            country=common_pb2.TAX_ID_COUNTRY_US, type=common_pb2.TAX_ID_TYPE_US_EIN, value="12-3456789"
        ),
        payment_instructions="Wire to First Example Bank, account 000123456789",
    )  # fmt: skip


async def discounted_usd_invoice(api: Api) -> tuple[str, str]:
    """An issued USD invoice: two lines, a $20 discount spread over them, a $50 credit applied. (id, customer id)"""
    customer = await create_customer(api, **polish_customer())
    await adjust_balance(api, customer.id, "50.00")
    invoice = await create_invoice(
        api,
        customer,
        line_items=[line("Seats", "3", "49.99"), line("API calls", "125000", "0.0004")],
        discount={"discount_type": "DISCOUNT_TYPE_AMOUNT", "amount_discount": "20.00", "reason": "launch credit"},
        memo="October usage, thank you.",
    )
    await issue(api, invoice.id)
    return invoice.id, customer.id


async def test_an_issued_usd_invoice_prints_every_party_number_and_date(api: Api) -> None:
    await seller_profile(api)
    invoice_id, _ = await discounted_usd_invoice(api)
    invoice = await get_invoice(api, invoice_id)
    due = dt.date(invoice.due_date.year, invoice.due_date.month, invoice.due_date.day)

    fetched = await fetch_document(api, invoice_id)
    text = text_of(fetched.data)

    assert fetched.first.filename == f"{invoice.invoice_number}.pdf"
    assert fetched.first.version == invoice.version
    for expected in (
        # the seller
        "Northwind Analytics Inc.", "500 Market Street", "94105 San Francisco", "CA, US", "US EIN 12-3456789",
        "billing@northwind.example",
        # the customer
        "Łódź GmbH", "ul. Piotrkowska 104", "90-926 Łódź", "EU VAT PL7251234567", "ap@lodz.example",
        # the facts
        f"Invoice number {invoice.invoice_number}", "Invoice date 2024-02-01", f"Due date {due.isoformat()}",
        "Payment terms Net 15", "Currency USD",
        # the lines: name, period, quantity, unit amount, adjustments, amount
        f"Seats {PERIOD} 3 49.99 -15.00 134.97", f"API calls {PERIOD} 125,000 0.0004 -5.00 45.00",
        "Amount discount USD 20.00 on the invoice (launch credit) -15.00",
        "Amount discount USD 20.00 on the invoice (launch credit) -5.00",
        # the totals
        "Subtotal USD 199.97", "Discount (launch credit) USD -20.00", "Total USD 179.97",
        "Customer balance applied USD -50.00", "Amount due USD 129.97",
        # memo, payment instructions, footer
        "October usage, thank you.", "Wire to First Example Bank, account 000123456789",
        f"Invoice {invoice.invoice_number} · {invoice_id} · version {invoice.version}",
    ):  # fmt: skip
        assert expected in text, (expected, text)
    assert "DRAFT" not in text
    assert "PAID" not in text
    assert "VOID" not in text


async def test_a_paid_invoice_prints_its_payment_and_paid_date(api: Api) -> None:
    invoice_id, _ = await discounted_usd_invoice(api)
    received = today_utc() - dt.timedelta(days=2)
    paid = await mark_paid(
        api, invoice_id, payment_received_date=date(received), external_id="wire-7781", notes="paid by wire"
    )

    text = text_of((await fetch_document(api, invoice_id)).data)

    assert "PAID" in text
    assert f"Paid {received.isoformat()}" in text
    assert f"Received {received.isoformat()} · wire-7781 · paid by wire USD 129.97" in text
    assert f"version {paid.version}" in text
    assert "Amount due USD 129.97" in text
    assert "HOW TO PAY" not in text  # nothing left to pay


async def test_a_draft_is_marked_and_has_no_number_yet(api: Api) -> None:
    customer = await create_customer(api, name="Draft Customer Ltd", net_terms=30)
    invoice = await create_invoice(api, customer, line_items=[line("Seats", "2", "10.00")])

    fetched = await fetch_document(api, invoice.id)
    text = text_of(fetched.data)

    assert "DRAFT" in text
    assert "Invoice number Draft (numbered at issue)" in text
    assert "Due date 30 days after issue" in text
    assert f"Seats {PERIOD} 2 10.00 20.00" in text
    assert "Total USD 20.00" in text
    assert fetched.first.filename == f"{invoice.id}-draft.pdf"


async def test_a_voided_invoice_is_marked_and_shows_the_balance_given_back(api: Api) -> None:
    invoice_id, _ = await discounted_usd_invoice(api)
    voided = await void(api, invoice_id)
    voided_on = voided.voided_at.ToDatetime(tzinfo=dt.UTC).date()  # the customer's timezone is UTC

    text = text_of((await fetch_document(api, invoice_id)).data)

    assert "VOID" in text
    assert f"Voided {voided_on.isoformat()}" in text
    assert "Customer balance applied USD -50.00" in text
    assert f"Returned {voided_on.isoformat()} USD 50.00" in text
    assert "Wire to" not in text


async def test_jpy_amounts_have_no_decimals(api: Api) -> None:
    customer = await create_customer(api, name="株式会社テスト", currency="JPY", timezone="Asia/Tokyo")
    invoice = await create_invoice(
        api, customer, line_items=[line("Seats", "3", "1200"), line("API calls", "25000", "0.5")]
    )
    await issue(api, invoice.id)

    text = text_of((await fetch_document(api, invoice.id)).data)

    assert "株式会社テスト" in text
    assert f"Seats {PERIOD} 3 1,200 3,600" in text
    assert f"API calls {PERIOD} 25,000 0.5 12,500" in text
    assert "Total JPY 16,100" in text
    assert "Amount due JPY 16,100" in text
    assert "Amount (JPY)" in text
    assert "16,100.00" not in text


async def test_kwd_amounts_have_three_decimals(api: Api) -> None:
    customer = await create_customer(api, name="شركة الاختبار Kuwait", currency="KWD")
    invoice = await create_invoice(api, customer, line_items=[line("Seats", "2", "1.2345"), line("Support", "1", "10")])
    await issue(api, invoice.id)

    text = text_of((await fetch_document(api, invoice.id)).data)

    assert f"Seats {PERIOD} 2 1.2345 2.469" in text  # 2.469 exactly: half-up at the third decimal
    assert f"Support {PERIOD} 1 10 10.000" in text
    assert "Subtotal KWD 12.469" in text
    assert "Amount due KWD 12.469" in text


async def test_the_same_version_renders_the_same_bytes_and_a_new_version_does_not(api: Api) -> None:
    invoice_id, _ = await discounted_usd_invoice(api)
    invoice = await get_invoice(api, invoice_id)
    first = await fetch_document(api, invoice_id)
    again = await fetch_document(api, invoice_id)

    assert again.data == first.data
    assert again.first.sha256 == first.first.sha256
    assert invoice.invoice_pdf == (
        f"grpc://invoicing.v1.InvoiceService/GetInvoiceDocument?invoice_id={invoice_id}&version={invoice.version}"
    )

    changed = await api.invoices.UpdateInvoice(metadata_request(invoice_id, set={"po": "4711"}))
    after = await fetch_document(api, invoice_id)

    assert changed.version == invoice.version + 1
    assert after.first.version == changed.version
    assert after.data != first.data
    assert changed.invoice_pdf.endswith(f"&version={changed.version}")


async def test_an_issued_document_does_not_change_when_its_customer_or_seller_does(api: Api) -> None:
    """The parties are copied onto the invoice: later renames show on new invoices only."""
    await set_profile(api, name="Old Seller Name")
    invoice_id, customer_id = await discounted_usd_invoice(api)
    before = await fetch_document(api, invoice_id)

    await set_profile(api, name="New Seller Name")
    await api.customers.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(customer_id=customer_id, name="Renamed Customer")
    )
    after = await fetch_document(api, invoice_id)

    assert after.data == before.data
    text = text_of(after.data)
    assert "Old Seller Name" in text
    assert "Łódź GmbH" in text
    customer = await api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer_id))
    fresh = await create_invoice(api, customer)
    fresh_text = text_of((await fetch_document(api, fresh.id)).data)
    assert "New Seller Name" in fresh_text
    assert "Renamed Customer" in fresh_text


async def test_a_draft_takes_the_current_seller_when_it_is_issued(api: Api) -> None:
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    await set_profile(api, name="Seller Set After The Draft")

    assert "Seller Set After The Draft" not in text_of((await fetch_document(api, draft.id)).data)
    await issue(api, draft.id)
    assert "Seller Set After The Draft" in text_of((await fetch_document(api, draft.id)).data)


@pytest.mark.slow
async def test_five_hundred_lines_break_into_pages_that_each_repeat_the_table_heading(api: Api) -> None:
    customer = await create_customer(api)
    lines = [line(f"Item {n:03d}", "1", f"{n}.25") for n in range(1, 501)]
    invoice = await create_invoice(api, customer, line_items=lines, memo="Five hundred lines")

    fetched = await fetch_document(api, invoice.id)
    pages = pages_text(fetched.data)
    text = text_of(fetched.data)

    assert len(pages) >= 5
    for number, page in enumerate(pages, start=1):
        assert "Description Period Quantity Unit amount Adjustments Amount (USD)" in page, number
        assert f"Page {number} of {len(pages)}" in page
    for n in range(1, 501):
        assert f"Item {n:03d} {PERIOD} 1 {n}.25 {n}.25" in text, n
    assert "Total USD 125,375.00" in text  # sum of n + 0.25 for n in 1..500
    assert "Five hundred lines" in pages[-1]


async def test_unknown_foreign_and_malformed_requests_are_refused(api: Api, other_api: Api) -> None:
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)

    unknown = await expect_error(fetch_document(api, "inv_does_not_exist"))
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    foreign = await expect_error(fetch_document(other_api, invoice.id))
    assert (foreign.code, foreign.reason) == (grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    # A format number no DocumentFormat names (a newer client's, say): proto3 enums carry it on the wire.
    request = invoice_service_pb2.GetInvoiceDocumentRequest(invoice_id=invoice.id)
    request.MergeFromString(bytes([0x10, 7]))  # field 2 (format), varint 7
    unsupported = await expect_error(api.invoices.GetInvoiceDocument(request))
    assert unsupported.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(unsupported.field_violations) == {"format"}
    missing = await expect_error(api.invoices.GetInvoiceDocument(invoice_service_pb2.GetInvoiceDocumentRequest()))
    assert missing.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(missing.field_violations) == {"invoice_id"}
    # DOCUMENT_FORMAT_PDF, named or not, is served.
    named = await fetch_document(api, invoice.id, format=document_pb2.DOCUMENT_FORMAT_PDF)
    assert named.data == (await fetch_document(api, invoice.id)).data


async def test_a_subscription_invoice_prints_its_tiers_matrix_cells_and_package_price(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    """A generated invoice: tiered, matrix and package prices with their breakdown rows, under the lines."""
    clock.set(dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC))
    customer = await create_customer(clocked_api, auto_issuance=False)
    plan = await create_plan(
        clocked_api,
        fixed_fee("Platform", "49.00"),
        usage_price(
            "Tokens",
            billable=metric("llm", price_pb2.AGGREGATION_SUM, "tokens"),
            config=tiered(("0", "0.001"), ("10000", "0.0005")),
        ),
        usage_price(
            "Compute",
            billable=metric("compute", price_pb2.AGGREGATION_SUM, "hours"),
            config=price_pb2.MatrixConfig(
                dimensions=["region"],
                matrix_values=[price_pb2.MatrixValue(dimension_values=["eu"], unit_amount="0.125")],
                default_unit_amount="0.5",
            ),
        ),
        usage_price(
            "Active users",
            billable=metric("login", price_pb2.AGGREGATION_UNIQUE_COUNT, "user"),
            config=price_pb2.PackageConfig(package_amount="5.00", package_size=3),
        ),
    )
    await subscribe(clocked_api, customer, plan, "2024-03-01")
    march = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
    response = await ingest(
        clocked_api,
        [
            event(customer.id, march, name="llm", properties={"tokens": 25000}),
            event(customer.id, march, name="compute", properties={"region": "eu", "hours": 8}),
            event(customer.id, march, name="compute", properties={"region": "us", "hours": 3}),
            *(event(customer.id, march, name="login", properties={"user": u}) for u in ("ann", "bob", "cy", "dee")),
        ],
    )
    assert list(response.errors) == []
    await run_billing(clocked_server, clock, dt.datetime(2024, 4, 2, tzinfo=dt.UTC))  # this account's periods only
    [april] = [
        i for i in await invoices_of(clocked_api, customer_id=customer.id) if i.invoice_date == date("2024-04-01")
    ]

    text = text_of((await fetch_document(clocked_api, april.id)).data)

    march_period = "2024-03-01 – 2024-03-31"
    for expected in (
        "Platform 2024-04-01 – 2024-04-30 1 49.00 49.00",
        f"Tokens {march_period} 25,000 17.50",
        "Tier 0-10000 10,000 0.001 10.00",
        "Tier 10000+ 15,000 0.0005 7.50",
        f"Compute {march_period} 11 2.50",
        "eu 8 0.125 1.00",
        "Default 3 0.5 1.50",
        f"Active users {march_period} 4 5.00 / 3 10.00",
        "Total USD 79.00",
    ):
        assert expected in text, (expected, text)


async def test_concurrent_and_abandoned_calls_get_whole_identical_documents(api: Api) -> None:
    """Many calls at once share the render pool; a call abandoned by its deadline leaves the others whole."""
    customer = await create_customer(api, name="株式会社テスト")
    invoice = await create_invoice(api, customer, line_items=[line(f"Item {n}", "1", "2.00") for n in range(200)])
    request = invoice_service_pb2.GetInvoiceDocumentRequest(invoice_id=invoice.id)
    abandoned = [api.invoices.GetInvoiceDocument(request, timeout=0.001) for _ in range(4)]
    fetched = await asyncio.gather(*(fetch_document(api, invoice.id) for _ in range(6)))
    for call in abandoned:
        outcome = await expect_error(call)
        assert outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len({f.data for f in fetched}) == 1
    assert "Total USD 400.00" in text_of(fetched[0].data)
