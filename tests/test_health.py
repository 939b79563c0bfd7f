"""The standard gRPC health service: overall and per-service status, open to callers without a key."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.client import Api, expect_error

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("service", ["", "invoicing.v1.InvoiceService", "invoicing.v1.CustomerService"])
async def test_check_reports_serving(anonymous_channel: grpc.aio.Channel, service: str) -> None:
    """The server as a whole ("") and each API service report SERVING, without credentials."""
    health = health_pb2_grpc.HealthStub(anonymous_channel)

    response = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)

    assert response.status == SERVING


async def test_check_of_unknown_service_is_not_found(anonymous_channel: grpc.aio.Channel) -> None:
    """A service the server does not host is NOT_FOUND, not SERVING or UNKNOWN."""
    health = health_pb2_grpc.HealthStub(anonymous_channel)

    error = await expect_error(
        health.Check(health_pb2.HealthCheckRequest(service="invoicing.v1.NoSuchService"), timeout=10)
    )

    assert error.code == grpc.StatusCode.NOT_FOUND


async def test_check_works_with_an_api_key_too(api: Api) -> None:
    """Sending credentials to health does no harm (load balancers reuse the application channel)."""
    health = health_pb2_grpc.HealthStub(api.channel)

    response = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)

    assert response.status == SERVING


@pytest.mark.parametrize(
    ("service", "status"),
    [
        pytest.param("invoicing.v1.InvoiceService", SERVING, id="known"),
        # For Watch the protocol says: an unknown service streams SERVICE_UNKNOWN instead of failing.
        pytest.param("invoicing.v1.NoSuchService", health_pb2.HealthCheckResponse.SERVICE_UNKNOWN, id="unknown"),
    ],
)
async def test_watch_streams_the_current_status_first(
    anonymous_channel: grpc.aio.Channel, service: str, status: int
) -> None:
    """Watch, used by gRPC clients' health checking, starts with the service's current status."""
    health = health_pb2_grpc.HealthStub(anonymous_channel)
    call = health.Watch(health_pb2.HealthCheckRequest(service=service), timeout=10)

    first = await call.read()
    call.cancel()

    assert first.status == status
