"""Error reasons are documented in one table, and the errors that come from gRPC itself are what the README
says: no details, because the service never sees those calls."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
from invoicing.v1 import customer_service_pb2

from server.domain import errors
from tests.support.client import Api, expect_error

# UPPER_SNAKE literals in server/ that are not error reasons; any other one is a reason and must be documented.
NOT_REASONS = {
    "ACMECORP",
    "CANCELLED",
    "DATABASE_URL",
    "INVOICING_DATABASE_URL",
    "INVOICING_LISTEN",
    "NOT_FOUND",
    "ERROR",
}


def reasons_in_code(root: Path) -> set[str]:
    """Every UPPER_SNAKE string literal of the server that is not a known non-reason or an enum prefix."""
    found: set[str] = set()
    for path in (root / "server").rglob("*.py"):
        found.update(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', path.read_text()))
    found.update(str(vars(c)["reason"]) for c in vars(errors).values() if isinstance(c, type) and vars(c).get("reason"))
    return found - NOT_REASONS


def test_every_reason_is_documented_in_the_readme(project_root: Path) -> None:
    readme = (project_root / "README.md").read_text()
    section = readme[readme.index("### Errors") :]
    section = section[: section.index("\n### ")]
    in_code = reasons_in_code(project_root)

    assert {
        "FIELD_REQUIRED",
        "INVOICE_NOT_DRAFT",
        "VERSION_MISMATCH",
        "API_KEY_REVOKED",
        "INVOICE_NOT_FOUND",
    } - in_code <= {
        "INVOICE_NOT_FOUND"  # built from the resource name by NotFound
    }
    undocumented = sorted(r for r in in_code if f"`{r}`" not in section)
    assert undocumented == []


async def test_an_oversized_message_is_resource_exhausted_from_grpc_without_details(api: Api) -> None:
    """Over INVOICING_MAX_MESSAGE_BYTES (4 MiB) gRPC refuses the message before the service sees it."""
    request = customer_service_pb2.CreateCustomerRequest(name="x", email="a@b.example", currency="USD")
    request.metadata["big"] = "x" * (4 * 1024 * 1024 + 1)

    error = await expect_error(api.customers.CreateCustomer(request, timeout=30))

    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (error.reason, error.domain) == ("", "")


async def test_an_unknown_method_is_unimplemented_from_grpc_without_details(api: Api) -> None:
    unknown = api.channel.unary_unary(
        "/invoicing.v1.InvoiceService/NoSuchMethod",
        request_serializer=lambda request: request,
        response_deserializer=lambda raw: raw,
    )

    error = await expect_error(unknown(b"", timeout=10))

    assert error.code == grpc.StatusCode.UNIMPLEMENTED
    assert (error.reason, error.domain) == ("", "")
