"""ListInvoices: filters, order, limit, resume tokens, snapshot reads, cancellation and deadlines."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.type import date_pb2
from invoicing.v1 import customer_pb2, invoice_pb2, invoice_service_pb2, invoice_service_pb2_grpc

from server.app import RunningServer
from server.db.pool import STREAMS_APPLICATION_NAME
from server.domain.invoices import InvoiceStatus
from tests.support.accounts import Account
from tests.support.builders import create_customer, create_invoice, date, day_of, line
from tests.support.calls import issue
from tests.support.client import Api, assert_field_reasons, expect_error
from tests.support.clock import Clock
from tests.support.database import connection, idle_in_transaction
from tests.support.states import bring_to, subscription_draft
from tests.support.wire import DRAFT, ISSUED, PAID, SYNCED, VOID

# The test server's stream_batch_records: no message carries more invoices than this.
BATCH = 50
BASE_DAY = dt.date(2024, 3, 1)

# Starts a ListInvoices call: (request, timeout) -> call.
StreamOpener = Callable[..., Any]


def list_request(**fields: Any) -> invoice_service_pb2.ListInvoicesRequest:
    """A ListInvoicesRequest with these fields."""
    return invoice_service_pb2.ListInvoicesRequest(**fields)


async def read_messages(
    api: Api, request: invoice_service_pb2.ListInvoicesRequest
) -> list[invoice_service_pb2.ListInvoicesResponse]:
    """Every message of one ListInvoices stream."""
    return [message async for message in api.invoices.ListInvoices(request)]


async def listed(api: Api, **fields: Any) -> list[invoice_pb2.Invoice]:
    """Every invoice one ListInvoices stream delivers, in order."""
    return [invoice for message in await read_messages(api, list_request(**fields)) for invoice in message.invoices]


async def listed_ids(api: Api, **fields: Any) -> list[str]:
    """The ids one ListInvoices stream delivers, in order."""
    return [invoice.id for invoice in await listed(api, **fields)]


def newest_first(invoices: Sequence[invoice_pb2.Invoice]) -> list[str]:
    """Ids in the contract's order: invoice date descending, ties by id descending."""
    ordered = sorted(invoices, key=lambda invoice: (day_of(invoice.invoice_date), invoice.id), reverse=True)
    return [invoice.id for invoice in ordered]


async def create_dated(
    api: Api, customer: customer_pb2.Customer, days: Sequence[dt.date], *, chunk: int = 20, **overrides: Any
) -> list[invoice_pb2.Invoice]:
    """Create one draft invoice per day in `days`, a chunk of concurrent calls at a time."""
    created: list[invoice_pb2.Invoice] = []
    for start in range(0, len(days), chunk):
        created += await asyncio.gather(
            *(create_invoice(api, customer, invoice_date=date(day), **overrides) for day in days[start : start + chunk])
        )
    return created


def spread_days(count: int, distinct: int = 7) -> list[dt.date]:
    """`count` invoice dates over `distinct` days, so that many invoices share a date."""
    return [BASE_DAY + dt.timedelta(days=index % distinct) for index in range(count)]


async def open_list_transactions(dsn: str) -> int:
    """How many ListInvoices streams of the service are inside their snapshot transaction right now."""
    async with connection(dsn) as conn:
        count: int = await conn.fetchval(
            """
            SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'invoice-service/streams'
               AND xact_start IS NOT NULL
            """
        )
    return count


@asynccontextmanager
async def slow_reader(target: str, key: str) -> AsyncIterator[StreamOpener]:
    """ListInvoices on a channel that reads little ahead and never widens its flow-control window.

    A server that streams faster than this client reads has to wait mid-stream,
    inside its snapshot, so a test can act while the stream is still open.
    """
    options = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        metadata = (("authorization", f"Bearer {key}"),)

        def open_stream(request: invoice_service_pb2.ListInvoicesRequest, timeout: float | None = None) -> Any:
            return stub.ListInvoices(request, metadata=metadata, timeout=timeout)

        yield open_stream


async def read_rest(call: Any) -> list[invoice_service_pb2.ListInvoicesResponse]:
    """The remaining messages of a stream that was read with read()."""
    messages = []
    while (message := await call.read()) is not grpc.aio.EOF:
        messages.append(message)
    return messages


