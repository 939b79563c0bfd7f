"""Sample documents built from domain records in memory: the pictures in the README and the benchmark.

It shows most of what a document can hold: a seller with a profile, a customer with a non-Latin name,
a billing address and a tax id, a subscription line with tiers, a discounted line, a one-off line, the
customer balance applied, a memo and payment instructions. `lines` adds that many more one-off lines. The
sample credit note credits two of its lines, partly off the amount due and partly to the customer balance.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from server.domain.accounts import Seller
from server.domain.credit_notes import CreditNote, CreditNoteKind, CreditNoteLine, CreditNoteReason
from server.domain.customers import Address, BalanceAction, BalanceDirection, BalanceTransaction
from server.domain.documents import (
    BilledCustomer,
    CreditedInvoice,
    CreditNoteDocument,
    DocumentParties,
    InvoiceDocument,
)
from server.domain.invoices import (
    AdjustmentKind,
    Invoice,
    InvoiceHeader,
    InvoiceSource,
    InvoiceStatus,
    Line,
    LineAdjustment,
)
from server.domain.tax_ids import TaxId

_UTC = dt.UTC
_ISSUED = dt.datetime(2026, 11, 1, 9, 30, tzinfo=_UTC)

SELLER = Seller(
    name="Northwind Analytics Inc.",
    email="billing@northwind.example",
    address=Address(
        line1="500 Market Street",
        line2="Suite 1200",
        city="San Francisco",
        state="CA",
        postal_code="94105",
        country="US",
    ),
    tax_id=TaxId(country="US", type="us_ein", value="12-3456789"),
    payment_instructions="Wire to Northwind Analytics Inc., First Example Bank, account 000123456789, "
    "routing 021000021, quoting the invoice number.",
)
CUSTOMER = BilledCustomer(name="株式会社テスト", email="keiri@test.example.jp", timezone="Asia/Tokyo")
BILLING_ADDRESS = Address(line1="千代田区丸の内1-1-1", city="東京都", postal_code="100-0005", country="JP")


def _tiered_price() -> dict[str, object]:
    return {
        "id": "price_api_calls",
        "name": "API calls",
        "model_type": "tiered",
        "tiered_config": {
            "tiers": [
                {"first_unit": "0", "last_unit": "100000", "unit_amount": "0"},
                {"first_unit": "100000", "unit_amount": "0.0004"},
            ]
        },
    }


_PERIOD = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))


def _single_line(name: str, amount: Decimal, period: tuple[dt.date, dt.date], line_id: str, **fields: Any) -> Line:
    """A line of one unit at `amount`, without adjustments."""
    return Line(
        name=name,
        quantity=Decimal(1),
        unit_amount=amount,
        start_date=period[0],
        end_date=period[1],
        subtotal=amount,
        adjustments=(),
        adjusted_subtotal=amount,
        amount=amount,
        id=line_id,
        **fields,
    )


def sample_lines(extra: int = 0) -> list[Line]:
    """The sample's lines, and `extra` more one-off lines."""
    start, end = _PERIOD
    platform_price = {"id": "price_platform", "name": "Platform fee", "model_type": "unit"}
    lines = [
        _single_line(
            "Platform fee",
            Decimal("490.00"),
            (dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
            "ili_platform",
            is_one_off=False,
            price_data=platform_price,
        ),
        Line(
            name="API calls",
            quantity=Decimal(1_250_000),
            unit_amount=Decimal(0),
            start_date=start,
            end_date=end,
            subtotal=Decimal("460.00"),
            adjustments=(),
            adjusted_subtotal=Decimal("460.00"),
            amount=Decimal("460.00"),
            is_one_off=False,
            id="ili_api",
            price_data=_tiered_price(),
            sub_line_data=(
                {
                    "type": "tier",
                    "name": "Tier 0-100000",
                    "quantity": "100000",
                    "amount": "0.00",
                    "tier_config": {"first_unit": "0", "last_unit": "100000", "unit_amount": "0"},
                },
                {
                    "type": "tier",
                    "name": "Tier 100000+",
                    "quantity": "1150000",
                    "amount": "460.00",
                    "tier_config": {"first_unit": "100000", "last_unit": "", "unit_amount": "0.0004"},
                },
            ),
        ),
        Line(
            name="Analyst seats",
            quantity=Decimal(12),
            unit_amount=Decimal("45.00"),
            start_date=start,
            end_date=end,
            subtotal=Decimal("540.00"),
            adjustments=(
                LineAdjustment(
                    AdjustmentKind.PERCENTAGE_DISCOUNT, Decimal("-54.00"), Decimal("0.1"), False, "annual commitment"
                ),
            ),
            adjusted_subtotal=Decimal("486.00"),
            amount=Decimal("486.00"),
            id="ili_seats",
        ),
        _single_line(
            "Onboarding workshop (Łódź office)",
            Decimal("250.00"),
            (dt.date(2026, 10, 14), dt.date(2026, 10, 14)),
            "ili_onboarding",
        ),
    ]
    for n in range(extra):
        amount = Decimal(n % 97) + Decimal("0.25")
        lines.append(_single_line(f"Usage report {n + 1:03d}", amount, _PERIOD, f"ili_extra_{n}"))
    return lines


def sample_document(extra_lines: int = 0) -> InvoiceDocument:
    """An issued USD invoice from Northwind Analytics to 株式会社テスト, with a credit balance applied."""
    lines = sample_lines(extra_lines)
    subtotal = sum((line.subtotal for line in lines), Decimal(0))
    total = sum((line.amount for line in lines), Decimal(0))
    credit = Decimal("100.00")
    header = InvoiceHeader(
        id="inv_sample0000000000000001",
        customer_id="cus_sample00000000000000001",
        subscription_id="sub_sample0000000000000001",
        billing_boundary=None,
        source=InvoiceSource.SUBSCRIPTION,
        status=InvoiceStatus.ISSUED,
        version=3,
        invoice_number="NW-00042",
        currency="USD",
        invoice_date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 12, 1),
        net_terms=30,
        subtotal=subtotal,
        total=total,
        amount_due=total - credit,
        memo="Thank you for your business. Questions about this invoice: billing@northwind.example.",
        metadata={},
        discounts=(),
        minimum_amount=None,
        maximum_amount=None,
        auto_collection=False,
        will_auto_issue=True,
        billing_address=BILLING_ADDRESS,
        shipping_address=None,
        customer_tax_id=TaxId(country="JP", type="jp_cn", value="1234567890123"),
        hosted_invoice_url="",
        invoice_pdf="",
        eligible_to_issue_at=None,
        scheduled_issue_at=None,
        issued_at=_ISSUED,
        paid_at=None,
        voided_at=None,
        issue_failed_at=None,
        payment_started_at=None,
        payment_failed_at=None,
        sync_failed_at=None,
        created_at=_ISSUED - dt.timedelta(hours=12),
        updated_at=_ISSUED,
    )
    applied = BalanceTransaction(
        id="cbt_sample",
        customer_id=header.customer_id,
        action=BalanceAction.APPLIED_TO_INVOICE,
        direction=BalanceDirection.DECREMENT,
        amount=credit,
        starting_balance=credit,
        ending_balance=Decimal("0.00"),
        invoice_id=header.id,
        credit_note_id=None,
        description="",
        created_at=_ISSUED,
    )
    invoice = Invoice(
        header=header,
        external_customer_id="test-kk",
        lines=tuple(lines),
        balance_transactions=(applied,),
        payments=(),
    )
    return InvoiceDocument(invoice=invoice, parties=DocumentParties(seller=SELLER, customer=CUSTOMER))


