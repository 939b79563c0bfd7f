"""Stored wire forms: GetInvoice and ListInvoices answer with the bytes every change stores, never stale.

Each check compares the bytes the server sends with a fresh rendering of the invoice as the database holds it
(the typed read and converter the mutations use), and with what the row keeps. A form made stale behind the
service's back (an upgrade that changes the message schema, a row changed without a new form) is rendered
again: on read, in a list, and by the background refresher.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from invoicing.v1 import invoice_pb2, invoice_service_pb2

from server.api.converters import InvoiceWire, invoice_wire
from server.app import RunningServer
from server.config import Settings
from server.db import invoices as repo
from server.db.pool import LOOKUPS_APPLICATION_NAME, init_connection
from server.db.wire_loader import WireLoader
from server.domain.invoices import Invoice
from server.usecases.invoice_reads import RENDER_SLICE_S, refresh_stale_forms, render_many, sweep_stale_forms
from tests.support.accounts import Account
from tests.support.builders import add_line_request, create_customer, create_invoice, line, metadata_request
from tests.support.calls import issue, mark_paid, void
from tests.support.client import Api
from tests.support.database import connection, execute
from tests.support.resilience import own_server, target_of
from tests.support.states import force_synced

GET = "/invoicing.v1.InvoiceService/GetInvoice"
LIST = "/invoicing.v1.InvoiceService/ListInvoices"


@pytest.fixture
async def raw(target: str, account: Account) -> AsyncIterator[grpc.aio.Channel]:
    """A channel whose calls hand back the response bytes undecoded."""
    async with grpc.aio.insecure_channel(target) as channel:
        yield channel


def _auth(account: Account) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {account.key}"),)


async def get_bytes(channel: grpc.aio.Channel, account: Account, invoice_id: str) -> bytes:
    """GetInvoice's response exactly as it came over the wire."""
    call = channel.unary_unary(
        GET,
        request_serializer=invoice_service_pb2.GetInvoiceRequest.SerializeToString,
        response_deserializer=lambda data: data,
    )
    data: bytes = await call(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id), metadata=_auth(account))
    return data


async def fresh(dsn: str, account: Account, invoice_id: str) -> bytes:
    """The invoice rendered now from what the database holds."""
    async with connection(dsn) as conn:
        await init_connection(conn)  # the service's json codecs
        return invoice_wire(await repo.get(conn, account.id, invoice_id))


async def stored_row(dsn: str, account: Account, invoice_id: str) -> tuple[bytes | None, int | None, int, str | None]:
    """(wire, wire_version, version, wire_schema) of the invoice row."""
    async with connection(dsn) as conn:
        row = await conn.fetchrow(
            "SELECT wire, wire_version, version, wire_schema FROM invoices WHERE account_id = $1 AND id = $2",
            account.id,
            invoice_id,
        )
    assert row is not None
    return row["wire"], row["wire_version"], row["version"], row["wire_schema"]


async def assert_served_fresh(channel: grpc.aio.Channel, dsn: str, account: Account, invoice_id: str) -> bytes:
    served = await get_bytes(channel, account, invoice_id)
    assert served == await fresh(dsn, account, invoice_id)
    wire, wire_version, version, schema = await stored_row(dsn, account, invoice_id)
    assert (wire, wire_version, schema) == (served, version, InvoiceWire.schema)
    return served