async def settle(server: RunningServer, dsn: str) -> tuple[int, int, int]:
    """Wait until streams released their connections, at most the server's bound on holding a snapshot for a
    client that does not read (the stall timeout) and a margin; return (stuck, idle, size) as last seen.

    A stream ended by its client is normally released at once (the wait then ends at the first look). A
    rare hold of more than 5 s after deadline-cut streams is not explained yet; within the stall bound it is
    tolerated here, and a hold past it fails with the session named (see stream_sessions).
    """
    pool = server.db.stream_pool
    bound = time.monotonic() + server.settings.stream_stall_timeout_s + 5
    stuck = await idle_in_transaction(dsn, streams_only=True)
    while time.monotonic() < bound:
        if stuck == 0 and pool.get_idle_size() == pool.get_size():
            break
        await asyncio.sleep(0.05)
        stuck = await idle_in_transaction(dsn, streams_only=True)
    return stuck, pool.get_idle_size(), pool.get_size()


async def stream_sessions(dsn: str) -> list[str]:
    """The stream sessions open in the database now, for a failure message: state, ages and last statement."""
    async with connection(dsn) as conn:
        rows = await conn.fetch(
            """
            SELECT pid, state, now() - xact_start AS in_transaction, now() - state_change AS in_state,
                   left(query, 200) AS query
            FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'
            """,
            STREAMS_APPLICATION_NAME,
        )
    return [dict(row).__repr__() for row in rows]


async def assert_connections_released(server: RunningServer, dsn: str) -> None:
    """No transaction left open by the service, and every stream-pool connection free."""
    stuck, idle, size = await settle(server, dsn)
    sessions = await stream_sessions(dsn) if stuck else []
    assert stuck == 0, f"{stuck} service connection(s) left idle in transaction: {sessions}"
    assert idle == size, f"only {idle} of {size} stream-pool connections are free"


# --- statuses ---------------------------------------------------------------------------------------------------


async def test_default_statuses_are_issued_paid_and_synced(api: Api, migrated_dsn: str) -> None:
    """Without a status filter drafts and voids stay out; they appear only when asked for."""
    customer = await create_customer(api)
    draft, issued, paid, synced, void = await create_dated(api, customer, [BASE_DAY] * 5)
    await bring_to(api, migrated_dsn, issued.id, InvoiceStatus.ISSUED)
    await bring_to(api, migrated_dsn, paid.id, InvoiceStatus.PAID)
    await bring_to(api, migrated_dsn, synced.id, InvoiceStatus.SYNCED)
    await bring_to(api, migrated_dsn, void.id, InvoiceStatus.VOID)

    default = await listed(api)
    assert {invoice.id for invoice in default} == {issued.id, paid.id, synced.id}
    assert {invoice.id: invoice.status for invoice in default} == {issued.id: ISSUED, paid.id: PAID, synced.id: SYNCED}

    assert await listed_ids(api, status=[DRAFT]) == [draft.id]
    assert await listed_ids(api, status=[VOID]) == [void.id]
    assert set(await listed_ids(api, status=[DRAFT, VOID])) == {draft.id, void.id}
    assert set(await listed_ids(api, status=[ISSUED, PAID])) == {issued.id, paid.id}
    assert set(await listed_ids(api, status=[DRAFT, ISSUED, PAID, SYNCED, VOID])) == {
        draft.id,
        issued.id,
        paid.id,
        synced.id,
        void.id,
    }


# --- filters ----------------------------------------------------------------------------------------------------


async def test_customer_filters_select_one_customers_invoices(api: Api) -> None:
    """customer_id and external_customer_id each keep only that customer's invoices."""
    alice = await create_customer(api, external_customer_id="alice-ext")
    bob = await create_customer(api, external_customer_id="bob-ext")
    alice_invoices = await create_dated(api, alice, spread_days(3))
    bob_invoices = await create_dated(api, bob, spread_days(2))

    assert await listed_ids(api, status=[DRAFT], customer_id=alice.id) == newest_first(alice_invoices)
    assert await listed_ids(api, status=[DRAFT], customer_id=bob.id) == newest_first(bob_invoices)
    assert await listed_ids(api, status=[DRAFT], external_customer_id="alice-ext") == newest_first(alice_invoices)
    assert await listed_ids(api, status=[DRAFT], external_customer_id="bob-ext") == newest_first(bob_invoices)
    assert await listed_ids(api, status=[DRAFT], customer_id="cus_unknown") == []
    assert await listed_ids(api, status=[DRAFT], external_customer_id="nobody-ext") == []
    assert set(await listed_ids(api, status=[DRAFT])) == {i.id for i in alice_invoices + bob_invoices}


