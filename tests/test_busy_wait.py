"""The event loop's busy wait for a lone call's answer: it ends at the loop's first I/O event, or at its budget.

Each check runs on both loops the service runs on: uvloop (`serve`) and asyncio's own (the test suite's
in-process servers). A busy wait that missed I/O would spin through its whole budget and be counted as such.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

import pytest
import uvloop
from invoicing.v1 import invoice_service_pb2

from server.db import busy_wait
from tests.support.builders import create_customer, create_invoice
from tests.support.client import Api

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}


def _counts() -> tuple[float, float]:
    return busy_wait.ENDED_BY_IO._value.get(), busy_wait.ENDED_BY_BUDGET._value.get()


def _run(new_loop: Callable[[], asyncio.AbstractEventLoop], scenario: Callable[[], object]) -> None:
    loop = new_loop()
    try:
        loop.run_until_complete(scenario())  # type: ignore[arg-type]
    finally:
        loop.close()


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_socket_becoming_readable_ends_the_busy_wait(loop_name: str) -> None:
    """A busy wait with a budget of 30 s ends when a socket the loop watches gets data (written 20 ms later
    from another thread), counted as ended by I/O; the loop then hands the data to its reader."""
    received = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        got = loop.create_future()
        loop.add_reader(ours.fileno(), lambda: got.set_result(ours.recv(16)) if not got.done() else None)
        writer = threading.Timer(0.02, theirs.send, args=(b"answer",))
        try:
            before = _counts()
            busy_wait.busy_wait_soon(30.0)
            writer.start()
            received.append(await got)
            io, budget = _counts()
            assert (io - before[0], budget - before[1]) == (1, 0)
        finally:
            writer.join()
            loop.remove_reader(ours.fileno())
            ours.close()
            theirs.close()

    _run(LOOPS[loop_name], scenario)
    assert received == [b"answer"]


@pytest.mark.parametrize("loop_name", LOOPS)
def test_without_io_the_budget_ends_the_busy_wait(loop_name: str) -> None:
    """With nothing to read, a busy wait ends at its budget (5 ms) and is counted as such; the loop runs on."""

    async def scenario() -> None:
        before = _counts()
        busy_wait.busy_wait_soon(0.005)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        io, budget = _counts()
        assert (io - before[0], budget - before[1]) == (0, 1)

    _run(LOOPS[loop_name], scenario)


async def test_a_lone_get_invoice_busy_waits_for_its_lookup(api: Api) -> None:
    """Through the real server: a GetInvoice with nothing else going on busy-waits once, for its lookup, and
    answers the invoice as usual."""
    customer = await create_customer(api)
    invoice = await create_invoice(api, customer)
    await asyncio.sleep(0.05)  # a pause: the loader no longer counts lookups as coming close together
    before = sum(_counts())
    got = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice.id))
    assert sum(_counts()) - before == 1
    assert got == invoice
