"""A client in another language (Node, @grpc/grpc-js + @grpc/proto-loader) works from protos/ and third_party/ alone,
error details included."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.support.accounts import Account


@pytest.mark.slow
@pytest.mark.timeout(120)  # the Node process has 60 s of its own
async def test_node_client_creates_reads_and_lists(target: str, account: Account, project_root: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for this test (make test installs the npm packages)"
    assert (project_root / "node_modules" / "@grpc" / "grpc-js").is_dir(), "run `make test` (it runs npm ci)"
    process = await asyncio.create_subprocess_exec(
        node,
        str(project_root / "clients" / "node" / "smoke.mjs"),
        target,
        account.key,
        cwd=project_root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["status"] == "INVOICE_STATUS_DRAFT"
    assert result["total"] == "59.97"
    assert result["lines"] == [["Seats", "59.97"]]
    assert result["listed"] == [result["invoice"]]
    assert result["notFound"] == {"code": "NOT_FOUND", "reason": "INVOICE_NOT_FOUND"}
    assert result["invalid"] == {
        "code": "INVALID_ARGUMENT",
        "reason": "FIELD_INVALID",
        "domain": "invoicing.v1",
        "violations": [["line_items[0].name", "FIELD_REQUIRED"], ["line_items[1].unit_amount", "FIELD_INVALID"]],
    }
