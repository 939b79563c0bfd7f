"""Credit note use cases: issue a note against an invoice, void it; and the reads that go with them.

Both mutations lock in the order of `server.usecases` (customer, then the invoice, then the note, then
the credit note counter, then the event counter), apply the rules of `server.domain.crediting`, move the
customer balance when the note credits it (linking the ledger row to the note), save the invoice (a new
version) and end with `publish.invoice_changed`, so the invoice's history and change stream show the note.
The invoice's row lock serialises every note of one invoice: concurrent notes on one line can never
credit more than the line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator

from server.db import credit_notes as repo
from server.db import customers as customers_repo
from server.db import invoices as invoices_repo
from server.db import snapshots
from server.db.pool import Database
from server.domain import crediting
from server.domain.credit_notes import CreditNote, CreditNoteFilter, NewCreditNote, format_credit_note_number
from server.domain.customers import BalanceAction, BalanceDirection, BalanceMove, move_balance
from server.domain.events import InvoiceEventKind as E
from server.domain.pages import Page
from server.usecases.invoices import lock_with_customer
from server.usecases.publish import InvoiceRenderer, invoice_changed
from server.usecases.reads import read
from server.usecases.unit import Tx


class CreditNotes:
    """The credit note use cases; `render` gives the changed invoice its wire form (history and events)."""

    def __init__(self, render: InvoiceRenderer) -> None:
        self.render = render

    async def create(self, tx: Tx, new: NewCreditNote, expected: int | None) -> CreditNote:
        """CreateCreditNote: an adjustment on an issued invoice, a refund on a paid one."""
        customer, invoice = await lock_with_customer(tx, new.invoice_id, expected)
        credited = crediting.credited_per_line(await repo.live_credits(tx.conn, tx.account_id, invoice.id))
        outcome = crediting.credit(
            status=invoice.status,
            currency=invoice.currency,
            amount_due=invoice.amount_due,
            lines=await invoices_repo.lines(tx.conn, tx.account_id, invoice.id),
            credited=credited,
            requested=new.lines,
        )
        number = format_credit_note_number(await repo.next_number(tx.conn, tx.account_id))
        note_id = await repo.insert(
            tx.conn,
            tx.account_id,
            repo.NoteToStore(
                number=number,
                invoice_id=invoice.id,
                customer_id=customer.id,
                kind=outcome.kind,
                reason=new.reason,
                memo=new.memo,
                currency=invoice.currency,
                total=outcome.total,
                applied_to_amount_due=outcome.applied_to_amount_due,
                credited_to_balance=outcome.credited_to_balance,
                created_at=tx.now,
                lines=[(c.line.id, c.amount) for c in outcome.lines],
            ),
        )
        if outcome.credited_to_balance > 0:
            increment = move_balance(customer.balance, BalanceDirection.INCREMENT, outcome.credited_to_balance)
            applied = f"Credit note {number}"
            await _post(tx, customer.id, BalanceAction.CREDIT_NOTE_APPLIED, increment, applied, invoice.id, note_id)
        columns: dict[str, object] = {"amount_due": outcome.amount_due}
        kinds = [E.CREDIT_NOTE_CREATED]
        if outcome.status is not invoice.status:  # credited down to nothing due: paid
            columns |= {"status": outcome.status.value, "paid_at": tx.now}
            kinds.append(E.PAID)
        await invoices_repo.save(tx.conn, tx.account_id, invoice.id, columns)
        await invoice_changed(tx, self.render, invoice.id, kinds)
        return await repo.get(tx.conn, tx.account_id, note_id)

    async def void(self, tx: Tx, note_id: str, expected: int | None) -> CreditNote:
        """VoidCreditNote: undo the note on its invoice and the customer balance."""
        invoice_id, _ = await repo.parties_of(tx.conn, tx.account_id, note_id)
        customer, invoice = await lock_with_customer(tx, invoice_id, expected)
        note = await repo.lock(tx.conn, tx.account_id, note_id)
        outcome = crediting.void_note(note, invoice.status, invoice.amount_due)
        await repo.set_voided(tx.conn, tx.account_id, note_id, tx.now)
        if outcome.balance_taken_back > 0:
            decrement = move_balance(customer.balance, BalanceDirection.DECREMENT, outcome.balance_taken_back)
            voided = f"Credit note {note.number} voided"
            await _post(tx, customer.id, BalanceAction.CREDIT_NOTE_VOIDED, decrement, voided, invoice_id, note_id)
        await invoices_repo.save(tx.conn, tx.account_id, invoice_id, {"amount_due": outcome.amount_due})
        await invoice_changed(tx, self.render, invoice_id, [E.CREDIT_NOTE_VOIDED])
        return await repo.get(tx.conn, tx.account_id, note_id)


async def _post(
    tx: Tx, customer_id: str, action: BalanceAction, move: BalanceMove, description: str, invoice_id: str, note_id: str
) -> None:
    """Move the (locked) customer's balance for a note, in a ledger row linked to the note and its invoice."""
    await customers_repo.insert_balance_transaction(
        tx.conn,
        tx.account_id,
        customer_id,
        action,
        move,
        description=description,
        invoice_id=invoice_id,
        credit_note_id=note_id,
    )


async def get_credit_note(db: Database, account_id: str, note_id: str) -> CreditNote:
    """GetCreditNote: one note of the account; NotFound otherwise."""
    return await read(db, repo.get, account_id, note_id)


def list_credit_notes(
    db: Database,
    account_id: str,
    filters: CreditNoteFilter,
    page: Page[tuple[dt.datetime, str]],
) -> AsyncGenerator[list[CreditNote], None]:
    """ListCreditNotes: the matching notes from one snapshot, newest first, in batches."""
    return snapshots.batches(db, repo.list_query(account_id, filters, page.after), page)
