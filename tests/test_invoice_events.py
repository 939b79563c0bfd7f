"""WatchInvoiceEvents (SPEC 8): a transactional outbox read in commit order, resumable, woken by NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from invoicing.v1 import invoice_pb2, invoice_service_pb2

from tests.support.accounts import Account
from tests.support.builders import add_line_request, create_customer, create_invoice, date
from tests.support.client import Api, expect_error
from tests.support.database import execute

CREATED = invoice_pb2.INVOICE_EVENT_TYPE_CREATED
LINE_ITEM_ADDED = invoice_pb2.INVOICE_EVENT_TYPE_LINE_ITEM_ADDED
UPDATED = invoice_pb2.INVOICE_EVENT_TYPE_UPDATED
ISSUED = invoice_pb2.INVOICE_EVENT_TYPE_ISSUED
PAID = invoice_pb2.INVOICE_EVENT_TYPE_PAID
VOIDED = invoice_pb2.INVOICE_EVENT_TYPE_VOIDED


async def _take(stream: AsyncIterator[invoice_pb2.InvoiceEvent], count: int) -> list[invoice_pb2.InvoiceEvent]:
    """The next `count` events; a hang fails the test instead of blocking it."""

    async def read() -> list[invoice_pb2.InvoiceEvent]:
        taken = []
        async for event in stream:
            taken.append(event)
            if len(taken) == count:
                break
        return taken

    return await asyncio.wait_for(read(), timeout=20)


def _watch(api: Api, **fields: object) -> grpc.aio.UnaryStreamCall:
    return api.invoices.WatchInvoiceEvents(invoice_service_pb2.WatchInvoiceEventsRequest(**fields))  # type: ignore[arg-type]


async def _lifecycle(api: Api) -> str:
    """Create, add a line, update, issue and pay one invoice; return its id."""
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    await api.invoices.CreateInvoiceLineItem(add_line_request(invoice.id, "5.00", name="Setup"))
    await api.invoices.UpdateInvoice(invoice_service_pb2.UpdateInvoiceRequest(invoice_id=invoice.id, net_terms=15))
    await api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice.id))
    await api.invoices.MarkInvoicePaid(
        invoice_service_pb2.MarkInvoicePaidRequest(invoice_id=invoice.id, payment_received_date=date("2024-02-02"))
    )
    return invoice.id


async def test_replay_gives_every_change_in_commit_order_with_the_invoice_after_it(api: Api) -> None:
    invoice_id = await _lifecycle(api)
    call = _watch(api, after_sequence=0)
    events = await _take(call, 5)
    call.cancel()
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert [e.type for e in events] == [CREATED, LINE_ITEM_ADDED, UPDATED, ISSUED, PAID]
    assert {e.invoice_id for e in events} == {invoice_id}
    assert [e.version for e in events] == [1, 2, 3, 4, 5]
    assert [e.invoice.status for e in events] == [
        invoice_pb2.INVOICE_STATUS_DRAFT,
        invoice_pb2.INVOICE_STATUS_DRAFT,
        invoice_pb2.INVOICE_STATUS_DRAFT,
        invoice_pb2.INVOICE_STATUS_ISSUED,
        invoice_pb2.INVOICE_STATUS_PAID,
    ]
    assert [e.invoice.version for e in events] == [e.version for e in events]
    assert events[1].invoice.total == "35.00"


async def test_resume_after_a_sequence_and_follow_new_commits(api: Api) -> None:
    await _lifecycle(api)
    call = _watch(api, after_sequence=3)
    replayed = await _take(call, 2)
    assert [e.sequence for e in replayed] == [4, 5]
    customer = await create_customer(api)
    created = await create_invoice(api, customer)  # committed while the stream waits
    [live] = await _take(call, 1)
    call.cancel()
    assert (live.sequence, live.type, live.invoice_id) == (6, CREATED, created.id)


async def test_filters_by_type_and_customer(api: Api) -> None:
    first = await create_customer(api)
    second = await create_customer(api)
    one = await create_invoice(api, first)
    two = await create_invoice(api, second)
    await api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=one.id))
    await api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=two.id))
    issued_call = _watch(api, types=[ISSUED])
    issued = await _take(issued_call, 2)
    issued_call.cancel()
    assert [(e.type, e.invoice_id) for e in issued] == [(ISSUED, one.id), (ISSUED, two.id)]
    mine_call = _watch(api, customer_id=second.id)
    mine = await _take(mine_call, 2)
    mine_call.cancel()
    assert [(e.type, e.invoice_id) for e in mine] == [(CREATED, two.id), (ISSUED, two.id)]


async def test_a_rolled_back_change_emits_nothing(api: Api) -> None:
    customer = await create_customer(api)
    first = await create_invoice(api, customer)
    second = await create_invoice(api, customer)
    for invoice in (first, second):
        await api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice.id))
    paid = invoice_service_pb2.MarkInvoicePaidRequest(
        invoice_id=first.id, payment_received_date=date("2024-02-02"), external_id="wire-1"
    )
    await api.invoices.MarkInvoicePaid(paid)
    duplicate = await expect_error(
        api.invoices.MarkInvoicePaid(
            invoice_service_pb2.MarkInvoicePaidRequest(
                invoice_id=second.id, payment_received_date=date("2024-02-02"), external_id="wire-1"
            )
        )
    )
    assert duplicate.reason == "PAYMENT_EXTERNAL_ID_TAKEN"
    await api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=second.id))
    call = _watch(api)
    events = await _take(call, 6)
    call.cancel()
    assert [e.type for e in events] == [CREATED, CREATED, ISSUED, ISSUED, PAID, VOIDED]
    assert [e.sequence for e in events] == list(range(1, 7))  # gapless: the failed payment used no sequence


async def test_each_account_sees_only_its_own_events(api: Api, other_api: Api) -> None:
    await _lifecycle(other_api)
    customer = await create_customer(api)
    mine = await create_invoice(api, customer)
    call = _watch(api)
    [event] = await _take(call, 1)
    call.cancel()
    assert (event.sequence, event.invoice_id) == (1, mine.id)


async def test_an_expired_position_is_out_of_range(api: Api, account: Account, migrated_dsn: str) -> None:
    await _lifecycle(api)
    # The retention purge (events older than event_retention_days) is what expires positions; no test can wait
    # for it, so the three oldest events are deleted here as it would delete them.
    deleted = await execute(
        migrated_dsn, "DELETE FROM invoice_events WHERE account_id = $1 AND sequence <= 3", account.id
    )
    assert deleted == "DELETE 3"
    expired = await expect_error(_watch(api, after_sequence=1))
    assert (expired.code, expired.reason, expired.metadata["oldest_sequence"]) == (
        grpc.StatusCode.OUT_OF_RANGE,
        "EVENTS_EXPIRED",
        "4",
    )
    call = _watch(api, after_sequence=3)  # right before the oldest kept: still fine
    [event] = await _take(call, 1)
    call.cancel()
    assert event.sequence == 4


async def test_bad_requests(api: Api) -> None:
    negative = await expect_error(_watch(api, after_sequence=-1))
    assert (negative.code, set(negative.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"after_sequence"})
    unknown = await expect_error(_watch(api, types=[99]))
    assert (unknown.code, set(unknown.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"types[0]"})
    ahead = await expect_error(_watch(api, after_sequence=1000))
    assert (ahead.code, set(ahead.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, {"after_sequence"})
