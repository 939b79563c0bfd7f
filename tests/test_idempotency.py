"""Exactly-once mutations: a request_id makes retries and concurrent duplicates safe.

Effects are counted straight in PostgreSQL (rows of this test's account), not
only through the API, so a duplicate row could not hide behind a replay.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2, invoice_service_pb2

from tests.support.accounts import Account, new_account
from tests.support.builders import add_line_request, create_customer, customer_request, invoice_request, line
from tests.support.client import Api, StatusDetails, expect_error, open_api
from tests.support.database import connection

CONCURRENT_CALLS = 20
M = TypeVar("M", bound=Message)


def canonical(message: Message) -> bytes:
    """The message's canonical encoding.

    Protobuf leaves the order of map entries on the wire unspecified (the
    first response and its replays may list metadata keys in different
    orders), so "byte-identical" is checked on the deterministic encoding,
    which sorts map entries.
    """
    return message.SerializeToString(deterministic=True)


def new_key() -> str:
    """A fresh idempotency key."""
    return f"req-{uuid.uuid4().hex}"


async def count_rows(dsn: str, account: Account, table: str) -> int:
    """How many rows of `table` belong to the account."""
    assert table in {"invoices", "invoice_line_items", "customers", "customer_balance_transactions"}
    async with connection(dsn) as conn:
        count: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE account_id = $1", account.id)
    return count


async def draft_ids(api: Api, customer_id: str) -> list[str]:
    """Ids of the customer's draft invoices, through ListInvoices."""
    request = invoice_service_pb2.ListInvoicesRequest(
        customer_id=customer_id, status=[invoice_pb2.INVOICE_STATUS_DRAFT]
    )
    return [invoice.id async for batch in api.invoices.ListInvoices(request) for invoice in batch.invoices]


def assert_key_reused(error: StatusDetails) -> None:
    """ALREADY_EXISTS with the IDEMPOTENCY_KEY_REUSED reason."""
    assert error.code == grpc.StatusCode.ALREADY_EXISTS, error
    assert error.reason == "IDEMPOTENCY_KEY_REUSED"
    assert error.domain == "invoicing.v1"


async def create_invoice_call(api: Api, request: invoice_service_pb2.CreateInvoiceRequest) -> invoice_pb2.Invoice:
    """CreateInvoice, typed."""
    result: invoice_pb2.Invoice = await api.invoices.CreateInvoice(request)
    return result


async def identical_at_once(call: Callable[[], Awaitable[M]]) -> M:
    """CONCURRENT_CALLS calls at once of one request: each answers, all with the same message (equal, and the
    same canonical encoding); that message."""
    responses = await asyncio.gather(*(call() for _ in range(CONCURRENT_CALLS)))
    assert all(r == responses[0] for r in responses)
    assert len({canonical(r) for r in responses}) == 1
    return responses[0]


# --- CreateInvoice -------------------------------------------------------------------------


async def test_concurrent_identical_creates_make_one_invoice_and_identical_responses(
    api: Api, account: Account, migrated_dsn: str
) -> None:
    """20 identical calls at once with one request_id: all succeed, byte for byte the same, one invoice."""
    customer = await create_customer(api)
    request = invoice_request(
        customer,
        request_id=new_key(),
        line_items=[line("Seats", "3", "0.125"), line("Usage", "1000.5", "0.0125")],
        metadata={"a": "1", "bb": "2", "ccc": "3", "order": "PO-7"},
        memo="concurrent",
    )
    created = await identical_at_once(lambda: create_invoice_call(api, request))
    assert created.total == "12.89"
    assert await count_rows(migrated_dsn, account, "invoices") == 1
    assert await count_rows(migrated_dsn, account, "invoice_line_items") == 2
    assert await draft_ids(api, customer.id) == [created.id]


