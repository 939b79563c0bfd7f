"""The server's queues for calls on one row (`server.db.row_queues`): arrival order, no leftovers.

The queues run on the event loop alone (no database, no gRPC); how they keep a hot customer's calls off the
pool is shown against a real server in `tests/test_overload.py`.
"""

from __future__ import annotations

import asyncio

from server.db.row_queues import RowQueues


async def _hold(queues: RowQueues, row: str, log: list[str], name: str, release: asyncio.Event) -> None:
    async with queues.turn("acct", row):
        log.append(f"{name} in")
        await release.wait()
        log.append(f"{name} out")


async def test_calls_on_one_row_take_turns_in_arrival_order_and_other_rows_do_not_wait() -> None:
    queues, log, release = RowQueues(), list[str](), asyncio.Event()
    calls = []
    for name in ("a", "b", "c"):
        calls.append(asyncio.create_task(_hold(queues, "customer:1", log, name, release)))
        await asyncio.sleep(0)
    other = asyncio.create_task(_hold(queues, "customer:2", log, "x", asyncio.Event()))
    await asyncio.sleep(0.01)
    assert log == ["a in", "x in"]  # b and c wait behind a; another row does not
    release.set()
    await asyncio.gather(*calls)
    assert log == ["a in", "x in", "a out", "b in", "b out", "c in", "c out"]
    other.cancel()
    await asyncio.gather(other, return_exceptions=True)
    assert len(queues) == 0  # every row's queue is dropped with its last call


async def test_a_call_cancelled_while_it_waits_leaves_the_queue_and_the_next_one_goes_on() -> None:
    queues, log, release = RowQueues(), list[str](), asyncio.Event()
    first = asyncio.create_task(_hold(queues, "customer:1", log, "a", release))
    await asyncio.sleep(0)
    impatient = asyncio.create_task(_hold(queues, "customer:1", log, "b", release))
    last = asyncio.create_task(_hold(queues, "customer:1", log, "c", release))
    await asyncio.sleep(0.01)
    impatient.cancel()  # a deadline passing, a client going away
    await asyncio.gather(impatient, return_exceptions=True)
    release.set()
    await asyncio.gather(first, last)
    assert log == ["a in", "a out", "c in", "c out"]
    assert len(queues) == 0


async def test_a_failing_call_gives_its_turn_to_the_next() -> None:
    queues = RowQueues()

    async def failing() -> None:
        async with queues.turn("acct", "customer:1"):
            raise RuntimeError("the transaction failed")

    outcome = await asyncio.gather(failing(), _hold(queues, "customer:1", [], "next", _set()), return_exceptions=True)
    assert isinstance(outcome[0], RuntimeError)
    assert outcome[1] is None
    assert len(queues) == 0


def _set() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event
