"""Scenario: IngestEvents in batches of 1000, against asyncpg binary COPY of the same rows.

Both sides write the same events (customers, names, instants and properties) into `usage_events` of one
account, in batches of the same size, one batch in flight at a time unless `in_flight` says otherwise: the
service through its whole path (gRPC, validation, customer lookup, late-usage check, dedupe, rollups, one
transaction per batch), the anchor as a client that has its rows ready and COPYs them in binary, with no
dedupe and no rollups. Requests and rows are built before the clock starts, so neither side pays for
making its input.

Alone: `python -m bench.ingest [--batches N] [--runs R] [--in-flight K ...] [--workers W]` starts an embedded
PostgreSQL and a server and prints both figures. `measure()` is what `make bench` calls on its own server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from google.protobuf import struct_pb2, timestamp_pb2
from invoicing.v1 import usage_service_pb2

from bench import upcoming

BATCH = 1000
CUSTOMERS = 50
EVENT_NAME = "llm"  # what bench.upcoming's plan meters
MODELS = ("small", "medium", "large")
INGEST_METHOD = "/invoicing.v1.UsageService/IngestEvents"
COPY_COLUMNS = ("account_id", "idempotency_key", "customer_id", "event_name", "occurred_at", "properties")


@dataclass(frozen=True)
class Row:
    """One event as both sides send it."""

    key: str
    customer_id: str
    occurred_at: dt.datetime
    properties: dict[str, str]


def prepare(target: str, key: str) -> list[str]:
    """Customers each on a plan that sums `tokens` of `llm` events from the start of this month (so each batch
    meets the late-usage check of live subscriptions); return the customer ids."""
    return [upcoming.subscribe(target, key)[0] for _ in range(CUSTOMERS)]


def make_rows(customers: list[str], count: int, seed: int) -> list[Row]:
    """`count` events of the last hour with fresh keys: a token count, a model and a region each."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    tag = uuid.uuid4().hex[:10]
    return [
        Row(
            key=f"evt-{tag}-{n:08d}",
            customer_id=rng.choice(customers),
            occurred_at=now - dt.timedelta(seconds=rng.randrange(3600)),
            properties={"tokens": str(rng.randrange(1, 5000)), "model": rng.choice(MODELS), "region": "eu-west"},
        )
        for n in range(count)
    ]


def _request(rows: list[Row]) -> bytes:
    events = []
    for row in rows:
        timestamp = timestamp_pb2.Timestamp()
        timestamp.FromDatetime(row.occurred_at)
        properties = struct_pb2.Struct()
        properties.update({**row.properties, "tokens": int(row.properties["tokens"])})  # a JSON number
        events.append(
            usage_service_pb2.Event(
                idempotency_key=row.key,
                customer_id=row.customer_id,
                event_name=EVENT_NAME,
                timestamp=timestamp,
                properties=properties,
            )
        )
    return usage_service_pb2.IngestEventsRequest(events=events).SerializeToString()


async def ingest_rate(target: str, key: str, rows: list[Row], in_flight: int) -> float:
    """Events/s of IngestEvents over the rows in batches of BATCH, `in_flight` batches at a time."""
    bodies = [_request(rows[i : i + BATCH]) for i in range(0, len(rows), BATCH)]
    metadata = (("authorization", f"Bearer {key}"),)
    queue = list(reversed(bodies))
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(INGEST_METHOD, request_serializer=None, response_deserializer=None)

        async def sender() -> None:
            while queue:
                reply = usage_service_pb2.IngestEventsResponse.FromString(
                    await call(queue.pop(), metadata=metadata, timeout=120)
                )
                if reply.errors or reply.duplicates:
                    raise RuntimeError(f"ingestion refused events: {reply}")

        await channel.channel_ready()
        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        return len(rows) / (time.perf_counter() - start)


async def copy_rate(dsn: str, account_id: str, rows: list[Row], in_flight: int) -> float:
    """Events/s of asyncpg binary COPY of the rows into usage_events, in batches of BATCH."""
    records = [
        (account_id, row.key, row.customer_id, EVENT_NAME, row.occurred_at, json.dumps(row.properties)) for row in rows
    ]
    batches = list(reversed([records[i : i + BATCH] for i in range(0, len(records), BATCH)]))
    connections = [await asyncpg.connect(dsn) for _ in range(in_flight)]
    try:

        async def sender(conn: asyncpg.Connection) -> None:
            while batches:
                await conn.copy_records_to_table("usage_events", records=batches.pop(), columns=COPY_COLUMNS)

        start = time.perf_counter()
        await asyncio.gather(*(sender(conn) for conn in connections))
        return len(rows) / (time.perf_counter() - start)
    finally:
        for conn in connections:
            await conn.close()


async def _account_id(dsn: str, account_name: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        account_id: str = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", account_name)
        return account_id
    finally:
        await conn.close()


def measure(
    target: str, dsn: str, key: str, account_name: str, batches: int = 20, runs: int = 3, in_flight: int = 1
) -> tuple[float, float]:
    """(IngestEvents events/s, binary COPY events/s): medians of `runs` runs of `batches` batches of 1000.

    Each run sends fresh events; the two sides alternate so that they see the same database state.
    """
    customers = prepare(target, key)
    account_id = asyncio.run(_account_id(dsn, account_name))
    ingested, copied = [], []
    for run in range(runs):
        ingested.append(asyncio.run(ingest_rate(target, key, make_rows(customers, batches * BATCH, run), in_flight)))
        copied.append(asyncio.run(copy_rate(dsn, account_id, make_rows(customers, batches * BATCH, run), in_flight)))
    return statistics.median(ingested), statistics.median(copied)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    """Measure alone: an embedded PostgreSQL, a server process, then both figures and their ratio."""
    from server.db import embedded
    from server.db.migrate import migrate
    from server.keys import create_key

    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    parser.add_argument("--batches", type=int, default=20, help="batches of 1000 events per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        pg = embedded.start(Path(tmp) / "pg", ephemeral=True)
        try:
            asyncio.run(migrate(pg.dsn))
            _, key = asyncio.run(create_key(pg.dsn, "bench-ingest", invoice_prefix="INGEST"))
            target = f"127.0.0.1:{_free_port()}"
            env = {
                **os.environ,
                "DATABASE_URL": pg.dsn,
                "INVOICING_LISTEN": target,
                "INVOICING_DATA_DIR": str(Path(tmp) / "data"),
                "INVOICING_LOG_LEVEL": "WARNING",
                "INVOICING_API_KEY_CACHE_SECONDS": "60",
            }
            server = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--workers", str(args.workers)],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
            )
            try:
                assert server.stdout is not None
                for line in server.stdout:
                    if line.startswith(b"invoice service listening"):
                        break
                else:
                    raise SystemExit("the server exited before serving")
                print(f"{'in flight':>9} {'IngestEvents ev/s':>18} {'COPY ev/s':>12} {'ratio':>7}")
                for in_flight in args.in_flight:
                    rate, anchor = measure(target, pg.dsn, key, "bench-ingest", args.batches, args.runs, in_flight)
                    print(f"{in_flight:>9} {rate:>18.0f} {anchor:>12.0f} {rate / anchor:>7.2f}", flush=True)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(30)
        finally:
            pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