async def test_a_later_retry_returns_the_original_invoice(api: Api, account: Account, migrated_dsn: str) -> None:
    """Retrying after success replays the first response and creates nothing."""
    customer = await create_customer(api)
    request = invoice_request(customer, request_id=new_key())
    first = await create_invoice_call(api, request)
    again = await create_invoice_call(api, request)
    assert again == first
    assert canonical(again) == canonical(first)
    assert await count_rows(migrated_dsn, account, "invoices") == 1
    fetched = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=first.id))
    assert fetched.version == first.version


async def test_without_request_id_every_call_creates(api: Api, account: Account, migrated_dsn: str) -> None:
    """No key, no deduplication: two identical calls make two invoices."""
    customer = await create_customer(api)
    request = invoice_request(customer)
    first, second = await create_invoice_call(api, request), await create_invoice_call(api, request)
    assert first.id != second.id
    assert await count_rows(migrated_dsn, account, "invoices") == 2


async def test_the_same_key_with_a_different_request_is_refused(api: Api, account: Account, migrated_dsn: str) -> None:
    """A key already used for another body: ALREADY_EXISTS IDEMPOTENCY_KEY_REUSED, nothing new."""
    customer = await create_customer(api)
    key = new_key()
    original = await create_invoice_call(api, invoice_request(customer, request_id=key))
    for changed in (
        invoice_request(customer, request_id=key, memo="different"),
        invoice_request(customer, request_id=key, line_items=[line(quantity="4")]),
        invoice_request(customer, request_id=key, metadata={"k": "v"}),
    ):
        assert_key_reused(await expect_error(api.invoices.CreateInvoice(changed)))
    assert await count_rows(migrated_dsn, account, "invoices") == 1
    replay = await create_invoice_call(api, invoice_request(customer, request_id=key))
    assert replay == original


async def test_racing_different_bodies_under_one_key_let_exactly_one_win(
    api: Api, account: Account, migrated_dsn: str
) -> None:
    """Two bodies race on one key: one body wins for every caller that sent it; the others are refused."""
    customer = await create_customer(api)
    key = new_key()
    bodies = [
        invoice_request(customer, request_id=key, memo="A"),
        invoice_request(customer, request_id=key, memo="B"),
    ]
    calls = [bodies[i % 2] for i in range(CONCURRENT_CALLS)]
    outcomes = await asyncio.gather(*(create_invoice_call(api, r) for r in calls), return_exceptions=True)
    winners = [o for o in outcomes if isinstance(o, invoice_pb2.Invoice)]
    losers = [o for o in outcomes if not isinstance(o, invoice_pb2.Invoice)]
    assert len(winners) == CONCURRENT_CALLS // 2
    assert len({canonical(w) for w in winners}) == 1
    assert winners[0].memo in {"A", "B"}
    assert len(losers) == CONCURRENT_CALLS // 2
    for loser in losers:
        assert isinstance(loser, grpc.aio.AioRpcError)
        assert loser.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await count_rows(migrated_dsn, account, "invoices") == 1


async def test_the_same_key_in_two_accounts_creates_two_invoices(
    api: Api, account: Account, target: str, migrated_dsn: str
) -> None:
    """Keys are scoped by account: another tenant's identical key is an unrelated request."""
    other = await new_account(migrated_dsn)
    key = new_key()
    async with open_api(target, other.key) as other_api:
        mine = await create_customer(api, external_customer_id="same-ext")
        theirs = await create_customer(other_api, external_customer_id="same-ext")
        my_invoice, their_invoice = await asyncio.gather(
            create_invoice_call(
                api, invoice_request(mine, customer_id="", external_customer_id="same-ext", request_id=key)
            ),
            create_invoice_call(
                other_api, invoice_request(theirs, customer_id="", external_customer_id="same-ext", request_id=key)
            ),
        )
        assert my_invoice.id != their_invoice.id
        assert my_invoice.customer.id == mine.id
        assert their_invoice.customer.id == theirs.id
        assert await draft_ids(other_api, theirs.id) == [their_invoice.id]
    assert await draft_ids(api, mine.id) == [my_invoice.id]
    assert await count_rows(migrated_dsn, account, "invoices") == 1
    assert await count_rows(migrated_dsn, other, "invoices") == 1


