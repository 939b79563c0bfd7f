"""Reaching invoice states through the API, and the status tables tests compare the service with.

Every state is reached by the RPCs a client would send: issued by
IssueInvoice, paid by MarkInvoicePaid, void by VoidInvoice, a subscription
invoice by the period-end runner on the clocked server. The one exception is
`synced`, which no RPC produces (see `force_synced`).
"""

from __future__ import annotations

from typing import Any

from invoicing.v1 import customer_pb2, invoice_pb2, subscription_service_pb2

from server.app import RunningServer
from server.domain.invoices import TRANSITIONS, InvoiceAction, InvoiceStatus
from tests.support.builders import create_invoice, create_plan, fixed_fee, subscribe
from tests.support.calls import get_invoice, invoices_of, issue, mark_paid, void
from tests.support.client import Api
from tests.support.clock import Clock, run_billing
from tests.support.database import connection

STATUS_NAMES: dict[invoice_pb2.InvoiceStatus, InvoiceStatus] = {
    invoice_pb2.INVOICE_STATUS_DRAFT: InvoiceStatus.DRAFT,
    invoice_pb2.INVOICE_STATUS_ISSUED: InvoiceStatus.ISSUED,
    invoice_pb2.INVOICE_STATUS_PAID: InvoiceStatus.PAID,
    invoice_pb2.INVOICE_STATUS_SYNCED: InvoiceStatus.SYNCED,
    invoice_pb2.INVOICE_STATUS_VOID: InvoiceStatus.VOID,
}


def status_of(invoice: invoice_pb2.Invoice) -> InvoiceStatus:
    """The domain status of an invoice message."""
    return STATUS_NAMES[invoice.status]


def declared_edges() -> set[tuple[InvoiceStatus, InvoiceStatus]]:
    """Every status change the state table declares (self-loops left out)."""
    return {
        (status, target)
        for status, actions in TRANSITIONS.items()
        for target in actions.values()
        if target is not status
    }


def allowed_moves() -> set[tuple[InvoiceStatus, InvoiceStatus]]:
    """The declared edges plus the one compound move: issue then mark paid in one transaction (nothing due)."""
    moves = declared_edges()
    for status, actions in TRANSITIONS.items():
        issued = actions.get(InvoiceAction.ISSUE)
        if issued is not None:
            paid = TRANSITIONS[issued].get(InvoiceAction.MARK_PAID)
            if paid is not None:
                moves.add((status, paid))
    return moves


async def force_synced(dsn: str, invoice_id: str) -> None:
    """Move an issued invoice to `synced` by editing its row: the one state no RPC reaches.

    `synced` stands for a one-way sync to an external accounting system that
    the service does not perform, so no RPC produces it and the status guard
    trigger declares no edge into it; the trigger is bypassed for this one
    transaction. The version grows as for any other change.
    """
    async with connection(dsn) as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        result = await conn.execute(
            "UPDATE invoices SET status = 'synced', version = version + 1, updated_at = now()"
            " WHERE id = $1 AND status = 'issued'",
            invoice_id,
        )
    assert result == "UPDATE 1", result


async def bring_to(api: Api, dsn: str, draft_id: str, status: InvoiceStatus) -> invoice_pb2.Invoice:
    """Move a draft (with an amount due) to `status` through the lifecycle RPCs (synced: see force_synced)."""
    if status is not InvoiceStatus.DRAFT:
        await issue(api, draft_id)
    if status is InvoiceStatus.PAID:
        await mark_paid(api, draft_id)
    elif status is InvoiceStatus.VOID:
        await void(api, draft_id)
    elif status is InvoiceStatus.SYNCED:
        await force_synced(dsn, draft_id)
    result = await get_invoice(api, draft_id)
    assert status_of(result) is status
    return result


async def invoice_in_status(
    api: Api, dsn: str, customer: customer_pb2.Customer, status: InvoiceStatus, **overrides: Any
) -> invoice_pb2.Invoice:
    """A fresh one-off invoice (30.00 by default) brought to `status` (see bring_to)."""
    invoice = await create_invoice(api, customer, **overrides)
    if status is InvoiceStatus.DRAFT:
        return invoice
    return await bring_to(api, dsn, invoice.id, status)


async def subscription_draft(
    api: Api, server: RunningServer, clock: Clock, customer: customer_pb2.Customer
) -> tuple[subscription_service_pb2.Subscription, invoice_pb2.Invoice]:
    """A new subscription of the (USD) customer from the clock's day, and its first invoice: a draft.

    The plan bills a fixed fee in advance, so the period-end runner invoices
    the first period at once; auto-issue is off, so the invoice stays a draft.
    """
    plan = await create_plan(api, fixed_fee())
    subscription = await subscribe(api, customer, plan, clock.now.date().isoformat(), auto_issuance=False)
    await run_billing(server, clock, clock.now)
    [invoice] = await invoices_of(api, subscription_id=subscription.id)
    assert (invoice.status, invoice.invoice_source) == (
        invoice_pb2.INVOICE_STATUS_DRAFT,
        invoice_pb2.INVOICE_SOURCE_SUBSCRIPTION,
    )
    return subscription, invoice
