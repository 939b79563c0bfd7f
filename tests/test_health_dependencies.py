"""Health per dependency: `postgresql` (the database answers) and `postgresql-notifications` (the LISTEN
connection that wakes change-stream watchers). Losing the listener degrades only its own status: watchers
poll meanwhile, so the service stays SERVING."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.app import DATABASE_DEPENDENCY, NOTIFICATIONS_DEPENDENCY
from tests.support.database import connection

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _status(channel: grpc.aio.Channel, service: str) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    status: int = response.status
    return status


async def _until(channel: grpc.aio.Channel, service: str, wanted: int) -> int:
    """The status of service once it is wanted, or the last one seen after 15 s."""
    status = await _status(channel, service)
    for _ in range(150):
        if status == wanted:
            break
        await asyncio.sleep(0.1)
        status = await _status(channel, service)
    return status


async def test_each_dependency_reports_serving(anonymous_channel: grpc.aio.Channel) -> None:
    assert await _status(anonymous_channel, DATABASE_DEPENDENCY) == SERVING
    assert await _until(anonymous_channel, NOTIFICATIONS_DEPENDENCY, SERVING) == SERVING


@pytest.mark.slow
async def test_a_lost_listener_is_reported_on_its_own_and_recovers(
    anonymous_channel: grpc.aio.Channel, migrated_dsn: str
) -> None:
    assert await _until(anonymous_channel, NOTIFICATIONS_DEPENDENCY, SERVING) == SERVING
    async with connection(migrated_dsn) as admin:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid() AND datname = current_database()"
        )
    assert ended >= 1

    assert await _until(anonymous_channel, NOTIFICATIONS_DEPENDENCY, NOT_SERVING) == NOT_SERVING
    assert await _status(anonymous_channel, "") == SERVING
    assert await _status(anonymous_channel, DATABASE_DEPENDENCY) == SERVING
    assert await _until(anonymous_channel, NOTIFICATIONS_DEPENDENCY, SERVING) == SERVING