async def test_subscription_and_is_recurring_filters(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    """subscription_id keeps one subscription's invoices; is_recurring splits subscription from one-off invoices."""
    api = clocked_api
    customer = await create_customer(api)
    [one_off] = await create_dated(api, customer, [BASE_DAY])
    first_subscription, first_sub = await subscription_draft(api, clocked_server, clock, customer)
    second_subscription, second_sub = await subscription_draft(api, clocked_server, clock, customer)
    for invoice in (one_off, first_sub, second_sub):
        await issue(api, invoice.id)

    only_first = await listed(api, subscription_id=first_subscription.id)
    assert [invoice.id for invoice in only_first] == [first_sub.id]
    assert only_first[0].subscription.id == first_subscription.id
    assert only_first[0].invoice_source == invoice_pb2.INVOICE_SOURCE_SUBSCRIPTION
    assert await listed_ids(api, subscription_id=second_subscription.id) == [second_sub.id]
    assert await listed_ids(api, subscription_id="sub_none") == []

    assert set(await listed_ids(api, is_recurring=True)) == {first_sub.id, second_sub.id}
    assert await listed_ids(api, is_recurring=False) == [one_off.id]
    assert set(await listed_ids(api)) == {one_off.id, first_sub.id, second_sub.id}
    assert await listed_ids(api, subscription_id=first_subscription.id, is_recurring=False) == []
    assert await listed_ids(api, subscription_id=first_subscription.id, is_recurring=True) == [first_sub.id]


async def test_due_date_filters_compare_the_due_date(api: Api) -> None:
    """due_date is an exact day; due_date_gt and due_date_lt are strict bounds."""
    customer = await create_customer(api)
    early, middle, late = [
        await create_invoice(api, customer, invoice_date=date(BASE_DAY), due_date=date(BASE_DAY + dt.timedelta(days=d)))
        for d in (10, 20, 30)
    ]
    middle_due = BASE_DAY + dt.timedelta(days=20)

    assert await listed_ids(api, status=[DRAFT], due_date=date(middle_due)) == [middle.id]
    assert await listed_ids(api, status=[DRAFT], due_date=date(middle_due + dt.timedelta(days=1))) == []
    assert set(await listed_ids(api, status=[DRAFT], due_date_gt=date(middle_due))) == {late.id}
    assert set(await listed_ids(api, status=[DRAFT], due_date_lt=date(middle_due))) == {early.id}
    assert set(await listed_ids(api, status=[DRAFT], due_date_gt=date(BASE_DAY + dt.timedelta(days=10)))) == {
        middle.id,
        late.id,
    }
    assert await listed_ids(
        api,
        status=[DRAFT],
        due_date_gt=date(BASE_DAY + dt.timedelta(days=10)),
        due_date_lt=date(BASE_DAY + dt.timedelta(days=30)),
    ) == [middle.id]


async def test_date_type_due_date_makes_invoice_date_filters_compare_due_date(api: Api) -> None:
    """With DUE_DATE the invoice_date_* bounds apply to due_date; otherwise to invoice_date."""
    customer = await create_customer(api)
    # Invoice dates run a < b < c, but due dates run b < a < c.
    a = await create_invoice(api, customer, invoice_date=date("2024-01-10"), due_date=date("2024-03-01"))
    b = await create_invoice(api, customer, invoice_date=date("2024-02-10"), due_date=date("2024-02-15"))
    c = await create_invoice(api, customer, invoice_date=date("2024-03-05"), due_date=date("2024-03-10"))
    by_due = invoice_pb2.INVOICE_DATE_TYPE_DUE_DATE
    by_invoice = invoice_pb2.INVOICE_DATE_TYPE_INVOICE_DATE

    after_feb_20 = date("2024-02-20")
    assert await listed_ids(api, status=[DRAFT], invoice_date_gt=after_feb_20) == [c.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_gt=after_feb_20, date_type=by_invoice) == [c.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_gt=after_feb_20, date_type=by_due) == [c.id, a.id]

    before_feb = date("2024-02-01")
    assert await listed_ids(api, status=[DRAFT], invoice_date_lt=before_feb) == [a.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_lt=before_feb, date_type=by_due) == []
    assert await listed_ids(
        api,
        status=[DRAFT],
        date_type=by_due,
        invoice_date_gte=date("2024-02-15"),
        invoice_date_lte=date("2024-03-01"),
    ) == [b.id, a.id]
    # The order stays by invoice date whatever column the bounds use.
    assert await listed_ids(api, status=[DRAFT], date_type=by_due) == [c.id, b.id, a.id]


async def test_due_date_window_counts_back_from_today(api: Api) -> None:
    """ "7d" keeps invoices due in the last seven days up to today; "2m" reaches two months back; never the future."""
    customer = await create_customer(api)
    today = dt.datetime.now(dt.UTC).date()

    async def due(days_from_today: int) -> invoice_pb2.Invoice:
        due_day = today + dt.timedelta(days=days_from_today)
        invoice_day = min(due_day, today) - dt.timedelta(days=5)
        return await create_invoice(api, customer, invoice_date=date(invoice_day), due_date=date(due_day))

    three_days_ago = await due(-3)
    twenty_days_ago = await due(-20)
    ninety_days_ago = await due(-90)
    in_five_days = await due(5)
    everything = {three_days_ago.id, twenty_days_ago.id, ninety_days_ago.id, in_five_days.id}

    assert await listed_ids(api, status=[DRAFT], due_date_window="7d") == [three_days_ago.id]
    assert set(await listed_ids(api, status=[DRAFT], due_date_window="30d")) == {three_days_ago.id, twenty_days_ago.id}
    assert set(await listed_ids(api, status=[DRAFT], due_date_window="2m")) == {three_days_ago.id, twenty_days_ago.id}
    assert set(await listed_ids(api, status=[DRAFT], due_date_window="4m")) == {
        three_days_ago.id,
        twenty_days_ago.id,
        ninety_days_ago.id,
    }
    assert set(await listed_ids(api, status=[DRAFT])) == everything


async def test_invoice_date_bounds_are_exact(api: Api) -> None:
    """gt and lt exclude the given day, gte and lte include it."""
    customer = await create_customer(api)
    days = [BASE_DAY + dt.timedelta(days=d) for d in range(4)]
    first, second, third, fourth = await create_dated(api, customer, days)
    day2, day3 = date(BASE_DAY + dt.timedelta(days=1)), date(BASE_DAY + dt.timedelta(days=2))

    assert await listed_ids(api, status=[DRAFT], invoice_date_gt=day2) == [fourth.id, third.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_gte=day2) == [fourth.id, third.id, second.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_lt=day3) == [second.id, first.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_lte=day3) == [third.id, second.id, first.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_gte=day2, invoice_date_lte=day2) == [second.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_gt=day2, invoice_date_lte=day3) == [third.id]
    assert await listed_ids(api, status=[DRAFT], invoice_date_gte=day2, invoice_date_lt=day3) == [second.id]


async def test_amount_filters_compare_the_total(api: Api) -> None:
    """amount, amount_gt and amount_lt compare `total` numerically."""
    customer = await create_customer(api)
    small = await create_invoice(api, customer, line_items=[line(quantity="1", unit_amount="10.00")])
    medium = await create_invoice(api, customer, line_items=[line(quantity="3", unit_amount="8.50")])
    large = await create_invoice(api, customer, line_items=[line(quantity="2", unit_amount="50")])
    assert [Decimal(i.total) for i in (small, medium, large)] == [Decimal("10.00"), Decimal("25.50"), Decimal("100")]

    assert await listed_ids(api, status=[DRAFT], amount="25.50") == [medium.id]
    assert await listed_ids(api, status=[DRAFT], amount="25.5") == [medium.id]
    assert await listed_ids(api, status=[DRAFT], amount="25.51") == []
    assert set(await listed_ids(api, status=[DRAFT], amount_gt="25.50")) == {large.id}
    assert set(await listed_ids(api, status=[DRAFT], amount_lt="25.50")) == {small.id}
    assert set(await listed_ids(api, status=[DRAFT], amount_gt="10", amount_lt="100")) == {medium.id}
    assert set(await listed_ids(api, status=[DRAFT], amount_gt="9.99")) == {small.id, medium.id, large.id}


async def test_combined_filters_all_apply(api: Api, migrated_dsn: str) -> None:
    """Filters combine with AND: customer, status, amount and date bounds together."""
    alice = await create_customer(api)
    bob = await create_customer(api)
    cheap = [line(quantity="1", unit_amount="5.00")]
    dear = [line(quantity="1", unit_amount="500.00")]
    target = await create_invoice(api, alice, invoice_date=date("2024-05-10"), line_items=dear)
    wrong_amount = await create_invoice(api, alice, invoice_date=date("2024-05-10"), line_items=cheap)
    wrong_date = await create_invoice(api, alice, invoice_date=date("2024-04-10"), line_items=dear)
    wrong_customer = await create_invoice(api, bob, invoice_date=date("2024-05-10"), line_items=dear)
    wrong_status = await create_invoice(api, alice, invoice_date=date("2024-05-10"), line_items=dear)
    for invoice in (target, wrong_amount, wrong_date, wrong_customer):
        await issue(api, invoice.id)
    await bring_to(api, migrated_dsn, wrong_status.id, InvoiceStatus.VOID)

    fields: dict[str, Any] = {
        "customer_id": alice.id,
        "status": [ISSUED, PAID],
        "amount_gt": "100",
        "invoice_date_gte": date("2024-05-01"),
    }
    assert await listed_ids(api, **fields) == [target.id]
    assert set(await listed_ids(api, customer_id=alice.id)) == {target.id, wrong_amount.id, wrong_date.id}
    assert set(await listed_ids(api, amount_gt="100", invoice_date_gte=date("2024-05-01"))) == {
        target.id,
        wrong_customer.id,
    }


# --- order, batches, limit --------------------------------------------------------------------------------------


async def test_order_is_newest_invoice_date_first_ties_by_id_across_batches(api: Api) -> None:
    """120 invoices over 7 days come back in (invoice_date, id) descending order, in several bounded batches."""
    customer = await create_customer(api)
    created = await create_dated(api, customer, spread_days(120))

    messages = await read_messages(api, list_request(status=[DRAFT]))
    ids = [invoice.id for message in messages for invoice in message.invoices]
    assert ids == newest_first(created)
    assert len(set(ids)) == 120
    assert len(messages) >= 3
    assert all(0 < len(message.invoices) <= BATCH for message in messages)
    assert all(message.resume_token for message in messages)


async def test_limit_caps_the_whole_stream_and_zero_means_all(api: Api) -> None:
    """limit bounds the records of the whole stream (across batches); 0 returns everything."""
    customer = await create_customer(api)
    created = await create_dated(api, customer, spread_days(120))
    everything = newest_first(created)

    assert await listed_ids(api, status=[DRAFT], limit=0) == everything
    assert await listed_ids(api, status=[DRAFT], limit=1) == everything[:1]
    assert await listed_ids(api, status=[DRAFT], limit=BATCH) == everything[:BATCH]
    assert await listed_ids(api, status=[DRAFT], limit=70) == everything[:70]
    assert await listed_ids(api, status=[DRAFT], limit=119) == everything[:119]
    assert await listed_ids(api, status=[DRAFT], limit=1000) == everything


# --- resume tokens ----------------------------------------------------------------------------------------------


async def test_resume_after_a_cancelled_stream_continues_without_gap_or_duplicate(api: Api) -> None:
    """Stop after the first message, resume with its token: together they are exactly the full list."""
    customer = await create_customer(api)
    created = await create_dated(api, customer, spread_days(120))
    everything = newest_first(created)

    call = api.invoices.ListInvoices(list_request(status=[DRAFT]))
    first = await call.read()
    assert isinstance(first, invoice_service_pb2.ListInvoicesResponse)
    call.cancel()
    head = [invoice.id for invoice in first.invoices]
    assert 0 < len(head) < 120

    tail = await listed_ids(api, status=[DRAFT], resume_token=first.resume_token)
    assert head + tail == everything
    assert len(set(head + tail)) == 120


async def test_resume_from_any_message_delivers_exactly_the_rest(api: Api) -> None:
    """Each message's token resumes right after it; the last message's token resumes to nothing."""
    customer = await create_customer(api)
    created = await create_dated(api, customer, spread_days(120))
    everything = newest_first(created)

    messages = await read_messages(api, list_request(status=[DRAFT]))
    delivered = 0
    for message in messages:
        delivered += len(message.invoices)
        rest = await listed_ids(api, status=[DRAFT], resume_token=message.resume_token)
        assert rest == everything[delivered:]
    assert delivered == 120

    last = await read_messages(api, list_request(status=[DRAFT], resume_token=messages[-1].resume_token))
    assert [invoice for message in last for invoice in message.invoices] == []


async def test_resume_with_a_limit_takes_the_next_records(api: Api) -> None:
    """limit is not part of a token's filters: resuming with a limit returns the next `limit` records."""
    customer = await create_customer(api)
    created = await create_dated(api, customer, spread_days(60))
    everything = newest_first(created)

    first = await read_messages(api, list_request(status=[DRAFT], limit=10))
    assert [invoice.id for message in first for invoice in message.invoices] == everything[:10]
    token = first[-1].resume_token
    assert await listed_ids(api, status=[DRAFT], limit=15, resume_token=token) == everything[10:25]
    assert await listed_ids(api, status=[DRAFT], resume_token=token) == everything[10:]


def flip_middle_character(token: str) -> str:
    """The token with one character in its middle changed (every bit there carries data)."""
    index = len(token) // 2
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


async def first_token(api: Api, **fields: Any) -> str:
    """The resume token of the first message of a stream with these filters."""
    messages = await read_messages(api, list_request(**fields))
    assert messages, "expected at least one message"
    return messages[0].resume_token


async def test_tampered_resume_token_is_rejected(api: Api) -> None:
    """A token with one character changed fails INVALID_ARGUMENT RESUME_TOKEN_INVALID on resume_token."""
    customer = await create_customer(api)
    await create_dated(api, customer, spread_days(3))
    token = await first_token(api, status=[DRAFT], limit=1)

    for bad in (flip_middle_character(token), token[:-4], token + "AAAA", "not-a-token", "%%%%"):
        error = await expect_error(api.invoices.ListInvoices(list_request(status=[DRAFT], resume_token=bad)))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, bad
        assert error.reason == "RESUME_TOKEN_INVALID", bad
        assert set(error.field_violations) == {"resume_token"}, bad


async def test_resume_token_with_other_filters_is_rejected(api: Api) -> None:
    """A valid token replayed with different filters fails INVALID_ARGUMENT."""
    customer = await create_customer(api)
    await create_dated(api, customer, spread_days(3))
    token = await first_token(api, status=[DRAFT], limit=1)

    other_filters: list[dict[str, Any]] = [
        {"status": [DRAFT], "customer_id": customer.id},
        {"status": [DRAFT, VOID]},
        {},
        {"status": [DRAFT], "amount_gt": "1"},
        {"status": [DRAFT], "date_type": invoice_pb2.INVOICE_DATE_TYPE_DUE_DATE},
    ]
    for fields in other_filters:
        error = await expect_error(api.invoices.ListInvoices(list_request(resume_token=token, **fields)))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert error.reason == "RESUME_TOKEN_INVALID", fields
        assert set(error.field_violations) == {"resume_token"}, fields
    # The same filters still accept it.
    assert len(await listed_ids(api, status=[DRAFT], resume_token=token)) == 2


async def test_resume_token_from_another_account_is_rejected(api: Api, other_api: Api) -> None:
    """A token issued to one account is refused when another account presents it with the same filters."""
    customer = await create_customer(api)
    await create_dated(api, customer, spread_days(3))
    other_customer = await create_customer(other_api)
    await create_dated(other_api, other_customer, spread_days(3))
    token = await first_token(api, status=[DRAFT], limit=1)

    error = await expect_error(other_api.invoices.ListInvoices(list_request(status=[DRAFT], resume_token=token)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "RESUME_TOKEN_INVALID"
    assert set(error.field_violations) == {"resume_token"}


# --- snapshot ---------------------------------------------------------------------------------------------------


async def test_stream_reads_one_snapshot_while_invoices_change(
    api: Api, account: Account, target: str, migrated_dsn: str
) -> None:
    """Invoices created or changed after the stream started neither appear, vanish nor move."""
    customer = await create_customer(api)
    created = await create_dated(api, customer, spread_days(300, distinct=10))
    before = newest_first(created)

    async with slow_reader(target, account.key) as open_stream:
        call = open_stream(list_request(status=[DRAFT]))
        first = await call.read()
        assert isinstance(first, invoice_service_pb2.ListInvoicesResponse)
        head = [invoice.id for invoice in first.invoices]
        assert 0 < len(head) < len(before)

        # New invoices that would sort first, in the middle and last.
        newcomers = await create_dated(
            api,
            customer,
            [BASE_DAY + dt.timedelta(days=60), BASE_DAY + dt.timedelta(days=5), BASE_DAY - dt.timedelta(days=60)],
        )
        # A not-yet-delivered invoice stops matching; another would jump ahead of everything delivered.
        voided, moved = before[-1], before[-2]
        await bring_to(api, migrated_dsn, voided, InvoiceStatus.VOID)
        await api.invoices.UpdateInvoice(
            invoice_service_pb2.UpdateInvoiceRequest(
                invoice_id=moved, invoice_date=date(BASE_DAY + dt.timedelta(days=90))
            )
        )
        # The changes were committed while the stream was still inside its snapshot.
        assert await open_list_transactions(migrated_dsn) == 1

        tail = [invoice.id for message in await read_rest(call) for invoice in message.invoices]
    assert head + tail == before

    # A new stream sees the changes.
    after = await listed_ids(api, status=[DRAFT])
    assert voided not in after
    assert after[0] == moved
    assert set(after) == (set(before) - {voided}) | {invoice.id for invoice in newcomers}


# --- malformed filters ------------------------------------------------------------------------------------------

MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"due_date_window": "7"}, "due_date_window"),
    ({"due_date_window": "7w"}, "due_date_window"),
    ({"due_date_window": "0d"}, "due_date_window"),
    ({"due_date_window": "abc"}, "due_date_window"),
    ({"due_date_window": "-7d"}, "due_date_window"),
    ({"amount": "1e5"}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"amount": "-1"}, "amount"),
    ({"amount_gt": "1e5"}, "amount_gt"),
    ({"amount_lt": "-1"}, "amount_lt"),
    ({"amount_gt": "10", "amount_lt": "5"}, "amount_lt"),
    ({"invoice_date_gt": date_pb2.Date(year=2024, month=13, day=1)}, "invoice_date_gt"),
    ({"invoice_date_lte": date_pb2.Date(year=2024, month=2, day=30)}, "invoice_date_lte"),
    ({"due_date": date_pb2.Date(year=2024, month=13, day=1)}, "due_date"),
    ({"due_date_lt": date_pb2.Date(year=2024, month=0, day=5)}, "due_date_lt"),
    ({"invoice_date_gt": date("2024-03-05"), "invoice_date_lt": date("2024-03-05")}, "invoice_date_lt"),
    ({"invoice_date_gt": date("2024-03-06"), "invoice_date_lt": date("2024-03-05")}, "invoice_date_lt"),
    ({"invoice_date_gte": date("2024-03-06"), "invoice_date_lt": date("2024-03-06")}, "invoice_date_lt"),
    ({"invoice_date_gte": date("2024-03-06"), "invoice_date_lte": date("2024-03-05")}, "invoice_date_lte"),
    ({"invoice_date_gt": date("2024-03-05"), "invoice_date_lte": date("2024-03-05")}, "invoice_date_lte"),
    ({"due_date_gt": date("2024-03-05"), "due_date_lt": date("2024-03-05")}, "due_date_lt"),
    ({"status": [99]}, "status[0]"),
    ({"status": [DRAFT, 42]}, "status[1]"),
    ({"date_type": 9}, "date_type"),
    ({"limit": -1}, "limit"),
    ({"customer_id": "cus_x", "external_customer_id": "ext-x"}, "external_customer_id"),
]