async def test_get_invoice_sends_a_fresh_form_in_every_status_and_after_every_mutation(
    api: Api, account: Account, raw: grpc.aio.Channel, migrated_dsn: str
) -> None:
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    seen = [await assert_served_fresh(raw, migrated_dsn, account, draft.id)]
    await api.invoices.UpdateInvoice(metadata_request(draft.id, set={"po": "4711"}))
    seen.append(await assert_served_fresh(raw, migrated_dsn, account, draft.id))
    added = await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, amount="12.50"))
    seen.append(await assert_served_fresh(raw, migrated_dsn, account, draft.id))
    await api.invoices.DeleteInvoiceLineItem(
        invoice_service_pb2.DeleteInvoiceLineItemRequest(invoice_id=draft.id, line_item_id=added.id)
    )
    seen.append(await assert_served_fresh(raw, migrated_dsn, account, draft.id))
    await issue(api, draft.id)
    seen.append(await assert_served_fresh(raw, migrated_dsn, account, draft.id))
    await mark_paid(api, draft.id)
    seen.append(await assert_served_fresh(raw, migrated_dsn, account, draft.id))
    assert len(set(seen)) == len(seen)  # every change changed the form

    voided = await issue(api, (await create_invoice(api, customer)).id)
    await void(api, voided.id)
    await assert_served_fresh(raw, migrated_dsn, account, voided.id)

    synced = await issue(api, (await create_invoice(api, customer)).id)
    await force_synced(migrated_dsn, synced.id)  # a row changed behind the service: its form is stale
    await assert_served_fresh(raw, migrated_dsn, account, synced.id)


async def test_list_responses_are_the_stored_forms_concatenated(
    api: Api, account: Account, raw: grpc.aio.Channel, migrated_dsn: str
) -> None:
    customer = await create_customer(api)
    ids = [
        (await issue(api, (await create_invoice(api, customer, line_items=[line()] * (n + 1))).id)).id for n in range(7)
    ]
    call = raw.unary_stream(
        LIST,
        request_serializer=invoice_service_pb2.ListInvoicesRequest.SerializeToString,
        response_deserializer=lambda data: data,
    )
    messages = [data async for data in call(invoice_service_pb2.ListInvoicesRequest(), metadata=_auth(account))]
    listed = {}
    for data in messages:
        response = invoice_service_pb2.ListInvoicesResponse.FromString(data)
        assert response.resume_token
        assert response.SerializeToString(deterministic=True) == data  # nothing but the fields, in field order
        for invoice in response.invoices:
            listed[invoice.id] = invoice.SerializeToString(deterministic=True)
    assert set(listed) == set(ids)
    for invoice_id in ids:
        assert listed[invoice_id] == await get_bytes(raw, account, invoice_id)


async def test_a_stale_form_is_rendered_again_on_read_in_lists_and_in_the_background(
    api: Api, account: Account, raw: grpc.aio.Channel, migrated_dsn: str, server: RunningServer
) -> None:
    customer = await create_customer(api)
    read, listed, background = [(await issue(api, (await create_invoice(api, customer)).id)).id for _ in range(3)]
    # As if an upgrade changed the rendering: the stored forms name another schema.
    await execute(
        migrated_dsn,
        "UPDATE invoices SET wire_schema = 'r0-older' WHERE account_id = $1 AND id = ANY($2::text[])",
        account.id,
        [read, listed, background],
    )
    await assert_served_fresh(raw, migrated_dsn, account, read)  # rendered on read, and kept

    listed_now = [i for i in (await _list(api)) if i.id == listed]
    assert listed_now[0].SerializeToString(deterministic=True) == await fresh(migrated_dsn, account, listed)
    assert (await stored_row(migrated_dsn, account, listed))[3] == "r0-older"  # a list reads a snapshot: no write

    assert await refresh_stale_forms(server.db, InvoiceWire(), account_id=account.id) == 2
    for invoice_id in (listed, background):
        wire, wire_version, version, schema = await stored_row(migrated_dsn, account, invoice_id)
        assert (wire_version, schema) == (version, InvoiceWire.schema)
        assert wire == await fresh(migrated_dsn, account, invoice_id)


