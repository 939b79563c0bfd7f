"""Clients that stop reading List streams cannot hold the stream capacity (SPEC 5 and 12, overload).

A List stream keeps a snapshot (a transaction on a stream-pool connection)
while it runs. A client that stops reading keeps it only for a bounded time:
the stall timeout, or the shorter busy timeout while other streams wait for a
connection. The stream then ends ABORTED, reason STREAM_STALLED, with the
resume token of the last batch sent; a new call with it continues exactly.
Unary RPCs (GetUpcomingInvoice included) never use the stream pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import grpc
import pytest
from invoicing.v1 import invoice_service_pb2

from bench.forms import render_account
from bench.seed import seed_invoices
from server import context
from server.api.streaming import Keyset, Lister, ResumeTokens, StreamSettings
from server.config import Settings
from tests.support.accounts import Account, new_account
from tests.support.builders import create_customer, create_invoice, create_plan, fixed_fee, subscribe, today_utc
from tests.support.calls import ALL_STATUSES
from tests.support.client import Api, details_of, open_api
from tests.support.database import idle_in_transaction
from tests.support.resilience import counter, eventually, own_server, target_of, unread_stream

LIST_INVOICES = "/invoicing.v1.InvoiceService/ListInvoices"
STUCK_ACCOUNTS = 4
STUCK_PER_ACCOUNT = 2
INVOICES_PER_ACCOUNT = 3_000


def list_all() -> invoice_service_pb2.ListInvoicesRequest:
    """Every invoice of the account, any status."""
    return invoice_service_pb2.ListInvoicesRequest(status=ALL_STATUSES)


async def seeded_account(dsn: str, invoices: int) -> Account:
    """A new account with `invoices` invoices of 5 lines, written in bulk with their wire forms, as the bench
    does (a stuck stream over forms it must render first would measure the rendering, not the stall)."""
    account = await new_account(dsn)
    await seed_invoices(dsn, account.name, invoices)
    assert await render_account(dsn, account.name) == invoices
    return account


async def read_ids(api: Api, request: invoice_service_pb2.ListInvoicesRequest) -> list[str]:
    """The invoice ids of a whole stream (a 60 s deadline)."""
    return [invoice.id async for batch in api.invoices.ListInvoices(request, timeout=60) for invoice in batch.invoices]


async def first_five(api: Api) -> list[str]:
    """The ids of a ListInvoices stream limited to 5 invoices, under a 5 s deadline."""
    request = invoice_service_pb2.ListInvoicesRequest(limit=5)
    return [invoice.id async for batch in api.invoices.ListInvoices(request, timeout=5) for invoice in batch.invoices]


async def read_until_error(call: Any) -> tuple[list[invoice_service_pb2.ListInvoicesResponse], grpc.aio.AioRpcError]:
    """The messages of a stream that must end in an error, and the error."""
    messages = []
    try:
        while (message := await call.read()) is not grpc.aio.EOF:
            messages.append(message)
    except grpc.aio.AioRpcError as error:
        return messages, error
    raise AssertionError(f"the stream ended OK after {len(messages)} messages")


@pytest.fixture(scope="module")
async def crowded_accounts(migrated_dsn: str) -> list[Account]:
    """Accounts with 3,000 invoices each, for the stuck readers."""
    return [await seeded_account(migrated_dsn, INVOICES_PER_ACCOUNT) for _ in range(STUCK_ACCOUNTS)]


@pytest.mark.slow
async def test_a_stalled_stream_releases_its_snapshot_and_resumes_exactly(
    settings: Settings, migrated_dsn: str
) -> None:
    """A client that stops reading loses its snapshot after the stall timeout, then resumes without gap or repeat.

    While the client still has not read anything, the server already ended the snapshot; reading then
    gives the batches sent before, and the error ABORTED / STREAM_STALLED whose resume_token is the token of
    the last of them; a call with that token returns exactly the rest.
    """
    account = await seeded_account(migrated_dsn, 400)
    stalled_before = counter("invoicing_streams_stalled_total", method=LIST_INVOICES)
    async with own_server(settings, migrated_dsn, stream_stall_timeout_s=1.0) as running:
        target = target_of(running)
        async with open_api(target, account.key) as api:
            everything = await read_ids(api, list_all())
            assert len(everything) == 400
            async with unread_stream(target, account.key, list_all()) as call:

                async def released() -> bool:
                    stalled = counter("invoicing_streams_stalled_total", method=LIST_INVOICES) > stalled_before
                    return stalled and running.db.streams.in_use == 0

                await eventually(released, 30, "the unread stream did not give its connection back")
                assert await idle_in_transaction(migrated_dsn, streams_only=True) == 0

                messages, error = await read_until_error(call)
            failure = details_of(error)
            assert failure.code == grpc.StatusCode.ABORTED
            assert failure.reason == "STREAM_STALLED"
            assert failure.retry_delay_ms is not None
            token = failure.metadata["resume_token"]
            sent = [invoice.id for message in messages for invoice in message.invoices]
            assert token == (messages[-1].resume_token if messages else "")
            assert len(sent) < 400

            rest_request = list_all()
            rest_request.resume_token = token
            rest = await read_ids(api, rest_request)
    assert sent + rest == everything


@pytest.mark.reliability
@pytest.mark.slow
@pytest.mark.timeout(300)  # seeds 12,000 invoices (the module's accounts) and waits up to 30 s for the pool
async def test_eight_unread_streams_leave_lists_and_upcoming_invoices_to_the_others(
    settings: Settings, migrated_dsn: str, crowded_accounts: list[Account]
) -> None:
    """8 clients holding unread streams over 3,000 invoices: other clients still list and preview at once.

    The server runs with the default stream settings (4 stream connections, 30 s stall timeout, 2 s while
    contended, 250 invoices a batch). Another account's ListInvoices (limit 5) and GetUpcomingInvoice, and a
    stuck account's own ListInvoices, each complete within a 5 s deadline, because the server ended stuck
    streams (STREAM_STALLED) to give their connections to them.
    """
    other = await new_account(migrated_dsn)
    stalled_before = counter("invoicing_streams_stalled_total", method=LIST_INVOICES)
    async with own_server(settings, migrated_dsn, stream_batch_records=250) as running:
        target = target_of(running)
        pool_max: int = running.db.stream_pool.get_max_size()
        async with open_api(target, other.key) as api:
            customer = await create_customer(api)
            for _ in range(6):
                await create_invoice(api, customer, will_auto_issue=True)
            plan = await create_plan(api, fixed_fee())
            subscription = await subscribe(api, customer, plan, today_utc().replace(day=1).isoformat())

            async with contextlib.AsyncExitStack() as stack:
                for stuck in crowded_accounts:  # 8 streams nobody reads, open until the block ends
                    for _ in range(STUCK_PER_ACCOUNT):
                        await stack.enter_async_context(unread_stream(target, stuck.key, list_all()))

                async def pool_full() -> bool:
                    return running.db.streams.in_use == pool_max

                await eventually(pool_full, 30, "the unread streams did not take the stream pool")

                assert len(await first_five(api)) == 5
                preview = await api.invoices.GetUpcomingInvoice(
                    invoice_service_pb2.GetUpcomingInvoiceRequest(subscription_id=subscription.id), timeout=5
                )
                assert preview.invoice.total == "100.00"
                async with open_api(target, crowded_accounts[0].key) as stuck_api:
                    assert len(await first_five(stuck_api)) == 5

                # The capacity came from stuck streams the server ended, not from a bigger pool.
                stalled = counter("invoicing_streams_stalled_total", method=LIST_INVOICES) - stalled_before
                assert stalled >= pool_max


@pytest.mark.reliability
@pytest.mark.slow
@pytest.mark.timeout(300)  # 64 streams of 500 invoices, each under a 60 s deadline, on two cores
async def test_64_readers_that_read_all_complete(
    settings: Settings, migrated_dsn: str, crowded_accounts: list[Account]
) -> None:
    """64 concurrent streams (16 per account, 4 stream connections) all complete, each with all its invoices."""
    async with own_server(settings, migrated_dsn, stream_batch_records=250) as running:
        target = target_of(running)
        request = invoice_service_pb2.ListInvoicesRequest(limit=500)

        async def read_as(account: Account) -> list[str]:
            async with open_api(target, account.key) as api:
                return await read_ids(api, request)

        results = await asyncio.gather(*(read_as(crowded_accounts[index % STUCK_ACCOUNTS]) for index in range(64)))
    assert [len(ids) for ids in results] == [500] * 64
    for index, ids in enumerate(results):
        assert ids == results[index % STUCK_ACCOUNTS]  # the same account's streams agree


async def test_a_stream_past_its_deadline_releases_its_snapshot_even_if_its_call_is_never_closed() -> None:
    """The database side of a stream does not rely on gRPC closing the stream: once the call's deadline has
    passed, it closes its batches (the snapshot and connection) at its next check, long before the stall
    timeout. (The stream's own machinery, driven directly: a gRPC side that took one message and then was
    neither read nor closed, as when a cut call's stream is left to the garbage collector.)"""
    opened, closed = asyncio.Event(), asyncio.Event()

    async def batches() -> Any:
        opened.set()
        try:
            number = 0
            while True:
                yield [number]
                number += 1
        finally:
            closed.set()

    class Uncontended:
        def contended(self, account: str | None) -> bool:
            return False

    lister = Lister(ResumeTokens(bytes(32)), StreamSettings(stall_timeout_s=30.0), Uncontended())
    keyset: Keyset[int, int] = Keyset(lambda record: [record], lambda position: int(position[0]))

    async def abandoned_call() -> float:
        context.set_method(LIST_INVOICES)
        context.set_deadline(0.3)
        stream = lister.stream(
            b"scope",
            batches(),
            keyset=keyset,
            build=lambda r: r,
            respond=lambda items, token: items,
            size=lambda item: 1,
        )
        assert await anext(stream) == [0]
        started = time.monotonic()
        await asyncio.wait_for(closed.wait(), timeout=5)  # far below the 30 s stall timeout
        released_after = time.monotonic() - started
        await stream.aclose()
        return released_after

    released_after = await asyncio.create_task(abandoned_call())  # a task: the call's context stays its own
    assert opened.is_set()
    assert released_after < 2, released_after
