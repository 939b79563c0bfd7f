"""The rules of credit notes: what a note does to its invoice and to the customer balance, and how it is undone.

Pure functions: they receive what the repositories read under lock (the invoice's status, amount due and
lines, what earlier live notes credited on each line) and return what must be written.

- A note is allowed where the state table allows `credit`: on an `issued` invoice it is an adjustment,
  on a `paid` one a refund (`INVOICE_NOT_CREDITABLE` otherwise).
- Each credited amount is positive, at most as precise as the currency, and at most what is left of its
  line after the live notes before it (`CREDIT_NOTE_EXCEEDS_LINE`).
- An adjustment takes what it can off the amount due; the rest goes to the customer balance. An invoice
  whose amount due reaches zero this way becomes paid. A refund credits its whole total to the balance.
- Voiding undoes exactly that: the amount due gets back what the note took off it, the balance gives
  back what the note credited. An adjustment can be undone only while its invoice is issued: once the
  invoice is paid, the payment settled the adjusted amount (`INVOICE_NOT_ISSUED`).
- An invoice with live adjustment notes cannot be voided (`INVOICE_HAS_CREDIT_NOTES`).

Invariant: an invoice's amount due is its total, less the balance applied at issue, less what its live
adjustment notes took off it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from server.domain import money
from server.domain.credit_notes import CreditNote, CreditNoteKind, InvoiceCreditNote, NewCreditNoteLine
from server.domain.errors import FailedPrecondition, NotFound
from server.domain.invoices import InvoiceAction, InvoiceStatus, Line, transition


@dataclass(frozen=True)
class CreditedLine:
    """A line of the invoice and the amount a new note credits on it."""

    line: Line
    amount: Decimal


@dataclass(frozen=True)
class CreditOutcome:
    """What issuing a note writes: its kind, lines and total, how it is applied, and the invoice after it."""

    kind: CreditNoteKind
    lines: tuple[CreditedLine, ...]
    total: Decimal
    applied_to_amount_due: Decimal
    credited_to_balance: Decimal
    amount_due: Decimal  # the invoice's amount due after the note
    status: InvoiceStatus  # the invoice's status after the note


@money.exact
def credit(
    *,
    status: InvoiceStatus,
    currency: str,
    amount_due: Decimal,
    lines: Sequence[Line],
    credited: Mapping[str, Decimal],
    requested: Sequence[NewCreditNoteLine],
) -> CreditOutcome:
    """Apply a new note to an invoice: `credited` is what live notes already credited, per invoice line id."""
    after = transition(status, InvoiceAction.CREDIT)
    by_id = {line.id: line for line in lines}
    credited_lines = []
    for index, wanted in enumerate(requested):
        line = by_id.get(wanted.invoice_line_item_id)
        if line is None:
            raise NotFound("line_item", wanted.invoice_line_item_id)
        amount = money.amount_in(wanted.amount, currency, f"line_items[{index}].amount")
        left = line.amount - credited.get(line.id, Decimal(0))
        if amount > left:
            raise FailedPrecondition(
                "CREDIT_NOTE_EXCEEDS_LINE",
                f"line_items[{index}] credits {money.to_wire(amount)} but only {money.to_wire(left)} is left of"
                f" line {line.id} ({money.to_wire(line.amount)} less earlier live credit notes)",
                subject=f"line_items[{index}].amount",
                metadata={"invoice_line_item_id": line.id, "remaining": money.to_wire(left)},
            )
        credited_lines.append(CreditedLine(line, amount))
    total = sum((c.amount for c in credited_lines), money.zero(currency))
    if status is InvoiceStatus.PAID:
        return CreditOutcome(
            CreditNoteKind.REFUND, tuple(credited_lines), total, money.zero(currency), total, amount_due, after
        )
    applied = min(total, amount_due)
    remaining_due = amount_due - applied
    if applied > 0 and remaining_due == 0:
        after = transition(after, InvoiceAction.MARK_PAID)
    return CreditOutcome(
        CreditNoteKind.ADJUSTMENT, tuple(credited_lines), total, applied, total - applied, remaining_due, after
    )


@dataclass(frozen=True)
class VoidOutcome:
    """What voiding a note writes: the invoice's amount due after, and what the balance gives back."""

    amount_due: Decimal
    balance_taken_back: Decimal


def void_note(note: CreditNote, invoice_status: InvoiceStatus, amount_due: Decimal) -> VoidOutcome:
    """Undo a live note on its invoice (FailedPrecondition if it is void, or an adjustment of a paid invoice)."""
    if not note.live:
        raise FailedPrecondition(
            "CREDIT_NOTE_VOID", f"credit note {note.number} is already void", subject="credit_note_id"
        )
    if note.kind is CreditNoteKind.REFUND:
        return VoidOutcome(amount_due, note.total)
    if invoice_status is not InvoiceStatus.ISSUED:
        raise FailedPrecondition(
            "INVOICE_NOT_ISSUED",
            f"an adjustment credit note can be voided only while its invoice is issued; the invoice is"
            f" {invoice_status.value} (adjust the customer balance instead)",
            subject="invoice.status",
            metadata={"status": invoice_status.value},
        )
    return VoidOutcome(amount_due + note.applied_to_amount_due, note.credited_to_balance)


def check_no_live_adjustments(notes: Sequence[InvoiceCreditNote]) -> None:
    """An invoice is voided only once its adjustment notes are voided (their amounts would be lost)."""
    live = [n.number for n in notes if n.live and n.kind is CreditNoteKind.ADJUSTMENT]
    if live:
        raise FailedPrecondition(
            "INVOICE_HAS_CREDIT_NOTES",
            f"the invoice has live adjustment credit notes ({', '.join(live)}); void them first",
            subject="invoice.credit_notes",
            metadata={"credit_notes": ",".join(live)},
        )


def credited_per_line(lines: Sequence[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Sum (invoice line id, amount) pairs of live notes per line."""
    sums: dict[str, Decimal] = {}
    for line_id, amount in lines:
        sums[line_id] = sums.get(line_id, Decimal(0)) + amount
    return sums
