"""Concurrency (SPEC 12): mixed mutations, racing void and payment, duplicate requests, 1,000 concurrent issues.

Every call carries a deadline, so a hang fails the test instead of stalling
it. The only acceptable failures under contention are state refusals
(FAILED_PRECONDITION) and lost lock races (ABORTED with RetryInfo).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import grpc
import pytest
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2, invoice_service_pb2

from server.domain.invoices import InvoiceStatus
from tests.support.builders import (
    add_line_request,
    create_customer,
    create_invoice,
    invoice_request,
    mark_paid_request,
    metadata_request,
)
from tests.support.calls import adjust_balance, get_invoice, invoices_of, issue, ledger
from tests.support.checks import (
    assert_balance_matches_ledger,
    assert_ledger_chains,
    assert_totals_are_sum_of_lines,
    sequence_of,
    signed,
)
from tests.support.client import Api, StatusDetails, details_of, expect_error
from tests.support.states import status_of

DEADLINE_S = 10.0
RETRYABLE_REASONS = {"LOCK_TIMEOUT", "DEADLOCK_DETECTED", "SERIALIZATION_FAILURE"}
STATE_REASONS = {"INVOICE_NOT_DRAFT", "INVOICE_NOT_ISSUED"}


@dataclass
class Outcome:
    """What one concurrent call did: the invoice it targeted (if any), its kind, and its result or error."""

    kind: str
    invoice_id: str | None
    key: str
    result: Any = None
    error: StatusDetails | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None


async def _run(kind: str, invoice_id: str | None, key: str, call: Awaitable[Any]) -> Outcome:
    """Await a call and record its outcome instead of raising."""
    try:
        return Outcome(kind, invoice_id, key, result=await call)
    except grpc.aio.AioRpcError as error:
        return Outcome(kind, invoice_id, key, error=details_of(error))


def _assert_acceptable(outcome: Outcome) -> None:
    """OK, a state refusal, or a lost lock race that says when to retry; nothing else."""
    error = outcome.error
    if error is None:
        return
    if error.code == grpc.StatusCode.FAILED_PRECONDITION:
        assert error.reason in STATE_REASONS, outcome
    else:
        assert error.code == grpc.StatusCode.ABORTED, outcome
        assert error.reason in RETRYABLE_REASONS, outcome
        assert error.retry_delay_ms is not None, outcome


async def test_100_concurrent_mixed_mutations_finish_without_lost_updates(api: Api) -> None:
    """100 mixed mutations on one customer's 10 invoices: all finish, ledger and totals hold, no update is lost."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "100.00")
    invoices = [await create_invoice(api, customer) for _ in range(10)]
    for invoice in invoices[:3]:  # so payments and voids have targets from the start
        await issue(api, invoice.id)
    base = {invoice.id: await get_invoice(api, invoice.id) for invoice in invoices}
    rng = random.Random(20240601)
    calls: list[Awaitable[Outcome]] = []
    for n in range(100):
        kind = rng.choice(["add_line", "metadata", "metadata", "issue", "mark_paid", "void", "balance"])
        target = rng.choice(invoices).id
        key = f"k{n}"
        if kind == "add_line":
            call: Awaitable[Any] = api.invoices.CreateInvoiceLineItem(
                add_line_request(target, f"{rng.randint(1, 9999) / 100:.2f}"), timeout=DEADLINE_S
            )
        elif kind == "metadata":
            call = api.invoices.UpdateInvoice(metadata_request(target, set={key: str(n)}), timeout=DEADLINE_S)
        elif kind == "issue":
            call = api.invoices.IssueInvoice(
                invoice_service_pb2.IssueInvoiceRequest(invoice_id=target), timeout=DEADLINE_S
            )
        elif kind == "mark_paid":
            call = api.invoices.MarkInvoicePaid(
                mark_paid_request(target, external_id=f"race-{key}"), timeout=DEADLINE_S
            )
        elif kind == "void":
            call = api.invoices.VoidInvoice(
                invoice_service_pb2.VoidInvoiceRequest(invoice_id=target), timeout=DEADLINE_S
            )
        else:
            amount = rng.randint(1, 5000)
            kind_enum = rng.choice(
                [customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT, customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT]
            )
            call = api.customers.CreateBalanceTransaction(
                customer_service_pb2.CreateBalanceTransactionRequest(
                    customer_id=customer.id, amount=f"{amount / 100:.2f}", type=kind_enum
                ),
                timeout=DEADLINE_S,
            )
            target = ""
        calls.append(_run(kind, target or None, key, call))
    outcomes = await asyncio.gather(*calls)

    assert len(outcomes) == 100
    for outcome in outcomes:
        _assert_acceptable(outcome)
    assert sum(o.ok for o in outcomes) > 0
    successes: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.ok and outcome.invoice_id is not None:
            successes[outcome.invoice_id].append(outcome)

    for invoice_id, before in base.items():
        after = await get_invoice(api, invoice_id)
        done = successes[invoice_id]
        assert after.version == before.version + len(done), (invoice_id, [o.kind for o in done])
        added = sum(o.kind == "add_line" for o in done)
        assert len(after.line_items) == len(before.line_items) + added
        assert set(after.metadata) == {o.key for o in done if o.kind == "metadata"}
        assert_totals_are_sum_of_lines(after)
        applied = [
            t
            for t in after.customer_balance_transactions
            if t.action == customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE
        ]
        if status_of(after) is InvoiceStatus.DRAFT:
            assert after.amount_due == after.total
            assert not applied
        else:
            assert Decimal(after.amount_due) == Decimal(after.total) + sum((signed(t) for t in applied), Decimal(0))
        kinds = Counter(o.kind for o in done)
        assert kinds["issue"] <= 1
        assert kinds["mark_paid"] + kinds["void"] <= 1
        assert len(after.payments) == kinds["mark_paid"]

    await assert_balance_matches_ledger(api, customer.id)
    rows = await ledger(api, customer.id)
    manual = [t for t in rows if t.action == customer_pb2.BALANCE_TRANSACTION_ACTION_MANUAL_ADJUSTMENT]
    assert len(manual) == 1 + sum(o.ok for o in outcomes if o.kind == "balance")
    assert_ledger_chains(rows)
    numbers = sorted(sequence_of(i.invoice_number) for i in await invoices_of(api) if i.invoice_number)
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) == 3 + sum(o.ok for o in outcomes if o.kind == "issue")