def sample_credit_note_document() -> CreditNoteDocument:
    """An adjustment note on the sample invoice: two seats and the workshop, 30.00 of it to the balance."""
    invoice = sample_document().invoice
    header = invoice.header
    created = _ISSUED + dt.timedelta(days=9, hours=2)
    lines = (
        CreditNoteLine("cnl_sample1", "ili_seats", "Analyst seats", Decimal("81.00"), *_PERIOD),
        CreditNoteLine(
            "cnl_sample2",
            "ili_onboarding",
            "Onboarding workshop (Łódź office)",
            Decimal("250.00"),
            dt.date(2026, 10, 14),
            dt.date(2026, 10, 14),
        ),
    )
    credited = Decimal("30.00")
    note = CreditNote(
        id="cn_sample00000000000000001",
        number="CN-00007",
        invoice_id=header.id,
        invoice_number=header.invoice_number,
        customer_id=header.customer_id,
        external_customer_id=invoice.external_customer_id,
        currency=header.currency,
        kind=CreditNoteKind.ADJUSTMENT,
        reason=CreditNoteReason.ORDER_CHANGE,
        memo="Two analyst seats were cancelled before October, and the workshop moved to next quarter.",
        total=Decimal("331.00"),
        applied_to_amount_due=Decimal("301.00"),
        credited_to_balance=credited,
        lines=lines,
        balance_transactions=(
            BalanceTransaction(
                id="cbt_sample_note",
                customer_id=header.customer_id,
                action=BalanceAction.CREDIT_NOTE_APPLIED,
                direction=BalanceDirection.INCREMENT,
                amount=credited,
                starting_balance=Decimal("0.00"),
                ending_balance=credited,
                invoice_id=header.id,
                credit_note_id="cn_sample00000000000000001",
                description="Credit note CN-00007",
                created_at=created,
            ),
        ),
        created_at=created,
        voided_at=None,
    )
    return CreditNoteDocument(
        note=note,
        invoice=CreditedInvoice(
            header.invoice_number, header.invoice_date, header.billing_address, header.customer_tax_id
        ),
        parties=DocumentParties(seller=SELLER, customer=CUSTOMER),
    )
