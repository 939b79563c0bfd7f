"""Invoice mutations inside one transaction: locks in one order, domain rules, repository writes.

Lock order, everywhere: the idempotency key (taken by run_mutation), then the
subscription, then the customer, then the invoice (several: in id order, all
before any event is recorded), then the account's invoice-number counter, then
the account's event counter (taken last, by server.api.events.record). Actions
that move the customer balance (issue, void, a cancellation's prorated refund)
lock the customer; the others lock only the invoice. A cancellation locks its
subscription first; ingestion share-locks the subscriptions and locks the
drafts its late events touch (subscriptions first). Lock waits are bounded by
the call's deadline (see server.db.pool), and a lost wait surfaces as ABORTED
with RetryInfo.

Each action ends by recording its change events (server.api.events), which also gives the invoice as the
change left it: the servicer answers with that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

import asyncpg
from invoicing.v1 import invoice_pb2

from server.api import events
from server.billing import engine
from server.db import customers as customers_repo
from server.db import invoices as repo
from server.domain import lifecycle, money
from server.domain.billing import fee_credit
from server.domain.customers import BalanceAction, BalanceDirection, move_balance
from server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from server.domain.invoices import (
    DiscountKind,
    InvoiceAction,
    InvoiceDiscount,
    InvoiceSource,
    InvoiceStatus,
    Line,
    apply_discount,
    totals,
    transition,
)
from server.domain.validation import today_in


def _discount_of(invoice: asyncpg.Record) -> InvoiceDiscount | None:
    discounts = invoice["discounts"]
    if not discounts:
        return None
    first = discounts[0]
    kind = DiscountKind(first["discount_type"])
    value_field = "percentage_discount" if kind is DiscountKind.PERCENTAGE else "amount_discount"
    return InvoiceDiscount(kind, Decimal(first[value_field]), first.get("reason", ""))


async def _lock(conn: asyncpg.Connection, account: str, invoice_id: str, expected: int | None) -> asyncpg.Record:
    """Lock the invoice and check the caller's expected version (compare-and-set)."""
    invoice = await repo.lock(conn, account, invoice_id)
    lifecycle.check_version(expected, invoice["version"])
    return invoice