async def test_racing_void_and_mark_paid_exactly_one_wins(api: Api) -> None:
    """On 20 fresh issued invoices, void and mark-paid race: one succeeds, the other is refused INVOICE_NOT_ISSUED."""
    winners: Counter[str] = Counter()
    for round_number in range(20):
        customer = await create_customer(api)
        await adjust_balance(api, customer.id, "5.00")
        invoice = await issue(api, (await create_invoice(api, customer)).id)
        assert status_of(invoice) is InvoiceStatus.ISSUED
        assert invoice.amount_due == "25.00"
        contenders = [
            _run(
                "void",
                invoice.id,
                "",
                api.invoices.VoidInvoice(
                    invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice.id), timeout=DEADLINE_S
                ),
            ),
            _run(
                "mark_paid",
                invoice.id,
                "",
                api.invoices.MarkInvoicePaid(
                    mark_paid_request(invoice.id, external_id=f"duel-{round_number}"), timeout=DEADLINE_S
                ),
            ),
        ]
        if round_number % 2:
            contenders.reverse()
        void_outcome, paid_outcome = sorted(await asyncio.gather(*contenders), key=lambda o: o.kind != "void")
        assert [void_outcome.ok, paid_outcome.ok].count(True) == 1, (void_outcome, paid_outcome)
        loser = paid_outcome if void_outcome.ok else void_outcome
        assert loser.error is not None
        assert loser.error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert loser.error.reason == "INVOICE_NOT_ISSUED"
        final = await get_invoice(api, invoice.id)
        winner = "void" if void_outcome.ok else "mark_paid"
        winners[winner] += 1
        if winner == "void":
            assert status_of(final) is InvoiceStatus.VOID
            assert not final.payments
            assert not final.HasField("paid_at")
        else:
            assert status_of(final) is InvoiceStatus.PAID
            assert [p.external_id for p in final.payments] == [f"duel-{round_number}"]
            assert not final.HasField("voided_at")
        assert final.version == invoice.version + 1
        returned = Decimal("5.00") if winner == "void" else Decimal(0)
        assert await assert_balance_matches_ledger(api, customer.id) == returned
        assert_ledger_chains(await ledger(api, customer.id))
    assert sum(winners.values()) == 20


