"""Invoice rules: statuses and their transitions, line amounts, totals and list filters."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any, Final

from server.domain import money
from server.domain.credit_notes import InvoiceCreditNote
from server.domain.customers import Address, BalanceTransaction
from server.domain.errors import FailedPrecondition, Violations
from server.domain.ids import new_id
from server.domain.tax_ids import TaxId
from server.domain.validation import (
    MAX_LINE_ITEMS,
    MAX_MEMO_LENGTH,
    MAX_NAME_LENGTH,
    check_metadata,
    check_net_terms,
    check_text,
)

MAX_FUTURE_INVOICE_DATE: Final = dt.timedelta(days=366)


class InvoiceStatus(StrEnum):
    """Where an invoice is in its life (values as stored)."""

    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    SYNCED = "synced"
    VOID = "void"


class InvoiceSource(StrEnum):
    """What created an invoice."""

    SUBSCRIPTION = "subscription"
    PARTIAL = "partial"
    ONE_OFF = "one_off"


class InvoiceAction(StrEnum):
    """Everything that can be done to an invoice."""

    ADD_LINE_ITEM = "add_line_item"
    DELETE_LINE_ITEM = "delete_line_item"
    UPDATE_METADATA = "update_metadata"
    UPDATE_TERMS = "update_terms"
    ISSUE = "issue"
    MARK_PAID = "mark_paid"
    VOID = "void"
    CREDIT = "credit"  # issue a credit note (server.domain.crediting)


DEFAULT_LIST_STATUSES: Final = (InvoiceStatus.ISSUED, InvoiceStatus.PAID, InvoiceStatus.SYNCED)

# The state machine: for each status, the actions allowed and the status each
# leads to. Anything not listed fails FAILED_PRECONDITION with the reason below.
# An invoice issued with nothing due takes both edges, issue then mark_paid, in
# one transaction, as does an issued invoice whose amount due a credit note
# (an adjustment) brings to zero: credit then mark_paid. A credit note on a
# paid invoice is a refund to the customer balance.
TRANSITIONS: Final[dict[InvoiceStatus, dict[InvoiceAction, InvoiceStatus]]] = {
    InvoiceStatus.DRAFT: {
        InvoiceAction.ADD_LINE_ITEM: InvoiceStatus.DRAFT,
        InvoiceAction.DELETE_LINE_ITEM: InvoiceStatus.DRAFT,
        InvoiceAction.UPDATE_METADATA: InvoiceStatus.DRAFT,
        InvoiceAction.UPDATE_TERMS: InvoiceStatus.DRAFT,
        InvoiceAction.ISSUE: InvoiceStatus.ISSUED,
    },
    InvoiceStatus.ISSUED: {
        InvoiceAction.UPDATE_METADATA: InvoiceStatus.ISSUED,
        InvoiceAction.MARK_PAID: InvoiceStatus.PAID,
        InvoiceAction.VOID: InvoiceStatus.VOID,
        InvoiceAction.CREDIT: InvoiceStatus.ISSUED,
    },
    InvoiceStatus.SYNCED: {
        InvoiceAction.UPDATE_METADATA: InvoiceStatus.SYNCED,
        InvoiceAction.MARK_PAID: InvoiceStatus.PAID,
    },
    InvoiceStatus.PAID: {
        InvoiceAction.UPDATE_METADATA: InvoiceStatus.PAID,
        InvoiceAction.CREDIT: InvoiceStatus.PAID,
    },
    InvoiceStatus.VOID: {InvoiceAction.UPDATE_METADATA: InvoiceStatus.VOID},
}

# The reason reported when an action is refused, named after the status it needs.
REFUSAL_REASONS: Final[dict[InvoiceAction, str]] = {
    InvoiceAction.ADD_LINE_ITEM: "INVOICE_NOT_DRAFT",
    InvoiceAction.DELETE_LINE_ITEM: "INVOICE_NOT_DRAFT",
    InvoiceAction.UPDATE_METADATA: "INVOICE_NOT_UPDATABLE",
    InvoiceAction.UPDATE_TERMS: "INVOICE_NOT_DRAFT",
    InvoiceAction.ISSUE: "INVOICE_NOT_DRAFT",
    InvoiceAction.MARK_PAID: "INVOICE_NOT_ISSUED",
    InvoiceAction.VOID: "INVOICE_NOT_ISSUED",
    InvoiceAction.CREDIT: "INVOICE_NOT_CREDITABLE",
}


def transition(status: InvoiceStatus, action: InvoiceAction) -> InvoiceStatus:
    """The status an action leads to, or FailedPrecondition if the table forbids it."""
    target = TRANSITIONS[status].get(action)
    if target is None:
        raise FailedPrecondition(
            REFUSAL_REASONS[action],
            f"cannot {action.value.replace('_', ' ')} an invoice in status {status.value}",
            subject="invoice.status",
            metadata={"status": status.value, "action": action.value},
        )
    return target


class AdjustmentKind(StrEnum):
    """Line adjustments, in the order Orb applies them."""

    USAGE_DISCOUNT = "usage_discount"
    AMOUNT_DISCOUNT = "amount_discount"
    PERCENTAGE_DISCOUNT = "percentage_discount"
    MINIMUM = "minimum"
    MAXIMUM = "maximum"


class DiscountKind(StrEnum):
    """Discounts, in the order Orb applies them to a line: units off the quantity, money off, a fraction off.

    A price may carry all three; an invoice-level discount of a one-off invoice is an amount or a percentage.
    """

    USAGE = "usage"
    AMOUNT = "amount"
    PERCENTAGE = "percentage"


@dataclass(frozen=True)
class Discount:
    """A discount: units (usage), money (amount) or a fraction 0 < value <= 1 (percentage)."""

    kind: DiscountKind
    value: Decimal
    reason: str = ""


@dataclass(frozen=True)
class LineAdjustment:
    """An adjustment applied to one line: its kind, the signed change and its configuration."""

    kind: AdjustmentKind
    amount: Decimal
    configured: Decimal
    is_invoice_level: bool
    reason: str = ""
    id: str = ""  # given when the line is stored


@dataclass(frozen=True)
class LineInput:
    """A one-off line as the client described it."""

    name: str
    quantity: Decimal
    unit_amount: Decimal
    start_date: dt.date
    end_date: dt.date


@dataclass(frozen=True)
class Line:
    """A priced line: subtotal, adjustments and final amount, all in minor units of the currency."""

    name: str
    quantity: Decimal
    unit_amount: Decimal
    start_date: dt.date
    end_date: dt.date
    subtotal: Decimal
    adjustments: tuple[LineAdjustment, ...]
    adjusted_subtotal: Decimal
    amount: Decimal
    is_one_off: bool = True
    id: str = ""
    # For lines generated from a subscription: the plan's price and the tier or
    # matrix breakdown, in their stored form.
    price_data: Mapping[str, Any] | None = None
    sub_line_data: tuple[Mapping[str, Any], ...] = ()
    credits_applied: Decimal = Decimal(0)
    partially_invoiced_amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class Totals:
    """Invoice totals derived from its lines."""

    subtotal: Decimal
    total: Decimal

    @property
    def amount_due(self) -> Decimal:
        """What a draft with these totals would have due: the total, or nothing when proration credits make it
        negative (issuing it credits the balance instead)."""
        return max(self.total, self.total * 0)

    def columns(self) -> dict[str, object]:
        """The invoice fields these totals set on a draft (nothing applied yet: all of the total is due)."""
        return {"subtotal": self.subtotal, "total": self.total, "amount_due": self.amount_due}


@money.exact
def line_subtotal(quantity: Decimal, unit_amount: Decimal, currency: str) -> Decimal:
    """quantity × unit_amount, rounded once to the currency's minor unit."""
    return money.round_money(quantity * unit_amount, currency)


