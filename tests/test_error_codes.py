"""Codes mean what they say (SPEC 6 and 12): out of time is DEADLINE_EXCEEDED, a commit in doubt is
COMMIT_UNKNOWN, and a client that goes away is no error of the server's.

UNAVAILABLE is kept for a database that does not answer: a wait cut by the
caller's deadline is DEADLINE_EXCEEDED (on Python 3.11+ TimeoutError is an
OSError, which once made it look like an outage).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest
from grpc._cython import cygrpc
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_service_pb2

from server import context
from server.app import RunningServer
from server.config import Settings
from server.db.migrate import migrate
from server.domain import errors as e
from server.errors import to_domain_error
from server.keys import create_key
from tests.support.accounts import Account
from tests.support.builders import create_customer, create_invoice, customer_request
from tests.support.client import Api, details_of, expect_error
from tests.support.resilience import counter, eventually, own_server_api, unread_stream

GET_INVOICE = "/invoicing.v1.InvoiceService/GetInvoice"


def test_a_timeout_after_the_callers_deadline_is_deadline_exceeded_not_an_outage() -> None:
    """TimeoutError is an OSError since Python 3.11: the mapping must look at time before connections."""
    context.set_deadline(-0.001)  # the call's deadline has just passed
    assert isinstance(to_domain_error(TimeoutError()), e.DeadlineExceeded)
    context.set_deadline(30)  # plenty of time left: the database did not answer within its own bound
    timed_out = to_domain_error(TimeoutError())
    assert isinstance(timed_out, e.Unavailable)
    assert isinstance(to_domain_error(ConnectionResetError()), e.Unavailable)
    context.set_deadline(None)


async def test_600_short_deadline_reads_under_concurrency_are_never_unavailable(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """600 GetInvoice at once with 2-40 ms deadlines: each is OK or DEADLINE_EXCEEDED, for client and server.

    The server's own count of UNAVAILABLE and INTERNAL answers does not move, and nothing is logged as an
    outage.
    """
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    unavailable_before = counter("invoicing_rpc_total", method=GET_INVOICE, code="UNAVAILABLE")
    internal_before = counter("invoicing_rpc_total", method=GET_INVOICE, code="INTERNAL")
    # Long-lived calls of other tests (idle watches held open across the suite) stay in flight throughout.
    in_flight_before = counter("invoicing_calls_in_flight")
    caplog.set_level(logging.WARNING)
    request = invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id)
    codes: Counter[str] = Counter()
    rng = random.Random(600)

    async def one() -> None:
        try:
            await api.invoices.GetInvoice(request, timeout=rng.uniform(0.002, 0.040))
            codes["OK"] += 1
        except grpc.aio.AioRpcError as error:
            codes[error.code().name] += 1

    await asyncio.gather(*(one() for _ in range(600)))
    assert set(codes) <= {"OK", "DEADLINE_EXCEEDED"}, codes
    assert codes["DEADLINE_EXCEEDED"] > 0  # the deadlines did bite

    async def all_finished() -> bool:  # (calls whose deadline passed before the server took them never start)
        return counter("invoicing_calls_in_flight") <= in_flight_before

    await eventually(all_finished, 20, "the server did not finish the calls")
    assert counter("invoicing_rpc_total", method=GET_INVOICE, code="UNAVAILABLE") == unavailable_before
    assert counter("invoicing_rpc_total", method=GET_INVOICE, code="INTERNAL") == internal_before
    assert not [r for r in caplog.records if "unavailable" in r.getMessage()]


@pytest.mark.slow
async def test_cancelled_calls_and_streams_log_no_errors(
    api: Api, account: Account, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Clients that cancel unary calls, List streams mid-way and watch streams leave no ERROR in the logs."""
    customer = await create_customer(api)
    for _ in range(3):
        await create_invoice(api, customer, will_auto_issue=True)
    caplog.set_level(logging.WARNING)
    unary = [
        api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id="inv_missing")) for _ in range(30)
    ]
    for call in unary:
        call.cancel()
    for _ in range(20):
        async with unread_stream(target, account.key, invoice_service_pb2.ListInvoicesRequest()) as call:
            await call.read()  # one message, then the client goes away mid-stream
    watches = [api.invoices.WatchInvoiceEvents(invoice_service_pb2.WatchInvoiceEventsRequest()) for _ in range(10)]
    await asyncio.sleep(0.2)
    for watch in watches:
        watch.cancel()
    await asyncio.sleep(1)  # let the server finish the cancelled calls
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_a_status_grpc_could_not_send_to_a_departed_client_is_not_logged_as_an_error(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """grpc.aio reports, at ERROR, a call whose final status it could not send because the client had gone
    (seen in CI when a list's client dropped the stream just after its only batch): a server keeps that at
    DEBUG, and every other record of grpc's logger as it is."""
    grpc_log = logging.getLogger("grpc._cython.cygrpc")
    caplog.set_level(logging.WARNING)
    try:
        raise cygrpc.ExecuteBatchError('Failed "execute_batch": (SendStatusFromServerOperation,)')
    except cygrpc.ExecuteBatchError:
        grpc_log.exception("ExecuteBatchError raised in core by servicer method [%s]", "/invoicing.v1.X/Y")
    grpc_log.error("Unexpected [%s] raised by servicer method [%s]", "ValueError", "/invoicing.v1.X/Y")
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == grpc_log.name] == [
        (logging.ERROR, "Unexpected [ValueError] raised by servicer method [/invoicing.v1.X/Y]")
    ]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger=grpc_log.name)  # shown at DEBUG, as DEBUG, without the traceback
    try:
        raise cygrpc.ExecuteBatchError("Failed")
    except cygrpc.ExecuteBatchError:
        grpc_log.exception("ExecuteBatchError raised in core by servicer method [%s]", "/invoicing.v1.X/Y")
    (record,) = [r for r in caplog.records if r.name == grpc_log.name]
    assert (record.levelno, record.exc_info) == (logging.DEBUG, None)
    assert record.getMessage().endswith("(the client had gone)")