async def test_the_background_sweep_reads_each_account_once_per_schema(
    api: Api, account: Account, migrated_dsn: str, server: RunningServer
) -> None:
    """The job every server runs at start and hourly: an account swept under the current schema is not read
    again; one that is not is read once, in id order a batch at a time, every stale form rendered."""
    customer = await create_customer(api)
    ids = [(await issue(api, (await create_invoice(api, customer)).id)).id for _ in range(5)]
    swept = "SELECT wire_schema_swept FROM accounts WHERE id = $1"
    stale_sql = "UPDATE invoices SET wire_schema = 'r0-older' WHERE account_id = $1 AND id = ANY($2::text[])"
    render = InvoiceWire()
    await sweep_stale_forms(server.db, render)  # (every account the suite made so far, this one included)
    async with connection(migrated_dsn) as conn:
        assert await conn.fetchval(swept, account.id) == render.schema
        await conn.execute(stale_sql, account.id, ids)  # behind the service's back, after the sweep
    await sweep_stale_forms(server.db, render)
    for invoice_id in ids:  # swept already under this schema: left to the reads
        assert (await stored_row(migrated_dsn, account, invoice_id))[3] == "r0-older"

    # As after an upgrade: the account was last swept under another schema. Batches of 2 for 5 stale forms.
    await execute(migrated_dsn, "UPDATE accounts SET wire_schema_swept = 'r0-older' WHERE id = $1", account.id)
    assert await sweep_stale_forms(server.db, render, batch=2) >= len(ids)
    for invoice_id in ids:
        wire, wire_version, version, schema = await stored_row(migrated_dsn, account, invoice_id)
        assert (wire_version, schema) == (version, render.schema)
        assert wire == await fresh(migrated_dsn, account, invoice_id)
    async with connection(migrated_dsn) as conn:
        assert await conn.fetchval(swept, account.id) == render.schema


class SlowRenderer:
    """Renders an invoice as its id, spending `cost_s` of CPU on each (as a real form costs a millisecond or
    two of the loop)."""

    schema = "slow"

    def __init__(self, cost_s: float) -> None:
        self.cost_s = cost_s

    def __call__(self, invoice: Invoice) -> bytes:
        until = time.perf_counter() + self.cost_s
        while time.perf_counter() < until:
            pass
        return invoice.header.id.encode()


async def test_rendering_many_forms_hands_the_event_loop_back_between_slices(
    api: Api, account: Account, migrated_dsn: str
) -> None:
    customer = await create_customer(api)
    ids = [(await create_invoice(api, customer)).id for _ in range(4)]
    async with connection(migrated_dsn) as conn:
        await init_connection(conn)
        invoices = await repo.get_many(conn, account.id, ids) * 10
    turns = 0
    rendering = True

    async def other_call() -> None:
        nonlocal turns
        while rendering:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_call())
    await asyncio.sleep(0)
    forms = await render_many(SlowRenderer(RENDER_SLICE_S / 2), invoices)
    rendering = False
    await other
    assert forms == [invoice.header.id.encode() for invoice in invoices]
    # 40 forms at half a slice each: the loop is handed back about every other form, never held for all 40.
    assert turns >= 10, turns


async def _list(api: Api) -> list[invoice_pb2.Invoice]:
    stream = api.invoices.ListInvoices(invoice_service_pb2.ListInvoicesRequest())
    return [invoice async for message in stream for invoice in message.invoices]


async def test_concurrent_mutations_never_leave_a_stale_form(
    api: Api, account: Account, raw: grpc.aio.Channel, migrated_dsn: str
) -> None:
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)

    async def change(n: int) -> None:
        for _ in range(5):
            try:
                if n % 2:
                    await api.invoices.UpdateInvoice(metadata_request(draft.id, set={f"k{n}": str(n)}))
                else:
                    await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, amount=f"{n}.00"))
                return
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.ABORTED:  # only a lost lock race is retried
                    raise

    await asyncio.gather(*(change(n) for n in range(30)))
    served = await assert_served_fresh(raw, migrated_dsn, account, draft.id)
    invoice = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=draft.id))
    assert invoice.SerializeToString(deterministic=True) == served
    assert len(invoice.metadata) == 15
    assert len(invoice.line_items) == 1 + 15


async def test_concurrent_reads_share_statements(
    api: Api, account: Account, raw: grpc.aio.Channel, migrated_dsn: str, server: RunningServer
) -> None:
    customer = await create_customer(api)
    ids = [(await create_invoice(api, customer)).id for _ in range(16)]
    expected = {invoice_id: await fresh(migrated_dsn, account, invoice_id) for invoice_id in ids}
    loader = server.services.reads.loader
    lookups = loader.lookups
    served = await asyncio.gather(*(get_bytes(raw, account, ids[n % len(ids)]) for n in range(128)))
    assert served == [expected[ids[n % len(ids)]] for n in range(128)]
    assert loader.lookups - lookups == 128
    # Whether calls over the network overlap depends on timing (a lookup takes tens of microseconds); lookups
    # that are pending together certainly share a statement: 128 asked for in one go take at most one per
    # drain.
    statements = loader.statements
    found = await asyncio.gather(*(loader.load(account.id, ids[n % len(ids)]) for n in range(128)))
    assert [stored.wire if stored else None for stored in found] == [expected[ids[n % len(ids)]] for n in range(128)]
    assert loader.statements - statements <= 2


