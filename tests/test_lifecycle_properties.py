"""Random sequences of lifecycle actions keep the invoice invariants (a Hypothesis state machine).

The machine drives two customers of a fresh account through the API: create
invoices, add and delete lines, update metadata, issue, mark paid, void,
adjust balances, issue credit notes (within what is left of a line, or beyond
it) and void them. It keeps a small model (each invoice's status and amount
due, each customer's balance, what each issue applied, each credit note) and
after every step checks:

- every invoice's totals are the sum of its lines;
- each customer's balance equals the signed sum of its ledger, and the model;
- the account's invoice numbers are exactly 1..n over the non-draft invoices,
  and its credit note numbers exactly 1..n over its notes;
- each invoice's status moved only along a declared edge (or stayed);
- for every line, the live credited sum is at most the line's amount;
- every issued invoice's amount due is its total, less the balance applied at
  issue, less what its live adjustment notes took off it (the rest of those
  notes went to the balance), and equals the model's;
- `Invoice.credit_notes` lists exactly the invoice's notes.

Hypothesis state machines are synchronous, so the machine runs in a worker
thread and hands each call to the test's event loop, where the server and the
client channels live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import grpc
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from invoicing.v1 import credit_note_service_pb2, customer_pb2, invoice_pb2, invoice_service_pb2

from server.domain.invoices import REFUSAL_REASONS, TRANSITIONS, InvoiceAction, InvoiceStatus
from tests.support.accounts import new_account
from tests.support.builders import (
    add_line_request,
    amount_off,
    create_customer,
    create_invoice,
    line,
    mark_paid_request,
    metadata_request,
)
from tests.support.calls import adjust_balance, balance_of, invoices_of, ledger
from tests.support.checks import assert_totals_are_sum_of_lines, sequence_of, signed
from tests.support.client import Api, StatusDetails, details_of, open_api
from tests.support.credit_notes import ADJUSTMENT, REFUND, list_notes, note_request, note_sequence
from tests.support.states import allowed_moves, status_of

T = TypeVar("T")
CENTS = Decimal("0.01")
MOVES = allowed_moves()

amounts = st.integers(min_value=0, max_value=5_000).map(lambda cents: Decimal(cents) * CENTS)
picks = st.integers(min_value=0, max_value=1_000)


@dataclass
class NoteModel:
    """A credit note as the model expects it."""

    invoice_id: str
    customer: str
    kind: int  # CreditNoteType
    applied: Decimal  # taken off the amount due
    to_balance: Decimal  # credited to the balance
    lines: dict[str, Decimal]
    live: bool = True


class LifecycleMachine(RuleBasedStateMachine):
    """A fresh account with two customers, driven through the lifecycle RPCs."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: str, dsn: str) -> None:
        super().__init__()
        self._loop = loop
        self._stack = AsyncExitStack()
        account = self._run(new_account(dsn))
        self.api: Api = self._run(self._stack.enter_async_context(open_api(target, account.key)))
        self.customers = [self._run(create_customer(self.api)).id for _ in range(2)]
        self.balances = dict.fromkeys(self.customers, Decimal(0))
        self.invoices: dict[str, invoice_pb2.Invoice] = {}  # as last observed
        self.statuses: dict[str, InvoiceStatus] = {}  # as the model expects
        self.applied: dict[str, Decimal] = {}  # what issuing did to the customer's balance
        self.due: dict[str, Decimal] = {}  # each issued invoice's amount due, as the model expects
        self.notes: dict[str, NoteModel] = {}

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    async def _attempt(self, call: Any) -> tuple[Any, StatusDetails | None]:
        try:
            return await call, None
        except grpc.aio.AioRpcError as error:
            return None, details_of(error)

    def _pick(self, index: int, prefer: InvoiceAction | None = None) -> invoice_pb2.Invoice:
        """An invoice by index; with `prefer`, among those the action is allowed on, if there are any."""
        ids = sorted(self.invoices)
        if prefer is not None:
            ids = [i for i in ids if prefer in TRANSITIONS[self.statuses[i]]] or ids
        return self.invoices[ids[index % len(ids)]]

    def _act(self, invoice: invoice_pb2.Invoice, action: InvoiceAction, call: Any) -> Any:
        """Run an action; check it succeeded exactly when the table allows it, and refusals change nothing."""
        status = self.statuses[invoice.id]
        result, error = self._run(self._attempt(call))
        if action in TRANSITIONS[status]:
            assert error is None, (status, action, error)
            return result
        assert error is not None, (status, action)
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION, error
        assert error.reason == REFUSAL_REASONS[action], error
        assert self._run(self._get(invoice.id)) == invoice
        return None

    async def _get(self, invoice_id: str) -> invoice_pb2.Invoice:
        result: invoice_pb2.Invoice = await self.api.invoices.GetInvoice(
            invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id)
        )
        return result

    def _refused(self, invoice: invoice_pb2.Invoice, call: Any, code: grpc.StatusCode, reason: str) -> None:
        """Run a call that must be refused with this code and reason, and change nothing."""
        _, error = self._run(self._attempt(call))
        assert error is not None, reason
        assert (error.code, error.reason) == (code, reason), error
        assert self._run(self._get(invoice.id)) == invoice

    def _credited(self, line_id: str) -> Decimal:
        """What live notes of the model credited on a line."""
        return sum((n.lines.get(line_id, Decimal(0)) for n in self.notes.values() if n.live), Decimal(0))

    def _live_adjustments(self, invoice_id: str) -> bool:
        return any(n.live and n.kind == ADJUSTMENT and n.invoice_id == invoice_id for n in self.notes.values())

    def teardown(self) -> None:
        """Close the client channel."""
        self._run(self._stack.aclose())

    # --- rules ---

    @rule(
        customer=st.integers(min_value=0, max_value=1),
        lines=st.lists(st.tuples(st.integers(1, 3), amounts), min_size=1, max_size=3),
        discount=st.one_of(st.none(), amounts.filter(lambda a: a > 0)),
    )
    def create(self, customer: int, lines: list[tuple[int, Decimal]], discount: Decimal | None) -> None:
        """Create a draft with 1-3 lines and perhaps an amount discount."""
        extra: dict[str, Any] = {}
        if discount is not None:
            extra["discount"] = amount_off(str(discount))
        request_lines = [line(quantity=str(q), unit_amount=str(a)) for q, a in lines]
        owner = self.customers[customer]
        created = self._run(
            create_invoice(self.api, customer_pb2.Customer(id=owner, currency="USD"), line_items=request_lines, **extra)
        )
        assert status_of(created) is InvoiceStatus.DRAFT
        self.invoices[created.id] = created
        self.statuses[created.id] = InvoiceStatus.DRAFT

    @initialize(customer=st.integers(min_value=0, max_value=1), lines=st.lists(amounts, min_size=2, max_size=3))
    def an_issued_invoice(self, customer: int, lines: list[Decimal]) -> None:
        """Start with one issued invoice, so that credit notes have something to credit from the first step."""
        self.create(customer, [(1, amount) for amount in lines], None)
        draft_id = next(iter(self.invoices))
        self.issue(0, True)
        assert self.statuses[draft_id] is not InvoiceStatus.DRAFT

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, amount=amounts, targeted=st.booleans())
    def add_line(self, pick: int, amount: Decimal, targeted: bool) -> None:
        """Add a one-off line."""
        invoice = self._pick(pick, InvoiceAction.ADD_LINE_ITEM if targeted else None)
        self._act(
            invoice,
            InvoiceAction.ADD_LINE_ITEM,
            self.api.invoices.CreateInvoiceLineItem(add_line_request(invoice.id, str(amount))),
        )

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, which=picks, targeted=st.booleans())
    def delete_line(self, pick: int, which: int, targeted: bool) -> None:
        """Delete one of the invoice's lines (an unknown one when it has none)."""
        invoice = self._pick(pick, InvoiceAction.DELETE_LINE_ITEM if targeted else None)
        ids = [li.id for li in invoice.line_items]
        line_id = ids[which % len(ids)] if ids else "ili_missing"
        call = self.api.invoices.DeleteInvoiceLineItem(
            invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=invoice.id, line_item_id=line_id)
        )
        if not ids and self.statuses[invoice.id] is InvoiceStatus.DRAFT:
            _, error = self._run(self._attempt(call))
            assert error is not None
            assert error.code == grpc.StatusCode.NOT_FOUND
            assert error.reason == "LINE_ITEM_NOT_FOUND"
            return
        self._act(invoice, InvoiceAction.DELETE_LINE_ITEM, call)

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, key=st.sampled_from(["a", "b", "c"]), value=st.text("xyz", max_size=3), clear=st.booleans())
    def update_metadata(self, pick: int, key: str, value: str, clear: bool) -> None:
        """Set a key (perhaps after clearing all): allowed in every status."""
        invoice = self._pick(pick)
        updated = self._act(
            invoice,
            InvoiceAction.UPDATE_METADATA,
            self.api.invoices.UpdateInvoice(metadata_request(invoice.id, set={key: value}, clear=clear)),
        )
        expected = {} if clear else dict(invoice.metadata)
        assert dict(updated.metadata) == {**expected, key: value}

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, targeted=st.booleans())
    def issue(self, pick: int, targeted: bool) -> None:
        """Issue: the balance is applied, and with nothing due the invoice is paid at once."""
        invoice = self._pick(pick, InvoiceAction.ISSUE if targeted else None)
        customer = invoice.customer.id
        balance, total = self.balances[customer], Decimal(invoice.total)
        issued = self._act(
            invoice,
            InvoiceAction.ISSUE,
            self.api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice.id)),
        )
        if issued is None:
            return
        change = -min(balance, total) if balance > 0 else -balance
        assert Decimal(issued.amount_due) == total + change
        expected = InvoiceStatus.PAID if balance >= total else InvoiceStatus.ISSUED
        assert status_of(issued) is expected
        self.statuses[invoice.id] = expected
        self.balances[customer] += change
        self.applied[invoice.id] = change
        self.due[invoice.id] = total + change

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, targeted=st.booleans())
    def mark_paid(self, pick: int, targeted: bool) -> None:
        """Record a payment of the amount due."""
        invoice = self._pick(pick, InvoiceAction.MARK_PAID if targeted else None)
        paid = self._act(
            invoice, InvoiceAction.MARK_PAID, self.api.invoices.MarkInvoicePaid(mark_paid_request(invoice.id))
        )
        if paid is not None:
            assert [p.amount for p in paid.payments] == [invoice.amount_due]
            self.statuses[invoice.id] = InvoiceStatus.PAID

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, targeted=st.booleans())
    def void(self, pick: int, targeted: bool) -> None:
        """Void: whatever issuing did to the balance is undone."""
        invoice = self._pick(pick, InvoiceAction.VOID if targeted else None)
        if self.statuses[invoice.id] is InvoiceStatus.ISSUED and self._live_adjustments(invoice.id):
            call = self.api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice.id))
            self._refused(invoice, call, grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_HAS_CREDIT_NOTES")
            return
        voided = self._act(
            invoice,
            InvoiceAction.VOID,
            self.api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice.id)),
        )
        if voided is not None:
            self.statuses[invoice.id] = InvoiceStatus.VOID
            self.balances[invoice.customer.id] -= self.applied.pop(invoice.id)

    def _pick_in(self, index: int, statuses: tuple[InvoiceStatus, ...]) -> invoice_pb2.Invoice:
        """An invoice by index among those in these statuses (any invoice if none is)."""
        ids = [i for i in sorted(self.invoices) if self.statuses[i] in statuses] or sorted(self.invoices)
        return self.invoices[ids[index % len(ids)]]

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, which=picks, share=st.integers(1, 100), beyond=st.sampled_from([False, False, True]))
    def credit_issued(self, pick: int, which: int, share: int, beyond: bool) -> None:
        """An adjustment note on an issued invoice (a share of what is left of a line, or a cent beyond)."""
        self._credit((InvoiceStatus.ISSUED,), pick, which, share, beyond)

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, which=picks, share=st.integers(1, 100), beyond=st.sampled_from([False, False, True]))
    def credit_paid(self, pick: int, which: int, share: int, beyond: bool) -> None:
        """A refund note on a paid invoice."""
        self._credit((InvoiceStatus.PAID,), pick, which, share, beyond)

    @precondition(lambda self: self.invoices)
    @rule(pick=picks, which=picks, share=st.integers(1, 100))
    def credit_any(self, pick: int, which: int, share: int) -> None:
        """A note on any invoice: refused on drafts and void invoices."""
        self._credit(tuple(InvoiceStatus), pick, which, share, False)

    def _credit(self, statuses: tuple[InvoiceStatus, ...], pick: int, which: int, share: int, beyond: bool) -> None:
        """A credit note on one line: an adjustment on an issued invoice, a refund on a paid one."""
        invoice = self._pick_in(pick, statuses)
        if not invoice.line_items:
            return
        line_item = invoice.line_items[which % len(invoice.line_items)]
        left = Decimal(line_item.amount) - self._credited(line_item.id)
        amount = left + CENTS if beyond else max(CENTS, (left * share / 100).quantize(CENTS))
        call = self.api.credit_notes.CreateCreditNote(note_request(invoice.id, (line_item.id, str(amount))))
        status = self.statuses[invoice.id]
        if InvoiceAction.CREDIT in TRANSITIONS[status] and amount > left:
            self._refused(invoice, call, grpc.StatusCode.FAILED_PRECONDITION, "CREDIT_NOTE_EXCEEDS_LINE")
            return
        note = self._act(invoice, InvoiceAction.CREDIT, call)
        if note is None:
            return
        customer = invoice.customer.id
        if status is InvoiceStatus.PAID:
            applied, kind = Decimal(0), REFUND
        else:
            applied, kind = min(amount, self.due[invoice.id]), ADJUSTMENT
            self.due[invoice.id] -= applied
            if applied and not self.due[invoice.id]:
                self.statuses[invoice.id] = InvoiceStatus.PAID
        assert (note.type, Decimal(note.total)) == (kind, amount)
        assert (Decimal(note.applied_to_amount_due), Decimal(note.credited_to_balance)) == (applied, amount - applied)
        self.balances[customer] += amount - applied
        self.notes[note.id] = NoteModel(invoice.id, customer, kind, applied, amount - applied, {line_item.id: amount})

    @precondition(lambda self: self.notes)
    @rule(pick=picks, live_only=st.sampled_from([True, True, False]))
    def void_credit_note(self, pick: int, live_only: bool) -> None:
        """Void a note: undone when live (an adjustment only while its invoice is issued), refused otherwise."""
        ids = [i for i in sorted(self.notes) if self.notes[i].live or not live_only] or sorted(self.notes)
        self._void_note(ids[pick % len(ids)])

    @precondition(lambda self: any(n.live for n in self.notes.values()))
    @rule()
    def void_latest_note(self) -> None:
        """Void the latest live note (undoing a note right after it is the common correction)."""
        self._void_note([i for i, n in self.notes.items() if n.live][-1])

    def _void_note(self, note_id: str) -> None:
        note = self.notes[note_id]
        invoice = self.invoices[note.invoice_id]
        call = self.api.credit_notes.VoidCreditNote(
            credit_note_service_pb2.VoidCreditNoteRequest(credit_note_id=note_id)
        )
        if not note.live:
            self._refused(invoice, call, grpc.StatusCode.FAILED_PRECONDITION, "CREDIT_NOTE_VOID")
            return
        if note.kind == ADJUSTMENT and self.statuses[note.invoice_id] is not InvoiceStatus.ISSUED:
            self._refused(invoice, call, grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_NOT_ISSUED")
            return
        voided, error = self._run(self._attempt(call))
        assert error is None, error
        assert voided.HasField("voided_at")
        if note.kind == ADJUSTMENT:
            self.due[note.invoice_id] += note.applied
        self.balances[note.customer] -= note.to_balance
        note.live = False

    @rule(customer=st.integers(min_value=0, max_value=1), amount=amounts.filter(lambda a: a > 0), credit=st.booleans())
    def adjust(self, customer: int, amount: Decimal, credit: bool) -> None:
        """A manual increment or decrement of a customer's balance."""
        change = amount if credit else -amount
        owner = self.customers[customer]
        row = self._run(adjust_balance(self.api, owner, change))
        assert signed(row) == change
        self.balances[owner] += change

    # --- invariants ---

    @invariant()
    def invariants_hold(self) -> None:
        """Totals, ledgers, numbering and status moves, against the server's current state."""
        self._run(self._check())

    async def _check(self) -> None:
        observed = {invoice.id: invoice for invoice in await invoices_of(self.api)}
        assert set(observed) == set(self.invoices)
        for invoice_id, invoice in observed.items():
            assert_totals_are_sum_of_lines(invoice)
            before, now = status_of(self.invoices[invoice_id]), status_of(invoice)
            assert now is before or (before, now) in MOVES, (invoice_id, before, now)
            assert now is self.statuses[invoice_id]
            if now is InvoiceStatus.DRAFT:
                assert invoice.amount_due == invoice.total
                assert not invoice.invoice_number
        self.invoices = observed
        numbers = sorted(sequence_of(i.invoice_number) for i in observed.values() if i.invoice_number)
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(numbers) == sum(status_of(i) is not InvoiceStatus.DRAFT for i in observed.values())
        for customer in self.customers:
            rows = await ledger(self.api, customer)
            total = sum((signed(row) for row in rows), Decimal(0))
            assert await balance_of(self.api, customer) == total == self.balances[customer]
        await self._check_credit_notes(observed)

    async def _check_credit_notes(self, observed: dict[str, invoice_pb2.Invoice]) -> None:
        notes = await list_notes(self.api)
        assert {n.id for n in notes} == set(self.notes)
        assert sorted(note_sequence(n.credit_note_number) for n in notes) == list(range(1, len(notes) + 1))
        live = [n for n in notes if not n.HasField("voided_at")]
        assert {n.id for n in live} == {i for i, n in self.notes.items() if n.live}
        for invoice_id, invoice in observed.items():
            listed = [(n.id, n.HasField("voided_at")) for n in reversed(notes) if n.invoice_id == invoice_id]
            assert [(n.id, n.HasField("voided_at")) for n in invoice.credit_notes] == listed
            for item in invoice.line_items:
                credited = [
                    Decimal(li.amount) for n in live for li in n.line_items if li.invoice_line_item_id == item.id
                ]
                assert sum(credited, Decimal(0)) <= Decimal(item.amount)
            if invoice.status == invoice_pb2.INVOICE_STATUS_DRAFT:
                continue
            # The balance applied at issue moved the balance by this: credit taken (-), or debt added (+).
            at_issue = sum(
                (
                    signed(t)
                    for t in invoice.customer_balance_transactions
                    if t.action == customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE
                ),
                Decimal(0),
            )
            adjusted = sum(
                (Decimal(n.applied_to_amount_due) for n in live if n.invoice_id == invoice_id and n.type == ADJUSTMENT),
                Decimal(0),
            )
            assert Decimal(invoice.amount_due) == Decimal(invoice.total) + at_issue - adjusted == self.due[invoice_id]


@pytest.mark.slow
@pytest.mark.timeout(300)  # up to 15 sequences of 25 steps, each step checked through the API
async def test_random_lifecycle_sequences_keep_the_invariants(target: str, migrated_dsn: str) -> None:
    """Up to 15 random sequences of 25 actions each, checked after every step."""
    loop = asyncio.get_running_loop()

    class Machine(LifecycleMachine):
        def __init__(self) -> None:
            super().__init__(loop, target, migrated_dsn)

    await asyncio.to_thread(
        run_state_machine_as_test,
        Machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