@money.exact
def one_off_price(name: str, quantity: Decimal, unit_amount: Decimal, currency: str) -> dict[str, Any]:
    """The price a one-off line shows: a one-time fixed unit price, in the stored (proto JSON) shape."""
    return {
        "id": new_id("price"),
        "name": name,
        "model_type": "unit",
        "price_type": "fixed_price",
        "cadence": "one_time",
        "billing_mode": "in_advance",
        "currency": currency,
        "fixed_price_quantity": money.to_wire(quantity),
        "unit_config": {"unit_amount": money.to_wire(unit_amount)},
    }


def price_lines(inputs: Sequence[LineInput], currency: str, discount: Discount | None) -> list[Line]:
    """Price one-off lines (quantity × unit amount) and spread an invoice-level discount over them."""
    lines = [
        Line(
            name=item.name,
            quantity=item.quantity,
            unit_amount=item.unit_amount,
            start_date=item.start_date,
            end_date=item.end_date,
            subtotal=(subtotal := line_subtotal(item.quantity, item.unit_amount, currency)),
            adjustments=(),
            adjusted_subtotal=subtotal,
            amount=subtotal,
            price_data=one_off_price(item.name, item.quantity, item.unit_amount, currency),
        )
        for item in inputs
    ]
    return apply_discount(lines, currency, discount)


