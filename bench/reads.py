"""Read scenarios: GetInvoice throughput and latency against Health/Check, ListInvoices against a raw cursor,
the server's memory over a full stream, 64 concurrent streams against one alone, and --workers 2 against 1.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from grpc_health.v1 import health_pb2
from invoicing.v1 import invoice_pb2, invoice_service_pb2

from bench import clients, harness, load
from bench.table import REPORT, Row, Target, ratio_at_least, ratio_at_most, value_at_most

HEALTH = "/grpc.health.v1.Health/Check"
GET_INVOICE = "/invoicing.v1.InvoiceService/GetInvoice"
LIST_INVOICES = "/invoicing.v1.InvoiceService/ListInvoices"
EVERY_STATUS = [
    invoice_pb2.INVOICE_STATUS_DRAFT,
    invoice_pb2.INVOICE_STATUS_ISSUED,
    invoice_pb2.INVOICE_STATUS_PAID,
    invoice_pb2.INVOICE_STATUS_SYNCED,
    invoice_pb2.INVOICE_STATUS_VOID,
]


@dataclass(frozen=True)
class Effort:
    """How hard each scenario measures: runs (the median is kept), seconds per throughput run, samples."""

    runs: int
    seconds: float
    latency_samples: int
    streams: int = 64
    stream_processes: int = 4


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """The median of `runs` measurements."""
    return statistics.median(measure() for _ in range(runs))


def interleaved_medians(runs: int, anchor: Callable[[], float], measure: Callable[[], float]) -> tuple[float, float]:
    """The medians of `runs` measurements of the anchor and of the scenario, taken in turns (anchor, scenario,
    anchor, ...), so that a change in the machine's load during the runs weighs on both alike."""
    anchors, figures = [], []
    for _ in range(runs):
        anchors.append(anchor())
        figures.append(measure())
    return statistics.median(anchors), statistics.median(figures)


def get_invoice_body(invoice_id: str) -> bytes:
    """A serialized GetInvoiceRequest."""
    return invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id).SerializeToString()


async def lookup_latencies_ms(dsn: str, invoice_id: str, samples: int) -> list[float]:
    """The statement GetInvoice runs (the stored form by primary key) alone, from asyncpg at 1 in flight."""
    conn = await asyncpg.connect(dsn)
    try:
        account_id = await conn.fetchval("SELECT account_id FROM invoices WHERE id = $1", invoice_id)
        statement = await conn.prepare("SELECT wire, version FROM invoices WHERE account_id = $1 AND id = $2")
        latencies = []
        for _ in range(samples):
            started = time.perf_counter()
            await statement.fetchrow(account_id, invoice_id)
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies
    finally:
        await conn.close()