@pytest.mark.parametrize(("fields", "field"), MALFORMED, ids=[f"{f}:{sorted(v)}" for v, f in MALFORMED])
async def test_malformed_filter_fails_invalid_argument_naming_the_field(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    """Each malformed filter fails INVALID_ARGUMENT with one violation on exactly that field."""
    error = await expect_error(api.invoices.ListInvoices(list_request(**fields)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {field}
    assert_field_reasons(error)


async def test_every_malformed_filter_is_reported_at_once(api: Api) -> None:
    """A request with several bad filters names each of them."""
    error = await expect_error(
        api.invoices.ListInvoices(list_request(due_date_window="7w", amount="abc", limit=-5, status=[77]))
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"due_date_window", "amount", "limit", "status[0]"}


# --- cancellation and deadlines ---------------------------------------------------------------------------------


async def test_cancelled_streams_release_transactions_and_connections(
    api: Api, account: Account, target: str, server: RunningServer, migrated_dsn: str
) -> None:
    """20 streams cancelled mid-way (more than the stream pool holds) leave no open transaction or busy connection."""
    customer = await create_customer(api)
    created = await create_dated(api, customer, spread_days(300))
    # One account holds at most its share of the stream pool at once.
    pool_size = server.db.streams.shares.limit
    assert pool_size < 20

    async with slow_reader(target, account.key) as open_stream:

        async def start(messages: int) -> tuple[Any, int]:
            call = open_stream(list_request(status=[DRAFT]))
            received = 0
            for _ in range(messages):
                message = await call.read()
                assert isinstance(message, invoice_service_pb2.ListInvoicesResponse)
                received += len(message.invoices)
            return call, received

        # Rounds of concurrent streams, each cancelled while its snapshot is open: a connection
        # that was not given back would starve the later rounds.
        for start_index in range(0, 20, pool_size):
            started = await asyncio.gather(*(start(1 + (start_index + k) % 2) for k in range(pool_size)))
            assert all(received > 0 for _, received in started)
            assert await open_list_transactions(migrated_dsn) == pool_size
            for call, _ in started:
                call.cancel()
        for _ in range(3):  # cancelled before the first message
            call, _ = await start(0)
            call.cancel()

    await assert_connections_released(server, migrated_dsn)

    fetched = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=created[0].id))
    assert fetched.id == created[0].id
    assert await listed_ids(api, status=[DRAFT]) == newest_first(created)


async def read_pausing(call: Any, pause_s: float) -> None:
    """Read a stream to its end, pausing after each message."""
    async for _message in call:
        await asyncio.sleep(pause_s)


async def test_a_stream_cut_mid_write_releases_its_snapshot_without_the_garbage_collector(
    api: Api, account: Account, target: str, server: RunningServer, migrated_dsn: str
) -> None:
    """Every layer closes the stream it wraps, so a stream that ends while waiting to write (its client reads
    slowly and its deadline passes) gives its transaction back at once, not when a collector finds it."""
    customer = await create_customer(api)
    await create_dated(api, customer, spread_days(300))
    gc.disable()
    try:
        async with slow_reader(target, account.key) as open_stream:
            for _ in range(3):
                call = open_stream(list_request(status=[DRAFT]), timeout=0.2)
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await read_pausing(call, 0.5)  # the server is blocked on flow control meanwhile
                assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                await assert_connections_released(server, migrated_dsn)
    finally:
        gc.enable()


async def test_short_deadline_completes_or_fails_deadline_exceeded_and_releases(
    api: Api, account: Account, target: str, server: RunningServer, migrated_dsn: str
) -> None:
    """Under a short deadline a stream never hangs: it completes or fails DEADLINE_EXCEEDED, then frees its slot."""
    customer = await create_customer(api)
    created = await create_dated(api, customer, spread_days(300))

    async with slow_reader(target, account.key) as open_stream:

        async def read_slowly(deadline_s: float) -> grpc.StatusCode:
            call = open_stream(list_request(status=[DRAFT]), timeout=deadline_s)
            received = 0
            try:
                while (message := await call.read()) is not grpc.aio.EOF:
                    received += len(message.invoices)
                    await asyncio.sleep(0.05)  # a slow reader, so the deadline can pass mid-stream
            except grpc.aio.AioRpcError as error:
                return error.code()
            assert received == len(created)
            return grpc.StatusCode.OK

        outcomes = []
        for deadline_s in (0.001, 0.02, 0.1, 0.3, 1.0):
            outcomes.append(await asyncio.wait_for(read_slowly(deadline_s), timeout=30))
    assert set(outcomes) <= {grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED}, outcomes
    assert grpc.StatusCode.DEADLINE_EXCEEDED in outcomes

    await assert_connections_released(server, migrated_dsn)
    assert await listed_ids(api, status=[DRAFT]) == newest_first(created)


# --- tenancy ----------------------------------------------------------------------------------------------------


async def test_other_accounts_invoices_never_appear(api: Api, other_api: Api) -> None:
    """Listing shows only the caller's invoices, even when filtering by another account's customer."""
    mine_customer = await create_customer(api, external_customer_id="shared-ext")
    theirs_customer = await create_customer(other_api, external_customer_id="shared-ext")
    mine = await create_dated(api, mine_customer, spread_days(4))
    theirs = await create_dated(other_api, theirs_customer, spread_days(4))
    await issue(api, mine[0].id)
    await issue(other_api, theirs[0].id)
    every_status = [DRAFT, ISSUED, PAID, SYNCED, VOID]

    assert await listed_ids(api, status=every_status) == newest_first(mine)
    assert await listed_ids(other_api, status=every_status) == newest_first(theirs)
    assert await listed_ids(api) == [mine[0].id]
    assert await listed_ids(api, status=every_status, external_customer_id="shared-ext") == newest_first(mine)
    assert await listed_ids(api, status=every_status, customer_id=theirs_customer.id) == []
    assert await listed_ids(other_api, status=every_status, customer_id=mine_customer.id) == []
