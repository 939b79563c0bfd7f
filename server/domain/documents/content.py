"""What a document says: domain records in, a `Sheet` of ready-to-print text out. Pure: no I/O, no protos.

A Sheet is the same shape for every kind of document (an invoice, a credit note): a title and
a status mark, the seller and the recipient, a few facts (number, dates), a table of lines with their
detail rows, the totals, and sections (payments, credit notes, memo, payment instructions). The PDF
layout (`server.domain.documents.pdf`) knows only Sheets, so a new kind of document is a new function that
builds one.

Every amount is printed at its currency's minor unit (JPY 12,000; USD 12.50; KWD 1.250) with grouped
thousands, the currency code in the table heading and on every total; unit amounts and quantities keep
their precision. Dates are ISO 8601; instants are printed as dates in the customer's timezone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from server.domain import money
from server.domain.accounts import Seller
from server.domain.customers import Address, BalanceAction, BalanceDirection, BalanceTransaction
from server.domain.documents import (
    BilledCustomer,
    CreditNoteDocument,
    CreditNoteSummary,
    DocumentParties,
    InvoiceDocument,
    local_date,
)
from server.domain.invoices import AdjustmentKind, InvoiceStatus, Line, LineAdjustment, Payment
from server.domain.tax_ids import TaxId


@dataclass(frozen=True)
class Party:
    """A block of the header: a heading ("From", "Bill to") and its lines, the first one the name."""

    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class TableRow:
    """A row of the line table; a "detail" row (tier, matrix cell, adjustment) belongs to the line above it."""

    kind: str  # "line" or "detail"
    description: str
    period: str = ""
    quantity: str = ""
    unit_amount: str = ""
    adjustments: str = ""
    amount: str = ""


@dataclass(frozen=True)
class TotalRow:
    """A row of the totals: label and amount (with its currency code); strong rows stand out."""

    label: str
    amount: str
    strong: bool = False


@dataclass(frozen=True)
class Entry:
    """A row of a section: what, and how much or when."""

    label: str
    value: str = ""


@dataclass(frozen=True)
class Section:
    """A titled block under the totals: entries, or a paragraph of text."""

    title: str
    entries: tuple[Entry, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Sheet:
    """A whole document, as text ready to lay out."""

    title: str  # "Invoice"
    mark: str  # "DRAFT", "VOID", "PAID" or ""
    seller: Party
    recipient: Party
    facts: tuple[Entry, ...]
    columns: tuple[str, str, str, str, str, str]
    rows: tuple[TableRow, ...]
    totals: tuple[TotalRow, ...]
    sections: tuple[Section, ...]
    footer: str
    # PDF metadata: document title, author (the seller) and the instant this version was made.
    document_title: str
    author: str
    created_at: dt.datetime
    keywords: tuple[str, ...] = field(default=())

    def as_data(self) -> dict[str, Any]:
        """The sheet as plain JSON-ready data (what the layout reads)."""
        return {
            "title": self.title,
            "mark": self.mark,
            "seller": _party(self.seller),
            "recipient": _party(self.recipient),
            "facts": [_entry(e) for e in self.facts],
            "columns": list(self.columns),
            "rows": [vars(row) for row in self.rows],
            "totals": [vars(row) for row in self.totals],
            "sections": [
                {"title": s.title, "entries": [_entry(e) for e in s.entries], "text": s.text} for s in self.sections
            ],
            "footer": self.footer,
        }


def _party(party: Party) -> dict[str, Any]:
    return {"heading": party.heading, "lines": list(party.lines)}


def _entry(entry: Entry) -> dict[str, str]:
    return {"label": entry.label, "value": entry.value}


# --- numbers and dates -----------------------------------------------------------------------------


def amount_text(amount: Decimal, currency: str) -> str:
    """An amount at the currency's minor unit with grouped thousands: "1,234.50", "12,000" (JPY), "-1.250" (KWD)."""
    rounded = money.round_money(amount, currency)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0.00"
    return f"{rounded:,.{money.exponent(currency)}f}"


def exact_amount_text(amount: Decimal, currency: str) -> str:
    """An amount that may be finer than the minor unit (a tier's share before the line is rounded): "0.015"."""
    exponent = amount.as_tuple().exponent
    own_places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    places = max(money.exponent(currency), own_places)
    return f"{abs(amount) if amount == 0 else amount:,.{places}f}"


