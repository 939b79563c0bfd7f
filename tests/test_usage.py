"""UsageService end to end: batches, per-event errors, the client stream, and rollups that match the raw events."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import random
import re
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from invoicing.v1 import usage_service_pb2

from server.db import usage as usage_repo
from server.domain.usage import Event
from tests.support.accounts import Account
from tests.support.builders import create_customer, event, timestamp
from tests.support.calls import ingest, ingest_ok
from tests.support.client import Api, expect_error, stream_of
from tests.support.database import connection

BUCKET = dt.timedelta(minutes=15)
_DECIMAL_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def recent_bucket(hours_ago: int = 2) -> dt.datetime:
    """The start of a 15-minute bucket a few hours back (well inside the accepted time window)."""
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def errors_of(response: usage_service_pb2.IngestEventsResponse) -> dict[int, tuple[str, str]]:
    """index → (reason, field) of each rejected event."""
    return {e.index: (e.reason, e.field) for e in response.errors}


async def stored_keys(dsn: str, customer_ids: Sequence[str]) -> set[str]:
    """Idempotency keys stored for the customers."""
    async with connection(dsn) as conn:
        rows = await conn.fetch(
            "SELECT idempotency_key FROM usage_events WHERE customer_id = ANY($1::text[])", list(customer_ids)
        )
    return {r["idempotency_key"] for r in rows}


# --- IngestEvents -------------------------------------------------------------------------------------


async def test_ingest_counts_duplicates_within_and_across_batches(api: Api, migrated_dsn: str) -> None:
    customer = await create_customer(api)
    when = recent_bucket()
    first = await ingest(
        api,
        [
            event(customer.id, when, key="a"),
            event(customer.id, when, key="b"),
            event(customer.id, when + dt.timedelta(minutes=1), key="a"),  # same key, other content: a duplicate
        ],
    )
    assert (first.ingested, first.duplicates, list(first.errors)) == (2, 1, [])
    second = await ingest(api, [event(customer.id, when, key="b"), event(customer.id, when, key="c")])
    assert (second.ingested, second.duplicates, list(second.errors)) == (1, 1, [])
    third = await ingest(api, [event(customer.id, when, key=k) for k in "abcabc"])
    assert (third.ingested, third.duplicates) == (0, 6)
    assert await stored_keys(migrated_dsn, [customer.id]) == {"a", "b", "c"}


async def test_keys_are_per_account(api: Api, other_api: Api) -> None:
    mine = await create_customer(api)
    theirs = await create_customer(other_api)
    when = recent_bucket()
    assert (await ingest(api, [event(mine.id, when, key="shared")])).ingested == 1
    assert (await ingest(other_api, [event(theirs.id, when, key="shared")])).ingested == 1


async def test_bad_events_are_rejected_one_by_one_and_the_rest_is_stored(
    api: Api, other_api: Api, migrated_dsn: str
) -> None:
    customer = await create_customer(api)
    stranger = await create_customer(other_api)
    when = recent_bucket()
    now = dt.datetime.now(dt.UTC)
    batch = [
        event(customer.id, when, key="ok-1", properties={"tokens": 5, "model": "gpt", "cached": False}),
        event("cus_unknown", when, key="bad-1"),
        event("", when, key="bad-2", external_customer_id="nobody-has-this-id"),
        event(customer.id, None, key="bad-3"),
        event(customer.id, now + dt.timedelta(days=2), key="bad-4"),
        event(customer.id, when, key="bad-5", properties={"tags": ["a", "b"]}),
        event(customer.id, when, key="bad-6", properties={"meta": {"nested": 1}}),
        event(customer.id, when, key=""),
        event(customer.id, when, key="bad-8", external_customer_id=customer.external_customer_id),
        event("", when, key="bad-9"),
        event("", when, key="ok-2", external_customer_id=customer.external_customer_id),
        event(customer.id, when, key="bad-11", name=""),
        event(customer.id, when, key="bad-12", properties={"gone": None}),
        event(customer.id, now - dt.timedelta(days=366 * 6), key="bad-13"),
        event(stranger.id, when, key="bad-14"),  # another account's customer does not exist here
        event(customer.id, when, key="k" * 129),
        event(customer.id, now + dt.timedelta(hours=23), key="ok-3"),  # up to a day ahead is accepted
        # NUL, which the database cannot store, refuses its event, not the batch.
        event(customer.id, when, key="bad\x0017"),
        event(customer.id, when, key="bad-18", name="api\x00call"),
        event(customer.id + "\x00", when, key="bad-19"),
        event("", when, key="bad-20", external_customer_id="ext\x00"),
    ]
    response = await ingest(api, batch)
    assert errors_of(response) == {
        1: ("CUSTOMER_NOT_FOUND", "customer_id"),
        2: ("CUSTOMER_NOT_FOUND", "external_customer_id"),
        3: ("INVALID_TIMESTAMP", "timestamp"),
        4: ("INVALID_TIMESTAMP", "timestamp"),
        5: ("INVALID_PROPERTY_TYPE", "properties.tags"),
        6: ("INVALID_PROPERTY_TYPE", "properties.meta"),
        7: ("INVALID_IDEMPOTENCY_KEY", "idempotency_key"),
        8: ("INVALID_CUSTOMER", "customer_id"),
        9: ("INVALID_CUSTOMER", "customer_id"),
        11: ("INVALID_EVENT_NAME", "event_name"),
        12: ("INVALID_PROPERTY_TYPE", "properties.gone"),
        13: ("INVALID_TIMESTAMP", "timestamp"),
        14: ("CUSTOMER_NOT_FOUND", "customer_id"),
        15: ("INVALID_IDEMPOTENCY_KEY", "idempotency_key"),
        17: ("INVALID_IDEMPOTENCY_KEY", "idempotency_key"),
        18: ("INVALID_EVENT_NAME", "event_name"),
        19: ("INVALID_CUSTOMER", "customer_id"),
        20: ("INVALID_CUSTOMER", "customer_id"),
    }
    assert all(e.message for e in response.errors)
    assert (response.ingested, response.duplicates) == (3, 0)
    assert await stored_keys(migrated_dsn, [customer.id, stranger.id]) == {"ok-1", "ok-2", "ok-3"}


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (-62_135_596_801, 0),  # a second before 0001-01-01
        (253_402_300_800, 0),  # a second after 9999-12-31
        (-(2**63), 0),
        (2**63 - 1, 0),
        (0, -1),
        (0, 1_000_000_000),
    ],
)
async def test_a_timestamp_outside_its_range_rejects_only_that_event(api: Api, seconds: int, nanos: int) -> None:
    customer = await create_customer(api)
    bad = event(customer.id, None, key="bad", timestamp=timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos))
    response = await ingest(api, [event(customer.id, recent_bucket(), key="good"), bad])
    assert errors_of(response) == {1: ("INVALID_TIMESTAMP", "timestamp")}
    assert (response.ingested, response.duplicates) == (1, 0)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
async def test_a_property_that_is_no_finite_number_rejects_only_that_event(api: Api, number: float) -> None:
    customer = await create_customer(api)
    bad = event(customer.id, recent_bucket(), key="bad", properties={"tokens": number, "model": "gpt"})
    response = await ingest(api, [event(customer.id, recent_bucket(), key="good", properties={"tokens": 1}), bad])
    assert errors_of(response) == {1: ("INVALID_PROPERTY", "properties.tokens")}
    assert (response.ingested, response.duplicates) == (1, 0)


async def test_batch_sizes(api: Api) -> None:
    customer = await create_customer(api)
    empty = await expect_error(api.usage.IngestEvents(usage_service_pb2.IngestEventsRequest()))
    assert (empty.code, empty.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_TOO_LONG")
    assert set(empty.field_violations) == {"events"}

    when = recent_bucket()
    too_many = [event(customer.id, when) for _ in range(1001)]
    error = await expect_error(api.usage.IngestEvents(usage_service_pb2.IngestEventsRequest(events=too_many)))
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_TOO_LONG")
    assert set(error.field_violations) == {"events"}

    full = await ingest(api, too_many[:1000])
    assert (full.ingested, full.duplicates, list(full.errors)) == (1000, 0, [])


# --- IngestEventStream -------------------------------------------------------------------------------------


async def test_event_stream_totals_and_indexes_across_messages(api: Api, migrated_dsn: str) -> None:
    customer = await create_customer(api)
    when = recent_bucket()
    requests = [
        usage_service_pb2.IngestEventStreamRequest(events=[event(customer.id, when, key=f"s-{n}") for n in range(3)]),
        usage_service_pb2.IngestEventStreamRequest(
            events=[
                event(customer.id, when, key="s-0"),  # index 3: a duplicate of the first message
                event(customer.id, None, key="s-bad"),  # index 4
                event(customer.id, when, key="s-3"),  # index 5
            ]
        ),
        usage_service_pb2.IngestEventStreamRequest(
            events=[
                event("cus_missing", when, key="s-4"),  # index 6
                event(customer.id, when, key="s-3"),  # index 7: duplicate of the second message
                event(customer.id, when, key="s-5", properties={"x": [1]}),  # index 8
                event(customer.id, when, key="s-6"),  # index 9
            ]
        ),
    ]
    response = await api.usage.IngestEventStream(stream_of(requests))
    assert (response.ingested, response.duplicates) == (5, 2)
    assert errors_of(response) == {
        4: ("INVALID_TIMESTAMP", "timestamp"),
        6: ("CUSTOMER_NOT_FOUND", "customer_id"),
        8: ("INVALID_PROPERTY_TYPE", "properties.x"),
    }
    assert await stored_keys(migrated_dsn, [customer.id]) == {"s-0", "s-1", "s-2", "s-3", "s-6"}


async def test_event_stream_rejects_an_empty_message(api: Api) -> None:
    customer = await create_customer(api)
    requests = [
        usage_service_pb2.IngestEventStreamRequest(events=[event(customer.id, recent_bucket())]),
        usage_service_pb2.IngestEventStreamRequest(),
    ]
    error = await expect_error(api.usage.IngestEventStream(stream_of(requests)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error.field_violations) == {"events"}


async def test_event_stream_needs_credentials(api: Api, anonymous_channel: grpc.aio.Channel) -> None:
    customer = await create_customer(api)
    requests = [usage_service_pb2.IngestEventStreamRequest(events=[event(customer.id, recent_bucket())])]
    error = await expect_error(Api.on(anonymous_channel).usage.IngestEventStream(stream_of(requests)))
    assert error.code == grpc.StatusCode.UNAUTHENTICATED


# --- rollups ---------------------------------------------------------------------------------------------


@dataclass
class Aggregate:
    """Count, sum and max of one property (or the event count) in one bucket."""

    events: int = 0
    total: Decimal = Decimal(0)
    maximum: Decimal | None = None
    values: list[Decimal] = field(default_factory=list)

    def add(self, value: Decimal) -> None:
        self.events += 1
        self.total += value
        self.maximum = value if self.maximum is None else max(self.maximum, value)


Key = tuple[str, str, str, dt.datetime]


def number_in(value: Any) -> Decimal | None:
    """The number a stored property holds: numbers are stored as decimal text, never as JSON numbers."""
    assert not isinstance(value, float | int) or isinstance(value, bool), f"a JSON number was stored: {value!r}"
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        return Decimal(value)
    return None


def bucket_start(moment: dt.datetime) -> dt.datetime:
    """The 15-minute bucket of an instant."""
    moment = moment.astimezone(dt.UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


async def expected_and_stored(
    dsn: str, customer_ids: Sequence[str]
) -> tuple[dict[Key, Aggregate], dict[Key, Aggregate]]:
    """The rollups recomputed from the billable raw events, and the rollups stored, for the customers."""
    async with connection(dsn) as conn:
        raw = await conn.fetch(
            "SELECT customer_id, event_name, occurred_at, properties::text AS properties FROM usage_events"
            " WHERE customer_id = ANY($1::text[]) AND billable",
            list(customer_ids),
        )
        rolled = await conn.fetch(
            "SELECT customer_id, event_name, property, bucket, events, total, maximum FROM usage_rollups"
            " WHERE customer_id = ANY($1::text[])",
            list(customer_ids),
        )
    expected: dict[Key, Aggregate] = defaultdict(Aggregate)
    for row in raw:
        bucket = bucket_start(row["occurred_at"])
        expected[(row["customer_id"], row["event_name"], "", bucket)].add(Decimal(1))
        for name, value in json.loads(row["properties"]).items():
            number = number_in(value)
            if number is not None:
                expected[(row["customer_id"], row["event_name"], name, bucket)].add(number)
    stored = {
        (r["customer_id"], r["event_name"], r["property"], r["bucket"]): Aggregate(
            r["events"], r["total"], r["maximum"]
        )
        for r in rolled
    }
    return dict(expected), stored


def assert_rollups_match(expected: dict[Key, Aggregate], stored: dict[Key, Aggregate]) -> None:
    """Every stored rollup equals the aggregation of the raw events, key for key."""
    assert set(stored) == set(expected)
    for key, want in expected.items():
        got = stored[key]
        assert (got.events, got.total, got.maximum) == (want.events, want.total, want.maximum), key


NUMBERS_AS_JSON = [0.1, 0.2, 2.5, 3, 1e-07, 0.000015, 12345.678, 1e20, -4.25, 0]
NUMBERS_AS_TEXT = ["0.1", "0.2", "2.50", "3", "0.0000001", "12345.678", "100000000000000000000", "-4.25", "0"]


def random_event(rng: random.Random, customers: Sequence[str], base: dt.datetime, keys: list[str]) -> Any:
    """A random valid event: a new key or one already used, numbers as JSON or as text, other property kinds."""
    if keys and rng.random() < 0.2:
        key = rng.choice(keys)
    else:
        key = uuid.uuid4().hex
        keys.append(key)
    offset = dt.timedelta(minutes=15 * rng.randrange(8))
    if rng.random() < 0.3:  # right on a bucket edge, or just before one
        offset += rng.choice([dt.timedelta(0), BUCKET - dt.timedelta(microseconds=1)])
    else:
        offset += dt.timedelta(seconds=rng.randrange(900), microseconds=rng.randrange(1_000_000))
    properties: dict[str, Any] = {"region": rng.choice(["us", "eu", "12"])}
    if rng.random() < 0.8:
        properties["tokens"] = rng.choice(NUMBERS_AS_JSON) if rng.random() < 0.5 else rng.choice(NUMBERS_AS_TEXT)
    if rng.random() < 0.5:
        properties["latency"] = rng.choice(NUMBERS_AS_JSON)
    if rng.random() < 0.2:
        properties["cached"] = rng.random() < 0.5
    if rng.random() < 0.2:
        properties["note"] = rng.choice(["abc", "1e5", "", "  7"])  # text that is not a number
    return event(
        rng.choice(customers), base + offset, key=key, name=rng.choice(["llm", "api_call"]), properties=properties
    )


async def test_rollups_equal_an_aggregation_of_the_raw_events(api: Api, migrated_dsn: str) -> None:
    rng = random.Random(20240115)
    customers = [(await create_customer(api)).id for _ in range(3)]
    base = recent_bucket(hours_ago=3)
    keys: list[str] = []
    accepted = 0
    for _ in range(4):  # sequential batches
        response = await ingest(api, [random_event(rng, customers, base, keys) for _ in range(rng.randrange(1, 60))])
        assert list(response.errors) == []
        accepted += response.ingested
    # Concurrent batches that share keys, in different orders.
    shared = [random_event(rng, customers, base, keys) for _ in range(40)]
    batches = []
    for _ in range(6):
        batch = shared + [random_event(rng, customers, base, keys) for _ in range(10)]
        rng.shuffle(batch)
        batches.append(batch)
    responses = await asyncio.gather(*(ingest(api, batch) for batch in batches))
    assert all(list(r.errors) == [] for r in responses)
    accepted += sum(r.ingested for r in responses)
    assert accepted == len(set(keys))  # every distinct key stored exactly once

    expected, stored = await expected_and_stored(migrated_dsn, customers)
    assert sum(a.events for k, a in expected.items() if k[2] == "") == accepted
    assert_rollups_match(expected, stored)


async def test_json_numbers_and_decimal_strings_sum_exactly(api: Api, migrated_dsn: str) -> None:
    customer = await create_customer(api)
    bucket = recent_bucket()
    when = bucket + dt.timedelta(minutes=3)
    events = [event(customer.id, when, name="llm", properties={"tokens": 0.1}) for _ in range(10)]
    events += [event(customer.id, when, name="llm", properties={"tokens": "0.1"}) for _ in range(10)]
    events += [event(customer.id, when, name="llm", properties={"tokens": 0.0000001})]
    assert (await ingest(api, events)).ingested == 21
    expected, stored = await expected_and_stored(migrated_dsn, [customer.id])
    assert_rollups_match(expected, stored)
    tokens = stored[(customer.id, "llm", "tokens", bucket)]
    assert tokens.total == Decimal("2.0000001")  # a float sum would be 1.9999999999999998…
    assert tokens.maximum == Decimal("0.1")
    assert tokens.events == 21
    assert stored[(customer.id, "llm", "", bucket)].events == 21


async def test_concurrent_batches_with_the_same_keys_in_different_orders(api: Api, migrated_dsn: str) -> None:
    """Overlapping batches sent at once neither fail nor double count, whatever order their keys come in."""
    rng = random.Random(7)
    customer = await create_customer(api)
    base = recent_bucket()
    shared = [
        event(customer.id, base + dt.timedelta(seconds=n), key=f"c-{n}", properties={"tokens": n}) for n in range(1000)
    ]
    batches = []
    for _ in range(8):
        batch = list(shared)
        rng.shuffle(batch)
        batches.append(batch)
    responses = await asyncio.gather(*(ingest(api, batch) for batch in batches))
    assert sum(r.ingested for r in responses) == 1000
    assert sum(r.duplicates for r in responses) == 7 * 1000
    expected, stored = await expected_and_stored(migrated_dsn, [customer.id])
    assert_rollups_match(expected, stored)
    assert sum(a.total for k, a in stored.items() if k[2] == "tokens") == sum(range(1000))


async def test_a_backfill_closed_during_an_ingestion_waits_for_it_and_counts_its_events_once(
    api: Api, account: Account, migrated_dsn: str
) -> None:
    """An ingestion in flight (its statements, in a transaction still open) has added to a rollup of a backfill's
    timeframe and created another: closing the backfill waits for it, and the rebuilt rollups count its events
    once (a rebuild that ran between them would count the new rollup's events twice)."""
    customer = await create_customer(api)
    start = recent_bucket(hours_ago=8)
    await ingest_ok(api, [event(customer.id, start + dt.timedelta(minutes=1))])
    backfill = await api.usage.CreateBackfill(
        usage_service_pb2.CreateBackfillRequest(
            customer_id=customer.id, timeframe_start=timestamp(start), timeframe_end=timestamp(start + 4 * BUCKET)
        )
    )
    sent = await api.usage.IngestEvents(
        usage_service_pb2.IngestEventsRequest(
            events=[event(customer.id, start + dt.timedelta(minutes=20))], backfill_id=backfill.id
        )
    )
    assert sent.ingested == 1
    in_flight = [
        Event(uuid.uuid4().hex, customer.id, "api_call", start + dt.timedelta(minutes=2), {}),  # an existing rollup
        Event(uuid.uuid4().hex, customer.id, "api_call", start + dt.timedelta(minutes=40), {}),  # a new one
    ]
    async with connection(migrated_dsn) as conn, connection(migrated_dsn) as watcher:
        ingestion = conn.transaction()
        await ingestion.start()
        assert (await usage_repo.customer_ids(conn, account.id, [customer.id], []))[0] == {customer.id}
        assert await usage_repo.store_events(conn, account.id, in_flight) == {e.idempotency_key for e in in_flight}
        closing = asyncio.ensure_future(
            api.usage.CloseBackfill(usage_service_pb2.CloseBackfillRequest(backfill_id=backfill.id))
        )
        async with asyncio.timeout(30):  # the close reaches the ingestion's locks and waits there
            blocked = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))"
            while not await watcher.fetchval(blocked, conn.get_server_pid()):
                assert not closing.done(), "the close did not wait for the ingestion in flight"
                await asyncio.sleep(0.02)
        await ingestion.commit()
        assert (await closing).status == usage_service_pb2.BACKFILL_STATUS_REFLECTED
    expected, stored = await expected_and_stored(migrated_dsn, [customer.id])
    assert_rollups_match(expected, stored)
    counts = {bucket: a.events for (_, _, prop, bucket), a in stored.items() if prop == ""}
    assert counts == {start: 2, start + BUCKET: 1, start + 2 * BUCKET: 1}