@pytest.fixture
async def slow_commit_dsn(migrated_dsn: str) -> AsyncIterator[str]:
    """A database of its own whose commits of a customer named "slow commit" take 30 s (a deferred trigger).

    Its own database, so that the trigger touches nothing of the session's.
    """
    name = f"invoicing_commit_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(migrated_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = urlunsplit(urlsplit(migrated_dsn)._replace(path=f"/{name}"))
    try:
        await migrate(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                """
                CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.name = 'slow commit' THEN PERFORM pg_sleep(30); END IF;
                    RETURN NULL;
                END $$;
                CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON customers
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();
                """
            )
        finally:
            await conn.close()
        yield dsn
    finally:
        admin = await asyncpg.connect(migrated_dsn)
        try:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_a_connection_lost_during_commit_is_commit_unknown_and_the_retry_is_safe(
    settings: Settings, slow_commit_dsn: str
) -> None:
    """The connection dies while COMMIT runs: UNAVAILABLE with reason COMMIT_UNKNOWN, never INTERNAL.

    Retrying with the same request_id then creates the customer exactly once, and a further retry replays it.
    """
    _, key = await create_key(slow_commit_dsn, "commit-test", invoice_prefix="CMT")
    request = customer_request(name="slow commit", request_id=f"commit-{uuid.uuid4().hex}")
    async with own_server_api(settings, slow_commit_dsn, key) as (_, api):
        call = api.customers.CreateCustomer(request, timeout=60)
        committing = await _backend_in_commit(slow_commit_dsn)
        admin = await asyncpg.connect(slow_commit_dsn)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", committing)
            await admin.execute("DROP TRIGGER slow_commit ON customers")
        finally:
            await admin.close()
        lost = await expect_error(call)
        assert lost.code == grpc.StatusCode.UNAVAILABLE, lost
        assert lost.reason == "COMMIT_UNKNOWN"
        assert lost.retry_delay_ms is not None

        created = await _eventually_created(api, request)
        replayed = await api.customers.CreateCustomer(request, timeout=10)
        assert replayed == created
    conn = await asyncpg.connect(slow_commit_dsn)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM customers WHERE external_customer_id = $1", request.external_customer_id
        )
    finally:
        await conn.close()
    assert stored == 1


async def _backend_in_commit(dsn: str) -> int:
    """The pid of the service's backend that is running COMMIT now (inside the deferred trigger's sleep).

    The sleep's wait event singles it out: the service's other work (a health probe, a background job) also
    commits, and a backend caught in its own brief COMMIT is the wrong one to terminate.
    """
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(400):
            pid: int | None = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'invoice-service' AND state = 'active' AND query IN ('COMMIT', 'COMMIT;')"
                " AND wait_event = 'PgSleep'"
                " LIMIT 1"
            )
            if pid is not None:
                return pid
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("the service never reached COMMIT")


async def _eventually_created(api: Api, request: customer_service_pb2.CreateCustomerRequest) -> customer_pb2.Customer:
    """CreateCustomer retried (same request_id) while the pool replaces the connection that was killed."""
    for _ in range(50):
        try:
            created: customer_pb2.Customer = await api.customers.CreateCustomer(request, timeout=10)
            return created
        except grpc.aio.AioRpcError as error:
            if details_of(error).code != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("the retry never succeeded")