def money_text(amount: Decimal, currency: str) -> str:
    """An amount with its currency code: "USD 1,234.50"."""
    return f"{currency} {amount_text(amount, currency)}"


def signed_money_text(amount: Decimal, currency: str) -> str:
    """An amount with its currency code and an explicit sign: "USD -20.00", "USD +5.00"."""
    text = amount_text(amount, currency)
    return f"{currency} {text if text.startswith('-') or amount == 0 else '+' + text}"


def decimal_text(value: Decimal) -> str:
    """A quantity or unit price with grouped thousands and the precision it has: "125,000", "0.0004"."""
    return f"{value:,f}"


def date_text(day: dt.date) -> str:
    """A calendar date, ISO 8601."""
    return day.isoformat()


def period_text(start: dt.date, end: dt.date) -> str:
    """A service period: "2024-01-01 – 2024-01-31", or one date when it is a single day."""
    return date_text(start) if start == end else f"{date_text(start)} – {date_text(end)}"


# --- parties ---------------------------------------------------------------------------------------


def address_lines(address: Address | None) -> list[str]:
    """An address as printed: street lines, then postal code and city, then state and country."""
    if address is None:
        return []
    city_line = " ".join(part for part in (address.postal_code, address.city) if part)
    region_line = ", ".join(part for part in (address.state, address.country) if part)
    return [line for line in (address.line1, address.line2, city_line, region_line) if line]


def tax_id_text(tax_id: TaxId | None) -> list[str]:
    """A tax id as printed: its type in capitals and its value, such as "EU VAT DE123456789"."""
    if tax_id is None:
        return []
    return [f"{tax_id.type.replace('_', ' ').upper()} {tax_id.value}"]


def seller_party(seller: Seller) -> Party:
    """The "From" block."""
    lines = [seller.name, *address_lines(seller.address), *tax_id_text(seller.tax_id)]
    if seller.email:
        lines.append(seller.email)
    return Party("From", tuple(lines))


def recipient_party(customer: BilledCustomer, address: Address | None, tax_id: TaxId | None) -> Party:
    """The "Bill to" block."""
    lines = [customer.name, *address_lines(address), *tax_id_text(tax_id)]
    if customer.email:
        lines.append(customer.email)
    return Party("Bill to", tuple(lines))


def _from_parties(
    parties: DocumentParties, address: Address | None, tax_id: TaxId | None, subject: str
) -> dict[str, Any]:
    """What a sheet takes from its parties: who it is from and to, its author, and its title (`subject` and
    the customer's name)."""
    return {
        "seller": seller_party(parties.seller),
        "recipient": recipient_party(parties.customer, address, tax_id),
        "document_title": f"{subject} · {parties.customer.name}",
        "author": parties.seller.name,
    }


# --- lines -----------------------------------------------------------------------------------------

_ADJUSTMENT_NAMES = {
    AdjustmentKind.USAGE_DISCOUNT: "Usage discount",
    AdjustmentKind.AMOUNT_DISCOUNT: "Amount discount",
    AdjustmentKind.PERCENTAGE_DISCOUNT: "Percentage discount",
    AdjustmentKind.MINIMUM: "Minimum",
    AdjustmentKind.MAXIMUM: "Maximum",
}


def adjustment_label(adjustment: LineAdjustment, currency: str) -> str:
    """An adjustment and its configuration: "Percentage discount 10% (launch)", "Minimum USD 50.00"."""
    kind = adjustment.kind
    if kind is AdjustmentKind.PERCENTAGE_DISCOUNT:
        configured = f"{decimal_text((adjustment.configured * 100).normalize())}%"
    elif kind is AdjustmentKind.USAGE_DISCOUNT:
        configured = f"{decimal_text(adjustment.configured)} units"
    else:
        configured = money_text(adjustment.configured, currency)
    label = f"{_ADJUSTMENT_NAMES[kind]} {configured}" + (" on the invoice" if adjustment.is_invoice_level else "")
    return f"{label} ({adjustment.reason})" if adjustment.reason else label


def _unit_amount(line: Line, currency: str) -> str:
    """The unit price of a line, when one price per unit made it (unit prices and one-off lines)."""
    price = line.price_data
    if price is None or price.get("model_type") == "unit":
        return decimal_text(line.unit_amount)
    if price.get("model_type") == "package" and "package_config" in price:
        config = price["package_config"]
        return f"{decimal_text(Decimal(config['package_amount']))} / {config['package_size']}"
    return ""


