"""The embedded PostgreSQL is supervised (SPEC 12): a kill -9 of its postmaster is repaired by the service.

A real `python -m server serve` with its own data directory; the test kills
the real postmaster with SIGKILL and touches nothing else: the service starts
PostgreSQL again by itself (crash recovery keeps every committed write),
health comes back to SERVING, calls succeed; on SIGTERM the service exits 0
and leaves no PostgreSQL running.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import grpc
import pytest
from invoicing.v1 import invoice_pb2, invoice_service_pb2

from tests.support.builders import create_customer, create_invoice
from tests.support.client import Api, open_api
from tests.support.resilience import SERVING, eventually, health
from tests.support.serve import LISTEN_LINE, Launcher, run_server_command

# A serve process (started within 180 s) whose PostgreSQL is killed and restarted (within 90 s).
pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(600)]

RECOVERY_BOUND_S = 90.0


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid in postmaster.pid if that process is alive, else None."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


async def get_invoice(api: Api, invoice_id: str) -> invoice_pb2.Invoice | None:
    """The invoice, or None while the service cannot reach its database yet."""
    try:
        found: invoice_pb2.Invoice = await api.invoices.GetInvoice(
            invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id), timeout=5
        )
        return found
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return None
        raise


async def test_kill_9_of_the_postmaster_is_repaired_and_postgres_stops_with_the_service(
    launcher: Launcher,
    project_root: Path,
) -> None:
    data_dir = launcher.fresh_data_dir()
    pgdata = data_dir / "postgres"
    served = await launcher.serve(data_dir, until=LISTEN_LINE)
    code, out, err = await run_server_command(
        project_root, "create-api-key", "--account", "drill", INVOICING_DATA_DIR=str(data_dir)
    )
    assert code == 0, err
    key = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("api key:"))

    async with open_api(served.target, key) as api:
        customer = await create_customer(api)
        committed = await create_invoice(api, customer)
        killed = postmaster_pid(pgdata)
        assert killed is not None

        os.kill(killed, signal.SIGKILL)

        async def restarted() -> bool:  # by the service itself, which says so in its log
            current = postmaster_pid(pgdata)
            return current is not None and current != killed and "embedded PostgreSQL restarted" in served.stderr()

        await eventually(restarted, RECOVERY_BOUND_S, "the service did not start PostgreSQL again")

        async def answering() -> bool:
            return await get_invoice(api, committed.id) is not None

        await eventually(answering, RECOVERY_BOUND_S, "calls did not succeed again")
        assert await get_invoice(api, committed.id) == committed  # the committed write survived the crash

        async def serving() -> bool:
            status = await health(api.channel)
            return status == SERVING

        await eventually(serving, RECOVERY_BOUND_S, "health did not come back to SERVING")
        after = await create_invoice(api, customer)
        assert await get_invoice(api, after.id) == after
        survivor = postmaster_pid(pgdata)
        assert survivor is not None

    assert await served.terminate() == 0, served.stderr()

    async def stopped() -> bool:
        return postmaster_pid(pgdata) is None and not await asyncio.to_thread(Path(f"/proc/{survivor}").exists)

    await eventually(stopped, 30, "the restarted PostgreSQL outlived the service")
