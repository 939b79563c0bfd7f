"""Prepaid credits (Orb's credits ledger): blocks of credit a customer is granted, drawn down by usage.

A grant creates a block: an amount in the customer's currency, usable from its
effective date until its expiry date (none: it never expires), with the cost
basis the customer paid per credit. Every change of a block is an immutable
ledger entry (increment, decrement, expiry, return from voiding); a block's
remaining amount and the customer's credit balance are the sums of their
entries, always.

Drawdown (Orb's order): credits pay the in-arrears lines of subscription
invoices (usage prices and fees billed in arrears) after their adjustments,
and after what earlier partial (threshold) invoices already billed of them,
before tax; in the invoice's line order. A line draws from the blocks whose
validity overlaps its service period, soonest expiry first (never-expiring
blocks last), then the lower cost basis (none counts as 0), then the oldest.
The upcoming invoice shows the credits its lines would draw from the blocks as
they are; a draft shows them as of its last re-pricing (a grant re-prices the
customer's drafts); the ledger is drawn when the invoice is issued, in the
issuing transaction, after the draft is re-priced once more, with the same
numbers. Two drafts may both show the same credits: the first issued draws
them.
Voiding an issued invoice returns what it drew to the blocks it drew from.
A block's remainder expires once its expiry date has passed and no invoice of
the customer can still draw from it (no draft billing days before the expiry,
no period boundary that has arrived without its invoice).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Final

from server.domain import money
from server.domain.customers import CustomerRef
from server.domain.errors import Violations
from server.domain.invoices import Line, add_months
from server.domain.validation import MAX_DESCRIPTION_LENGTH, check_text

# How far ahead a grant may start or expire.
CREDIT_WINDOW_MONTHS: Final = 120


class LedgerEntryType(StrEnum):
    """What changed a block (Orb's entry types)."""

    INCREMENT = "increment"
    DECREMENT = "decrement"
    EXPIRY = "credit_block_expiry"
    RETURN_FROM_VOIDING = "return_from_voiding"

    @property
    def adds(self) -> bool:
        """True when the entry raises the balance."""
        return self in (LedgerEntryType.INCREMENT, LedgerEntryType.RETURN_FROM_VOIDING)


@dataclass(frozen=True)
class CreditBlock:
    """A grant of credits and what is left of it."""

    id: str
    customer_id: str
    currency: str
    amount: Decimal
    remaining: Decimal
    per_unit_cost_basis: Decimal | None
    effective_date: dt.date
    expiry_date: dt.date | None  # the first day it can no longer be used; None: never expires
    description: str
    created_at: dt.datetime

    def covers(self, first: dt.date, last: dt.date) -> bool:
        """True when the block can pay for a line whose service period runs from `first` to `last` (inclusive)."""
        return self.effective_date <= last and (self.expiry_date is None or self.expiry_date > first)


def draw_order(blocks: Sequence[CreditBlock]) -> list[CreditBlock]:
    """Blocks in the order usage draws them: soonest expiry, lowest cost basis, oldest."""
    return sorted(
        blocks,
        key=lambda b: (
            b.expiry_date is None,
            b.expiry_date or dt.date.max,
            b.per_unit_cost_basis or Decimal(0),
            b.created_at,
            b.id,
        ),
    )


@dataclass(frozen=True)
class LedgerEntry:
    """An immutable row of a customer's credits ledger; the balances are the customer's credit balance."""

    id: str
    customer_id: str
    block: CreditBlock
    entry_type: LedgerEntryType
    amount: Decimal
    starting_balance: Decimal
    ending_balance: Decimal
    invoice_id: str  # "" when not tied to an invoice
    line_item_id: str
    description: str
    created_at: dt.datetime


@dataclass(frozen=True)
class NewGrant:
    """GrantCredits, after its fields were read from the request."""

    customer: CustomerRef
    amount: Decimal
    currency: str
    effective_date: dt.date | None  # None: today in the customer's timezone
    expiry_date: dt.date | None
    per_unit_cost_basis: Decimal | None
    description: str

    def validate(self, violations: Violations, today: dt.date) -> None:
        """Record every bad field (the currency and the amount's precision are checked against the customer)."""
        limit = add_months(today, CREDIT_WINDOW_MONTHS)
        for field, day in (("effective_date", self.effective_date), ("expiry_date", self.expiry_date)):
            if day is not None and day > limit:
                violations.add(field, "must be within ten years of today")
        start = self.effective_date or today
        if self.expiry_date is not None and self.expiry_date <= start:
            violations.add("expiry_date", "must be after the effective date (today when none is given)")
        check_text(self.description, "description", violations, max_length=MAX_DESCRIPTION_LENGTH)


@dataclass(frozen=True)
class Draw:
    """Credits a line draws from a block."""

    line: int  # the line's position on the invoice
    block_id: str
    amount: Decimal


def draw_credits(
    lines: Sequence[Line], payable: Sequence[bool], blocks: Sequence[CreditBlock], currency: str
) -> tuple[list[Line], list[Draw]]:
    """The lines with the credits they draw (`credits_applied`, and `amount` lowered by it), and the draws.

    `payable` says which lines credits pay (the in-arrears ones). A line draws
    what it has left after partial invoices (`amount - partially_invoiced_amount`,
    never below zero) from the blocks covering its service period, in draw
    order. Every figure is already in minor units: nothing is rounded.
    """
    left: dict[str, Decimal] = {b.id: b.remaining for b in blocks}
    ordered = draw_order(blocks)
    result: list[Line] = []
    draws: list[Draw] = []
    for position, (line, pays) in enumerate(zip(lines, payable, strict=True)):
        due = line.amount - line.partially_invoiced_amount
        drawn = money.zero(currency)
        if pays:
            for block in ordered:
                if due - drawn <= 0:
                    break
                if left[block.id] <= 0 or not block.covers(line.start_date, line.end_date):
                    continue
                taken = min(left[block.id], due - drawn)
                left[block.id] -= taken
                drawn += taken
                draws.append(Draw(position, block.id, taken))
        result.append(replace(line, credits_applied=drawn, amount=due - drawn))
    return result, draws
