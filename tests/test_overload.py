"""Overload (SPEC 12): bounded calls in flight, the excess refused at once with details, fair shares of the pool.

Servers of their own with small limits, so that a handful of open streams or
calls blocked on a row lock reach them. Nothing here measures time: a call
that must not wait behind another account is given a deadline it would miss.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2, invoice_service_pb2

from server.app import RunningServer
from server.config import Settings
from tests.support.accounts import new_account
from tests.support.builders import create_customer, customer_request, invoice_request
from tests.support.checks import sequence_of
from tests.support.client import Api, details_of, expect_error, open_api
from tests.support.database import connection
from tests.support.resilience import SERVING, counter, eventually, health, own_server, own_server_api, target_of

WATCH = "/invoicing.v1.InvoiceService/WatchInvoiceEvents"


@contextlib.asynccontextmanager
async def watching(api: Api, count: int) -> AsyncIterator[None]:
    """`count` WatchInvoiceEvents streams held open (each a call in flight) for the block."""
    before = counter("invoicing_streams_open", method=WATCH)
    calls = [api.invoices.WatchInvoiceEvents(invoice_service_pb2.WatchInvoiceEventsRequest()) for _ in range(count)]

    async def all_open() -> bool:
        return counter("invoicing_streams_open", method=WATCH) >= before + count

    try:
        await eventually(all_open, 20, f"{count} watch streams did not open")
        yield
    finally:
        for call in calls:
            call.cancel()

        async def all_closed() -> bool:
            return counter("invoicing_streams_open", method=WATCH) <= before

        await eventually(all_closed, 20, "the watch streams did not close")


def get_customer(api: Api, customer: customer_pb2.Customer, deadline_s: float | None = 10) -> Any:
    """A GetCustomer call of customer (to await)."""
    request = customer_service_pb2.GetCustomerRequest(customer_id=customer.id)
    return api.customers.GetCustomer(request, timeout=deadline_s)


def queue_issues(api: Api, customers: Sequence[customer_pb2.Customer]) -> list[asyncio.Future[Any]]:
    """An auto-issuing CreateInvoice call of each customer, started now. Each waits for its customer's lock in
    PostgreSQL, holding a connection (calls of one customer would wait their turn in the server, holding none:
    `test_calls_of_one_customer_wait_their_turn_in_the_server_holding_no_connection`)."""
    return [asyncio.ensure_future(api.invoices.CreateInvoice(issue_now(c), timeout=60)) for c in customers]


async def more_customers(api: Api, first: customer_pb2.Customer, count: int) -> list[customer_pb2.Customer]:
    """`first` and `count - 1` new customers of the same account."""
    return [first, *await asyncio.gather(*(create_customer(api) for _ in range(count - 1)))]


@contextlib.asynccontextmanager
async def locked_customers(dsn: str, customers: Sequence[customer_pb2.Customer]) -> AsyncIterator[None]:
    """The customers' rows locked FOR UPDATE by another session for the block (calls that need them wait)."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            ids = sorted(customer.id for customer in customers)
            await conn.execute("SELECT 1 FROM customers WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", ids)
            yield
    finally:
        await conn.close()


def issue_now(customer: customer_pb2.Customer) -> invoice_service_pb2.CreateInvoiceRequest:
    """A CreateInvoice that issues at once, so it locks the customer's row (to move its balance)."""
    return invoice_request(customer, will_auto_issue=True)