async def _lookups_one_iteration_apart(loader: WireLoader, account_id: str, ids: list[str]) -> list[bytes | None]:
    """Look up `ids`, each lookup started one event-loop iteration after the one before (as grpc.aio hands calls
    over under load)."""
    started = []
    for invoice_id in ids:
        started.append(asyncio.create_task(loader.load(account_id, invoice_id)))
        await asyncio.sleep(0)
    return [stored.wire if stored else None for stored in await asyncio.gather(*started)]


async def test_lookups_that_arrive_during_a_statement_share_the_next_one(
    api: Api, account: Account, migrated_dsn: str, server: RunningServer
) -> None:
    """Calls that reach their lookups one event-loop iteration apart while a statement runs are read together
    by the next statement, not by a statement each. (A loader that is never busy: its first lookup goes alone.)"""
    customer = await create_customer(api)
    ids = [(await create_invoice(api, customer)).id for _ in range(8)]
    expected = {invoice_id: await fresh(migrated_dsn, account, invoice_id) for invoice_id in ids}
    loader = WireLoader(server.db, server.services.invoices.render.schema, busy_gap_s=0, gather_max_s=10.0)
    asked = [ids[n % len(ids)] for n in range(17)]
    assert await _lookups_one_iteration_apart(loader, account.id, asked) == [expected[i] for i in asked]
    assert loader.statements == 2


async def test_while_lookups_come_close_together_a_batch_waits_for_the_ones_on_their_way(
    api: Api, account: Account, migrated_dsn: str, server: RunningServer
) -> None:
    """A busy loader (lookups arriving closer together than its gap) lets a batch wait while more lookups keep
    coming: the same 17 lookups one iteration apart are one statement, the first one included."""
    customer = await create_customer(api)
    ids = [(await create_invoice(api, customer)).id for _ in range(8)]
    expected = {invoice_id: await fresh(migrated_dsn, account, invoice_id) for invoice_id in ids}
    # (No bound on the batch's wait in time, so that a slow machine's iterations cannot end it early: it ends
    # when the lookups stop coming.)
    loader = WireLoader(server.db, server.services.invoices.render.schema, busy_gap_s=10.0, gather_max_s=10.0)
    assert loader.busy
    asked = [ids[n % len(ids)] for n in range(17)]
    assert await _lookups_one_iteration_apart(loader, account.id, asked) == [expected[i] for i in asked]
    assert loader.statements == 1
    # Once every caller waits, the batch stops waiting: a lone lookup is answered (nothing else will come).
    assert (await loader.load(account.id, ids[0])) is not None
    assert loader.statements == 2


async def test_a_loader_is_busy_while_lookups_arrive_close_together_and_not_after_a_pause(
    api: Api, account: Account, server: RunningServer
) -> None:
    customer = await create_customer(api)
    invoice_id = (await create_invoice(api, customer)).id
    loader = WireLoader(server.db, server.services.invoices.render.schema)
    assert not loader.busy  # a new loader has seen no lookups
    await asyncio.gather(*(loader.load(account.id, invoice_id) for _ in range(128)))
    assert loader.busy  # 128 lookups at once
    await asyncio.sleep(0.05)
    await loader.load(account.id, invoice_id)
    assert not loader.busy  # a pause of 50 ms weighs more than the burst


