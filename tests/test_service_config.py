"""The gRPC service config in clients/service_config.json: a client that uses it retries transient failures.

A transient failure made for real: another transaction holds the invoice's row lock, so IssueInvoice loses
its lock wait (ABORTED, "retry"). Through a channel configured with the shipped service config, the client
retries by itself and the call succeeds once the lock is released; without it, the caller sees ABORTED.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from invoicing.v1 import invoice_pb2, invoice_service_pb2, invoice_service_pb2_grpc
from prometheus_client import REGISTRY

from server.app import RunningServer, start_server
from server.config import Settings
from tests.support.accounts import Account
from tests.support.builders import create_customer, create_invoice
from tests.support.client import Api, expect_error
from tests.support.database import connection

ISSUE = "/invoicing.v1.InvoiceService/IssueInvoice"


def service_config(project_root: Path) -> dict[str, Any]:
    """The shipped service config."""
    config: dict[str, Any] = json.loads((project_root / "clients" / "service_config.json").read_text())
    return config


def _count(code: str) -> float:
    return REGISTRY.get_sample_value("invoicing_rpc_total", {"method": ISSUE, "code": code}) or 0.0


@pytest.fixture
async def quick_lock_server(settings: Settings, migrated_dsn: str) -> AsyncIterator[RunningServer]:
    """A server whose lock waits give up after 300 ms, so a held lock makes a quick transient failure."""
    running = await start_server(
        settings.model_copy(update={"db_lock_timeout_ms": 300}), migrated_dsn, run_billing=False
    )
    yield running
    await running.stop(grace=0)


def test_service_config_retries_unavailable_and_aborted_with_backoff_and_sets_timeouts(project_root: Path) -> None:
    config = service_config(project_root)
    methods = config["methodConfig"]
    unary = methods[0]
    assert unary["timeout"] == "10s"
    assert set(unary["retryPolicy"]["retryableStatusCodes"]) == {"UNAVAILABLE", "ABORTED"}
    assert float(unary["retryPolicy"]["backoffMultiplier"]) > 1
    watch = next(
        m for m in methods if {"service": "invoicing.v1.InvoiceService", "method": "WatchInvoiceEvents"} in m["name"]
    )
    assert "timeout" not in watch  # a change stream is long-lived


async def test_a_client_with_the_service_config_retries_a_lost_lock_race(
    quick_lock_server: RunningServer, migrated_dsn: str, api: Api, account: Account, project_root: Path
) -> None:
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    target = f"127.0.0.1:{quick_lock_server.port}"
    metadata = (("authorization", f"Bearer {account.key}"),)
    request = invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice.id, request_id="retry-issue-1")

    async with connection(migrated_dsn) as lock:  # another transaction holding the invoice's row lock
        await lock.execute("BEGIN")
        await lock.execute("SELECT 1 FROM invoices WHERE id = $1 FOR UPDATE", invoice.id)
        async with grpc.aio.insecure_channel(target) as plain:
            refused = await expect_error(
                invoice_service_pb2_grpc.InvoiceServiceStub(plain).IssueInvoice(request, metadata=metadata)
            )
        assert refused.code == grpc.StatusCode.ABORTED
        assert refused.retry_delay_ms is not None

        options = [("grpc.service_config", json.dumps(service_config(project_root))), ("grpc.enable_retries", 1)]
        async with grpc.aio.insecure_channel(target, options=options) as configured:
            aborted_before, ok_before = _count("ABORTED"), _count("OK")
            call = invoice_service_pb2_grpc.InvoiceServiceStub(configured).IssueInvoice(request, metadata=metadata)
            issuing = asyncio.ensure_future(call)
            for _ in range(1000):  # until the first attempt has lost its lock wait (10 s at most)
                if _count("ABORTED") > aborted_before:
                    break
                await asyncio.sleep(0.01)
            await lock.execute("ROLLBACK")
            issued = await issuing
            assert issued.status == invoice_pb2.INVOICE_STATUS_ISSUED
            assert _count("ABORTED") > aborted_before
            assert _count("OK") == ok_before + 1
