"""The invoice state machine, generated from the state table in server.domain.invoices.

Every (status, action) pair is tried through the RPCs: an action the table
allows succeeds and lands in the table's target status; any other fails
FAILED_PRECONDITION with the table's refusal reason and leaves the invoice
exactly as it was. The database's status guard trigger is checked against the
same table.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
from invoicing.v1 import invoice_pb2, invoice_service_pb2

from server.domain.invoices import REFUSAL_REASONS, TRANSITIONS, InvoiceAction, InvoiceStatus, transition
from tests.support.builders import add_line_request, create_customer, mark_paid_request, metadata_request
from tests.support.calls import get_invoice
from tests.support.client import Api, expect_error
from tests.support.credit_notes import note_request
from tests.support.database import connection
from tests.support.states import allowed_moves, declared_edges, invoice_in_status, status_of

Check = Callable[[invoice_pb2.Invoice, invoice_pb2.Invoice], None]


def _perform(api: Api, invoice: invoice_pb2.Invoice, action: InvoiceAction) -> Awaitable[Any]:
    """Start the RPC that performs `action` on the invoice."""
    invoice_id = invoice.id
    calls: dict[InvoiceAction, Callable[[], Awaitable[Any]]] = {
        InvoiceAction.ADD_LINE_ITEM: lambda: api.invoices.CreateInvoiceLineItem(add_line_request(invoice_id, "7.25")),
        InvoiceAction.DELETE_LINE_ITEM: lambda: api.invoices.DeleteInvoiceLineItem(
            invoice_service_pb2.DeleteInvoiceLineItemRequest(
                invoice_id=invoice_id, line_item_id=invoice.line_items[0].id
            )
        ),
        InvoiceAction.UPDATE_METADATA: lambda: api.invoices.UpdateInvoice(
            metadata_request(invoice_id, set={"checked": "yes"})
        ),
        InvoiceAction.UPDATE_TERMS: lambda: api.invoices.UpdateInvoice(
            invoice_service_pb2.UpdateInvoiceRequest(invoice_id=invoice_id, net_terms=45)
        ),
        InvoiceAction.ISSUE: lambda: api.invoices.IssueInvoice(
            invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice_id)
        ),
        InvoiceAction.MARK_PAID: lambda: api.invoices.MarkInvoicePaid(mark_paid_request(invoice_id)),
        InvoiceAction.VOID: lambda: api.invoices.VoidInvoice(
            invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice_id)
        ),
        InvoiceAction.CREDIT: lambda: api.credit_notes.CreateCreditNote(
            note_request(invoice_id, (invoice.line_items[0].id, "1.00"))
        ),
    }
    return calls[action]()


def _effect_of(action: InvoiceAction) -> Check:
    """What an allowed action visibly changed, beyond status and version."""

    def add_line(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> None:
        assert len(after.line_items) == len(before.line_items) + 1
        assert after.line_items[-1].amount == "7.25"

    def delete_line(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> None:
        assert [li.id for li in after.line_items] == [li.id for li in before.line_items[1:]]

    def metadata(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> None:
        assert dict(after.metadata) == {**before.metadata, "checked": "yes"}

    def terms(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> None:
        assert after.net_terms == 45

    def issued(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> None:
        assert after.invoice_number
        assert not before.invoice_number
        assert after.HasField("issued_at")

    def paid(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> None:
        assert after.HasField("paid_at")
        assert [p.amount for p in after.payments] == [before.amount_due]

    def voided(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> None:
        assert after.HasField("voided_at")

    def credited(before: invoice_pb2.Invoice, after: invoice_pb2.Invoice) -> None:
        assert [n.total for n in after.credit_notes] == ["1.00"]
        taken = Decimal(1) if after.status == invoice_pb2.INVOICE_STATUS_ISSUED else Decimal(0)  # refund if paid
        assert Decimal(after.amount_due) == Decimal(before.amount_due) - taken

    return {
        InvoiceAction.ADD_LINE_ITEM: add_line,
        InvoiceAction.DELETE_LINE_ITEM: delete_line,
        InvoiceAction.UPDATE_METADATA: metadata,
        InvoiceAction.UPDATE_TERMS: terms,
        InvoiceAction.ISSUE: issued,
        InvoiceAction.MARK_PAID: paid,
        InvoiceAction.VOID: voided,
        InvoiceAction.CREDIT: credited,
    }[action]


CASES = list(itertools.product(InvoiceStatus, InvoiceAction))


def test_the_table_covers_every_status_and_every_action_has_a_refusal_reason() -> None:
    """Every status has a row, every action a refusal reason, and targets are statuses."""
    assert set(TRANSITIONS) == set(InvoiceStatus)
    assert set(REFUSAL_REASONS) == set(InvoiceAction)
    for status, actions in TRANSITIONS.items():
        for action, target in actions.items():
            assert transition(status, action) is target
    assert all(re.fullmatch(r"[A-Z][A-Z_]+", reason) for reason in REFUSAL_REASONS.values())


@pytest.mark.parametrize(("status", "action"), CASES, ids=[f"{s.value}-{a.value}" for s, a in CASES])
async def test_action_in_status_follows_the_table(
    api: Api, migrated_dsn: str, status: InvoiceStatus, action: InvoiceAction
) -> None:
    """Allowed by the table: succeeds into the target status. Otherwise: refused and nothing changes."""
    customer = await create_customer(api)
    invoice = await invoice_in_status(api, migrated_dsn, customer, status, metadata={"origin": "test"})
    before = await get_invoice(api, invoice.id)
    target = TRANSITIONS[status].get(action)
    if target is None:
        error = await expect_error(_perform(api, before, action))
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert error.reason == REFUSAL_REASONS[action]
        assert error.precondition_types == [REFUSAL_REASONS[action]]
        assert error.metadata == {"status": status.value, "action": action.value}
        after = await get_invoice(api, invoice.id)
        assert after == before
        assert after.SerializeToString(deterministic=True) == before.SerializeToString(deterministic=True)
    else:
        await _perform(api, before, action)
        after = await get_invoice(api, invoice.id)
        assert status_of(after) is target
        assert after.version == before.version + 1
        _effect_of(action)(before, after)


# --- the database guard ----------------------------------------------------------
# These tests write invoice rows with plain SQL on purpose: they prove the status guard trigger refuses what no
# RPC would ever send, so they must go around the API.


async def _guard_source(conn: asyncpg.Connection) -> str:
    source: str = await conn.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'invoices_status_guard'")
    return source


def _pairs_in(source: str) -> set[tuple[str, str]]:
    """The (from, to) status pairs listed in the trigger function's body."""
    return set(re.findall(r"\(\s*'([a-z_]+)'\s*,\s*'([a-z_]+)'\s*\)", source))