async def _lock_with_customer(
    conn: asyncpg.Connection, account: str, invoice_id: str, expected: int | None
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """Lock the invoice's customer, then the invoice (the one lock order), and check the expected version."""
    customer_id = await repo.customer_of(conn, account, invoice_id)
    customer = await customers_repo.get(conn, account, customer_id=customer_id, lock="update")
    return customer, await _lock(conn, account, invoice_id, expected)


async def _reprice(
    conn: asyncpg.Connection, account: str, invoice: asyncpg.Record, lines: list[Line]
) -> dict[str, object]:
    """Spread the invoice's discount over its current lines again; return the new invoice totals."""
    currency = invoice["currency"]
    priced = apply_discount(lines, currency, _discount_of(invoice))
    changed = [new for new, old in zip(priced, lines, strict=True) if new.id and new != old]
    await repo.update_line_amounts(conn, account, changed)
    result = totals(priced, currency)
    return {"subtotal": result.subtotal, "total": result.total, "amount_due": result.total}


async def update(
    conn: asyncpg.Connection, account: str, invoice_id: str, changes: lifecycle.InvoiceChanges, expected: int | None
) -> invoice_pb2.Invoice:
    """UpdateInvoice: metadata in any status, terms on drafts, the invoice date on one-off drafts."""
    invoice = await _lock(conn, account, invoice_id, expected)
    changes.check_allowed(
        InvoiceStatus(invoice["status"]), InvoiceSource(invoice["invoice_source"]), invoice["invoice_date"]
    )
    columns: dict[str, object] = {}
    if changes.metadata is not None:
        columns["metadata"] = changes.metadata.apply(invoice["metadata"])
    if changes.net_terms is not None:
        columns["net_terms"] = changes.net_terms
        columns["due_date"] = None  # computed from the terms at issue
    if changes.due_date is not None:
        columns["due_date"] = changes.due_date
    if changes.auto_collection is not None:
        columns["auto_collection"] = changes.auto_collection
    if changes.invoice_date is not None:
        if invoice["due_date"] is not None and changes.due_date is None and invoice["due_date"] < changes.invoice_date:
            raise FailedPrecondition(
                "DUE_DATE_BEFORE_INVOICE_DATE", "the new invoice date is after the due date", subject="invoice_date"
            )
        columns["invoice_date"] = changes.invoice_date
    await repo.save(conn, account, invoice_id, columns)
    return await events.record(conn, account, invoice_id, ["updated"])


async def add_line(
    conn: asyncpg.Connection, account: str, invoice_id: str, new: lifecycle.NewFixedLine, expected: int | None
) -> str:
    """CreateInvoiceLineItem: append a one-off fixed-fee line to a draft; return the line's id."""
    invoice = await _lock(conn, account, invoice_id, expected)
    transition(InvoiceStatus(invoice["status"]), InvoiceAction.ADD_LINE_ITEM)
    currency = invoice["currency"]
    if not money.fits_currency(new.amount, currency):
        raise InvalidArgument.one(
            "amount", f"has more decimal places than {currency} allows ({money.exponent(currency)})"
        )
    amount = money.round_money(new.amount, currency)
    line = Line(
        name=new.name,
        quantity=new.quantity,
        unit_amount=new.unit_amount(),
        start_date=new.start_date,
        end_date=new.end_date,
        subtotal=amount,
        adjustments=(),
        adjusted_subtotal=amount,
        amount=amount,
    )
    existing = await repo.lines(conn, account, invoice_id)
    position = await repo.next_position(conn, account, invoice_id)
    [line_id] = await repo.insert_lines(conn, account, invoice_id, [line], currency, first_position=position)
    await repo.save(
        conn, account, invoice_id, await _reprice(conn, account, invoice, [*existing, replace(line, id=line_id)])
    )
    await events.record(conn, account, invoice_id, ["line_item_added"])
    return line_id


async def delete_line(
    conn: asyncpg.Connection, account: str, invoice_id: str, line_id: str, expected: int | None
) -> invoice_pb2.Invoice:
    """DeleteInvoiceLineItem: remove a one-off line from a draft and recompute the totals."""
    invoice = await _lock(conn, account, invoice_id, expected)
    transition(InvoiceStatus(invoice["status"]), InvoiceAction.DELETE_LINE_ITEM)
    existing = await repo.lines(conn, account, invoice_id)
    target = next((li for li in existing if li.id == line_id), None)
    if target is None:
        raise NotFound("line_item", line_id)
    if not target.is_one_off:
        raise FailedPrecondition(
            "LINE_ITEM_NOT_ONE_OFF", "lines generated from a subscription cannot be deleted", subject="line_item_id"
        )
    await repo.delete_line(conn, account, invoice_id, line_id)
    remaining = [li for li in existing if li.id != line_id]
    await repo.save(conn, account, invoice_id, await _reprice(conn, account, invoice, remaining))
    return await events.record(conn, account, invoice_id, ["line_item_deleted"])


async def issue(
    conn: asyncpg.Connection, account: str, invoice_id: str, expected: int | None, now: dt.datetime
) -> invoice_pb2.Invoice:
    """IssueInvoice (and auto-issue at creation): number, due date, balance applied, paid if nothing is due."""
    customer, invoice = await _lock_with_customer(conn, account, invoice_id, expected)
    customer_id = customer["id"]
    columns: dict[str, object] = {}
    total = invoice["total"]
    if InvoiceSource(invoice["invoice_source"]) is InvoiceSource.SUBSCRIPTION and invoice["status"] == "draft":
        # Bill the usage stored now, late events included.
        refreshed = await engine.refresh(conn, account, invoice_id)
        if refreshed is not None:
            columns.update(refreshed)
            total = refreshed["total"]
    outcome = lifecycle.issue(
        status=InvoiceStatus(invoice["status"]),
        total=total,
        balance=customers_repo.balance_of(customer),
        currency=invoice["currency"],
        fixed_due_date=invoice["due_date"],
        net_terms=invoice["net_terms"],
        issue_date=today_in(customer["timezone"], now),
        eligible_at=invoice["eligible_to_issue_at"],
        now=now,
    )
    if outcome.balance_move is not None:
        await customers_repo.insert_balance_transaction(
            conn, account, customer_id, BalanceAction.APPLIED_TO_INVOICE, outcome.balance_move, invoice_id=invoice_id
        )
    prefix, sequence = await repo.next_invoice_number(conn, account)
    columns |= {
        "status": outcome.status.value,
        "invoice_number": lifecycle.format_invoice_number(prefix, sequence),
        "amount_due": outcome.amount_due,
        "due_date": outcome.due_date,
        "issued_at": now,
        "eligible_to_issue_at": None,
        "scheduled_issue_at": None,
        "will_auto_issue": False,
    }
    if outcome.status is InvoiceStatus.PAID:
        columns["paid_at"] = now
    await repo.save(conn, account, invoice_id, columns)
    kinds = ["issued", "paid"] if outcome.status is InvoiceStatus.PAID else ["issued"]
    return await events.record(conn, account, invoice_id, kinds)


async def mark_paid(
    conn: asyncpg.Connection,
    account: str,
    invoice_id: str,
    payment: lifecycle.NewPayment,
    expected: int | None,
    now: dt.datetime,
) -> invoice_pb2.Invoice:
    """MarkInvoicePaid: issued or synced → paid, with the payment recorded."""
    invoice = await _lock(conn, account, invoice_id, expected)
    status = lifecycle.mark_paid(InvoiceStatus(invoice["status"]))
    await repo.insert_payment(
        conn,
        account,
        invoice_id,
        amount=invoice["amount_due"],
        received=payment.received,
        external_id=payment.external_id,
        notes=payment.notes,
    )
    await repo.save(conn, account, invoice_id, {"status": status.value, "paid_at": now})
    return await events.record(conn, account, invoice_id, ["paid"])


async def void(
    conn: asyncpg.Connection, account: str, invoice_id: str, expected: int | None, now: dt.datetime
) -> invoice_pb2.Invoice:
    """VoidInvoice: issued → void, giving back every balance change the invoice made."""
    customer, invoice = await _lock_with_customer(conn, account, invoice_id, expected)
    customer_id = customer["id"]
    status = lifecycle.void(InvoiceStatus(invoice["status"]))
    applied = [
        lifecycle.AppliedBalance(BalanceDirection(row["type"]), row["amount"])
        for row in await repo.applied_balance(conn, account, invoice_id)
    ]
    for move in lifecycle.void_reversals(applied, customers_repo.balance_of(customer)):
        await customers_repo.insert_balance_transaction(
            conn, account, customer_id, BalanceAction.RETURN_FROM_VOIDING, move, invoice_id=invoice_id
        )
    await repo.save(conn, account, invoice_id, {"status": status.value, "voided_at": now})
    return await events.record(conn, account, invoice_id, ["voided"])


async def refresh_drafts(conn: asyncpg.Connection, account: str, invoice_ids: Sequence[str]) -> None:
    """Re-price subscription drafts with the usage stored now (late events included), each an `updated` event.

    The caller holds the drafts' locks (taken in id order before any event is recorded).
    """
    for invoice_id in sorted(invoice_ids):
        refreshed = await engine.refresh(conn, account, invoice_id)
        if refreshed is not None:
            await repo.save(conn, account, invoice_id, refreshed)
            await events.record(conn, account, invoice_id, ["updated"])


async def settle_cancellation(conn: asyncpg.Connection, account: str, sub: engine.Subscription) -> None:
    """Settle the invoices a cancellation cuts short, in the cancellation's transaction.

    Every invoice already generated for the period that contains the last
    billed day, or later, whose in-advance fees the new end changes
    (`fee_credit`) is settled: a draft is lowered (its lines re-priced, an
    `updated` event); for an issued, synced or paid invoice, the unused part of
    its in-advance fees goes to the customer balance as a `prorated_refund`
    transaction linked to the invoice (a later cancellation that moves the end
    later takes it back with `revert_prorated_refund`), and the invoice, which
    now shows that transaction, gets an `updated` event. Void invoices billed
    nothing and are left alone.
    Locks: the caller holds the subscription; then the customer, then the
    invoices in id order, then the event counter.
    """
    assert sub.end_date is not None
    last_billed_day = max(sub.end_date - dt.timedelta(days=1), sub.schedule.start_date)
    affected = await repo.boundary_invoices(conn, account, sub.id, sub.schedule.index_of(last_billed_day))
    if not affected:
        return
    customer = await customers_repo.get(conn, account, customer_id=sub.customer_id, lock="update")
    balance = customers_repo.balance_of(customer)
    locked = [(await repo.lock(conn, account, row["id"]), row["billing_boundary"]) for row in affected]
    credits = []
    for invoice, k in locked:
        invoice_id = invoice["id"]
        credit = fee_credit(
            sub.prices,
            sub.schedule,
            k,
            sub.end_date,
            await repo.generated_amounts(conn, account, invoice_id),
            await repo.prorated_refunds(conn, account, invoice_id),
            sub.currency,
        )
        if credit != 0:  # an end that changes nothing for this invoice leaves it alone
            credits.append((invoice_id, invoice["status"] == InvoiceStatus.DRAFT.value, credit))
    await refresh_drafts(conn, account, [invoice_id for invoice_id, draft, _ in credits if draft])
    for invoice_id, draft, credit in credits:
        if draft:
            continue
        refund = credit > 0
        move = move_balance(balance, BalanceDirection.INCREMENT if refund else BalanceDirection.DECREMENT, abs(credit))
        await customers_repo.insert_balance_transaction(
            conn,
            account,
            sub.customer_id,
            BalanceAction.PRORATED_REFUND if refund else BalanceAction.REVERT_PRORATED_REFUND,
            move,
            description=(
                f"Subscription {sub.id} ends on {sub.end_date.isoformat()}: "
                + ("unused in-advance fees refunded" if refund else "refund for days now billed taken back")
            ),
            invoice_id=invoice_id,
        )
        balance = move.ending_balance
        await repo.save(conn, account, invoice_id, {})  # a new version: the invoice shows the transaction
        await events.record(conn, account, invoice_id, ["updated"])