async def test_calls_over_the_account_limit_are_refused_at_once_and_other_accounts_go_on(
    settings: Settings, migrated_dsn: str
) -> None:
    """3 calls in flight per account, 5 per server: the excess is RESOURCE_EXHAUSTED with ErrorInfo and RetryInfo.

    Health and reflection stay open whatever the load; when the streams end, the account is served again.
    """
    first, second, third = [await new_account(migrated_dsn) for _ in range(3)]
    refused_before = counter("invoicing_calls_refused_total", reason="ACCOUNT_CONCURRENCY_LIMIT")
    async with own_server(
        settings, migrated_dsn, max_concurrent_calls=5, max_concurrent_calls_per_account=3
    ) as running:
        target = target_of(running)
        async with (
            open_api(target, first.key) as a,
            open_api(target, second.key) as b,
            open_api(target, third.key) as c,
        ):
            customer_a, customer_b = await create_customer(a), await create_customer(b)
            async with watching(a, 3):
                refused = await expect_error(get_customer(a, customer_a))
                assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert refused.reason == "ACCOUNT_CONCURRENCY_LIMIT"
                assert refused.domain == "invoicing.v1"
                assert refused.metadata == {"limit": "3"}
                assert refused.retry_delay_ms
                stream = await expect_error(a.invoices.ListInvoices(invoice_service_pb2.ListInvoicesRequest()))
                assert stream.reason == "ACCOUNT_CONCURRENCY_LIMIT"
                assert await get_customer(b, customer_b) == customer_b

                async with watching(b, 2):
                    at_server_limit = await expect_error(c.customers.CreateCustomer(customer_request(), timeout=10))
                    assert at_server_limit.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert at_server_limit.reason == "SERVER_CONCURRENCY_LIMIT"
                    assert at_server_limit.metadata == {"limit": "5"}
                    assert at_server_limit.retry_delay_ms is not None
                    assert await health(c.channel) == SERVING
                    assert await _reflection_lists_services(c.channel)
            assert await get_customer(a, customer_a) == customer_a
    refused_after = counter("invoicing_calls_refused_total", reason="ACCOUNT_CONCURRENCY_LIMIT")
    assert refused_after == refused_before + 2


@pytest.mark.slow
async def test_a_burst_above_a_thousand_calls_is_answered_never_silently_cancelled(
    settings: Settings, migrated_dsn: str
) -> None:
    """1,500 calls at once on one account (limit 64): each is answered OK or refused with its reason.

    grpc's own queue of unaccepted calls (1,000 by default) would cancel the excess with no details.
    """
    account = await new_account(migrated_dsn)
    async with own_server_api(
        settings, migrated_dsn, account.key, max_concurrent_calls=512, max_concurrent_calls_per_account=64
    ) as (_, api):
        customer = await create_customer(api)
        outcomes: collections.Counter[str] = collections.Counter()

        async def one() -> None:
            try:
                await get_customer(api, customer, deadline_s=60)
                outcomes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                failure = details_of(error)
                assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED, failure
                assert failure.reason == "ACCOUNT_CONCURRENCY_LIMIT", failure
                assert failure.retry_delay_ms is not None, failure
                outcomes[failure.reason] += 1

        await asyncio.gather(*(one() for _ in range(1500)))
    assert sum(outcomes.values()) == 1500
    assert outcomes["OK"] > 0


async def test_an_account_holding_its_share_of_the_pool_leaves_the_rest_to_others(
    settings: Settings, migrated_dsn: str
) -> None:
    """A hot account's calls wait on row locks holding connections: only the account's share of them.

    With a pool of 4 (a share of 2 per account), 6 auto-issuing invoices of 6 locked customers wait behind
    their locks; another account's reads complete within a 3 s deadline meanwhile, and the pool gauges show the
    saturation. When the lock goes, every queued invoice is created.
    """
    async with hot_and_calm(settings, migrated_dsn, db_pool_max=4, db_pool_account_share=0.5) as two:
        unary = two.running.db.unary
        busy = await more_customers(two.hot, two.busy, 6)
        async with locked_customers(migrated_dsn, busy):
            queued = queue_issues(two.hot, busy)

            async def saturated() -> bool:
                return unary.in_use == 2 and unary.waiting == 4

            await eventually(saturated, 20, "the hot account did not take its share")
            assert counter("invoicing_db_pool_in_use", pool="unary") >= 2
            assert counter("invoicing_db_pool_waiting", pool="unary") >= 4
            for _ in range(5):
                assert await get_customer(two.calm, two.quiet, deadline_s=3) == two.quiet
            assert not any(call.done() for call in queued)
        created = await asyncio.gather(*queued)
    assert all(invoice.status == invoice_pb2.INVOICE_STATUS_ISSUED for invoice in created)


