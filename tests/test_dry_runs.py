"""Dry runs (SPEC 14.3): `validate_only` on every mutating RPC runs everything, answers, and stores nothing.

For every mutating RPC of every service, a valid request (the fuzzer's builder) is sent first as a dry run,
then for real with the same `request_id`: the dry run leaves the account's rows byte-for-byte as they were
(every table: no row, no counter moved, no idempotency record, no change event, no history), and answers
exactly what the real call then answers, ids and times aside. The real call runs (so the dry run's
`request_id` was neither recorded nor replayed). An IssueInvoice dry run shows the number the real issue
then takes. A dry run gives up on a lock another transaction holds, where a real call waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2, invoice_service_pb2

from tests.support.accounts import Account, new_account
from tests.support.builders import create_customer, create_invoice
from tests.support.calls import get_invoice, issue
from tests.support.checks import sequence_of
from tests.support.client import Api, expect_error, open_api
from tests.support.credit_notes import events_of
from tests.support.database import connection
from tests.support.fuzz import BUILDERS, METHODS, READ_PREFIXES, Home, Rows, invoke

MUTATIONS = [method for method in METHODS if not method.name.startswith(READ_PREFIXES)]


def test_every_mutating_request_has_validate_only_and_no_read_does() -> None:
    assert len(MUTATIONS) == 25
    for method in METHODS:
        field = method.input_type.fields_by_name.get("validate_only")
        if method in MUTATIONS:
            assert field is not None, method.full_name
            assert field.type == FieldDescriptor.TYPE_BOOL
        else:
            assert field is None, method.full_name


def _dry(request: Message) -> Message:
    dry = type(request)()
    dry.CopyFrom(request)
    dry.validate_only = True  # type: ignore[attr-defined]
    return dry


def _without_ids_and_times(message: Message) -> Message:
    """A copy with every id, timestamp and document locator cleared, at any depth."""
    copy = type(message)()
    copy.CopyFrom(message)
    _clear(copy)
    return copy


_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name


def _is_id_or_time(fd: FieldDescriptor) -> bool:
    if fd.message_type is not None:
        return bool(fd.message_type.full_name == _TIMESTAMP)
    return fd.type == FieldDescriptor.TYPE_STRING and (fd.name == "id" or fd.name.endswith(("_id", "_pdf")))


def _clear(message: Message) -> None:
    for fd, value in message.ListFields():
        if _is_id_or_time(fd):
            message.ClearField(fd.name)
        elif fd.message_type is not None and not fd.message_type.GetOptions().map_entry:
            for item in value if fd.is_repeated else [value]:
                _clear(item)


@pytest.fixture(scope="module")
async def home_account(migrated_dsn: str) -> Account:
    """The account of the dry runs of every mutating RPC (each builds the fresh resources it changes)."""
    return await new_account(migrated_dsn)


@pytest.fixture(scope="module")
async def home(target: str, home_account: Account) -> AsyncIterator[Home]:
    """The fuzzer's resources in that account, made once for the module."""
    async with open_api(target, home_account.key) as api:
        yield await Home.create(api)


@pytest.mark.parametrize("method", MUTATIONS, ids=lambda method: method.name)
async def test_a_dry_run_stores_nothing_and_answers_what_the_real_call_then_answers(
    method: MethodDescriptor, home: Home, home_account: Account, migrated_dsn: str
) -> None:
    api = home.api
    requests = await BUILDERS[method.name](home, 1)
    async with connection(migrated_dsn) as conn:
        rows = await Rows.open(conn, home_account.id)
        before = await rows.fingerprint()

        dry = await invoke(api.channel, method, [_dry(request) for request in requests])

        assert dry.code == grpc.StatusCode.OK, dry
        assert await rows.fingerprint() == before

        real = await invoke(api.channel, method, requests)

        assert real.code == grpc.StatusCode.OK, real
        assert await rows.fingerprint() != before  # the real call ran: the dry run's request_id was not replayed
    [dry_answer], [real_answer] = dry.responses, real.responses
    assert _without_ids_and_times(dry_answer) == _without_ids_and_times(real_answer)