def unary_rows(h2load: str, server: harness.Server, dsn: str, key: str, invoice_id: str, effort: Effort) -> list[Row]:
    """GetInvoice at 64 in flight and at 1 in flight (p50), each against Health/Check on the same server; and
    the floor under the p50: the database lookup alone."""
    health_body = health_pb2.HealthCheckRequest().SerializeToString()
    get_body = get_invoice_body(invoice_id)
    health_size = len(load.call_once(server.target, HEALTH, health_body, ()))
    get_size = len(load.call_once(server.target, GET_INVOICE, get_body, load.bearer(key)))
    health_url, get_url = server.url + HEALTH, server.url + GET_INVOICE

    def rps(url: str, body: bytes, auth: str | None, size: int) -> float:
        return load.h2load_rps(h2load, url, body, auth, 64, effort.seconds, size)

    def p50(url: str, body: bytes, auth: str | None, size: int) -> float:
        return statistics.median(load.h2load_latencies_ms(h2load, url, body, auth, effort.latency_samples, size))

    anchor_rps, get_rps = interleaved_medians(
        effort.runs,
        lambda: rps(health_url, health_body, None, health_size),
        lambda: rps(get_url, get_body, key, get_size),
    )
    anchor_ms, get_ms = interleaved_medians(
        effort.runs,
        lambda: p50(health_url, health_body, None, health_size),
        lambda: p50(get_url, get_body, key, get_size),
    )
    lookup_ms = median_of(
        effort.runs,
        lambda: statistics.median(asyncio.run(lookup_latencies_ms(dsn, invoice_id, effort.latency_samples))),
    )
    client = "h2load, pre-framed bodies"
    return [
        Row("get_invoice_64", "GetInvoice (5 lines), 64 in flight", get_rps, "req/s", "Health/Check, 64 in flight",
            anchor_rps, ratio_at_least(0.6), f"{client}, 4 connections"),
        Row("get_invoice_p50", "GetInvoice p50, 1 in flight", get_ms, "ms", "Health/Check p50, 1 in flight",
            anchor_ms, ratio_at_most(1.5), f"{client}, 1 connection"),
        Row("stored_form_lookup_p50", "  its database lookup alone (asyncpg, prepared), p50", lookup_ms, "ms",
            "Health/Check p50, 1 in flight", anchor_ms, REPORT, "asyncpg, 1 in flight",
            "the floor a GetInvoice that reads PostgreSQL cannot go under"),
    ]  # fmt: skip


def list_request(**filters: object) -> bytes:
    """A serialized ListInvoicesRequest."""
    return invoice_service_pb2.ListInvoicesRequest(**filters).SerializeToString()  # type: ignore[arg-type]


class PeakRss:
    """The largest resident set of the server's process tree while the block runs (sampled every 20 ms)."""

    def __init__(self, server: harness.Server) -> None:
        self._server = server
        self._stop = threading.Event()
        self.before = server.rss()
        self.peak = self.before
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._server.rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._server.rss())


async def cursor_read(dsn: str, account_name: str) -> tuple[int, float]:
    """Anchor: read the account's invoices with their line items through one asyncpg cursor, in list order;
    (invoices, seconds)."""
    conn = await asyncpg.connect(dsn)
    try:
        account_id = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", account_name)
        start = time.perf_counter()
        invoices = 0
        last = None
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await conn.cursor(
                "SELECT i.*, li.* FROM invoices i JOIN invoice_line_items li"
                " ON li.account_id = i.account_id AND li.invoice_id = i.id"
                " WHERE i.account_id = $1"
                " ORDER BY i.invoice_date DESC, i.id DESC, li.position",
                account_id,
            )
            while rows := await cursor.fetch(2000):
                for row in rows:
                    if row[1] != last:
                        invoices += 1
                        last = row[1]
        return invoices, time.perf_counter() - start
    finally:
        await conn.close()


def full_view_rows(server: harness.Server, dsn: str, key: str, account_name: str, effort: Effort) -> list[Row]:
    """ListInvoices of every invoice of the account (every status) against the cursor; RSS growth over it."""
    expected: int = harness.sql_value(
        dsn, "SELECT count(*) FROM invoices i JOIN accounts a ON a.id = i.account_id WHERE a.name = $1", account_name
    )
    body = list_request(status=EVERY_STATUS)
    rates: list[float] = []
    with load.stream_channel(server.target) as channel:
        load.read_stream(channel, LIST_INVOICES, list_request(status=EVERY_STATUS, limit=500), load.bearer(key))
        with PeakRss(server) as rss:
            for _ in range(effort.runs):
                reading = load.read_stream(channel, LIST_INVOICES, body, load.bearer(key))
                if reading.records != expected:
                    raise RuntimeError(f"ListInvoices streamed {reading.records} invoices, the account has {expected}")
                rates.append(reading.records / reading.total_s)
    anchor = []
    for _ in range(effort.runs):
        count, seconds = asyncio.run(cursor_read(dsn, account_name))
        anchor.append(count / seconds)
    growth_mb = (rss.peak - rss.before) / 1e6
    return [
        Row("list_full_view", f"ListInvoices full view, {expected:,} invoices x 5 lines",
            statistics.median(rates), "invoices/s", "asyncpg cursor, same rows", statistics.median(anchor),
            ratio_at_least(1.0), "Python stream reader (counts records, parses nothing)"),
        Row("list_rss_growth", f"ListInvoices server RSS growth over {effort.runs} full streams", growth_mb, "MB",
            "RSS before the streams (MB)", rss.before / 1e6, value_at_most(50, "MB"), "(same streams)"),
    ]  # fmt: skip