async def test_calls_of_one_customer_wait_their_turn_in_the_server_holding_no_connection(
    settings: Settings, migrated_dsn: str
) -> None:
    """Auto-issuing invoices of one customer queue in the server, in arrival order, not in PostgreSQL.

    The customer locked by another session, 6 of them come one after another: the first waits on the lock in
    PostgreSQL (one connection), the other five wait their turn in the server holding nothing (the gauge).
    With a pool of 4 and an account's share of 2, the account's other customer is still invoiced and read
    within 3 s deadlines (the six would otherwise hold the share). A seventh with a 0.5 s deadline ends
    DEADLINE_EXCEEDED and leaves the queue; a dry run of the same call is not queued in the server (it
    gives up on the lock by itself, ABORTED LOCK_TIMEOUT). When the lock goes, the six are issued in the
    order they came (their numbers), and no call is left waiting.
    """
    waiting_before = counter(ROW_WAITING)
    overrides: dict[str, Any] = {"db_pool_max": 4, "db_pool_account_share": 0.5, **PATIENT_LOCKS}
    async with hot_and_calm(settings, migrated_dsn, **overrides) as two:
        other = await create_customer(two.hot)
        queued: list[asyncio.Future[Any]] = []
        async with locked_customers(migrated_dsn, [two.busy]):
            for position in range(6):
                queued += queue_issues(two.hot, [two.busy])
                if position == 0:
                    await until_waiting_on_lock(migrated_dsn, 1, "the first call did not reach the lock")
                else:

                    async def behind(count: int = position) -> bool:
                        return counter(ROW_WAITING) == waiting_before + count

                    await eventually(behind, 20, f"call {position + 1} did not wait its turn in the server")
            await until_waiting_on_lock(migrated_dsn, 1, "more than one call reached the lock")
            served = await two.hot.invoices.CreateInvoice(issue_now(other), timeout=3)
            assert served.status == invoice_pb2.INVOICE_STATUS_ISSUED
            assert (await get_customer(two.hot, other, deadline_s=3)).id == other.id
            late = await expect_error(two.hot.invoices.CreateInvoice(issue_now(two.busy), timeout=0.5))
            assert late.code == grpc.StatusCode.DEADLINE_EXCEEDED

            async def left() -> bool:
                return counter(ROW_WAITING) == waiting_before + 5

            await eventually(left, 10, "the late call still waits its turn")
            rehearsal = issue_now(two.busy)
            rehearsal.validate_only = True
            refused = await expect_error(two.hot.invoices.CreateInvoice(rehearsal, timeout=10))
            assert (refused.code, refused.reason) == (grpc.StatusCode.ABORTED, "LOCK_TIMEOUT")
            assert not any(call.done() for call in queued)
        created = await asyncio.gather(*queued)
    assert {invoice.status for invoice in created} == {invoice_pb2.INVOICE_STATUS_ISSUED}
    numbers = [sequence_of(invoice.invoice_number) for invoice in created]
    assert numbers == sorted(numbers), numbers  # in the order they came
    assert len(set(numbers)) == 6, numbers
    assert counter(ROW_WAITING) == waiting_before


