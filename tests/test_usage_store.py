"""How a batch is stored: every key new (one plain insert), some stored already (the insert undone to its savepoint
and the batch stored again skipping them), by one batch or by several at once; and the exact text numbers keep."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import struct
import uuid
from decimal import Decimal

from invoicing.v1 import usage_service_pb2

from server.db import usage as usage_repo
from server.domain.usage import (
    Event,
    EventProblem,
    PropertyValue,
    any_negative_number,
    negative_numbers,
    number_text,
    property_value,
)
from tests.support.accounts import Account
from tests.support.builders import create_customer, event
from tests.support.calls import ingest
from tests.support.client import Api
from tests.support.database import connection
from tests.test_usage import assert_rollups_match, expected_and_stored, recent_bucket, stored_keys


def _events(customer_id: str, keys: list[str], when: dt.datetime) -> list[Event]:
    return [
        Event(key, customer_id, "api_call", when + dt.timedelta(minutes=n % 40), {"tokens": str(n + 1)})
        for n, key in enumerate(keys)
    ]


async def test_a_batch_with_stored_keys_stores_the_new_ones_once_and_the_transaction_goes_on(
    api: Api, account: Account, migrated_dsn: str
) -> None:
    customer = await create_customer(api)
    when = recent_bucket(hours_ago=3)
    first = [f"k{n:02d}" for n in range(10)]
    async with connection(migrated_dsn) as conn:
        async with conn.transaction():
            await usage_repo.customer_ids(conn, account.id, [customer.id], [])
            assert await usage_repo.store_events(conn, account.id, _events(customer.id, first, when)) == set(first)
        # Stored keys first, in the middle and last in key order: the plain insert gets partway, is undone, and
        # the batch is stored again skipping them.
        again = ["k00", "k05", "k07", "k09", "k10", "k11", "k12", "k13", "k14", "k06"]
        later = [f"z{n}" for n in range(3)]
        async with conn.transaction():
            await usage_repo.customer_ids(conn, account.id, [customer.id], [])
            inserted = await usage_repo.store_events(conn, account.id, _events(customer.id, again, when))
            assert inserted == {"k10", "k11", "k12", "k13", "k14"}
            # The transaction is still usable after the undone attempt, and what it stores next commits with it.
            assert await usage_repo.store_events(conn, account.id, _events(customer.id, later, when)) == set(later)
        async with conn.transaction():  # a batch made only of stored keys stores nothing
            assert await usage_repo.store_events(conn, account.id, _events(customer.id, first[:4], when)) == set()
    assert await stored_keys(migrated_dsn, [customer.id]) == {*first, "k10", "k11", "k12", "k13", "k14", *later}
    expected, stored = await expected_and_stored(migrated_dsn, [customer.id])
    assert_rollups_match(expected, stored)
    assert sum(a.events for k, a in stored.items() if k[2] == "") == 18


async def test_mixed_customers_with_duplicates_within_and_across_batches(api: Api, migrated_dsn: str) -> None:
    made = [await create_customer(api) for _ in range(3)]
    customers = [c.id for c in made]
    when = recent_bucket(hours_ago=2)

    def sent(n: int, customer: int, tokens: float) -> usage_service_pb2.Event:
        at, properties = when + dt.timedelta(minutes=n), {"tokens": tokens}
        if n % 2:  # named by the external id half of the time
            external = made[customer].external_customer_id
            return event("", at, key=f"e{n}", properties=properties, external_customer_id=external)
        return event(customers[customer], at, key=f"e{n}", properties=properties)

    first = await ingest(api, [sent(0, 0, 1), sent(1, 1, 2), sent(2, 2, 3), sent(1, 2, 50), sent(3, 0, 0.5)])
    assert (first.ingested, first.duplicates, list(first.errors)) == (4, 1, [])
    # Keys of the first batch come back under other customers (a key is the account's, whoever sent it first),
    # among new keys of every customer, one of them twice.
    second = await ingest(
        api, [sent(4, 2, 7), sent(0, 1, 99), sent(5, 1, 0.25), sent(2, 0, 99), sent(6, 0, 1e-7), sent(5, 0, 99)]
    )
    assert (second.ingested, second.duplicates, list(second.errors)) == (3, 3, [])
    assert await stored_keys(migrated_dsn, [customers[0]]) == {"e0", "e3", "e6"}
    assert await stored_keys(migrated_dsn, [customers[1]]) == {"e1", "e5"}
    assert await stored_keys(migrated_dsn, [customers[2]]) == {"e2", "e4"}
    expected, stored = await expected_and_stored(migrated_dsn, customers)
    assert_rollups_match(expected, stored)
    totals = {c: sum(a.total for k, a in stored.items() if k[0] == c and k[2] == "tokens") for c in customers}
    assert totals == {customers[0]: Decimal("1.5000001"), customers[1]: Decimal("2.25"), customers[2]: Decimal(10)}


async def test_concurrent_batches_mixing_new_and_shared_keys_count_each_event_once(api: Api, migrated_dsn: str) -> None:
    """Batches sent at once, each with keys others also send (in other orders) and keys of its own, over several
    customers: each event is stored and rolled up once, whichever batch's plain insert meets a stored key."""
    rng = random.Random(11)
    customers = [(await create_customer(api)).id for _ in range(3)]
    base = recent_bucket(hours_ago=4)

    def one(key: str, n: int) -> usage_service_pb2.Event:
        return event(
            customers[n % 3], base + dt.timedelta(seconds=37 * n), key=key, properties={"tokens": n % 97, "r": "eu"}
        )

    distinct = 0
    sent = 0
    for round_ in range(3):
        shared = [one(f"s{round_}-{n}", n) for n in range(150)]
        batches = []
        for b in range(6):
            batch = shared + [one(f"own{round_}-{b}-{n}", 1000 + n) for n in range(50)]
            rng.shuffle(batch)
            batches.append(batch)
        responses = await asyncio.gather(*(ingest(api, batch) for batch in batches))
        assert all(list(r.errors) == [] for r in responses)
        assert sum(r.ingested for r in responses) == 150 + 6 * 50
        assert sum(r.duplicates for r in responses) == 5 * 150
        distinct += 150 + 6 * 50
        sent += sum(r.ingested for r in responses)
    assert sent == distinct == len(await stored_keys(migrated_dsn, customers))
    expected, stored = await expected_and_stored(migrated_dsn, customers)
    assert_rollups_match(expected, stored)
    assert sum(a.events for k, a in stored.items() if k[2] == "") == distinct


