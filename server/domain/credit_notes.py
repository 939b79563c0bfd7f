"""Credit notes: what one is, as an invoice lists it and in full, and what a request for one must say.

The rules that apply a note to its invoice (and undo it) are in `server.domain.crediting`; this module
depends on nothing of the invoice, so that the invoice can list its notes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from server.domain.customers import BalanceTransaction
from server.domain.errors import Violations
from server.domain.validation import MAX_LINE_ITEMS, MAX_MEMO_LENGTH, TimeRange, check_id, check_text


class CreditNoteKind(StrEnum):
    """What a note does to its invoice (values as stored, Orb's `type`)."""

    ADJUSTMENT = "adjustment"  # on an issued invoice: lowers its amount due
    REFUND = "refund"  # on a paid invoice: raises the customer balance


class CreditNoteReason(StrEnum):
    """Why a note was issued: Orb's four reasons (values as stored)."""

    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    ORDER_CHANGE = "order_change"
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory"

    @property
    def label(self) -> str:
        """The reason as people read it ("Product unsatisfactory", as Orb displays it)."""
        return self.value.replace("_", " ").capitalize()


@dataclass(frozen=True)
class InvoiceCreditNote:
    """A credit note as its invoice lists it, with how it was applied."""

    id: str
    number: str
    kind: CreditNoteKind
    reason: CreditNoteReason
    memo: str
    total: Decimal
    applied_to_amount_due: Decimal  # what it took off the invoice's amount due (adjustments only)
    credited_to_balance: Decimal  # what it credited to the customer balance
    created_at: dt.datetime
    voided_at: dt.datetime | None

    @property
    def live(self) -> bool:
        """True until the note is voided."""
        return self.voided_at is None


@dataclass(frozen=True)
class CreditNoteLine:
    """One credited line: the invoice line, its name and service period, and the amount credited."""

    id: str
    invoice_line_item_id: str
    name: str
    amount: Decimal
    start_date: dt.date
    end_date: dt.date


@dataclass(frozen=True)
class CreditNote:
    """A whole credit note as stored: the note, its lines, the invoice it credits and its ledger rows."""

    id: str
    number: str
    invoice_id: str
    invoice_number: str
    customer_id: str
    external_customer_id: str  # "" when none
    currency: str
    kind: CreditNoteKind
    reason: CreditNoteReason
    memo: str
    total: Decimal
    applied_to_amount_due: Decimal
    credited_to_balance: Decimal
    lines: tuple[CreditNoteLine, ...]
    balance_transactions: tuple[BalanceTransaction, ...]
    created_at: dt.datetime
    voided_at: dt.datetime | None

    @property
    def live(self) -> bool:
        """True until the note is voided."""
        return self.voided_at is None

    @property
    def version(self) -> int:
        """1 while live, 2 once voided (a note changes once): the version its document shows."""
        return 1 if self.voided_at is None else 2


@dataclass(frozen=True)
class NewCreditNoteLine:
    """A line to credit, as the request names it (the amount already parsed, positive)."""

    invoice_line_item_id: str
    amount: Decimal


@dataclass(frozen=True)
class NewCreditNote:
    """A credit note to issue, after its fields were read from the request."""

    invoice_id: str
    lines: Sequence[NewCreditNoteLine]
    reason: CreditNoteReason
    memo: str


def format_credit_note_number(sequence: int) -> str:
    """ "CN-00001": the account's gapless credit note sequence, zero-padded."""
    return f"CN-{sequence:05d}"


def check_new_credit_note(line_ids: Sequence[str], memo: str, violations: Violations) -> None:
    """A note credits 1 to MAX_LINE_ITEMS lines, each named by a valid id, none twice; its memo is bounded."""
    check_text(memo, "memo", violations, max_length=MAX_MEMO_LENGTH)
    if not line_ids:
        violations.add("line_items", "must have at least one line item")
    elif len(line_ids) > MAX_LINE_ITEMS:
        violations.add("line_items", f"must have at most {MAX_LINE_ITEMS} line items")
        return
    seen: set[str] = set()
    for index, line_id in enumerate(line_ids):
        field = f"line_items[{index}].invoice_line_item_id"
        check_id(line_id, field, violations)
        if line_id and line_id in seen:
            violations.add(field, "set at most one of the line items that name the same invoice line")
        seen.add(line_id)


@dataclass(frozen=True)
class CreditNoteFilter:
    """ListCreditNotes filters after validation; None means "no condition"."""

    customer_id: str | None = None
    external_customer_id: str | None = None
    invoice_id: str | None = None
    created: TimeRange = field(default_factory=TimeRange)