async def test_balance_changes_of_one_customer_wait_their_turn_in_the_server_too(
    settings: Settings, migrated_dsn: str
) -> None:
    """Every call that locks a customer it names first queues on it: adjustments, grants, customer updates.

    The customer locked by another session, an increment, a decrement, a credit grant and a rename: one
    reaches the lock in PostgreSQL, three wait in the server. When the lock goes, all four are applied (the
    balance is the sum of the adjustments) and no call is left waiting.
    """
    waiting_before = counter(ROW_WAITING)
    async with hot_and_calm(settings, migrated_dsn, **PATIENT_LOCKS) as two:
        api, customer = two.hot, two.busy
        grant = customer_service_pb2.GrantCreditsRequest(
            customer_id=customer.id, amount="5", currency=customer.currency, request_id="grant-1"
        )
        rename = customer_service_pb2.UpdateCustomerRequest(customer_id=customer.id, name="Renamed")
        async with locked_customers(migrated_dsn, [customer]):
            # (a grpc.aio call starts when it is made: every one is made with the lock held)
            queued = [
                api.customers.CreateBalanceTransaction(balance_change(customer, "7.25", increment=True), timeout=60),
                api.customers.CreateBalanceTransaction(balance_change(customer, "2.10", increment=False), timeout=60),
                api.customers.GrantCredits(grant, timeout=60),
                api.customers.UpdateCustomer(rename, timeout=60),
            ]

            async def queued_in_the_server() -> bool:
                return counter(ROW_WAITING) == waiting_before + 3

            await eventually(queued_in_the_server, 20, "three calls did not wait their turn in the server")
            await until_waiting_on_lock(migrated_dsn, 1, "more than one call reached the lock")
            assert not any(call.done() for call in queued)
        await asyncio.gather(*queued)
        after = await get_customer(api, customer)
    assert after.name == "Renamed"
    assert after.balance == "5.15"
    assert counter(ROW_WAITING) == waiting_before


def balance_change(
    customer: customer_pb2.Customer, amount: str, *, increment: bool
) -> customer_service_pb2.CreateBalanceTransactionRequest:
    """A manual balance adjustment of customer."""
    kind = (
        customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT
        if increment
        else customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT
    )
    return customer_service_pb2.CreateBalanceTransactionRequest(customer_id=customer.id, amount=amount, type=kind)


async def test_a_connection_wait_past_the_servers_bound_is_pool_exhausted_not_an_outage(
    settings: Settings, migrated_dsn: str
) -> None:
    """Every connection held (calls on a row lock): a call without a deadline gets RESOURCE_EXHAUSTED / POOL_EXHAUSTED.

    With a deadline shorter than the server's bound, the same wait is DEADLINE_EXCEEDED (the server ends it at
    the deadline, or grpc cancels it just then); neither is ever UNAVAILABLE, which means the database is down.
    """
    account = await new_account(migrated_dsn)
    method = "/invoicing.v1.CustomerService/GetCustomer"
    unavailable_before = counter("invoicing_rpc_total", method=method, code="UNAVAILABLE")
    deadline_before = counter("invoicing_rpc_total", method=method, code="DEADLINE_EXCEEDED") + counter(
        "invoicing_rpc_total", method=method, code="CANCELLED"
    )
    overrides: dict[str, Any] = {
        "db_pool_min": 1,
        "db_pool_max": 2,
        "db_pool_account_share": 1.0,
        "db_acquire_timeout_s": 0.5,
    }
    async with own_server_api(settings, migrated_dsn, account.key, **overrides) as (_, api):
        customer = await create_customer(api)
        busy = await more_customers(api, customer, 2)
        async with locked_customers(migrated_dsn, busy):
            held = queue_issues(api, busy)

            await until_waiting_on_lock(migrated_dsn, 2, "the calls did not take both connections")
            exhausted = await expect_error(get_customer(api, customer, deadline_s=None))
            assert exhausted.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert exhausted.reason == "POOL_EXHAUSTED"
            assert exhausted.retry_delay_ms is not None
            out_of_time = await expect_error(get_customer(api, customer, deadline_s=0.3))
            assert out_of_time.code == grpc.StatusCode.DEADLINE_EXCEEDED

            async def counted() -> bool:  # the server's wait ends at the deadline, or grpc cancels it just then
                out = counter("invoicing_rpc_total", method=method, code="DEADLINE_EXCEEDED")
                return out + counter("invoicing_rpc_total", method=method, code="CANCELLED") > deadline_before

            await eventually(counted, 10, "the server did not end the call at its deadline")
        await asyncio.gather(*held)
    assert counter("invoicing_rpc_total", method=method, code="UNAVAILABLE") == unavailable_before


