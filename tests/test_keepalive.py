"""Idle streams survive clients that ping every 10 s (a usual Go and Java setting).

grpc core's default server policy takes a ping more often than every 5 minutes without data as a strike and
ends the connection with GOAWAY too_many_pings after two; a WatchInvoiceEvents stream idle for ~40 s then
died UNAVAILABLE. The server's keepalive settings (server/config.py) accept such clients; this test holds an
idle watch from a Python client and from the Go client (grpc-go, 10 s keepalive) at once for 50 s, then
commits a change and checks both receive its event.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from invoicing.v1 import invoice_pb2, invoice_service_pb2, invoice_service_pb2_grpc

from server.app import start_server
from server.config import Settings
from tests.cli import run
from tests.client import Api, expect_error
from tests.conftest import Account
from tests.factories import create_customer, create_invoice

IDLE_S = 50
CLIENT_PING_MS = 10_000
# What a Python client must set to ping every 10 s even while idle.
PINGING_CLIENT = [
    ("grpc.keepalive_time_ms", CLIENT_PING_MS),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


@pytest.mark.slow
async def test_idle_watches_survive_clients_pinging_every_10_s(
    target: str, account: Account, api: Api, go_client: Path
) -> None:
    go_watch = asyncio.create_task(run(go_client, "watch", target, account.key, "0", limit_s=IDLE_S + 60))
    async with grpc.aio.insecure_channel(target, options=PINGING_CLIENT) as channel:
        watch = invoice_service_pb2_grpc.InvoiceServiceStub(channel).WatchInvoiceEvents(
            invoice_service_pb2.WatchInvoiceEventsRequest(after_sequence=0),
            metadata=(("authorization", f"Bearer {account.key}"),),
        )
        await asyncio.sleep(IDLE_S)
        assert not go_watch.done(), go_watch.result()

        customer = await create_customer(api)
        invoice = await create_invoice(api, customer)

        event = await asyncio.wait_for(watch.read(), timeout=10)
        assert (event.type, event.invoice_id) == (invoice_pb2.INVOICE_EVENT_TYPE_CREATED, invoice.id)
        watch.cancel()
    go_result = await asyncio.wait_for(go_watch, timeout=30)
    assert go_result.returncode == 0, go_result.stderr
    assert json.loads(go_result.stdout) == {
        "sequence": event.sequence,
        "type": "INVOICE_EVENT_TYPE_CREATED",
        "invoice_id": invoice.id,
    }


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