def _matrix_rate(price: Mapping[str, Any] | None, values: Sequence[str]) -> str:
    """The unit amount of a matrix cell, from the line's price."""
    config = (price or {}).get("matrix_config") or {}
    for cell in config.get("matrix_values", []):
        if list(cell.get("dimension_values", [])) == list(values):
            return decimal_text(Decimal(cell["unit_amount"]))
    default = config.get("default_unit_amount")
    return decimal_text(Decimal(default)) if default else ""


def _sub_line_rows(line: Line, currency: str) -> Iterable[TableRow]:
    for sub in line.sub_line_data:
        if "tier_config" in sub:
            unit = decimal_text(Decimal(sub["tier_config"]["unit_amount"]))
        else:
            unit = _matrix_rate(line.price_data, (sub.get("matrix_config") or {}).get("dimension_values", []))
        yield TableRow(
            kind="detail",
            description=sub["name"],
            quantity=decimal_text(Decimal(sub["quantity"])),
            unit_amount=unit,
            amount=exact_amount_text(Decimal(sub["amount"]), currency),
        )


def line_rows(line: Line, currency: str) -> list[TableRow]:
    """A line and its detail rows: tiers or matrix cells, then each adjustment when there are several."""
    adjusted = sum((a.amount for a in line.adjustments), Decimal(0))
    rows = [
        TableRow(
            kind="line",
            description=line.name,
            period=period_text(line.start_date, line.end_date),
            quantity=decimal_text(line.quantity),
            unit_amount=_unit_amount(line, currency),
            adjustments=amount_text(adjusted, currency) if line.adjustments else "",
            amount=amount_text(line.amount, currency),
        )
    ]
    rows.extend(_sub_line_rows(line, currency))
    for adjustment in line.adjustments:
        rows.append(
            TableRow(
                kind="detail",
                description=adjustment_label(adjustment, currency),
                adjustments=amount_text(adjustment.amount, currency),
            )
        )
    return rows


# --- totals ----------------------------------------------------------------------------------------


_TOTAL_NAMES = {
    AdjustmentKind.USAGE_DISCOUNT: "Usage discount",
    AdjustmentKind.AMOUNT_DISCOUNT: "Discount",
    AdjustmentKind.PERCENTAGE_DISCOUNT: "Discount",
    AdjustmentKind.MINIMUM: "Minimum",
    AdjustmentKind.MAXIMUM: "Maximum",
}


def _adjustment_totals(lines: Sequence[Line], currency: str) -> list[TotalRow]:
    """One total per kind of adjustment and reason, in Orb's order (discounts, minimums, maximums)."""
    sums: dict[tuple[AdjustmentKind, str], Decimal] = {}
    for kind in AdjustmentKind:
        for line in lines:
            for adjustment in line.adjustments:
                if adjustment.kind is kind:
                    key = (kind, adjustment.reason)
                    sums[key] = sums.get(key, Decimal(0)) + adjustment.amount
    return [
        TotalRow(
            f"{_TOTAL_NAMES[kind]} ({reason})" if reason else _TOTAL_NAMES[kind], signed_money_text(amount, currency)
        )
        for (kind, reason), amount in sums.items()
    ]


def invoice_totals(document: InvoiceDocument) -> list[TotalRow]:
    """Subtotal, adjustments, total, balance applied, credit notes, amount due."""
    invoice = document.invoice
    header = invoice.header
    currency = header.currency
    rows = [TotalRow("Subtotal", money_text(header.subtotal, currency))]
    rows.extend(_adjustment_totals(invoice.lines, currency))
    credits = sum((line.credits_applied for line in invoice.lines), Decimal(0))
    if credits:
        rows.append(TotalRow("Credits applied", signed_money_text(-credits, currency)))
    rows.append(TotalRow("Total", money_text(header.total, currency), strong=True))
    if header.minimum_amount is not None:
        rows.append(TotalRow("Invoice minimum", money_text(header.minimum_amount, currency)))
    if header.maximum_amount is not None:
        rows.append(TotalRow("Invoice maximum", money_text(header.maximum_amount, currency)))
    for move in invoice.balance_transactions:
        if move.action is BalanceAction.APPLIED_TO_INVOICE:
            credit = move.direction is BalanceDirection.DECREMENT
            label = "Customer balance applied" if credit else "Outstanding customer balance added"
            rows.append(TotalRow(label, signed_money_text(-move.amount if credit else move.amount, currency)))
    for note in document.credit_notes:
        applied = note.total if note.applied is None else note.applied
        if note.kind == "adjustment" and not note.voided and applied:
            rows.append(TotalRow(f"Credit note {note.number}", signed_money_text(-applied, currency)))
    rows.append(TotalRow("Amount due", money_text(header.amount_due, currency), strong=True))
    return rows