@pytest.mark.reliability
@pytest.mark.slow
async def test_health_stays_serving_while_a_hot_account_saturates_the_pool(
    settings: Settings, migrated_dsn: str
) -> None:
    """Dozens of auto-issued invoices of locked customers hold every pooled connection: health stays SERVING.

    Health probes the database on a connection of its own, so a saturated pool (shown in the pool gauges)
    is not an outage. Every poll during the queue is SERVING, and every queued invoice is issued.
    """
    account = await new_account(migrated_dsn)
    overrides: dict[str, Any] = {
        "db_pool_account_share": 1.0,
        "health_check_interval_s": 0.2,
        "health_check_timeout_s": 0.5,
    }
    async with own_server_api(settings, migrated_dsn, account.key, **overrides) as (running, api):
        customer = await create_customer(api)
        statuses: list[int] = []
        busy = await more_customers(api, customer, 40)
        async with locked_customers(migrated_dsn, busy):
            queued = queue_issues(api, busy)

            async def saturated() -> bool:
                return running.db.unary.in_use == running.db.pool.get_max_size() and running.db.unary.waiting > 0

            await eventually(saturated, 20, "the hot account did not saturate the pool")
            async with grpc.aio.insecure_channel(target_of(running)) as anonymous:
                for _ in range(20):  # 3 s of polls: about 15 probes of the database
                    statuses.append(await health(anonymous))
                    await asyncio.sleep(0.15)
            assert running.db.unary.waiting > 0  # still saturated at the last poll
        created = await asyncio.gather(*queued)
    assert statuses == [SERVING] * 20
    assert {invoice.status for invoice in created} == {invoice_pb2.INVOICE_STATUS_ISSUED}
    numbers = sorted(invoice.invoice_number for invoice in created)
    assert len(set(numbers)) == 40


@dataclass(frozen=True)
class HotAndCalm:
    """A server of its own with two accounts on it, a hot one and a calm one, each with a customer."""

    running: RunningServer
    hot: Api
    calm: Api
    busy: customer_pb2.Customer  # the hot account's customer
    quiet: customer_pb2.Customer  # the calm account's customer


@contextlib.asynccontextmanager
async def hot_and_calm(settings: Settings, dsn: str, **overrides: Any) -> AsyncIterator[HotAndCalm]:
    """Two new accounts with a customer each, on a server of its own (`own_server` with `overrides`)."""
    hot, calm = await new_account(dsn), await new_account(dsn)
    async with own_server(settings, dsn, **overrides) as running:
        target = target_of(running)
        async with open_api(target, hot.key) as h, open_api(target, calm.key) as c:
            yield HotAndCalm(running, h, c, await create_customer(h), await create_customer(c))


async def until_waiting_on_lock(dsn: str, count: int, what: str) -> None:
    """Wait until exactly `count` sessions wait for a lock in PostgreSQL: calls that took their turn and their
    connection and are held by a locked row. (Connections in use are no sign of it: with the tests' key cache
    off, every call first looks its key up on a pooled connection, before admission.)"""

    async def reached() -> bool:
        async with connection(dsn) as conn:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        return bool(waiting == count)

    await eventually(reached, 20, what)


TURNS: dict[str, Any] = {
    "max_running_calls_per_account": 1,
    "max_concurrent_calls_per_account": 4,
    "account_active_window_s": 60,
    "db_pool_account_share": 1.0,
}
WAITING_TURN = "invoicing_calls_waiting_turn"
ROW_WAITING = "invoicing_calls_waiting_row"
# The call at the lock waits out the whole test (the default lock timeout, 5 s, could end it on a slow machine).
PATIENT_LOCKS: dict[str, Any] = {"db_lock_timeout_ms": 60_000}


