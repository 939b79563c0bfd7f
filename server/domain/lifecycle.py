"""The rules of an invoice's life after creation: updates, issue, payment and void.

Every function is pure: it receives what the repositories read under lock and
returns what they must write. The transitions themselves come from the state
table in `server.domain.invoices`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from server.domain import money
from server.domain.customers import BalanceDirection, BalanceMove, move_balance
from server.domain.errors import Aborted, FailedPrecondition, Violations
from server.domain.invoices import (
    MAX_FUTURE_INVOICE_DATE,
    InvoiceAction,
    InvoiceHeader,
    InvoiceSource,
    InvoiceStatus,
    Line,
    one_off_price,
    transition,
)
from server.domain.validation import (
    MAX_NAME_LENGTH,
    MetadataPatch,
    check_metadata_patch,
    check_net_terms,
    check_text,
)

MAX_PAYMENT_NOTES_LENGTH = 2000
# A day of slack on "not in the future" for payment dates: today somewhere on Earth may be tomorrow in UTC.
PAYMENT_DATE_SLACK = dt.timedelta(days=1)
MAX_EXTERNAL_ID_LENGTH = 255


def check_version(expected: int | None, current: int) -> None:
    """Compare-and-set: fail ABORTED (reporting the current version) when the caller saw another version."""
    if expected is not None and expected != current:
        raise Aborted(
            "VERSION_MISMATCH",
            f"the invoice is at version {current}, not {expected}; read it again and retry",
            metadata={"current_version": str(current), "expected_version": str(expected)},
        )


@dataclass(frozen=True)
class InvoiceChanges:
    """The fields an UpdateInvoice names; None means "leave alone"."""

    metadata: MetadataPatch | None = None
    net_terms: int | None = None
    due_date: dt.date | None = None
    auto_collection: bool | None = None
    invoice_date: dt.date | None = None

    def validate(self, today: dt.date) -> None:
        """Raise InvalidArgument naming every bad field."""
        v = Violations()
        if self.invoice_date is not None and self.invoice_date > today + MAX_FUTURE_INVOICE_DATE:
            v.add("invoice_date", "must be at most one year in the future")
        if self.metadata is not None:
            check_metadata_patch(self.metadata, "metadata", v)
        if self.net_terms is not None:
            check_net_terms(self.net_terms, "net_terms", v)
            if self.due_date is not None:
                v.add("due_date", "set either net_terms or due_date, not both")
        if all(
            value is None
            for value in (self.metadata, self.net_terms, self.due_date, self.auto_collection, self.invoice_date)
        ):
            v.add(
                "invoice_id",
                "names no field to change: set metadata, net_terms, due_date, auto_collection or invoice_date",
            )
        v.raise_if_any()

    def touches_terms(self) -> bool:
        """True when a draft-only field is named."""
        return any(
            value is not None for value in (self.net_terms, self.due_date, self.auto_collection, self.invoice_date)
        )

    def check_allowed(self, status: InvoiceStatus, source: InvoiceSource, invoice_date: dt.date) -> None:
        """Metadata changes in any status; terms only on drafts; the invoice date only on one-off drafts."""
        if self.metadata is not None:
            transition(status, InvoiceAction.UPDATE_METADATA)
        if self.touches_terms():
            transition(status, InvoiceAction.UPDATE_TERMS)
        if self.invoice_date is not None and source is not InvoiceSource.ONE_OFF:
            raise FailedPrecondition(
                "INVOICE_NOT_ONE_OFF",
                "only the invoice date of a one-off invoice can change",
                subject="invoice_date",
            )
        due = self.due_date
        if due is not None and due < (self.invoice_date or invoice_date):
            raise FailedPrecondition(
                "DUE_DATE_BEFORE_INVOICE_DATE", "due_date is before the invoice date", subject="due_date"
            )

    def columns(self, invoice: InvoiceHeader) -> dict[str, object]:
        """The invoice fields to write for these changes, after checking they are allowed on this invoice."""
        self.check_allowed(invoice.status, invoice.source, invoice.invoice_date)
        columns: dict[str, object] = {}
        if self.metadata is not None:
            columns["metadata"] = self.metadata.apply(invoice.metadata)
        if self.net_terms is not None:
            columns["net_terms"] = self.net_terms
            columns["due_date"] = None  # computed from the terms at issue
        if self.due_date is not None:
            columns["due_date"] = self.due_date
        if self.auto_collection is not None:
            columns["auto_collection"] = self.auto_collection
        if self.invoice_date is not None:
            if invoice.due_date is not None and self.due_date is None and invoice.due_date < self.invoice_date:
                raise FailedPrecondition(
                    "DUE_DATE_BEFORE_INVOICE_DATE", "the new invoice date is after the due date", subject="invoice_date"
                )
            columns["invoice_date"] = self.invoice_date
        return columns


@dataclass(frozen=True)
class NewFixedLine:
    """A one-off fixed-fee line added to a draft: its total amount and quantity."""

    name: str
    amount: Decimal
    quantity: Decimal
    start_date: dt.date
    end_date: dt.date

    def validate(self, violations: Violations) -> None:
        """Record bad fields (amount precision is checked against the invoice's currency later)."""
        check_text(self.name, "name", violations, max_length=MAX_NAME_LENGTH, required=True)
        if self.end_date < self.start_date:
            violations.add("end_date", "must not be before start_date")

    def unit_amount(self) -> Decimal:
        """The unit price shown on the line's price: amount ÷ quantity, to 12 decimal places."""
        places = Decimal(1).scaleb(-money.MAX_FRACTION_DIGITS)
        return money.EXACT.divide(self.amount, self.quantity).quantize(places, context=money.EXACT).normalize()

    def priced(self, currency: str) -> Line:
        """The line as stored on an invoice in this currency; InvalidArgument if the amount is too precise."""
        amount = money.amount_in(self.amount, currency, "amount")
        unit_amount = self.unit_amount()
        return Line(
            name=self.name,
            quantity=self.quantity,
            unit_amount=unit_amount,
            start_date=self.start_date,
            end_date=self.end_date,
            subtotal=amount,
            adjustments=(),
            adjusted_subtotal=amount,
            amount=amount,
            price_data=one_off_price(self.name, self.quantity, unit_amount, currency),
        )


def check_deletable(line: Line) -> None:
    """Only one-off lines can be deleted: lines generated from a subscription are what the plan bills."""
    if not line.is_one_off:
        raise FailedPrecondition(
            "LINE_ITEM_NOT_ONE_OFF", "lines generated from a subscription cannot be deleted", subject="line_item_id"
        )


@dataclass(frozen=True)
class IssueOutcome:
    """What issuing writes: the amount due, the balance movements, the due date and the final status.

    `credit_move` credits the balance with a negative total (proration credits
    beyond the charges); `balance_move` applies the balance to what is due.
    """

    amount_due: Decimal
    balance_move: BalanceMove | None
    due_date: dt.date
    status: InvoiceStatus
    credit_move: BalanceMove | None = None


def issue(
    *,
    status: InvoiceStatus,
    total: Decimal,
    balance: Decimal,
    currency: str,
    fixed_due_date: dt.date | None,
    net_terms: int,
    issue_date: dt.date,
    eligible_at: dt.datetime | None,
    now: dt.datetime,
) -> IssueOutcome:
    """Issue a draft: apply the customer balance after the total and decide the due date and status.

    A negative total (proration credits beyond the charges) is credited to the
    balance first and leaves nothing due. Then a positive balance (credit)
    lowers the amount due, by at most the total; a negative balance (owed)
    raises it and resets to zero. Nothing due → paid.
    """
    target = transition(status, InvoiceAction.ISSUE)
    if eligible_at is not None and eligible_at > now:
        raise FailedPrecondition(
            "INVOICE_NOT_ELIGIBLE",
            f"the invoice becomes eligible to issue at {eligible_at.isoformat()}",
            subject="eligible_to_issue_at",
        )
    move: BalanceMove | None = None
    credit: BalanceMove | None = None
    if total < 0:  # proration credits beyond the charges: the difference is the customer's
        credit = move_balance(balance, BalanceDirection.INCREMENT, -total)
        balance, total = credit.ending_balance, total * 0
    amount_due = total
    if balance > 0:
        applied = min(balance, total)
        if applied > 0:
            move = move_balance(balance, BalanceDirection.DECREMENT, applied)
            amount_due = total - applied
    elif balance < 0:
        move = move_balance(balance, BalanceDirection.INCREMENT, -balance)
        amount_due = total - balance
    if amount_due == 0:
        target = transition(target, InvoiceAction.MARK_PAID)
    due_date = fixed_due_date or issue_date + dt.timedelta(days=net_terms)
    return IssueOutcome(money.round_money(amount_due, currency), move, due_date, target, credit)


@dataclass(frozen=True)
class AppliedBalance:
    """A balance transaction an invoice caused at issue: its direction and amount."""

    direction: BalanceDirection
    amount: Decimal


def void_reversals(applied: Sequence[AppliedBalance], balance: Decimal) -> list[BalanceMove]:
    """The ledger rows that give back, one for one, every balance change the invoice made at issue."""
    moves = []
    for change in applied:
        opposite = (
            BalanceDirection.INCREMENT if change.direction is BalanceDirection.DECREMENT else BalanceDirection.DECREMENT
        )
        move = move_balance(balance, opposite, change.amount)
        moves.append(move)
        balance = move.ending_balance
    return moves


@dataclass(frozen=True)
class NewPayment:
    """A payment recorded by MarkInvoicePaid."""

    received: dt.date
    external_id: str
    notes: str

    def validate(self, violations: Violations, *, today: dt.date) -> None:
        """A received date not after today (UTC), bounded external id and notes."""
        if self.received > today + PAYMENT_DATE_SLACK:
            violations.add("payment_received_date", "must not be in the future")
        check_text(self.external_id, "external_id", violations, max_length=MAX_EXTERNAL_ID_LENGTH)
        check_text(self.notes, "notes", violations, max_length=MAX_PAYMENT_NOTES_LENGTH)


def mark_paid(status: InvoiceStatus) -> InvoiceStatus:
    """The status after recording a payment (issued or synced → paid)."""
    return transition(status, InvoiceAction.MARK_PAID)


def void(status: InvoiceStatus) -> InvoiceStatus:
    """The status after voiding (issued → void)."""
    return transition(status, InvoiceAction.VOID)


def issued_columns(outcome: IssueOutcome, invoice_number: str, now: dt.datetime) -> dict[str, object]:
    """The invoice fields issuing writes."""
    columns: dict[str, object] = {
        "status": outcome.status.value,
        "invoice_number": invoice_number,
        "amount_due": outcome.amount_due,
        "due_date": outcome.due_date,
        "issued_at": now,
        "eligible_to_issue_at": None,
        "scheduled_issue_at": None,
        "will_auto_issue": False,
    }
    if outcome.status is InvoiceStatus.PAID:
        columns["paid_at"] = now
    return columns


def format_invoice_number(prefix: str, sequence: int) -> str:
    """ "ACME-00001": the account prefix and the zero-padded, gapless sequence."""
    return f"{prefix}-{sequence:05d}"