# --- the invoice -----------------------------------------------------------------------------------

_MARKS = {InvoiceStatus.DRAFT: "DRAFT", InvoiceStatus.VOID: "VOID", InvoiceStatus.PAID: "PAID"}


def _facts(document: InvoiceDocument) -> list[Entry]:
    invoice = document.invoice
    header = invoice.header
    timezone = document.parties.customer.timezone
    facts = [
        Entry("Invoice number", header.invoice_number or "Draft (numbered at issue)"),
        Entry("Invoice date", date_text(header.invoice_date)),
    ]
    if header.due_date is not None:
        facts.append(Entry("Due date", date_text(header.due_date)))
    else:
        facts.append(Entry("Due date", f"{header.net_terms} days after issue"))
    facts.append(Entry("Payment terms", f"Net {header.net_terms}"))
    if header.status is InvoiceStatus.PAID:
        received = [p.received for p in invoice.payments]
        paid_on = max(received) if received else local_date(header.paid_at or header.updated_at, timezone)
        facts.append(Entry("Paid", date_text(paid_on)))
    return facts + _closing_facts(header.voided_at, invoice.external_customer_id, header.currency, timezone)


def _closing_facts(
    voided_at: dt.datetime | None, external_customer_id: str, currency: str, timezone: str
) -> list[Entry]:
    """The facts every document ends with: when it was voided, the customer's reference, the currency."""
    facts = []
    if voided_at is not None:
        facts.append(Entry("Voided", date_text(local_date(voided_at, timezone))))
    if external_customer_id:
        facts.append(Entry("Customer reference", external_customer_id))
    facts.append(Entry("Currency", currency))
    return facts


def _listing(title: str, entries: Sequence[Entry]) -> list[Section]:
    """A section listing these entries; none when there are none."""
    return [Section(title, tuple(entries))] if entries else []


def _paragraph(title: str, text: str) -> list[Section]:
    """A section of this text; none when there is none."""
    return [Section(title, text=text)] if text else []


def _payment_entry(payment: Payment, currency: str) -> Entry:
    details = " · ".join(part for part in (payment.external_id, payment.notes) if part)
    label = f"Received {date_text(payment.received)}" + (f" · {details}" if details else "")
    return Entry(label, money_text(payment.amount, currency))


def _credit_note_entry(note: CreditNoteSummary, currency: str) -> Entry:
    state = " · void" if note.voided else ""
    label = f"{note.number} · {date_text(note.issued_on)} · {note.reason} · {note.kind}{state}"
    return Entry(label, money_text(note.total, currency))


def _sections(document: InvoiceDocument) -> list[Section]:
    invoice = document.invoice
    header = invoice.header
    currency = header.currency
    timezone = document.parties.customer.timezone
    returned = [t for t in invoice.balance_transactions if t.action is BalanceAction.RETURN_FROM_VOIDING]
    payable = header.status not in (InvoiceStatus.PAID, InvoiceStatus.VOID)
    return [
        *_listing("Payments", [_payment_entry(payment, currency) for payment in invoice.payments]),
        *_listing(
            "Customer balance returned on voiding",
            [
                Entry(f"Returned {date_text(local_date(t.created_at, timezone))}", money_text(t.amount, currency))
                for t in returned
            ],
        ),
        *_listing("Credit notes", [_credit_note_entry(note, currency) for note in document.credit_notes]),
        *_paragraph("Memo", header.memo),
        *_paragraph("How to pay", document.parties.seller.payment_instructions if payable else ""),
    ]