async def test_an_unknown_or_foreign_invoice_is_not_found(
    api: Api, other_api: Api, raw: grpc.aio.Channel, account: Account
) -> None:
    customer = await create_customer(other_api)
    theirs = await create_invoice(other_api, customer)
    for invoice_id in (theirs.id, "inv_unknown"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get_bytes(raw, account, invoice_id)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_lanes_prepared_lookup_reads_what_the_statement_reads_prepared_once_per_session(
    api: Api, other_api: Api, account: Account, migrated_dsn: str
) -> None:
    mine = await issue(api, (await create_invoice(api, await create_customer(api))).id)
    theirs = await create_invoice(other_api, await create_customer(other_api))
    expected = await fresh(migrated_dsn, account, mine.id)
    lookup = repo.PreparedWireLookup()
    for _ in range(2):  # a second session prepares it again, once
        # (asyncpg's own statement cache off: the only prepared statement is the lookup's)
        conn = await asyncpg.connect(migrated_dsn, statement_cache_size=0)
        try:
            await init_connection(conn)
            for _ in range(3):
                found = await lookup(conn, (account.id, mine.id), InvoiceWire.schema)
                assert found is not None
                assert (found.id, found.wire, found.fresh) == (mine.id, expected, True)
                assert (await repo.stored_wires(conn, [(account.id, mine.id)], InvoiceWire.schema)) == {
                    (account.id, mine.id): found
                }
                assert await lookup(conn, (account.id, theirs.id), InvoiceWire.schema) is None
                assert await lookup(conn, (account.id, "inv_unknown"), InvoiceWire.schema) is None
                older = await lookup(conn, (account.id, mine.id), "r0-older")  # a form of another schema is stale
                assert older is not None
                assert not older.fresh
            assert await conn.fetchval("SELECT array_agg(name) FROM pg_prepared_statements") == [lookup.NAME]
        finally:
            await conn.close()


async def _terminate(dsn: str, pid: int) -> bool:
    """End a backend and wait (up to 5 s) until it has exited."""
    async with connection(dsn) as conn:
        ended: bool = await conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        return ended


async def test_the_lookup_lane_replaces_a_connection_the_database_dropped(
    api: Api, account: Account, settings: Settings, migrated_dsn: str
) -> None:
    """On a server of its own that reaches PostgreSQL directly (behind a transaction pooler there is no lane),
    so that the connection dropped is the one lane connection its lone lookups use."""
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    expected = await fresh(migrated_dsn, account, invoice.id)
    lane_pids = "SELECT array_agg(pid) FROM pg_stat_activity WHERE application_name = $1"
    async with connection(migrated_dsn) as conn:
        others = set(await conn.fetchval(lane_pids, LOOKUPS_APPLICATION_NAME) or [])  # the session server's
    async with own_server(settings, migrated_dsn) as running, grpc.aio.insecure_channel(target_of(running)) as raw:
        assert await get_bytes(raw, account, invoice.id) == expected  # the lane has a connection now
        # The lookup after each drop comes at once, or after the database's farewell had time to arrive (or
        # not): it finds the dropped connection closed, half-closed or apparently alive, and in every case the
        # lane reads on a new connection instead; the caller sees nothing.
        for pause_s in (0, 0, 0.0005, 0.002, 0.01, 0.1):
            async with connection(migrated_dsn) as conn:
                opened = set(await conn.fetchval(lane_pids, LOOKUPS_APPLICATION_NAME) or []) - others
            assert len(opened) == 1
            assert await _terminate(migrated_dsn, opened.pop())  # gone from pg_stat_activity once it returns
            await asyncio.sleep(pause_s)
            assert await get_bytes(raw, account, invoice.id) == expected
        # A drop this event loop has not read yet (the connection still looks open): the backend is ended from
        # another thread while the loop is blocked, and the lookup comes before the loop reads its socket.
        async with connection(migrated_dsn) as conn:
            (lane_pid,) = set(await conn.fetchval(lane_pids, LOOKUPS_APPLICATION_NAME) or []) - others
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(asyncio.run, _terminate(migrated_dsn, lane_pid)).result()
        found = await running.services.reads.loader.load(account.id, invoice.id)
        assert found is not None
        assert found.wire == expected
        async with connection(migrated_dsn) as conn:
            assert len(set(await conn.fetchval(lane_pids, LOOKUPS_APPLICATION_NAME) or []) - others) == 1
