"""`make bench`: seed a data set, run each scenario against a real server, print one table.

Each figure is printed beside its anchor measured in the same run on the same machine, as a ratio:
- unary throughput with h2load (pre-framed gRPC bodies, so the client costs the server little), against
  grpc.health.v1.Health/Check on the same server stack;
- unary latency at 1 in flight with a Python client, against the same anchor;
- ListInvoices records/s with a Python streaming client, against asyncpg reading the same invoice and
  line rows with a cursor in one process; server RSS growth over the stream;
- GetInvoiceDocument of a 500-line invoice, against GetInvoice of the same invoice.
- another account's GetInvoice p99 while one account runs far past its concurrency limit on a hot
  customer, against the same p99 alone (`bench/fairness.py`).

Medians of several runs. Usage: python -m bench [--invoices N] [--runs R] [--seconds S] [--only documents]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from invoicing.v1 import invoice_pb2, invoice_service_pb2, invoice_service_pb2_grpc

from bench import documents, fairness, upcoming
from bench.seed import seed_invoices
from server.db import embedded
from server.db.migrate import migrate
from server.keys import create_key

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """One line of the result table."""

    scenario: str
    value: float
    unit: str
    anchor_name: str
    anchor: float
    target: str

    def ratio(self) -> float:
        return self.value / self.anchor if self.anchor else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_h2load() -> str:
    path = shutil.which("h2load")
    if path is None:
        print("installing h2load (Debian package nghttp2-client)...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nghttp2-client"], check=True, stdout=subprocess.DEVNULL)
        path = shutil.which("h2load")
    if path is None:
        raise SystemExit("h2load is required: apt-get install nghttp2-client")
    return path


def _grpc_frame(payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def h2load_rps(h2load: str, url: str, body: bytes, key: str | None, in_flight: int, seconds: int) -> float:
    """Requests per second that h2load reaches with `in_flight` concurrent streams over 4 connections."""
    connections = 4 if in_flight >= 4 else 1
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(_grpc_frame(body))
        f.flush()
        cmd = [
            h2load,
            "-c", str(connections),
            "-m", str(max(1, in_flight // connections)),
            "-D", str(seconds),
            "--warm-up-time", "1",
            "-d", f.name,
            "-H", "content-type: application/grpc",
            "-H", "te: trailers",
        ]  # fmt: skip
        if key:
            cmd += ["-H", f"authorization: Bearer {key}"]
        out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    failed = re.search(r"requests: .* (\d+) failed, (\d+) errored", out)
    if failed and (int(failed.group(1)) or int(failed.group(2))):
        raise RuntimeError(f"h2load saw failures:\n{out}")
    match = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if match is None:
        raise RuntimeError(f"unexpected h2load output:\n{out}")
    return float(match.group(1))


def p50_latency_ms(target: str, call: str, request: bytes, key: str | None, count: int) -> float:
    """Median latency of `count` sequential unary calls from a Python client (1 in flight)."""
    with grpc.insecure_channel(target) as channel:
        method = channel.unary_unary(call, request_serializer=None, response_deserializer=None)
        metadata = (("authorization", f"Bearer {key}"),) if key else ()
        for _ in range(50):
            method(request, metadata=metadata)
        samples = []
        for _ in range(count):
            start = time.perf_counter_ns()
            method(request, metadata=metadata)
            samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1e6


def stream_all(target: str, key: str) -> tuple[int, float]:
    """Stream every invoice (all statuses); return (records, seconds)."""
    request = invoice_service_pb2.ListInvoicesRequest(
        status=[invoice_pb2.INVOICE_STATUS_DRAFT, invoice_pb2.INVOICE_STATUS_ISSUED, invoice_pb2.INVOICE_STATUS_PAID]
    )
    with grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 16 << 20)]) as channel:
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        start = time.perf_counter()
        records = 0
        for message in stub.ListInvoices(request, metadata=(("authorization", f"Bearer {key}"),)):
            records += len(message.invoices)
        return records, time.perf_counter() - start


async def asyncpg_cursor_read(dsn: str) -> tuple[int, float]:
    """Anchor: read the same invoices and their line items with one asyncpg cursor; return (invoices, seconds)."""
    conn = await asyncpg.connect(dsn)
    try:
        start = time.perf_counter()
        invoices = 0
        last = None
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await conn.cursor(
                "SELECT i.*, li.* FROM invoices i JOIN invoice_line_items li"
                " ON li.account_id = i.account_id AND li.invoice_id = i.id"
                " ORDER BY i.invoice_date DESC, i.id DESC, li.position"
            )
            while rows := await cursor.fetch(2000):
                for row in rows:
                    if row[1] != last:
                        invoices += 1
                        last = row[1]
        return invoices, time.perf_counter() - start
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["documents"], help="run one scenario alone (no seeding)")
    args = parser.parse_args()
    h2load = "" if args.only else _ensure_h2load()

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        pg = embedded.start(Path(tmp) / "pg", ephemeral=True)
        try:
            return _run(args, h2load, pg.dsn, Path(tmp))
        finally:
            pg.stop()


def _run(args: argparse.Namespace, h2load: str, dsn: str, tmp: Path) -> int:
    asyncio.run(migrate(dsn))
    _, key = asyncio.run(create_key(dsn, "bench", invoice_prefix="BENCH"))
    _, hot_key = asyncio.run(create_key(dsn, "bench-hot", invoice_prefix="HOT"))
    invoice_id = ""
    if not args.only:
        print(f"seeding {args.invoices} invoices x 5 lines...", flush=True)
        invoice_id = asyncio.run(seed_invoices(dsn, "bench", args.invoices))
    port = _free_port()
    target = f"127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "INVOICING_LISTEN": target,
        "INVOICING_DATA_DIR": str(tmp / "data"),
        "INVOICING_LOG_LEVEL": "WARNING",
        "INVOICING_API_KEY_CACHE_SECONDS": "60",
    }
    server = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "listening" line: the server is ready
        if args.only == "documents":
            _print_rows(_document_rows(target, key))
            return 0
        return _scenarios(args, h2load, dsn, target, (key, hot_key), invoice_id, server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def _scenarios(
    args: argparse.Namespace, h2load: str, dsn: str, target: str, keys: tuple[str, str], invoice_id: str, pid: int
) -> int:
    key, hot_key = keys
    url = f"http://{target}"
    health_body = health_pb2.HealthCheckRequest().SerializeToString()
    get_body = invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id).SerializeToString()
    health_url = url + "/grpc.health.v1.Health/Check"
    get_url = url + "/invoicing.v1.InvoiceService/GetInvoice"
    # The invoice exists and the key works: one real call before measuring.
    with grpc.insecure_channel(target) as channel:
        invoice_service_pb2_grpc.InvoiceServiceStub(channel).GetInvoice(
            invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id),
            metadata=(("authorization", f"Bearer {key}"),),
        )
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())

    def median(measure: Callable[[], float], runs: int) -> float:
        return statistics.median(measure() for _ in range(runs))

    rows: list[Row] = []
    anchor_rps = median(lambda: h2load_rps(h2load, health_url, health_body, None, 64, args.seconds), args.runs)
    get_rps = median(lambda: h2load_rps(h2load, get_url, get_body, key, 64, args.seconds), args.runs)
    rows.append(Row("GetInvoice (5 lines), 64 in flight", get_rps, "req/s", "Health/Check", anchor_rps, ">= 0.6x"))
    anchor_ms = median(
        lambda: p50_latency_ms(target, "/grpc.health.v1.Health/Check", health_body, None, 2000), args.runs
    )
    get_ms = median(
        lambda: p50_latency_ms(target, "/invoicing.v1.InvoiceService/GetInvoice", get_body, key, 2000), args.runs
    )
    rows.append(Row("GetInvoice p50, 1 in flight", get_ms, "ms", "Health/Check p50", anchor_ms, "<= 1.5x"))

    process = psutil.Process(pid)
    rss_before = process.memory_info().rss
    list_rates, rss_peaks = [], []
    for _ in range(args.runs):
        records, seconds = stream_all(target, key)
        list_rates.append(records / seconds)
        rss_peaks.append(process.memory_info().rss)
    anchor_rates = []
    for _ in range(args.runs):
        count, seconds = asyncio.run(asyncpg_cursor_read(dsn))
        anchor_rates.append(count / seconds)
    rows.append(
        Row(
            f"ListInvoices full view ({records} invoices x 5 lines)",
            statistics.median(list_rates),
            "invoices/s",
            "asyncpg cursor, same rows",
            statistics.median(anchor_rates),
            ">= 0.5x",
        )
    )
    growth_mb = (max(rss_peaks) - rss_before) / 1e6
    print(f"seeding {args.events} usage events...", flush=True)
    upcoming_ms, sql_ms = upcoming.measure(target, dsn, key, "bench", args.events, args.runs)
    rows.append(
        Row(
            f"GetUpcomingInvoice p50 ({args.events} events in the period)",
            upcoming_ms,
            "ms",
            "plain SQL over raw events",
            sql_ms,
            "<= 0.2x, p50 <= 20 ms",
        )
    )
    print("one account past its limit on a hot customer...", flush=True)
    alone_p99, loaded_p99 = fairness.measure(target, key, hot_key, invoice_id, args.runs, args.seconds)
    for callers, target_text in [(fairness.AT_LIMIT, "<= 2x"), (fairness.PAST_LIMIT, "(report)")]:
        rows.append(
            Row(
                f"GetInvoice p99, other account, {callers} hot callers",
                loaded_p99[callers],
                "ms",
                "same p99, alone",
                alone_p99,
                target_text,
            )
        )
    rows += _document_rows(target, key)
    _print_rows(rows)
    print(
        f"{'ListInvoices server RSS growth':<48} {growth_mb:>12.1f} {'MB':<11} {'(RSS before the stream)':<26}"
        f" {rss_before / 1e6:>12.1f} {'':>7}  <= 50 MB"
    )
    print(f"\nmedians of {args.runs} runs; unary load by h2load (4 connections), latency and streams by Python clients")
    return 0


def _document_rows(target: str, key: str) -> list[Row]:
    """GetInvoiceDocument of a 500-line invoice (the call, and the renderer alone) against GetInvoice of it."""
    print("rendering 500-line invoice documents...", flush=True)
    document_ms, get_ms, render_ms, size = documents.measure(target, key)
    return [
        Row(f"GetInvoiceDocument p50, 500 lines ({size // 1000} kB PDF)", document_ms, "ms",
            "GetInvoice, same invoice", get_ms, "p50 <= 250 ms"),
        Row("  of which the renderer alone (in process)", render_ms, "ms",
            "GetInvoice, same invoice", get_ms, ""),
    ]  # fmt: skip


def _print_rows(rows: list[Row]) -> None:
    print()
    print(f"{'scenario':<48} {'value':>12} {'unit':<11} {'anchor':<26} {'anchor value':>12} {'ratio':>7}  target")
    for row in rows:
        print(
            f"{row.scenario:<48} {row.value:>12.2f} {row.unit:<11} {row.anchor_name:<26} {row.anchor:>12.2f}"
            f" {row.ratio():>7.2f}  {row.target}"
        )


if __name__ == "__main__":
    sys.exit(main())
