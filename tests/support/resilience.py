"""Helpers for the overload and failure tests: servers with settings of their own, health, stuck readers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from invoicing.v1 import invoice_service_pb2, invoice_service_pb2_grpc
from prometheus_client import REGISTRY

from server.app import RunningServer, start_server
from server.config import Settings
from tests.support.client import Api, open_api

SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING


@asynccontextmanager
async def own_server(
    settings: Settings, dsn: str, *, direct_dsn: str | None = None, **overrides: Any
) -> AsyncIterator[RunningServer]:
    """A server of its own on dsn, with the session settings changed by overrides.

    A dsn that reaches the database directly turns transaction pooling off, unless overrides say otherwise.
    """
    overrides.setdefault("db_transaction_pooling", direct_dsn is not None)
    running = await start_server(settings.model_copy(update=overrides), dsn, run_billing=False, direct_dsn=direct_dsn)
    try:
        yield running
    finally:
        await running.stop(grace=1)


@asynccontextmanager
async def own_server_api(
    settings: Settings, dsn: str, key: str, **overrides: Any
) -> AsyncIterator[tuple[RunningServer, Api]]:
    """A server of its own (`own_server`) and the stubs of the account whose API key is `key`, on a channel to it."""
    async with own_server(settings, dsn, **overrides) as running, open_api(target_of(running), key) as api:
        yield running, api


def target_of(running: RunningServer) -> str:
    """host:port of a running server."""
    return f"127.0.0.1:{running.port}"


async def health(channel: grpc.aio.Channel) -> int:
    """The overall health status reported on channel (a 5 s deadline)."""
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    status: int = response.status
    return status


async def eventually(condition: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    """Wait until condition() holds, checking every 50 ms; fail naming what did not happen in time."""
    deadline = time.monotonic() + within_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within_s} s")
        await asyncio.sleep(0.05)


def counter(name: str, **labels: str) -> float:
    """The current value of a Prometheus sample (0 when it was never set)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def unread_stream(target: str, key: str, request: invoice_service_pb2.ListInvoicesRequest) -> AsyncIterator[Any]:
    """A ListInvoices call that nobody reads (until the test does), on a channel of its own.

    The channel reads little ahead and never widens its flow-control window, so the server's writes stop at
    its first large message, as they do for a client that stopped reading. A channel of its own: the
    connection-level window of HTTP/2 is shared by the streams of one connection.
    """
    options = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        call = stub.ListInvoices(request, metadata=(("authorization", f"Bearer {key}"),), timeout=120)
        try:
            yield call
        finally:
            call.cancel()