def _reference_text(number: float) -> str:
    """The stored text of a double, written the long way: its shortest round-trip decimal, in plain notation."""
    return format(Decimal(repr(number).removesuffix(".0")), "f")


def test_numbers_are_kept_as_the_exact_text_they_are_stored_as() -> None:
    cases = {5.0: "5", 0.1: "0.1", -0.0: "-0", 1e-07: "0.0000001", 1e20: "100000000000000000000", -4.25: "-4.25"}
    for number, text in cases.items():
        assert property_value(number, "tokens") == text
    assert number_text(Decimal("1E-7")) == "0.0000001"
    assert number_text(12) == "12"
    rng = random.Random(5)
    for _ in range(20_000):  # any finite double: the short way agrees with the long one
        number = struct.unpack("<d", rng.randbytes(8))[0]
        if math.isfinite(number):
            assert number_text(number) == _reference_text(number), number
    problem = property_value(math.inf, "tokens")
    assert isinstance(problem, EventProblem)
    assert problem.reason == "INVALID_PROPERTY"


def test_only_numbers_below_zero_are_negative() -> None:
    properties: dict[str, PropertyValue] = {
        "zero": "-0",
        "zeros": "-0.000",
        "double_zero": number_text(-0.0),
        "text": "-abc",
        "exponent": "-1e5",  # not a number as stored text
        "positive": "5",
        "flag": True,
        "small": number_text(-1e-7),
        "text_number": "-0.5",
        "decimal": Decimal("-2"),
        "decimal_zero": Decimal("-0"),
    }
    assert properties["small"] == "-0.0000001"
    assert negative_numbers(properties) == ["small", "text_number", "decimal"]
    # A batch holds one exactly when an event's properties do, whichever of its values comes first.
    rng = random.Random(11)
    for _ in range(2_000):
        picked = rng.sample(sorted(properties), rng.randrange(0, 4))
        batch = [Event(str(n), "cus", "api_call", dt.datetime.now(dt.UTC), {name: properties[name]}) for n, name in
                 enumerate(picked)]  # fmt: skip
        assert any_negative_number(batch) == any(negative_numbers(e.properties) for e in batch)
    two = Event("k", "cus", "api_call", dt.datetime.now(dt.UTC), {"text": "-abc", "text_number": "-0.5"})
    assert any_negative_number([two])  # a first "-" text that is no number does not hide the number after it