@money.exact
def apply_discount(lines: Sequence[Line], currency: str, discount: Discount | None) -> list[Line]:
    """Lines with an invoice-level discount (re)spread over their subtotals.

    An amount discount is split across lines in proportion to their subtotals,
    in minor units, by largest remainder, and never exceeds the subtotal; a
    percentage discount is taken from each line by the one rounding rule of a
    line (`money.rounded_steps`): the discounted amount is rounded, not the
    discount. Either way the invoice total stays exactly the sum of the line
    amounts. Called again whenever the lines change, so the spread always fits
    the lines.
    """
    taken_per_line = _spread_discount([li.subtotal for li in lines], currency, discount)
    result = []
    for line, taken in zip(lines, taken_per_line, strict=True):
        adjustments: tuple[LineAdjustment, ...] = ()
        if discount is not None and taken:
            kind = (
                AdjustmentKind.AMOUNT_DISCOUNT
                if discount.kind is DiscountKind.AMOUNT
                else AdjustmentKind.PERCENTAGE_DISCOUNT
            )
            adjustments = (LineAdjustment(kind, -taken, discount.value, True, discount.reason),)
        adjusted = line.subtotal - taken
        result.append(replace(line, adjustments=adjustments, adjusted_subtotal=adjusted, amount=adjusted))
    return result


def _spread_discount(subtotals: Sequence[Decimal], currency: str, discount: Discount | None) -> list[Decimal]:
    zero = money.zero(currency)
    if discount is None:
        return [zero for _ in subtotals]
    if discount.kind is DiscountKind.PERCENTAGE:
        return [-money.rounded_steps(s, [s - s * discount.value], currency)[1][0] for s in subtotals]
    base = sum(subtotals, zero)
    if base <= 0:
        return [zero for _ in subtotals]
    unit = Decimal(1).scaleb(-money.exponent(currency))
    to_take = min(discount.value, base) / unit  # in minor units, an integer
    exact = [s / unit * to_take / (base / unit) for s in subtotals]
    shares = [e.to_integral_value(rounding=ROUND_FLOOR) for e in exact]
    left = int(to_take - sum(shares, Decimal(0)))
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return [(share * unit).quantize(unit) for share in shares]


@money.exact
def totals(lines: Sequence[Line], currency: str) -> Totals:
    """Subtotal and total of an invoice: the sums over its lines."""
    zero = money.zero(currency)
    return Totals(subtotal=sum((li.subtotal for li in lines), zero), total=sum((li.amount for li in lines), zero))


@dataclass(frozen=True)
class NewOneOffInvoice:
    """A one-off invoice to create, after its fields were read from the request."""

    currency: str
    invoice_date: dt.date
    lines: Sequence[LineInput]
    net_terms: int | None
    due_date: dt.date | None
    memo: str
    metadata: dict[str, str]
    discount: Discount | None
    will_auto_issue: bool
    auto_collection: bool | None

    def validate(self, violations: Violations, *, today: dt.date) -> None:
        """Record every bad invoice-level field (lines are checked one by one with check_line)."""
        if self.invoice_date > today + MAX_FUTURE_INVOICE_DATE:
            violations.add("invoice_date", "must be at most one year in the future")
        if self.net_terms is not None:
            check_net_terms(self.net_terms, "net_terms", violations)
            if self.due_date is not None:
                violations.add("due_date", "set either net_terms or due_date, not both")
        if self.due_date is not None and self.due_date < self.invoice_date:
            violations.add("due_date", "must not be before invoice_date")
        check_text(self.memo, "memo", violations, max_length=MAX_MEMO_LENGTH)
        check_metadata(self.metadata, "metadata", violations)


def issues_at_creation(invoice: NewOneOffInvoice, today: dt.date) -> bool:
    """A one-off invoice created with will_auto_issue is issued at once unless it is dated in the future."""
    return invoice.will_auto_issue and invoice.invoice_date <= today


def check_line_count(count: int, violations: Violations) -> None:
    """An invoice is created with 1 to MAX_LINE_ITEMS lines."""
    if count == 0:
        violations.add("line_items", "must have at least one line item")
    elif count > MAX_LINE_ITEMS:
        violations.add("line_items", f"must have at most {MAX_LINE_ITEMS} line items")


