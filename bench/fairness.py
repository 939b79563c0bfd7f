"""Fairness under overload: one account at (and past) its concurrency limit against another account's p99.

The hot account runs 8 callers (a control, below its limit), 64 (the default
per-account limit), then 256 (4x the limit), in a process of its own, all
issuing invoices of ONE customer (every call takes that customer's row lock:
the hot-customer shape); refused
calls are retried after the server's RetryInfo delay (with jitter), as a
well-behaved client does. The quiet account meanwhile reads an invoice at 1 in
flight; its p99 is compared with its p99 alone. The two alternate within each
phase: the hot process is paused (SIGSTOP) while the p99 alone is taken and
resumed for the next loaded run, so each loaded figure has an anchor measured
seconds before it, not minutes (the machine's own latency drifts that much). The
share of the machine's CPU time that was busy (every process: server, PostgreSQL,
both clients) is recorded beside each figure: on 2 cores the quiet account alone
keeps the machine more than half busy, and the loaded p99 is the queueing of what is left.

`python -m bench.fairness hot TARGET KEY CALLERS SECONDS` is the hot account's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import psutil
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_status import rpc_status
from invoicing.v1 import (
    customer_service_pb2,
    customer_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
)

from bench.table import REPORT, Row, ratio_at_most

BELOW_LIMIT = 8
AT_LIMIT = 64
PAST_LIMIT = 256
ROOT = Path(__file__).resolve().parent.parent


def p99_latency_ms(target: str, key: str, invoice_id: str, count: int) -> float:
    """The 99th percentile latency of `count` sequential GetInvoice calls (1 in flight)."""
    request = invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id)
    metadata = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(target) as channel:
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        for _ in range(50):
            stub.GetInvoice(request, metadata=metadata)
        samples = []
        for _ in range(count):
            start = time.perf_counter_ns()
            stub.GetInvoice(request, metadata=metadata, timeout=30)
            samples.append(time.perf_counter_ns() - start)
    return statistics.quantiles(samples, n=100)[98] / 1e6


@dataclass(frozen=True)
class Phase:
    """The quiet account's p99 alone and beside the hot callers (ms), and the machine's busy share meanwhile."""

    alone_ms: float
    loaded_ms: float
    busy_alone: float
    busy_loaded: float


def busy_while(run: Callable[[], float]) -> tuple[float, float]:
    """`run()`'s result and the share of the machine's CPU time that was busy while it ran (every process)."""
    before = psutil.cpu_times()
    result = run()
    after = psutil.cpu_times()
    fields = [name for name in before._fields if name not in ("guest", "guest_nice")]  # counted in user already
    total = sum(getattr(after, name) - getattr(before, name) for name in fields)
    idle = sum(getattr(after, name) - getattr(before, name) for name in ("idle", "iowait") if name in fields)
    return result, (1 - idle / total) if total > 0 else math.nan


def measure(
    target: str, quiet_key: str, hot_key: str, invoice_id: str, runs: int, count: int, settle_s: float = 2.0
) -> dict[int, Phase]:
    """For the hot account's callers below, at, then past its limit: the quiet account's p99 alone and beside
    them (medians of `runs` alternating runs of each), with the machine's busy share."""
    return {
        callers: _phase(target, quiet_key, hot_key, invoice_id, runs, count, callers, settle_s)
        for callers in (BELOW_LIMIT, AT_LIMIT, PAST_LIMIT)
    }


def rows(
    target: str, quiet_key: str, hot_key: str, invoice_id: str, runs: int, count: int, settle_s: float = 2.0
) -> list[Row]:
    """The quiet account's GetInvoice p99 beside the hot account, below, at and past its limit, against alone."""
    phases = measure(target, quiet_key, hot_key, invoice_id, runs, count, settle_s)
    return [
        Row(f"fairness_{callers}", f"GetInvoice p99, other account, {callers} hot callers", phases[callers].loaded_ms,
            "ms", "same p99, alone (hot client paused, runs alternating)", phases[callers].alone_ms, bound,
            "Python clients (hot: 1 process; quiet: 1 in flight)",
            f"machine busy {phases[callers].busy_alone:.0%} alone, {phases[callers].busy_loaded:.0%} beside")
        for callers, bound in ((BELOW_LIMIT, REPORT), (AT_LIMIT, ratio_at_most(2)), (PAST_LIMIT, REPORT))
    ]  # fmt: skip