async def test_a_fresh_batch_is_stored_by_the_first_attempt(api: Api, account: Account, migrated_dsn: str) -> None:
    """Every key new: the plain insert under the savepoint stores the batch (its rows carry the savepoint's
    subtransaction id, not the transaction's own)."""
    customer = await create_customer(api)
    keys = sorted(uuid.uuid4().hex for _ in range(50))
    written_by = (
        "SELECT array_agg(DISTINCT xmin::text::bigint = pg_current_xact_id()::text::bigint % 4294967296)"
        " FROM usage_events WHERE account_id = $1 AND idempotency_key = ANY($2::text[])"
    )
    async with connection(migrated_dsn) as conn, conn.transaction():
        await usage_repo.customer_ids(conn, account.id, [customer.id], [])
        assert await usage_repo.store_events(conn, account.id, _events(customer.id, keys, recent_bucket())) == set(keys)
        assert await conn.fetchval(written_by, account.id, keys) == [False]
        await conn.execute(
            "INSERT INTO usage_events (account_id, idempotency_key, customer_id, event_name, occurred_at)"
            " VALUES ($1, 'top', $2, 'x', now())",
            account.id,
            customer.id,
        )
        assert await conn.fetchval(written_by, account.id, ["top"]) == [True]  # the probe tells the two apart


async def test_instants_and_texts_are_stored_exactly_as_sent(api: Api, account: Account, migrated_dsn: str) -> None:
    """A batch's columns travel as JSON and its instants as microseconds since the epoch: every instant comes back
    to the microsecond, across Timestamp's whole range and either side of the epoch, and every text to the code
    point (quotes, backslashes, control characters, characters beyond the BMP)."""
    customer = await create_customer(api)
    utc = dt.UTC
    instants = [
        dt.datetime(1, 1, 1, tzinfo=utc),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=utc),
        dt.datetime(1970, 1, 1, tzinfo=utc),
        dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=utc),
        dt.datetime(1600, 6, 30, 12, 0, 0, 500_001, tzinfo=utc),
        dt.datetime(2026, 3, 29, 1, 59, 59, 123_457, tzinfo=utc),
        dt.datetime(2300, 1, 1, 0, 0, 0, 999_999, tzinfo=utc),  # past 2**53 microseconds: a float would round it
        dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=utc),
    ]
    rng = random.Random(7)
    instants += [
        dt.datetime(1, 1, 1, tzinfo=utc) + dt.timedelta(microseconds=rng.randrange(315_537_897_600_000_000))
        for _ in range(200)
    ]
    texts = ['quote " and \\ backslash', "tab\tnew\nline\x01", "é€😀 beyond the BMP", '{"json": [1]}', "\u2028"]
    events = [
        Event(f"key {n} {texts[n % len(texts)]}", customer.id, f"name {texts[n % len(texts)]}", moment, {})
        for n, moment in enumerate(instants)
    ]
    async with connection(migrated_dsn) as conn, conn.transaction():
        await usage_repo.customer_ids(conn, account.id, [customer.id], [])
        stored = await usage_repo.store_events(conn, account.id, events)
        assert stored == {e.idempotency_key for e in events}
        rows = await conn.fetch(
            "SELECT idempotency_key, event_name, occurred_at FROM usage_events WHERE account_id = $1", account.id
        )
    assert sorted((r["idempotency_key"], r["event_name"], r["occurred_at"]) for r in rows) == sorted(
        (e.idempotency_key, e.event_name, e.occurred_at) for e in events
    )