async def test_a_key_used_by_another_rpc_is_refused(api: Api, account: Account, migrated_dsn: str) -> None:
    """A request_id first used by CreateCustomer cannot then create an invoice, nor the reverse."""
    key = new_key()
    customer = await create_customer(api, request_id=key)
    error = await expect_error(api.invoices.CreateInvoice(invoice_request(customer, request_id=key)))
    assert_key_reused(error)
    assert error.metadata.get("method") == "CreateCustomer"
    assert await count_rows(migrated_dsn, account, "invoices") == 0

    other_key = new_key()
    await create_invoice_call(api, invoice_request(customer, request_id=other_key))
    error = await expect_error(api.customers.CreateCustomer(customer_request(request_id=other_key)))
    assert_key_reused(error)
    assert await count_rows(migrated_dsn, account, "customers") == 1


@pytest.mark.parametrize(
    ("currency", "refused", "code", "reason", "fields"),
    [
        # INVALID_ARGUMENT first, then the corrected request with the same key succeeds.
        pytest.param(
            "USD",
            {"line_items": [line(quantity="abc")]},
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
            {"line_items[0].quantity"},
            id="validation",
        ),
        # NOT_FOUND rolls the key back with everything else; a retry with a real customer succeeds.
        pytest.param(
            "USD",
            {"customer_id": "cus_missing"},
            grpc.StatusCode.NOT_FOUND,
            "CUSTOMER_NOT_FOUND",
            set(),
            id="not-found",
        ),
        # FAILED_PRECONDITION (currency mismatch) leaves the key free for the corrected request.
        pytest.param(
            "EUR",
            {"currency": "USD"},
            grpc.StatusCode.FAILED_PRECONDITION,
            "CURRENCY_MISMATCH",
            set(),
            id="precondition",
        ),
    ],
)
async def test_a_refused_request_does_not_use_up_its_key(
    api: Api,
    account: Account,
    migrated_dsn: str,
    currency: str,
    refused: dict[str, Any],
    code: grpc.StatusCode,
    reason: str | None,
    fields: set[str],
) -> None:
    """A request refused with an error changes nothing, its key included: the corrected request with the same
    key creates the invoice."""
    customer = await create_customer(api, currency=currency)
    key = new_key()
    error = await expect_error(api.invoices.CreateInvoice(invoice_request(customer, request_id=key, **refused)))
    assert error.code == code
    assert set(error.field_violations) == fields
    if reason is not None:
        assert error.reason == reason
    created = await create_invoice_call(api, invoice_request(customer, request_id=key))
    assert (created.total, created.customer.id, created.currency) == ("30.00", customer.id, currency)
    assert await count_rows(migrated_dsn, account, "invoices") == 1


async def test_malformed_request_ids_are_refused(api: Api) -> None:
    """A key longer than 64 characters or with spaces or non-ASCII fails on request_id."""
    customer = await create_customer(api)
    for key in ("k" * 65, "has space", "naïve", "tab\tkey"):
        error = await expect_error(api.invoices.CreateInvoice(invoice_request(customer, request_id=key)))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert set(error.field_violations) == {"request_id"}
    created = await create_invoice_call(api, invoice_request(customer, request_id="k" * 64))
    assert created.id


# --- CustomerService ----------------------------------------------------------------------------


async def test_concurrent_identical_create_customer_makes_one_customer(
    api: Api, account: Account, migrated_dsn: str
) -> None:
    """Identical CreateCustomer calls at once with one key: one customer, identical responses."""
    request = customer_request(request_id=new_key(), metadata={"x": "1", "y": "2"})

    async def call() -> customer_pb2.Customer:
        result: customer_pb2.Customer = await api.customers.CreateCustomer(request)
        return result

    await identical_at_once(call)
    assert await count_rows(migrated_dsn, account, "customers") == 1