async def test_while_another_account_is_active_a_hot_accounts_calls_take_turns_and_the_other_is_served(
    settings: Settings, migrated_dsn: str
) -> None:
    """One running call per account while another is active: the hot account's other calls wait their turn.

    4 auto-issuing invoices of 4 locked customers: one runs (holding a connection), three wait for their
    turn holding nothing; a fifth call is still refused at once at the account's limit of 4 in flight, with
    its details; the other account's reads complete within a 3 s deadline. When the lock goes, each waiting
    call runs in turn and every invoice is issued, with its own number.
    """
    waiting_before = counter(WAITING_TURN)
    async with hot_and_calm(settings, migrated_dsn, **TURNS) as two:
        unary = two.running.db.unary
        busy = await more_customers(two.hot, two.busy, 4)
        async with locked_customers(migrated_dsn, busy):
            queued = queue_issues(two.hot, busy)

            async def taking_turns() -> bool:
                return counter(WAITING_TURN) == waiting_before + 3 and unary.in_use == 1

            await eventually(taking_turns, 20, "the hot account's calls did not wait for their turns")
            refused = await expect_error(get_customer(two.hot, two.busy))
            assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert refused.reason == "ACCOUNT_CONCURRENCY_LIMIT"
            assert refused.metadata == {"limit": "4"}
            assert refused.retry_delay_ms
            for _ in range(5):
                assert await get_customer(two.calm, two.quiet, deadline_s=3) == two.quiet
            assert not any(call.done() for call in queued)
            assert unary.in_use == 1
        created = await asyncio.gather(*queued)
    assert {invoice.status for invoice in created} == {invoice_pb2.INVOICE_STATUS_ISSUED}
    assert len({invoice.invoice_number for invoice in created}) == 4
    assert counter(WAITING_TURN) == waiting_before


async def test_a_call_waiting_for_its_turn_past_its_deadline_is_deadline_exceeded_and_leaves_the_queue(
    settings: Settings, migrated_dsn: str
) -> None:
    """A call that waits for its account's turn ends DEADLINE_EXCEEDED at its deadline, and holds no turn after.

    The call that ran meanwhile completes, and the account's next call runs at once.
    """
    waiting_before = counter(WAITING_TURN)
    async with hot_and_calm(settings, migrated_dsn, **TURNS) as two:  # the calm account's call makes it active
        async with locked_customers(migrated_dsn, [two.busy]):
            (blocked,) = queue_issues(two.hot, [two.busy])

            await until_waiting_on_lock(migrated_dsn, 1, "the hot call did not start")
            late = await expect_error(get_customer(two.hot, two.busy, deadline_s=0.5))
            assert late.code == grpc.StatusCode.DEADLINE_EXCEEDED

            async def left() -> bool:
                return counter(WAITING_TURN) == waiting_before

            await eventually(left, 10, "the late call still waits for its turn")
            assert not blocked.done()
        assert (await blocked).status == invoice_pb2.INVOICE_STATUS_ISSUED
        assert await get_customer(two.hot, two.busy, deadline_s=3) == two.busy


async def test_an_account_alone_runs_all_its_admitted_calls(settings: Settings, migrated_dsn: str) -> None:
    """Turns apply only while other accounts are active: alone, an account's calls all run at once."""
    account = await new_account(migrated_dsn)
    waiting_before = counter(WAITING_TURN)
    async with own_server_api(settings, migrated_dsn, account.key, **TURNS) as (_, api):
        customer = await create_customer(api)
        busy = await more_customers(api, customer, 3)
        async with locked_customers(migrated_dsn, busy):
            queued = queue_issues(api, busy)
            await until_waiting_on_lock(migrated_dsn, 3, "the lone account's calls did not all run")
            assert counter(WAITING_TURN) == waiting_before
        created = await asyncio.gather(*queued)
    assert {invoice.status for invoice in created} == {invoice_pb2.INVOICE_STATUS_ISSUED}


async def _reflection_lists_services(channel: grpc.aio.Channel) -> bool:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(timeout=10)
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    names = {service.name for service in response.list_services_response.service}
    return health_pb2.DESCRIPTOR.services_by_name["Health"].full_name in names