async def test_rollups_stay_exact_while_backfills_close_and_revert_during_ingestion(
    api: Api, migrated_dsn: str
) -> None:
    """Backfills closed and reverted (some replacing the events of their timeframe) while batches add events to
    the same buckets, old and new: every batch is stored, and the rollups equal the billable events."""
    rng = random.Random(11)
    customer = await create_customer(api)
    start = recent_bucket(hours_ago=8)

    def batch(size: int) -> list[usage_service_pb2.Event]:
        moments = [start + rng.randrange(16) * BUCKET + dt.timedelta(seconds=rng.randrange(900)) for _ in range(size)]
        return [event(customer.id, m, properties={"tokens": rng.randrange(1, 100)}) for m in moments]

    async def during_batches(move: Awaitable[usage_service_pb2.Backfill]) -> None:
        batches = [ingest(api, batch(rng.randrange(1, 8))) for _ in range(12)]
        *responses, _ = await asyncio.gather(*batches, move)
        assert all(isinstance(r, usage_service_pb2.IngestEventsResponse) and list(r.errors) == [] for r in responses)

    await ingest_ok(api, batch(40))
    for round_ in range(4):
        backfill = await api.usage.CreateBackfill(
            usage_service_pb2.CreateBackfillRequest(
                customer_id=customer.id,
                timeframe_start=timestamp(start),
                timeframe_end=timestamp(start + 16 * BUCKET),
                replace_existing_events=round_ % 2 == 1,
            )
        )
        sent = await api.usage.IngestEvents(
            usage_service_pb2.IngestEventsRequest(events=batch(20), backfill_id=backfill.id)
        )
        assert list(sent.errors) == []
        await during_batches(api.usage.CloseBackfill(usage_service_pb2.CloseBackfillRequest(backfill_id=backfill.id)))
        if round_ >= 2:
            await during_batches(
                api.usage.RevertBackfill(usage_service_pb2.RevertBackfillRequest(backfill_id=backfill.id))
            )
        expected, stored = await expected_and_stored(migrated_dsn, [customer.id])
        assert_rollups_match(expected, stored)