def check_line(index: int, line: LineInput, violations: Violations) -> None:
    """A one-off line: a name, and a service period that does not end before it starts."""
    check_text(line.name, f"line_items[{index}].name", violations, max_length=MAX_NAME_LENGTH, required=True)
    if line.end_date < line.start_date:
        violations.add(f"line_items[{index}].end_date", "must not be before start_date")


_WINDOW_RE: Final = re.compile(r"([1-9][0-9]{0,3})([dm])")


def parse_due_date_window(text: str, today: dt.date, violations: Violations) -> dt.date | None:
    """The first day of a `due_date_window` such as "7d" or "2m", counted back from today."""
    match = _WINDOW_RE.fullmatch(text)
    if match is None:
        violations.add(
            "due_date_window", f"must be a number and 'd' or 'm', such as \"7d\" or \"2m\", got {text[:20]!r}"
        )
        return None
    count, unit = int(match.group(1)), match.group(2)
    if unit == "d":
        return today - dt.timedelta(days=count)
    return add_months(today, -count)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (or earlier), clamped to the month's end (Jan 31 + 1 → Feb 28)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]  # not via the next month's first day: December 9999 has none
    return dt.date(year, month, min(day.day, last_day))


@dataclass(frozen=True)
class InvoiceFilter:
    """ListInvoices filters after validation; each None means "no condition"."""

    statuses: tuple[InvoiceStatus, ...] = DEFAULT_LIST_STATUSES
    customer_id: str | None = None
    external_customer_id: str | None = None
    subscription_id: str | None = None
    filter_by_due_date: bool = False
    due_date: dt.date | None = None
    due_date_gt: dt.date | None = None
    due_date_lt: dt.date | None = None
    due_date_from: dt.date | None = None
    due_date_to: dt.date | None = None
    date_gt: dt.date | None = None
    date_gte: dt.date | None = None
    date_lt: dt.date | None = None
    date_lte: dt.date | None = None
    amount: Decimal | None = None
    amount_gt: Decimal | None = None
    amount_lt: Decimal | None = None
    is_recurring: bool | None = None


@dataclass(frozen=True)
class Payment:
    """A payment recorded on an invoice by MarkInvoicePaid."""

    id: str
    amount: Decimal
    received: dt.date
    external_id: str  # "" when none
    notes: str
    created_at: dt.datetime


@dataclass(frozen=True)
class InvoiceHeader:
    """An invoice's own columns: everything but its lines, balance transactions and payments.

    Mutations read it under the row lock; it is also the top of a whole Invoice.
    """

    id: str
    customer_id: str
    subscription_id: str | None
    billing_boundary: int | None  # the period boundary a subscription invoice bills
    source: InvoiceSource
    status: InvoiceStatus
    version: int
    invoice_number: str  # "" until issued
    currency: str
    invoice_date: dt.date
    due_date: dt.date | None
    net_terms: int
    subtotal: Decimal
    total: Decimal
    amount_due: Decimal
    memo: str
    metadata: Mapping[str, str]
    discounts: tuple[Discount, ...]
    minimum_amount: Decimal | None
    maximum_amount: Decimal | None
    auto_collection: bool
    will_auto_issue: bool
    billing_address: Address | None
    shipping_address: Address | None
    customer_tax_id: TaxId | None
    hosted_invoice_url: str
    invoice_pdf: str
    eligible_to_issue_at: dt.datetime | None
    scheduled_issue_at: dt.datetime | None
    issued_at: dt.datetime | None
    paid_at: dt.datetime | None
    voided_at: dt.datetime | None
    issue_failed_at: dt.datetime | None
    payment_started_at: dt.datetime | None
    payment_failed_at: dt.datetime | None
    sync_failed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def discount(self) -> Discount | None:
        """The invoice-level discount, if any (an invoice carries at most one)."""
        return self.discounts[0] if self.discounts else None


@dataclass(frozen=True)
class Invoice:
    """A whole invoice as stored: its columns, its customer's external id, lines, ledger rows, payments and
    credit notes."""

    header: InvoiceHeader
    external_customer_id: str  # "" when none
    lines: tuple[Line, ...]
    balance_transactions: tuple[BalanceTransaction, ...]
    payments: tuple[Payment, ...]
    credit_notes: tuple[InvoiceCreditNote, ...] = ()


@dataclass(frozen=True)
class StoredInvoice:
    """An invoice as the read path lists it: its keyset (invoice date, id) and its stored wire form.

    `wire` is None when the stored form is missing or stale (rendered at an older version, or by another
    schema): the read path renders it again.
    """

    id: str
    invoice_date: dt.date
    wire: bytes | None
