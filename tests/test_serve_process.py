"""`python -m server` as an operator runs it: a real process with its own embedded PostgreSQL.

`make run` is `python -m server serve --demo`: from nothing it must start
PostgreSQL, migrate, seed the demo account, print a working API key and serve;
after a stop, a second run must keep the data and the key without seeding
again. SIGTERM must shut down gracefully and exit 0.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2, invoice_service_pb2

from tests.support.builders import create_customer
from tests.support.client import Api, expect_error, open_api
from tests.support.serve import DEMO_EXTERNAL_IDS, EXIT_BOUND_S, KEY_LINE, LISTEN_LINE, Launcher, run_server_command

# Real processes, each with an embedded PostgreSQL of its own: a test may start two, within the bounds of
# tests.support.serve.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def _customers(api: Api) -> list[customer_pb2.Customer]:
    found: list[customer_pb2.Customer] = []
    async for batch in api.customers.ListCustomers(customer_service_pb2.ListCustomersRequest(), timeout=30):
        found.extend(batch.customers)
    return found


async def _draft_invoices(api: Api) -> list[invoice_pb2.Invoice]:
    """The one-off drafts (subscription invoices come and go as the period-end runner works)."""
    request = invoice_service_pb2.ListInvoicesRequest(status=[invoice_pb2.INVOICE_STATUS_DRAFT], is_recurring=False)
    found: list[invoice_pb2.Invoice] = []
    async for batch in api.invoices.ListInvoices(request, timeout=30):
        found.extend(batch.invoices)
    return found


async def test_demo_serve_then_restart_keeps_data_key_and_does_not_reseed(launcher: Launcher) -> None:
    """From an empty data directory: serve with demo data; stop; serve again on the same data."""
    data_dir = launcher.fresh_data_dir()
    first = await launcher.serve(data_dir, "--demo", until=KEY_LINE)
    key = first.demo_key
    assert key.startswith("sk_")
    assert any("seeded demo" in line for line in first.lines)
    assert any(line.startswith(LISTEN_LINE) for line in first.lines)

    async with open_api(first.target, key) as api:
        customers = await _customers(api)
        assert {c.external_customer_id for c in customers} == DEMO_EXTERNAL_IDS
        drafts = await _draft_invoices(api)
        assert drafts
        assert all(invoice.status == invoice_pb2.INVOICE_STATUS_DRAFT for invoice in drafts)
        assert {invoice.customer.id for invoice in drafts} == {c.id for c in customers}
        added = await create_customer(api, name="Added Between Runs", external_customer_id="added-between-runs")

    assert await first.terminate() == 0
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "embedded PostgreSQL left running"
    assert key not in first.stderr(), "the API key must never be logged"

    second = await launcher.serve(data_dir, "--demo", until=KEY_LINE)
    assert second.demo_key == key
    assert not any("seeded demo" in line for line in second.lines)

    async with open_api(second.target, key) as api:
        customers_after = await _customers(api)
        assert len(customers_after) == 4
        assert {c.external_customer_id for c in customers_after} == {*DEMO_EXTERNAL_IDS, "added-between-runs"}
        assert added.id in {c.id for c in customers_after}
        drafts_after = await _draft_invoices(api)
        assert sorted(i.id for i in drafts_after) == sorted(i.id for i in drafts)
        assert {i.id: i.total for i in drafts_after} == {i.id: i.total for i in drafts}

    assert await second.terminate() == 0
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


async def test_sigterm_goes_not_serving_refuses_new_calls_and_exits_zero(launcher: Launcher) -> None:
    """SIGTERM with a call in flight: health flips, new connections are refused, the process exits 0."""
    data_dir = launcher.fresh_data_dir()
    running = await launcher.serve(data_dir, until=LISTEN_LINE, INVOICING_SHUTDOWN_GRACE_S="60")

    async with grpc.aio.insecure_channel(running.target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING

        running.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(EXIT_BOUND_S):
            after = await watch.read()
        assert after.status == health_pb2.HealthCheckResponse.NOT_SERVING

        refused = None
        async with asyncio.timeout(EXIT_BOUND_S):
            while refused is None:
                async with grpc.aio.insecure_channel(running.target) as fresh:
                    try:
                        await health_pb2_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(), timeout=5)
                    except grpc.aio.AioRpcError as error:
                        refused = error.code()
                if refused is None:
                    await asyncio.sleep(0.1)
        assert refused == grpc.StatusCode.UNAVAILABLE
        assert not watch.done(), "the in-flight call should still be open during the grace period"
        assert running.process.returncode is None

        watch.cancel()

    async with asyncio.timeout(EXIT_BOUND_S):
        assert await running.process.wait() == 0
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


async def test_help_lists_the_operational_commands(project_root: Path) -> None:
    """`python -m server --help` names every command an operator needs."""
    code, out, _ = await run_server_command(project_root, "--help")

    assert code == 0
    for command in ("serve", "migrate", "create-api-key", "revoke-api-key"):
        assert command in out
    assert "--demo" in (await run_server_command(project_root, "serve", "--help"))[1]


async def test_migrate_command_on_an_up_to_date_database(project_root: Path, migrated_dsn: str) -> None:
    """`migrate` against a DATABASE_URL that is current applies nothing and says so."""
    code, out, err = await run_server_command(project_root, "migrate", DATABASE_URL=migrated_dsn)

    assert code == 0, err
    assert "nothing (up to date)" in out


async def test_cli_created_key_works_until_revoked(project_root: Path, migrated_dsn: str, target: str) -> None:
    """create-api-key prints a key the server accepts; revoke-api-key makes the server refuse it."""
    account = f"cli-{uuid.uuid4().hex[:10]}"
    code, out, err = await run_server_command(
        project_root,
        "create-api-key",
        "--account",
        account,
        "--invoice-prefix",
        "CLI" + uuid.uuid4().hex[:4].upper(),
        "--description",
        "made by a test",
        DATABASE_URL=migrated_dsn,
    )
    assert code == 0, err
    printed = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    key = printed["api key"].strip()
    key_id = printed["key id"].strip()
    assert key.startswith("sk_")
    assert key_id
    assert key not in err, "the API key must never be logged"

    async with open_api(target, key) as api:
        assert await _customers(api) == []
        customer = await create_customer(api)
        assert customer.id

        code, out, err = await run_server_command(project_root, "revoke-api-key", key_id, DATABASE_URL=migrated_dsn)
        assert code == 0, err
        assert key_id in out

        refused = await expect_error(
            api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer.id))
        )
        assert refused.code == grpc.StatusCode.UNAUTHENTICATED
        assert refused.reason == "API_KEY_REVOKED"

    code, _, err = await run_server_command(project_root, "revoke-api-key", key_id, DATABASE_URL=migrated_dsn)
    assert code == 1
    assert "no active key" in err