async def test_20_identical_issue_requests_with_one_request_id_consume_one_number(api: Api) -> None:
    """20 concurrent copies of one IssueInvoice: identical responses, one number, one version step, one credit use."""
    customer = await create_customer(api)
    await adjust_balance(api, customer.id, "7.00")
    draft = await create_invoice(api, customer)
    request = invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id, request_id=f"req-{uuid.uuid4().hex}")
    responses: list[invoice_pb2.Invoice] = await asyncio.gather(
        *(api.invoices.IssueInvoice(request, timeout=DEADLINE_S) for _ in range(20))
    )
    assert len({r.SerializeToString() for r in responses}) == 1
    issued = responses[0]
    assert sequence_of(issued.invoice_number) == 1
    assert issued.version == draft.version + 1
    assert issued.amount_due == "23.00"
    assert await get_invoice(api, draft.id) == issued
    assert len(await ledger(api, customer.id)) == 2  # the manual credit and one application
    assert await assert_balance_matches_ledger(api, customer.id) == 0
    following = await issue(api, (await create_invoice(api, customer)).id)
    assert sequence_of(following.invoice_number) == 2


async def test_20_identical_mark_paid_and_balance_requests_with_one_request_id_take_effect_once(api: Api) -> None:
    """Concurrent duplicates of MarkInvoicePaid and CreateBalanceTransaction record one payment and one ledger row."""
    customer = await create_customer(api)
    invoice = await issue(api, (await create_invoice(api, customer)).id)
    paid_request = mark_paid_request(invoice.id, external_id="once", request_id=f"req-{uuid.uuid4().hex}")
    credit_request = customer_service_pb2.CreateBalanceTransactionRequest(
        customer_id=customer.id,
        amount="3.00",
        type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT,
        request_id=f"req-{uuid.uuid4().hex}",
    )
    calls: list[Awaitable[Any]] = [api.invoices.MarkInvoicePaid(paid_request, timeout=DEADLINE_S) for _ in range(20)]
    calls += [api.customers.CreateBalanceTransaction(credit_request, timeout=DEADLINE_S) for _ in range(20)]
    results = await asyncio.gather(*calls)
    assert len({r.SerializeToString() for r in results[:20]}) == 1
    assert len({r.SerializeToString() for r in results[20:]}) == 1
    after = await get_invoice(api, invoice.id)
    assert [p.external_id for p in after.payments] == ["once"]
    assert after.version == invoice.version + 1
    assert [t.amount for t in await ledger(api, customer.id)] == ["3.00"]
    assert await assert_balance_matches_ledger(api, customer.id) == Decimal("3.00")


async def _in_chunks(stub: Callable[..., Awaitable[Any]], requests: list[Any], size: int) -> list[Any]:
    """Send the requests `size` at a time, each chunk concurrently (generous deadline); results in order."""
    results: list[Any] = []
    for start in range(0, len(requests), size):
        results += await asyncio.gather(*(stub(r, timeout=30) for r in requests[start : start + size]))
    return results


@pytest.mark.slow
@pytest.mark.timeout(120)  # 1,000 calls, each with DEADLINE_S
async def test_1000_concurrent_issues_get_gapless_unique_numbers(api: Api) -> None:
    """1,000 drafts over 8 customers, issued concurrently: numbers are exactly 1..1000."""
    customers = [await create_customer(api) for _ in range(8)]
    drafts: list[invoice_pb2.Invoice] = await _in_chunks(
        api.invoices.CreateInvoice, [invoice_request(customers[n % 8]) for n in range(1000)], 100
    )
    assert len({d.id for d in drafts}) == 1000
    issued: list[invoice_pb2.Invoice] = await _in_chunks(
        api.invoices.IssueInvoice, [invoice_service_pb2.IssueInvoiceRequest(invoice_id=d.id) for d in drafts], 200
    )
    assert all(status_of(i) is InvoiceStatus.ISSUED for i in issued)
    assert {i.id for i in issued} == {d.id for d in drafts}
    numbers = [i.invoice_number for i in issued]
    assert len({n.rpartition("-")[0] for n in numbers}) == 1
    assert sorted(sequence_of(n) for n in numbers) == list(range(1, 1001))
    stored = {i.id: i.invoice_number for i in await invoices_of(api)}
    assert stored == {i.id: i.invoice_number for i in issued}
    error = await expect_error(
        api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=drafts[0].id))
    )
    assert error.reason == "INVOICE_NOT_DRAFT"
