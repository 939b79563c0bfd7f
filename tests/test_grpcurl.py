"""The real grpcurl (upstream 1.8.6, v1alpha reflection) and buf curl (v1 reflection) against the server.

Each command is the one the README shows an engineer; the assertions read what the tool prints.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.support.accounts import Account
from tests.support.cli import buf_curl, grpcurl

DESCRIBED = {
    # symbol → what grpcurl says it is, and a line of its output (a comment or the declaration)
    "invoicing.v1.InvoiceService": ("a service", "rpc GetInvoice ( .invoicing.v1.GetInvoiceRequest )"),
    "invoicing.v1.InvoiceService.GetInvoice": ("a method", "// Returns one invoice."),
    "invoicing.v1.InvoiceService.ListInvoices": ("a method", "returns ( stream .invoicing.v1.ListInvoicesResponse )"),
    "invoicing.v1.Invoice": ("a message", "string amount_due = "),
    "invoicing.v1.Invoice.amount_due": ("a field", "// What the customer has to pay"),
    "invoicing.v1.InvoiceStatus": ("an enum", "INVOICE_STATUS_PAID = 3;"),
    "invoicing.v1.InvoiceStatus.INVOICE_STATUS_DRAFT": ("an enum value", "INVOICE_STATUS_DRAFT = 1;"),
    "grpc.health.v1.Health.Check": ("a method", "rpc Check ( .grpc.health.v1.HealthCheckRequest )"),
    "grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING": ("an enum value", "SERVING = 1;"),
}


async def test_grpcurl_is_upstreams_binary() -> None:
    version = await grpcurl("", options=("-version",))
    assert "1.8.6" in version.stdout + version.stderr


async def test_grpcurl_list(target: str) -> None:
    listed = await grpcurl(target, "list")

    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {
        "invoicing.v1.InvoiceService",
        "invoicing.v1.CustomerService",
        "invoicing.v1.UsageService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_grpcurl_list_methods_of_a_service(target: str) -> None:
    listed = await grpcurl(target, "list", "invoicing.v1.InvoiceService")

    assert listed.returncode == 0, listed.stderr
    assert "invoicing.v1.InvoiceService.WatchInvoiceEvents" in listed.stdout.split()


@pytest.mark.parametrize(("symbol", "expected"), DESCRIBED.items(), ids=list(DESCRIBED))
async def test_grpcurl_describe(target: str, symbol: str, expected: tuple[str, str]) -> None:
    kind, line = expected

    described = await grpcurl(target, "describe", symbol)

    assert described.returncode == 0, described.stderr
    assert described.stdout.startswith(f"{symbol} is {kind}:"), described.stdout
    assert line in described.stdout


@pytest.mark.parametrize("symbol", ["invoicing.v1.NoSuchMessage", "invoicing.v1.InvoiceService.NoSuchMethod"])
async def test_grpcurl_describe_unknown_symbol_fails_cleanly(target: str, symbol: str) -> None:
    described = await grpcurl(target, "describe", symbol)

    assert described.returncode != 0
    assert "Symbol not found" in described.stderr


async def test_grpcurl_unary_server_and_client_streaming_calls(target: str, account: Account) -> None:
    customer = await grpcurl(
        target,
        "invoicing.v1.CustomerService/CreateCustomer",
        options=("-d", json.dumps({"name": "Curl Co", "email": "ap@curl.example", "currency": "USD"})),
        key=account.key,
    )
    assert customer.returncode == 0, customer.stderr
    customer_id = customer.json()["id"]
    invoice_body = {
        "customer_id": customer_id,
        "currency": "USD",
        "invoice_date": {"year": 2026, "month": 3, "day": 1},
        "line_items": [
            {
                "name": "Seats",
                "quantity": "2",
                "unit_amount": "10.005",
                "start_date": {"year": 2026, "month": 2, "day": 1},
                "end_date": {"year": 2026, "month": 2, "day": 28},
            }
        ],
        "request_id": "curl-1",
    }
    created = await grpcurl(
        target, "invoicing.v1.InvoiceService/CreateInvoice", options=("-d", json.dumps(invoice_body)), key=account.key
    )
    assert created.returncode == 0, created.stderr
    assert created.json()["total"] == "20.01"

    listed = await grpcurl(
        target,
        "invoicing.v1.InvoiceService/ListInvoices",
        options=("-d", json.dumps({"customer_id": customer_id, "status": ["INVOICE_STATUS_DRAFT"]})),
        key=account.key,
    )
    assert listed.returncode == 0, listed.stderr
    assert [i["id"] for m in listed.json_stream() for i in m["invoices"]] == [created.json()["id"]]

    now = dt.datetime.now(dt.UTC).isoformat()
    events = [
        {
            "events": [
                {"event_name": "api_call", "customer_id": customer_id, "idempotency_key": f"c{n}", "timestamp": now}
            ]
        }
        for n in range(3)
    ]
    ingested = await grpcurl(
        target,
        "invoicing.v1.UsageService/IngestEventStream",
        options=("-d", "@"),
        key=account.key,
        stdin="\n".join(json.dumps(e) for e in events),
    )
    assert ingested.returncode == 0, ingested.stderr
    assert ingested.json() == {"ingested": "3"}


async def test_grpcurl_shows_error_details(target: str, account: Account) -> None:
    """grpcurl decodes ErrorInfo and BadRequest (with the per-field reason) from the status details."""
    failed = await grpcurl(
        target,
        "invoicing.v1.InvoiceService/ListInvoices",
        options=("-format-error", "-d", '{"due_date_window": "7w"}'),
        key=account.key,
    )

    assert failed.returncode != 0
    status = json.loads(failed.stderr)
    assert status["code"] == 3
    info, bad_request = status["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert (info["reason"], info["domain"]) == ("FIELD_INVALID", "invoicing.v1")
    assert bad_request["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    (violation,) = bad_request.get("fieldViolations") or bad_request["field_violations"]
    assert (violation["field"], violation["reason"]) == ("due_date_window", "FIELD_INVALID")


async def test_grpcurl_health_needs_no_key(target: str) -> None:
    checked = await grpcurl(target, "grpc.health.v1.Health/Check")

    assert checked.returncode == 0, checked.stderr
    assert checked.json() == {"status": "SERVING"}


async def test_buf_curl_with_reflection_v1(target: str, account: Account) -> None:
    """buf curl speaking only grpc.reflection.v1 lists the methods and calls one."""
    methods = await buf_curl(target, "--reflect-protocol", "grpc-v1", "--list-methods", "")
    assert methods.returncode == 0, methods.stderr
    assert "invoicing.v1.InvoiceService/GetInvoice" in methods.stdout.split()

    created = await buf_curl(
        target,
        "--reflect-protocol",
        "grpc-v1",
        "-d",
        json.dumps({"name": "Buf Co", "email": "ap@buf.example", "currency": "EUR"}),
        "/invoicing.v1.CustomerService/CreateCustomer",
        key=account.key,
    )
    assert created.returncode == 0, created.stderr
    assert created.json()["currency"] == "EUR"

    missing = await buf_curl(
        target,
        "--reflect-protocol",
        "grpc-v1",
        "-d",
        '{"invoice_id": "inv_missing"}',
        "/invoicing.v1.InvoiceService/GetInvoice",
        key=account.key,
    )
    assert missing.returncode != 0
    assert "not_found" in missing.stderr