def invoice_sheet(document: InvoiceDocument) -> Sheet:
    """The sheet of an invoice document."""
    invoice = document.invoice
    header = invoice.header
    currency = header.currency
    rows: list[TableRow] = []
    for line in invoice.lines:
        rows.extend(line_rows(line, currency))
    name = header.invoice_number or "draft"
    title = f"Invoice {header.invoice_number}" if header.invoice_number else "Draft invoice"
    return Sheet(
        title="Invoice",
        mark=_MARKS.get(header.status, ""),
        **_from_parties(document.parties, header.billing_address, header.customer_tax_id, title),
        facts=tuple(_facts(document)),
        columns=("Description", "Period", "Quantity", "Unit amount", "Adjustments", f"Amount ({currency})"),
        rows=tuple(rows),
        totals=tuple(invoice_totals(document)),
        sections=tuple(_sections(document)),
        footer=f"Invoice {name} · {header.id} · version {header.version}",
        created_at=header.updated_at,
        keywords=(header.id, f"version {header.version}"),
    )


def invoice_filename(document: InvoiceDocument) -> str:
    """A file name for the document: "ACME-00001.pdf", or "<id>-draft.pdf" before a number is assigned."""
    header = document.invoice.header
    return f"{header.invoice_number}.pdf" if header.invoice_number else f"{header.id}-draft.pdf"


# --- the credit note -------------------------------------------------------------------------------


def _credit_note_facts(document: CreditNoteDocument) -> list[Entry]:
    note = document.note
    timezone = document.parties.customer.timezone
    facts = [
        Entry("Credit note number", note.number),
        Entry("Issued", date_text(local_date(note.created_at, timezone))),
        Entry("Invoice", document.invoice.number),
        Entry("Invoice date", date_text(document.invoice.invoice_date)),
        Entry("Type", note.kind.value.capitalize()),
        Entry("Reason", note.reason.label),
    ]
    return facts + _closing_facts(note.voided_at, note.external_customer_id, note.currency, timezone)


def credit_note_totals(document: CreditNoteDocument) -> list[TotalRow]:
    """The note's total, and how it was applied: off the invoice's amount due, to the customer balance."""
    note = document.note
    currency = note.currency
    rows = [TotalRow("Total credited", money_text(note.total, currency), strong=True)]
    if note.applied_to_amount_due:
        label = f"Taken off the amount due of invoice {document.invoice.number}"
        rows.append(TotalRow(label, signed_money_text(-note.applied_to_amount_due, currency)))
    if note.credited_to_balance:
        rows.append(TotalRow("Credited to the customer balance", signed_money_text(note.credited_to_balance, currency)))
    return rows


def _balance_move_entry(move: BalanceTransaction, currency: str, timezone: str) -> Entry:
    what = "Credited" if move.action is BalanceAction.CREDIT_NOTE_APPLIED else "Taken back on voiding"
    signed = move.amount if move.direction is BalanceDirection.INCREMENT else -move.amount
    return Entry(f"{what} {date_text(local_date(move.created_at, timezone))}", signed_money_text(signed, currency))


def _credit_note_sections(document: CreditNoteDocument) -> list[Section]:
    note = document.note
    timezone = document.parties.customer.timezone
    return [
        *_listing(
            "Customer balance",
            [_balance_move_entry(move, note.currency, timezone) for move in note.balance_transactions],
        ),
        *_paragraph("Memo", note.memo),
    ]


def credit_note_sheet(document: CreditNoteDocument) -> Sheet:
    """The sheet of a credit note document: the credited lines, the total and how it was applied."""
    note = document.note
    currency = note.currency
    rows = [
        TableRow(
            kind="line",
            description=line.name,
            period=period_text(line.start_date, line.end_date),
            amount=amount_text(line.amount, currency),
        )
        for line in note.lines
    ]
    invoice = document.invoice
    return Sheet(
        title="Credit note",
        mark="" if note.live else "VOID",
        **_from_parties(
            document.parties, invoice.billing_address, invoice.customer_tax_id, f"Credit note {note.number}"
        ),
        facts=tuple(_credit_note_facts(document)),
        columns=("Credited line", "Period", "", "", "", f"Credited ({currency})"),
        rows=tuple(rows),
        totals=tuple(credit_note_totals(document)),
        sections=tuple(_credit_note_sections(document)),
        footer=f"Credit note {note.number} · {note.id} · invoice {invoice.number} · version {note.version}",
        created_at=note.voided_at or note.created_at,
        keywords=(note.id, f"version {note.version}"),
    )


def credit_note_filename(document: CreditNoteDocument) -> str:
    """A file name for the document: "CN-00001.pdf"."""
    return f"{document.note.number}.pdf"