def concurrent_streams_row(server: harness.Server, dsn: str, key: str, account_name: str, effort: Effort) -> Row:
    """`effort.streams` ListInvoices streams at once (one customer each, every status) against one alone."""
    customers = harness.sql_rows(
        dsn,
        """
        SELECT i.customer_id, count(*) AS invoices FROM invoices i JOIN accounts a ON a.id = i.account_id
        WHERE a.name = $1 GROUP BY 1 ORDER BY 1 LIMIT $2
        """,
        account_name,
        effort.streams,
    )
    bodies = [list_request(customer_id=customer, status=EVERY_STATUS) for customer, _ in customers]
    alone = []
    with load.stream_channel(server.target) as channel:
        for i in range(effort.runs):
            reading = load.read_stream(channel, LIST_INVOICES, bodies[i % len(bodies)], load.bearer(key))
            alone.append(reading.records / reading.total_s)
    expected = sum(count for _, count in customers)
    aggregate, complete = [], True
    for _ in range(effort.runs):
        scripts = [[clients.Call(LIST_INVOICES, body, stream=True)] for body in bodies]
        tally = clients.run(
            server.target, load.bearer(key), scripts, in_flight=len(scripts), processes=effort.stream_processes
        )
        complete = complete and not tally.errors and tally.records == expected
        aggregate.append(tally.records / tally.seconds)
        if tally.errors or tally.records != expected:
            print(f"  streams: {tally.records} of {expected} records, errors {dict(tally.errors)}", flush=True)
    target = Target(">= 1x, all complete", lambda _v, ratio: ratio >= 1.0 and complete)
    return Row("list_concurrent_streams",
               f"ListInvoices, {len(bodies)} concurrent streams (a customer each), aggregate",
               statistics.median(aggregate), "invoices/s", "one stream alone", statistics.median(alone), target,
               f"{effort.stream_processes} Python client processes (count records)",
               "" if complete else "some streams failed or came back short")  # fmt: skip


def workers_row(h2load: str, dsn: str, workdir: Path, key: str, invoice_id: str, effort: Effort) -> Row:
    """GetInvoice at 64 in flight against `serve --workers 2` and `--workers 1` (a report: 2 shared cores)."""
    if not harness.supports_workers():
        return Row("workers", "serve --workers 2: GetInvoice, 64 in flight", float("nan"), "req/s",
                   "--workers 1", float("nan"), REPORT, "h2load", "serve has no --workers option yet")  # fmt: skip
    body = get_invoice_body(invoice_id)
    figures = {}
    for workers in (1, 2):
        with harness.serving(dsn, workdir, workers=workers) as server:
            size = len(load.call_once(server.target, GET_INVOICE, body, load.bearer(key)))
            url = server.url + GET_INVOICE
            figures[workers] = statistics.median(
                load.h2load_rps(h2load, url, body, key, 64, effort.seconds, size) for _ in range(effort.runs)
            )
    return Row("workers", "serve --workers 2: GetInvoice, 64 in flight", figures[2], "req/s", "--workers 1",
               figures[1], REPORT, "h2load, pre-framed bodies, 4 connections")  # fmt: skip


def sample_bodies(invoice_ids: Sequence[str], count: int) -> list[bytes]:
    """`count` GetInvoice bodies cycling over the ids."""
    return [get_invoice_body(invoice_ids[i % len(invoice_ids)]) for i in range(count)]
