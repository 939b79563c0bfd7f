"""Invoice use cases: create, change, issue, pay, void; and the reads that go with them.

Each mutation runs in the transaction it is given, locks in the order of
`server.usecases` (customer, then invoice, then the counters), applies the
rules of `server.domain.invoices` and `server.domain.lifecycle`, and ends with
`publish.invoice_changed`, whose result it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from server.db import customers as customers_repo
from server.db import invoices as repo
from server.domain import crediting, lifecycle
from server.domain.customers import (
    BalanceAction,
    BalanceDirection,
    Customer,
    CustomerRef,
    check_same_currency,
    move_balance,
)
from server.domain.errors import NotFound
from server.domain.events import InvoiceEventKind
from server.domain.events import InvoiceEventKind as E
from server.domain.invoices import (
    InvoiceAction,
    InvoiceHeader,
    InvoiceSource,
    InvoiceStatus,
    Line,
    NewOneOffInvoice,
    apply_discount,
    issues_at_creation,
    price_lines,
    totals,
    transition,
)
from server.domain.validation import today_in
from server.usecases import credit_ledger, subscription_billing
from server.usecases.customers import customer_row
from server.usecases.publish import ChangedInvoice, InvoiceRenderer, invoice_changed
from server.usecases.unit import Tx


@dataclass(frozen=True)
class AddedLine:
    """The line CreateInvoiceLineItem added, and the invoice it changed."""

    line: Line
    changed: ChangedInvoice


def _creation_lock(new: NewOneOffInvoice) -> Literal["update", "share"]:
    """The lock CreateInvoice takes first, on its customer: auto-issuing moves the balance, which needs the
    exclusive lock; it is taken at once, never upgraded."""
    return "update" if new.will_auto_issue else "share"


def creation_row(named: CustomerRef, new: NewOneOffInvoice) -> str | None:
    """The row whose exclusive lock CreateInvoice takes first, when it takes one (the customer's, for an invoice
    issued at creation): calls naming the same one wait their turn in the server (`server.db.row_queues`)."""
    if _creation_lock(new) != "update":
        return None
    return customer_row(named)


class Invoices:
    """The invoice use cases; `render` gives an invoice its wire form for the change stream."""

    def __init__(self, render: InvoiceRenderer) -> None:
        self.render = render

    async def _publish(self, tx: Tx, invoice_id: str, kinds: Sequence[InvoiceEventKind]) -> ChangedInvoice:
        return await invoice_changed(tx, self.render, invoice_id, kinds)

    async def create(self, tx: Tx, named: CustomerRef, new: NewOneOffInvoice) -> ChangedInvoice:
        """CreateInvoice: a one-off draft for the customer `named`, issued at once when it asks to be and its
        date has come."""
        customer = await customers_repo.get_named(tx.conn, tx.account_id, named, lock=_creation_lock(new))
        check_same_currency(new.currency, customer.currency, what="the invoice", subject="currency")
        priced = price_lines(new.lines, new.currency, new.discount)
        invoice_id = await repo.insert(
            tx.conn,
            tx.account_id,
            customer=customer,
            source=InvoiceSource.ONE_OFF,
            currency=new.currency,
            invoice_date=new.invoice_date,
            due_date=new.due_date,
            net_terms=new.net_terms if new.net_terms is not None else customer.net_terms,
            lines=priced,
            totals=totals(priced, new.currency),
            memo=new.memo,
            metadata=new.metadata,
            discounts=() if new.discount is None else (new.discount,),
            auto_collection=new.auto_collection if new.auto_collection is not None else customer.auto_collection,
            will_auto_issue=new.will_auto_issue,
        )
        created = await self._publish(tx, invoice_id, [E.CREATED])
        if issues_at_creation(new, today_in(customer.timezone, tx.now)):
            return await self._issue_locked(tx, customer, await repo.lock(tx.conn, tx.account_id, invoice_id))
        return created

    async def update(
        self, tx: Tx, invoice_id: str, changes: lifecycle.InvoiceChanges, expected: int | None
    ) -> ChangedInvoice:
        """UpdateInvoice: metadata in any status, terms on drafts, the invoice date on one-off drafts."""
        invoice = await _lock(tx, invoice_id, expected)
        columns = changes.columns(invoice)
        await repo.save(tx.conn, tx.account_id, invoice_id, columns)
        return await self._publish(tx, invoice_id, [E.UPDATED])

    async def add_line(self, tx: Tx, invoice_id: str, new: lifecycle.NewFixedLine, expected: int | None) -> AddedLine:
        """CreateInvoiceLineItem: append a one-off fixed-fee line to a draft."""
        invoice = await _lock(tx, invoice_id, expected)
        transition(invoice.status, InvoiceAction.ADD_LINE_ITEM)
        line = new.priced(invoice.currency)
        existing = await repo.lines(tx.conn, tx.account_id, invoice_id)
        position = await repo.next_position(tx.conn, tx.account_id, invoice_id)
        [line_id] = await repo.insert_lines(
            tx.conn, tx.account_id, invoice_id, [line], invoice.currency, first_position=position
        )
        await _reprice(tx, invoice, [*existing, replace(line, id=line_id)])
        changed = await self._publish(tx, invoice_id, [E.LINE_ITEM_ADDED])
        return AddedLine(next(li for li in changed.invoice.lines if li.id == line_id), changed)

    async def delete_line(self, tx: Tx, invoice_id: str, line_id: str, expected: int | None) -> ChangedInvoice:
        """DeleteInvoiceLineItem: remove a one-off line from a draft and recompute the totals."""
        invoice = await _lock(tx, invoice_id, expected)
        transition(invoice.status, InvoiceAction.DELETE_LINE_ITEM)
        existing = await repo.lines(tx.conn, tx.account_id, invoice_id)
        target = next((li for li in existing if li.id == line_id), None)
        if target is None:
            raise NotFound("line_item", line_id)
        lifecycle.check_deletable(target)
        await repo.delete_line(tx.conn, tx.account_id, invoice_id, line_id)
        await _reprice(tx, invoice, [li for li in existing if li.id != line_id])
        return await self._publish(tx, invoice_id, [E.LINE_ITEM_DELETED])

    async def issue(self, tx: Tx, invoice_id: str, expected: int | None) -> ChangedInvoice:
        """IssueInvoice (and the runner's auto-issue): number, due date, balance applied, paid if nothing is due."""
        customer, invoice = await lock_with_customer(tx, invoice_id, expected)
        return await self._issue_locked(tx, customer, invoice)

    async def publish(self, tx: Tx, invoice_id: str, kinds: Sequence[InvoiceEventKind]) -> ChangedInvoice:
        """Record the events of an invoice another use case created (a partial invoice)."""
        return await self._publish(tx, invoice_id, kinds)

    async def issue_locked(self, tx: Tx, customer: Customer, invoice: InvoiceHeader) -> ChangedInvoice:
        """Issue an invoice whose customer and row the caller holds locked (the one lock order)."""
        return await self._issue_locked(tx, customer, invoice)

    async def _issue_locked(self, tx: Tx, customer: Customer, invoice: InvoiceHeader) -> ChangedInvoice:
        columns: dict[str, object] = {}
        total = invoice.total
        if invoice.source is InvoiceSource.SUBSCRIPTION and invoice.status is InvoiceStatus.DRAFT:
            # Bill the usage stored now, late events included, and draw the prepaid credits its lines use.
            refreshed = await subscription_billing.refresh(tx.conn, tx.account_id, invoice)
            if refreshed is not None:
                columns |= refreshed.totals.columns()
                total = refreshed.totals.total
                await credit_ledger.draw(tx, customer.id, invoice.id, refreshed.draws)
        outcome = lifecycle.issue(
            status=invoice.status,
            total=total,
            balance=customer.balance,
            currency=invoice.currency,
            fixed_due_date=invoice.due_date,
            net_terms=invoice.net_terms,
            issue_date=today_in(customer.timezone, tx.now),
            eligible_at=invoice.eligible_to_issue_at,
            now=tx.now,
        )
        moves = [
            (BalanceAction.PRORATED_REFUND, outcome.credit_move, "proration credits beyond the invoice's charges"),
            (BalanceAction.APPLIED_TO_INVOICE, outcome.balance_move, ""),
        ]
        for action, move, description in moves:
            if move is not None:
                await customers_repo.insert_balance_transaction(
                    tx.conn, tx.account_id, customer.id, action, move, description=description, invoice_id=invoice.id
                )
        prefix, sequence = await repo.next_invoice_number(tx.conn, tx.account_id)
        columns |= lifecycle.issued_columns(outcome, lifecycle.format_invoice_number(prefix, sequence), tx.now)
        await repo.save(tx.conn, tx.account_id, invoice.id, columns)
        kinds = [E.ISSUED, E.PAID] if outcome.status is InvoiceStatus.PAID else [E.ISSUED]
        return await self._publish(tx, invoice.id, kinds)

    async def refresh_drafts(self, tx: Tx, invoice_ids: Sequence[str]) -> None:
        """Re-price subscription drafts with the usage stored now (late events included), each an `updated` event.

        The caller holds the drafts' locks (taken in id order before any event is recorded).
        """
        for invoice_id in sorted(invoice_ids):
            invoice = await repo.lock(tx.conn, tx.account_id, invoice_id)
            refreshed = await subscription_billing.refresh(tx.conn, tx.account_id, invoice)
            if refreshed is not None:
                await repo.save(tx.conn, tx.account_id, invoice_id, refreshed.totals.columns())
                await self._publish(tx, invoice_id, [E.UPDATED])

    async def touch(self, tx: Tx, invoice_id: str) -> ChangedInvoice:
        """A new version of a locked invoice whose related rows changed (a balance transaction linked to it)."""
        await repo.save(tx.conn, tx.account_id, invoice_id, {})
        return await self._publish(tx, invoice_id, [E.UPDATED])

    async def mark_paid(
        self, tx: Tx, invoice_id: str, payment: lifecycle.NewPayment, expected: int | None
    ) -> ChangedInvoice:
        """MarkInvoicePaid: issued or synced → paid, with the payment recorded."""
        invoice = await _lock(tx, invoice_id, expected)
        status = lifecycle.mark_paid(invoice.status)
        await repo.insert_payment(
            tx.conn,
            tx.account_id,
            invoice_id,
            amount=invoice.amount_due,
            received=payment.received,
            external_id=payment.external_id,
            notes=payment.notes,
        )
        await repo.save(tx.conn, tx.account_id, invoice_id, {"status": status.value, "paid_at": tx.now})
        return await self._publish(tx, invoice_id, [E.PAID])

    async def void(self, tx: Tx, invoice_id: str, expected: int | None) -> ChangedInvoice:
        """VoidInvoice: issued → void, giving back every balance change the invoice made (refused while live
        adjustment credit notes remain)."""
        customer, invoice = await lock_with_customer(tx, invoice_id, expected)
        status = lifecycle.void(invoice.status)
        crediting.check_no_live_adjustments((await repo.get(tx.conn, tx.account_id, invoice_id)).credit_notes)
        applied = await repo.applied_balance(tx.conn, tx.account_id, invoice_id)
        balance = customer.balance
        for move in lifecycle.void_reversals(applied, balance):
            await customers_repo.insert_balance_transaction(
                tx.conn, tx.account_id, customer.id, BalanceAction.RETURN_FROM_VOIDING, move, invoice_id=invoice_id
            )
            balance = move.ending_balance
        await credit_ledger.give_back(tx, customer.id, invoice_id)
        # Prorated refunds credited for the invoice (its negative total, a cancellation, a backfill) are taken back.
        refunded = await repo.prorated_refunds(tx.conn, tx.account_id, invoice_id, with_backfills=True)
        if refunded != 0:
            direction = BalanceDirection.DECREMENT if refunded > 0 else BalanceDirection.INCREMENT
            action = BalanceAction.REVERT_PRORATED_REFUND if refunded > 0 else BalanceAction.PRORATED_REFUND
            await customers_repo.insert_balance_transaction(
                tx.conn,
                tx.account_id,
                customer.id,
                action,
                move_balance(balance, direction, abs(refunded)),
                description="the invoice was voided",
                invoice_id=invoice_id,
            )
        await repo.save(tx.conn, tx.account_id, invoice_id, {"status": status.value, "voided_at": tx.now})
        return await self._publish(tx, invoice_id, [E.VOIDED])


async def _lock(tx: Tx, invoice_id: str, expected: int | None) -> InvoiceHeader:
    """Lock the invoice and check the caller's expected version (compare-and-set)."""
    invoice = await repo.lock(tx.conn, tx.account_id, invoice_id)
    lifecycle.check_version(expected, invoice.version)
    return invoice


async def lock_with_customer(tx: Tx, invoice_id: str, expected: int | None) -> tuple[Customer, InvoiceHeader]:
    """Lock the invoice's customer, then the invoice (the one lock order), and check the expected version."""
    customer_id = await repo.customer_of(tx.conn, tx.account_id, invoice_id)
    customer = await customers_repo.get(tx.conn, tx.account_id, customer_id=customer_id, lock="update")
    return customer, await _lock(tx, invoice_id, expected)


async def _reprice(tx: Tx, invoice: InvoiceHeader, lines: list[Line]) -> None:
    """Spread the invoice's discount over its current lines again and store the new totals.

    Without an invoice-level discount (every subscription invoice) the lines keep their amounts: a subscription
    line's adjustments, partial-invoice deduction and prepaid credits stay as its pricing left them.
    """
    priced = lines if invoice.discount is None else apply_discount(lines, invoice.currency, invoice.discount)
    changed = [new for new, old in zip(priced, lines, strict=True) if new.id and new != old]
    await repo.update_line_amounts(tx.conn, tx.account_id, changed)
    await repo.save(tx.conn, tx.account_id, invoice.id, totals(priced, invoice.currency).columns())