async def test_trigger_pairs_equal_the_table_edges_plus_issue_with_nothing_due(migrated_dsn: str) -> None:
    """The trigger allows exactly the table's edges and draft -> paid (issue then mark paid in one go)."""
    expected = {(a.value, b.value) for a, b in allowed_moves()}
    assert allowed_moves() == declared_edges() | {(InvoiceStatus.DRAFT, InvoiceStatus.PAID)}
    async with connection(migrated_dsn) as conn:
        source = await _guard_source(conn)
        enabled = await conn.fetchval(
            "SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'invoices_status_guard'"
            " AND tgrelid = 'invoices'::regclass"
        )
    assert _pairs_in(source) == expected
    assert enabled == "O"  # fires in ordinary sessions


async def test_trigger_refuses_moving_a_paid_invoice_back_to_draft(api: Api, migrated_dsn: str) -> None:
    """UPDATE ... SET status = 'draft' on a paid invoice raises, and the invoice stays paid."""
    customer = await create_customer(api)
    paid = await invoice_in_status(api, migrated_dsn, customer, InvoiceStatus.PAID)
    async with connection(migrated_dsn) as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="cannot move from paid to draft"):
            await conn.execute("UPDATE invoices SET status = 'draft', invoice_number = NULL WHERE id = $1", paid.id)
    assert await get_invoice(api, paid.id) == paid


_SET_FOR_TARGET = {
    "draft": "invoice_number = NULL",
    "issued": "issued_at = coalesce(issued_at, now()), invoice_number = coalesce(invoice_number, 'GUARD-' || id)",
    "paid": "paid_at = now(), issued_at = coalesce(issued_at, now()),"
    " invoice_number = coalesce(invoice_number, 'GUARD-' || id)",
    "synced": "invoice_number = coalesce(invoice_number, 'GUARD-' || id)",
    "void": "voided_at = now(), issued_at = coalesce(issued_at, now()),"
    " invoice_number = coalesce(invoice_number, 'GUARD-' || id)",
}


async def test_trigger_refuses_every_undeclared_move_and_lets_declared_ones_through(
    api: Api, migrated_dsn: str
) -> None:
    """From each status, every other target outside the allowed moves raises; allowed ones pass (rolled back)."""
    customer = await create_customer(api)
    allowed = {(a.value, b.value) for a, b in allowed_moves()}
    async with connection(migrated_dsn) as conn:
        for source in InvoiceStatus:
            invoice = await invoice_in_status(api, migrated_dsn, customer, source)
            for target in InvoiceStatus:
                if target is source:
                    continue
                sql = f"UPDATE invoices SET status = $2, {_SET_FOR_TARGET[target.value]} WHERE id = $1"
                tx = conn.transaction()
                await tx.start()
                try:
                    if (source.value, target.value) in allowed:
                        assert await conn.execute(sql, invoice.id, target.value) == "UPDATE 1"
                    else:
                        with pytest.raises(
                            asyncpg.CheckViolationError, match=f"cannot move from {source.value} to {target.value}"
                        ):
                            await conn.execute(sql, invoice.id, target.value)
                finally:
                    await tx.rollback()
            assert await get_invoice(api, invoice.id) == invoice
