"""Busy-waiting for the event loop's next I/O event, for a call that waits alone on a short round trip.

At one call in flight, a `GetInvoice` spends most of its time in wake-ups rather than in work: the loop's
thread sends the lookup, sleeps in epoll while PostgreSQL answers (60-100 us), and is woken again, often on the
other core, its caches cold. Asked for by such a call (`busy_wait_soon`, right before it awaits the answer),
the loop instead polls, without sleeping, for any I/O event of its own (the answer, a new call handed over by
gRPC's threads, any other socket), at most `BUDGET_S`, then carries on as usual: the answer is read at once.
Measured on the 2-core development machine, 12 alternating rounds of 1,000 calls each at one in flight (h2load):
the `GetInvoice` p50 went from 1,003 to 804 us and its ratio to a health check's p50 from 1.92 to 1.68 (medians).

The wait ends at the first I/O event of any kind, so it only ever takes time the loop would have slept through,
except from a callback that became ready behind it (a timer due, a task woken by another callback), which it
delays by at most the budget. Its one caller is the wire loader's lone lookup: no other lookup pending or
arriving close behind it. Under a read load lookups are coalesced and never busy-wait; the other calls of the
loop (writes, streams) wait on sockets, so their next step ends the wait at once.

The loop's own readiness is visible as its epoll descriptor (uvloop's `_get_backend_id`, asyncio's selector):
readable whenever any descriptor the loop watches has an event. A loop without one never busy-waits.
"""

from __future__ import annotations

import asyncio
import select
import time

from server import metrics

# The longest busy wait: a few primary-key lookups' worth. A slower answer (a page read from disk) is waited
# for by sleeping, as usual.
BUDGET_S = 300e-6

ENDED_BY_IO = metrics.BUSY_WAITS.labels("io")
ENDED_BY_BUDGET = metrics.BUSY_WAITS.labels("budget")


def _readiness_fd(loop: asyncio.AbstractEventLoop) -> int | None:
    """The descriptor that is readable while the loop has I/O events to handle, when the loop has one."""
    backend = getattr(loop, "_get_backend_id", None)  # uvloop: libuv's epoll descriptor
    if backend is not None:
        fd: int = backend()
        return fd
    selector = getattr(loop, "_selector", None)  # asyncio's selector event loop
    fileno = getattr(selector, "fileno", None)
    if fileno is None:
        return None
    fd = fileno()
    return fd if fd >= 0 else None


def _busy_wait(fd: int, budget_s: float) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline:
        if poller.poll(0):
            ENDED_BY_IO.inc()
            return
    ENDED_BY_BUDGET.inc()


def busy_wait_soon(budget_s: float = BUDGET_S) -> None:
    """Once the running task next yields, make the loop poll for its next I/O event instead of sleeping until
    it comes (at most `budget_s`). Call it right before awaiting a short round trip; see the module docstring."""
    loop = asyncio.get_running_loop()
    fd = _readiness_fd(loop)
    if fd is not None:
        loop.call_soon(_busy_wait, fd, budget_s)