async def test_an_issue_dry_run_shows_the_number_the_real_issue_then_takes(api: Api) -> None:
    customer = await create_customer(api)
    first, second = await create_invoice(api, customer), await create_invoice(api, customer)
    request = invoice_service_pb2.IssueInvoiceRequest(invoice_id=first.id, request_id="issue-first")

    preview = await api.invoices.IssueInvoice(_dry(request))
    again = await api.invoices.IssueInvoice(_dry(request))
    assert await get_invoice(api, first.id) == first  # still a draft, without a number

    issued = await api.invoices.IssueInvoice(request)
    assert sequence_of(preview.invoice_number) == 1
    assert issued.invoice_number == preview.invoice_number == again.invoice_number
    assert (preview.amount_due, preview.due_date, preview.status) == (issued.amount_due, issued.due_date, issued.status)
    assert issued.version == preview.version == first.version + 1
    next_preview = await api.invoices.IssueInvoice(_dry(invoice_service_pb2.IssueInvoiceRequest(invoice_id=second.id)))
    assert sequence_of(next_preview.invoice_number) == 2
    # The change stream has the real issue only, and the history has no version the dry runs made.
    [event] = await events_of(api, 1, types=[invoice_pb2.INVOICE_EVENT_TYPE_ISSUED])
    assert (event.invoice_id, event.version) == (first.id, issued.version)
    replay = await api.invoices.IssueInvoice(request)
    assert replay == issued


async def test_a_dry_run_with_a_request_id_records_nothing_and_is_never_replayed(api: Api) -> None:
    customer = await create_customer(api)
    request = customer_service_pb2.CreateBalanceTransactionRequest(
        customer_id=customer.id, amount="7.00", type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT, request_id="k1"
    )
    dry = await api.customers.CreateBalanceTransaction(_dry(request))
    real = await api.customers.CreateBalanceTransaction(request)
    after = await api.customers.CreateBalanceTransaction(_dry(request))  # not the stored answer: run again

    assert dry.id != real.id != after.id
    assert (dry.starting_balance, dry.ending_balance) == ("0.00", "7.00")
    assert (after.starting_balance, after.ending_balance) == ("7.00", "14.00")
    assert await api.customers.CreateBalanceTransaction(request) == real  # the real call's key replays
    assert (
        await api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer.id))
    ).balance == ("7.00")


async def test_a_dry_run_gives_up_on_a_lock_a_real_call_waits_for(api: Api, migrated_dsn: str) -> None:
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    request = invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id)
    async with connection(migrated_dsn) as holder:
        locked = holder.transaction()
        await locked.start()
        await holder.execute("SELECT 1 FROM invoices WHERE id = $1 FOR UPDATE", draft.id)
        real = asyncio.create_task(issue(api, draft.id))
        refused = await expect_error(api.invoices.IssueInvoice(_dry(request)))
        short = await expect_error(api.invoices.IssueInvoice(_dry(request), timeout=0.3))
        assert not real.done()  # the real issue still waits for the lock the dry runs gave up on
        await locked.rollback()
    issued = await asyncio.wait_for(real, 10)

    assert (refused.code, refused.reason) == (grpc.StatusCode.ABORTED, "LOCK_TIMEOUT")
    assert refused.retry_delay_ms is not None
    assert short.code in (grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED), short
    assert issued.status == invoice_pb2.INVOICE_STATUS_ISSUED
    assert sequence_of(issued.invoice_number) == 1


async def test_a_dry_run_that_fails_answers_the_failure_and_stores_nothing(api: Api) -> None:
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    stale = invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id, expected_version=draft.version + 1)
    unpayable = invoice_service_pb2.MarkInvoicePaidRequest(
        invoice_id=draft.id, payment_received_date=draft.invoice_date
    )

    mismatch = await expect_error(api.invoices.IssueInvoice(_dry(stale)))
    refused = await expect_error(api.invoices.MarkInvoicePaid(_dry(unpayable)))

    assert (mismatch.code, mismatch.reason) == (grpc.StatusCode.ABORTED, "VERSION_MISMATCH")
    assert (refused.code, refused.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_NOT_ISSUED")
    assert await get_invoice(api, draft.id) == draft
