"""Idle streams survive clients that ping every 10 s (a usual Go and Java setting); long-lived connections
are aged out so that clients rebalance.

grpc core's default server policy takes a ping more often than every 5 minutes without data as a strike and
ends the connection with GOAWAY too_many_pings after two; a WatchInvoiceEvents stream idle for ~40 s then
died UNAVAILABLE. The server's keepalive settings (server/config.py) accept such clients: an idle watch from
a Python client and one from the Go client (grpc-go, 10 s keepalive) are held at once for 50 s (while the
rest of the suite runs, see tests/support/keepalive.py), then a change is committed and both receive its
event.
"""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from invoicing.v1 import invoice_service_pb2, invoice_service_pb2_grpc

from server.app import start_server
from server.config import Settings
from tests.support.accounts import Account
from tests.support.builders import create_customer, create_invoice
from tests.support.client import expect_error, open_api
from tests.support.keepalive import CLIENT_PING_MS, IDLE_S, IdleWatches


@pytest.mark.starts_early
@pytest.mark.slow
@pytest.mark.timeout(
    900
)  # the first test to need the Go client may install the toolchain (make go-tools) and builds it
async def test_idle_watches_open(idle_watches: IdleWatches) -> None:
    """Starts the watching processes that test_idle_watches_survive_clients_pinging_every_10_s checks after
    50 s (so that the 50 s pass while the rest of the suite runs)."""
    await idle_watches.start()
    await asyncio.sleep(0.5)

    assert idle_watches.go_watch is not None
    assert not idle_watches.go_watch.done(), idle_watches.go_watch.result()
    assert idle_watches.python_watch is not None
    assert not idle_watches.python_watch.done(), idle_watches.python_watch.result()


@pytest.mark.slow
@pytest.mark.timeout(900)  # 50 s idle and 30 s for each event; run alone, it also builds the Go client
async def test_idle_watches_survive_clients_pinging_every_10_s(idle_watches: IdleWatches) -> None:
    await idle_watches.start()
    await idle_watches.idle_for(IDLE_S)
    watches = {"go": idle_watches.go_watch, "python": idle_watches.python_watch}
    for name, watch in watches.items():
        assert watch is not None
        assert not watch.done(), (name, watch.result())

    async with open_api(idle_watches.target, idle_watches.account.key) as api:
        customer = await create_customer(api)
        invoice = await create_invoice(api, customer)

    seen = {}
    for name, watch in watches.items():
        assert watch is not None
        result = await asyncio.wait_for(watch, timeout=30)
        assert result.returncode == 0, (name, result.stderr)
        seen[name] = json.loads(result.stdout)
    assert seen["go"] == seen["python"]
    assert seen["go"]["type"] == "INVOICE_EVENT_TYPE_CREATED"
    assert seen["go"]["invoice_id"] == invoice.id


def test_server_keepalive_policy_accepts_10_s_pings_and_pings_itself() -> None:
    """The defaults: client pings every 10 s are no strike, with or without calls; the server pings idle
    connections every 30 s and ends connections after 30 minutes with 5 minutes' grace."""
    options = dict(Settings().grpc_options())

    assert options["grpc.http2.min_recv_ping_interval_without_data_ms"] <= CLIENT_PING_MS
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.http2.max_pings_without_data"] == 0
    assert (options["grpc.max_connection_age_ms"], options["grpc.max_connection_age_grace_ms"]) == (1_800_000, 300_000)
    assert "grpc.max_connection_idle_ms" not in options


def test_connection_limits_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_MAX_CONNECTION_AGE_MS", "0")
    monkeypatch.setenv("INVOICING_MAX_CONNECTION_IDLE_MS", "600000")
    monkeypatch.setenv("INVOICING_KEEPALIVE_TIME_MS", "20000")

    options = dict(Settings().grpc_options())

    assert "grpc.max_connection_age_ms" not in options
    assert options["grpc.max_connection_idle_ms"] == 600_000
    assert options["grpc.keepalive_time_ms"] == 20_000


@pytest.mark.slow
async def test_connections_past_their_maximum_age_are_rebalanced(
    settings: Settings, migrated_dsn: str, account: Account
) -> None:
    """After max_connection_age (+ grace) the server sends GOAWAY: a client's channel goes IDLE and its next
    call opens a new connection (where a DNS round_robin client would pick up new replicas); a stream still
    open at the end of the grace is ended UNAVAILABLE, and a watcher resumes from its last sequence."""
    aged = settings.model_copy(update={"max_connection_age_ms": 1_000, "max_connection_age_grace_ms": 1_000})
    running = await start_server(aged, migrated_dsn, run_billing=False)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            watch = invoice_service_pb2_grpc.InvoiceServiceStub(channel).WatchInvoiceEvents(
                invoice_service_pb2.WatchInvoiceEventsRequest(after_sequence=0),
                metadata=(("authorization", f"Bearer {account.key}"),),
            )
            ended = await expect_error(watch)
            assert ended.code == grpc.StatusCode.UNAVAILABLE

            states = set()
            for _ in range(50):
                states.add(channel.get_state())
                if grpc.ChannelConnectivity.IDLE in states:
                    break
                await asyncio.sleep(0.1)
            assert grpc.ChannelConnectivity.IDLE in states
            response = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.stop(grace=0)
