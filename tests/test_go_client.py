"""A Go client (grpc-go from Debian, code generated from protos/) against the running server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.accounts import Account
from tests.support.cli import run


@pytest.mark.slow
@pytest.mark.timeout(
    900
)  # 120 s for the client; the first test to need the Go client may install the toolchain (make go-tools) and builds it
async def test_go_client_creates_reads_lists_and_decodes_error_details(
    target: str, account: Account, go_client: Path
) -> None:
    result = await run(go_client, target, account.key, limit_s=120)

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["customer"].startswith("cus_")
    assert seen["status"] == "INVOICE_STATUS_DRAFT"
    assert seen["lines"] == [["Seats", "59.97"], ["API calls", "5.00"]]
    assert seen["total"] == "64.97"
    # 60 invoices in batches of at most 50 (the test server's batch size): read to the end, over two messages
    assert (seen["listed"], seen["list_messages"], seen["listed_first_created"]) == (60, 2, True)
    assert seen["error_code"] == "InvalidArgument"
    assert (seen["error_reason"], seen["error_domain"]) == ("FIELD_INVALID", "invoicing.v1")
    assert sorted((v["field"], v["reason"]) for v in seen["violations"]) == [
        ("line_items[0].quantity", "FIELD_INVALID"),
        ("line_items[1].name", "FIELD_REQUIRED"),
    ]