async def test_concurrent_identical_balance_transactions_move_the_balance_once(
    api: Api, account: Account, migrated_dsn: str
) -> None:
    """Identical CreateBalanceTransaction calls at once with one key: one ledger row, balance changed once."""
    customer = await create_customer(api)
    request = customer_service_pb2.CreateBalanceTransactionRequest(
        customer_id=customer.id,
        amount="25.50",
        type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT,
        description="goodwill credit",
        request_id=new_key(),
    )

    async def call() -> customer_pb2.BalanceTransaction:
        result: customer_pb2.BalanceTransaction = await api.customers.CreateBalanceTransaction(request)
        return result

    transaction = await identical_at_once(call)
    assert transaction.action == customer_pb2.BALANCE_TRANSACTION_ACTION_MANUAL_ADJUSTMENT
    assert Decimal(transaction.starting_balance) == 0
    assert Decimal(transaction.ending_balance) == Decimal("25.50")
    assert await count_rows(migrated_dsn, account, "customer_balance_transactions") == 1

    after = await api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer.id))
    assert Decimal(after.balance) == Decimal("25.50")
    listed = api.customers.ListBalanceTransactions(
        customer_service_pb2.ListBalanceTransactionsRequest(customer_id=customer.id)
    )
    assert [t.id async for batch in listed for t in batch.balance_transactions] == [transaction.id]

    # A later retry replays; a different amount under the same key is refused.
    assert (await call()) == transaction
    changed = customer_service_pb2.CreateBalanceTransactionRequest()
    changed.CopyFrom(request)
    changed.amount = "30.00"
    assert_key_reused(await expect_error(api.customers.CreateBalanceTransaction(changed)))
    assert await count_rows(migrated_dsn, account, "customer_balance_transactions") == 1


# --- invoice lifecycle -------------------------------------------------------------------------


async def test_concurrent_identical_issues_issue_once(api: Api) -> None:
    """One key, 20 IssueInvoice calls at once: one transition, one number, identical answers; retries replay."""
    customer = await create_customer(api)
    draft = await create_invoice_call(api, invoice_request(customer))
    request = invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id, request_id=new_key())

    async def call() -> invoice_pb2.Invoice:
        result: invoice_pb2.Invoice = await api.invoices.IssueInvoice(request)
        return result

    issued = await identical_at_once(call)
    assert issued.status == invoice_pb2.INVOICE_STATUS_ISSUED
    assert issued.invoice_number
    assert issued.version == draft.version + 1
    fetched = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=draft.id))
    assert fetched.version == issued.version
    assert fetched.invoice_number == issued.invoice_number

    # Without the key, issuing again is a different request and the state machine refuses it ...
    error = await expect_error(api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id)))
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    # ... while a retry with the key still gets the original answer.
    assert await call() == issued


async def test_concurrent_identical_line_item_adds_make_one_line(api: Api, account: Account, migrated_dsn: str) -> None:
    """One key, 20 CreateInvoiceLineItem calls at once: one new line, totals recomputed once."""
    customer = await create_customer(api)
    draft = await create_invoice_call(api, invoice_request(customer))
    request = add_line_request(draft.id, "5.00", name="Setup fee", request_id=new_key())

    async def call() -> invoice_pb2.InvoiceLineItem:
        result: invoice_pb2.InvoiceLineItem = await api.invoices.CreateInvoiceLineItem(request)
        return result

    added = await identical_at_once(call)
    assert await count_rows(migrated_dsn, account, "invoice_line_items") == 2
    after = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=draft.id))
    assert [li.id for li in after.line_items][1:] == [added.id]
    assert after.total == "35.00"
    assert after.version == draft.version + 1
