"""IngestEvents in batches of 1000, against asyncpg's binary COPY of the same rows into usage_events.

The events belong to customers subscribed to a plan that meters them (so the service checks their periods,
as in production), in the last twelve hours of a period that is half over. The requests are built and
serialized before the clock starts and sent by a multi-process client; every key is new, so nothing is
deduplicated away. Afterwards the database must hold exactly the events sent.

The anchor writes the same number of rows (other keys) with asyncpg's binary COPY, in batches of 1000 with as
many in flight (one connection each): what PostgreSQL needs to store them, without the service's
validation, customer lookup, period check, dedupe or rollups.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import time
import uuid

import asyncpg
import grpc
from google.protobuf import struct_pb2, timestamp_pb2
from invoicing.v1 import usage_service_pb2

from bench import clients, harness, load, upcoming
from bench.table import Row, Target

INGEST = "/invoicing.v1.UsageService/IngestEvents"
BATCH = 1000
EVENT = "api_request"
CUSTOMERS = 10
IN_FLIGHT = 8
COPY_COLUMNS = ("account_id", "idempotency_key", "customer_id", "event_name", "occurred_at", "properties")


def prepare(target: str, key: str) -> list[str]:
    """Customers subscribed to a plan metering `api_request` tokens; their ids."""
    metadata = load.bearer(key)
    with grpc.insecure_channel(target) as channel:
        plan_id = upcoming.create_usage_plan(channel, metadata, EVENT, "tokens")
        return [
            upcoming.subscribe_customer(channel, metadata, plan_id, f"Producer {n}", upcoming.period_start())[0]
            for n in range(CUSTOMERS)
        ]


def _event_fields(run: str, n: int, customers: list[str], now: dt.datetime) -> tuple[str, str, dt.datetime, int]:
    """(idempotency key, customer, timestamp, tokens) of event n of a run."""
    occurred = now - dt.timedelta(seconds=(n * 7919) % 43_200)
    return f"{run}-{n}", customers[n % len(customers)], occurred, (n * 31) % 5000 + 1


def batches(run: str, count: int, customers: list[str]) -> list[bytes]:
    """`count` events as serialized IngestEventsRequests of 1000."""
    now = dt.datetime.now(dt.UTC)
    bodies = []
    for first in range(0, count, BATCH):
        request = usage_service_pb2.IngestEventsRequest()
        for n in range(first, min(count, first + BATCH)):
            key, customer, occurred, tokens = _event_fields(run, n, customers, now)
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(occurred)
            properties = struct_pb2.Struct()
            properties.update({"tokens": tokens, "region": "eu-west-1"})
            request.events.add(
                idempotency_key=key, customer_id=customer, event_name=EVENT, timestamp=stamp, properties=properties
            )
        bodies.append(request.SerializeToString())
    return bodies


async def copy_rate(dsn: str, account_name: str, count: int, customers: list[str]) -> float:
    """Anchor: events/s of binary COPY of `count` such rows into usage_events, batches of 1000, IN_FLIGHT at once."""
    run = f"copy-{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.UTC)
    connections = [await asyncpg.connect(dsn) for _ in range(IN_FLIGHT)]
    try:
        account_id = await connections[0].fetchval("SELECT id FROM accounts WHERE name = $1", account_name)
        records = []
        for n in range(count):
            key, customer, occurred, tokens = _event_fields(run, n, customers, now)
            properties = json.dumps({"tokens": tokens, "region": "eu-west-1"})
            records.append((account_id, key, customer, EVENT, occurred, properties))
        batches = [records[i : i + BATCH] for i in range(0, count, BATCH)][::-1]

        async def writer(conn: asyncpg.Connection) -> None:
            while batches:
                await conn.copy_records_to_table("usage_events", records=batches.pop(), columns=COPY_COLUMNS)

        start = time.perf_counter()
        await asyncio.gather(*(writer(conn) for conn in connections))
        return count / (time.perf_counter() - start)
    finally:
        for conn in connections:
            await conn.close()


def row(target: str, dsn: str, key: str, account_name: str, events: int, runs: int, processes: int) -> Row:
    """IngestEvents events/s (batches of 1000, 8 in flight) against binary COPY's."""
    customers = prepare(target, key)
    rates, anchors, short = [], [], 0
    errors: dict[str, int] = {}
    for _ in range(runs):
        run = uuid.uuid4().hex[:10]
        scripts = [[clients.Call(INGEST, body)] for body in batches(run, events, customers)]
        tally = clients.run(target, load.bearer(key), scripts, in_flight=IN_FLIGHT, processes=processes)
        for reason, count in tally.errors.items():
            errors[reason] = errors.get(reason, 0) + count
        short += events - harness.sql_value(
            dsn, "SELECT count(*) FROM usage_events WHERE idempotency_key LIKE $1 || '-%'", run
        )
        rates.append(events / tally.seconds)
        anchors.append(asyncio.run(copy_rate(dsn, account_name, events, customers)))
    clean = not errors and short == 0
    note = "" if clean else f"errors: {errors}; events missing: {short}"
    if note:
        print(f"  ingestion: {note}", flush=True)
    target_met = Target(">= 0.5x", lambda _v, ratio: clean and ratio >= 0.5)
    anchor_name = f"binary COPY, same rows, {IN_FLIGHT} in flight"
    return Row("ingest", f"IngestEvents, batches of {BATCH}, {IN_FLIGHT} in flight ({events:,} events a run)",
               statistics.median(rates), "events/s", anchor_name, statistics.median(anchors), target_met,
               f"{processes} Python client processes; asyncpg", note)  # fmt: skip