def _phase(
    target: str,
    quiet_key: str,
    hot_key: str,
    invoice_id: str,
    runs: int,
    count: int,
    callers: int,
    settle_s: float,
) -> Phase:
    """The quiet account's p99 alone and beside `callers` hot callers, in alternating runs."""
    hot = subprocess.Popen(
        [sys.executable, "-m", "bench.fairness", "hot", target, hot_key, str(callers), "600"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    alone: list[tuple[float, float]] = []
    loaded: list[tuple[float, float]] = []
    try:
        assert hot.stdout is not None
        hot.stdout.readline()  # "hot": its callers are running
        for _ in range(runs):
            # Paused, the hot client sends nothing; its calls in flight finish within the settling time.
            hot.send_signal(signal.SIGSTOP)
            time.sleep(settle_s)
            alone.append(busy_while(lambda: p99_latency_ms(target, quiet_key, invoice_id, count)))
            hot.send_signal(signal.SIGCONT)
            time.sleep(settle_s)  # let its callers reach the limit again
            loaded.append(busy_while(lambda: p99_latency_ms(target, quiet_key, invoice_id, count)))
    finally:
        hot.send_signal(signal.SIGCONT)
        hot.send_signal(signal.SIGTERM)
        out, _ = hot.communicate(timeout=60)
    phase = Phase(
        statistics.median(p99 for p99, _ in alone),
        statistics.median(p99 for p99, _ in loaded),
        statistics.median(busy for _, busy in alone),
        statistics.median(busy for _, busy in loaded),
    )
    print(
        f"hot account, {callers} callers: {out.strip()}; machine busy {phase.busy_alone:.0%} alone,"
        f" {phase.busy_loaded:.0%} beside",
        flush=True,
    )
    return phase


async def _hot(target: str, key: str, callers: int, seconds: float) -> None:
    metadata = (("authorization", f"Bearer {key}"),)
    counts = {"issued": 0, "refused": 0, "other": 0}
    async with grpc.aio.insecure_channel(target) as channel:
        customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
        invoices = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        customer = await customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                name="Hot", email="hot@bench.example", external_customer_id=f"hot-{uuid.uuid4().hex[:8]}",
                currency="USD", timezone="UTC",
            ),
            metadata=metadata,
        )  # fmt: skip
        request = invoice_service_pb2.CreateInvoiceRequest(
            customer_id=customer.id,
            currency="USD",
            invoice_date=date_pb2.Date(year=2024, month=2, day=1),
            line_items=[
                invoice_service_pb2.NewInvoiceLineItem(
                    name="Seats", quantity="1", unit_amount="10.00",
                    start_date=date_pb2.Date(year=2024, month=1, day=1),
                    end_date=date_pb2.Date(year=2024, month=1, day=31),
                )
            ],
            will_auto_issue=True,
        )  # fmt: skip
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

        async def caller() -> None:
            while not stop.is_set():
                try:
                    await invoices.CreateInvoice(request, metadata=metadata, timeout=30)
                    counts["issued"] += 1
                except grpc.aio.AioRpcError as error:
                    delay = _retry_delay_s(error)
                    counts["refused" if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else "other"] += 1
                    await asyncio.sleep(delay * random.uniform(1, 2))

        print("hot", flush=True)
        tasks = [asyncio.create_task(caller()) for _ in range(callers)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"{counts['issued']} invoices issued, {counts['refused']} calls refused, {counts['other']} other errors")


def _retry_delay_s(error: grpc.aio.AioRpcError) -> float:
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(retry):
            return float(retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9)
    return 0.5


if __name__ == "__main__" and sys.argv[1:2] == ["hot"]:
    import uvloop

    uvloop.run(_hot(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
