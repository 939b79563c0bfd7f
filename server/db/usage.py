"""Usage events and their 15-minute rollups (SQL only).

Raw events and rollups are written in one statement, and only the events
that were actually inserted (not duplicates) and count (`billable`: not the
events of a backfill still open, nor those a closed backfill replaced) are
rolled up, so the rollups always equal an aggregation of the billable raw
events; a backfill that changes what counts rebuilds the rollups it touches,
with the same aggregation. Events are inserted in key order and rollup rows
upserted in key order, so concurrent ingestions lock them in the same order
and cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any

import asyncpg

from server.db.pool import savepoint
from server.domain.periods import micros
from server.domain.usage import COUNT_PROPERTY, NUMBER_PATTERN, Event, bucket_of, number_text


def _stored_form(value: object) -> str:
    # Numbers are stored as JSON strings so that they stay exact (the servicer hands them over as that text
    # already; a Decimal is written the same way).
    if isinstance(value, Decimal):
        return number_text(value)
    raise TypeError(f"not a property value: {value!r}")


# One encoder for every batch (json.dumps with options builds a new one per call).
_JSON = json.JSONEncoder(ensure_ascii=False, default=_stored_form)


def _add_rollups_of(events: str, count_property: str, number_pattern: str) -> str:
    """The statement that adds the events the query `events` gives (customer_id, event_name, occurred_at,
    properties; of account $1) to the rollups, rows in key order (code point order, as Python sorts).

    One row per (customer, event, bucket) counts the events (property COUNT_PROPERTY, each adding 1), and one
    per numeric property (NUMBER_PATTERN, at most 40 characters: server.domain.usage.numeric) holds their
    count, exact sum and maximum. The one place this aggregation is written.
    """
    return f"""
    INSERT INTO usage_rollups AS r (account_id, customer_id, event_name, property, bucket, events, total, maximum)
    SELECT $1, e.customer_id, e.event_name, v.property, date_bin('15 minutes', e.occurred_at, 'epoch'),
        count(*), sum(v.value), max(v.value)
    FROM ({events}) e
    CROSS JOIN LATERAL (
        SELECT {count_property}::text AS property, 1::numeric AS value
        UNION ALL
        -- Keys, then a lookup each: jsonb_each_text builds a row of both per key, which costs PostgreSQL more.
        SELECT p.key, p.value::numeric
        FROM jsonb_object_keys(e.properties) k, LATERAL (SELECT k AS key, e.properties ->> k AS value) p
        WHERE p.value ~ {number_pattern} AND length(p.value) <= 40
    ) v
    GROUP BY e.customer_id, e.event_name, v.property, date_bin('15 minutes', e.occurred_at, 'epoch')
    ORDER BY e.customer_id COLLATE "C", e.event_name COLLATE "C", v.property COLLATE "C", 5
    ON CONFLICT (account_id, customer_id, event_name, property, bucket) DO UPDATE SET
        events = r.events + EXCLUDED.events,
        total = r.total + EXCLUDED.total,
        maximum = greatest(r.maximum, EXCLUDED.maximum)
    """


# The batch's columns arrive as JSON arrays (one text each): asyncpg spends more on a thousand-element text[] or
# timestamptz[] parameter than on the rest of the batch's statement. Instants are microseconds since the epoch,
# made a timestamptz as whole seconds plus the microseconds, each exact in float8 over Timestamp's whole range.
_INSERT_EVENTS = """
    INSERT INTO usage_events (account_id, idempotency_key, customer_id, event_name, occurred_at, properties,
        backfill_id, billable)
    SELECT $1, u.key, u.customer_id, u.event_name,
        to_timestamp(u.micros::bigint / 1000000) + (u.micros::bigint % 1000000) * interval '1 microsecond',
        u.properties, NULLIF($7, ''), $7 = ''
    FROM ROWS FROM (json_array_elements_text($2::text::json), json_array_elements_text($3::text::json),
        json_array_elements_text($4::text::json), json_array_elements_text($5::text::json),
        jsonb_array_elements($6::text::jsonb)) AS u(key, customer_id, event_name, micros, properties)
"""


def _store_events(insert: str, result: str) -> str:
    """The statement that runs `insert` and adds the billable rows it inserted to the rollups; its one row holds
    `result`, an aggregate of the rows inserted. The rollups are computed from the rows the insert returns, so
    they count exactly the events stored now."""
    return f"""
    WITH inserted AS (
        {insert}
        RETURNING idempotency_key, customer_id, event_name, occurred_at, properties, billable
    ), rolled_up AS ({_add_rollups_of("SELECT * FROM inserted WHERE billable", "$8", "$9")})
    SELECT {result} FROM inserted
    """


# Every key new (the common case): a plain insert, which costs PostgreSQL less than ON CONFLICT's speculative
# insertion; a key stored already fails it with a unique violation on the primary key. So when it succeeds,
# every key was inserted: it returns their count, not the keys.
_STORE_NEW_EVENTS = _store_events(_INSERT_EVENTS, "count(*)")
# Some keys stored already (a resent batch, or a concurrent one with the same keys): those are skipped, and the
# keys inserted are returned.
_STORE_EVENTS = _store_events(
    _INSERT_EVENTS + "ON CONFLICT (account_id, idempotency_key) DO NOTHING",
    "coalesce(array_agg(idempotency_key), '{}')",
)


# The account's usage lock, a transaction-scoped advisory lock ($1: the account id). Ingestion holds it shared
# from its first statement; closing or reverting a backfill holds it exclusively before its events change
# what counts, so no batch adds to the rollups it rebuilds (an addition committed between the rebuild's delete
# and its insert would be counted twice). It needs no table and works through PgBouncer's transaction pooling.
_USAGE_LOCK = "hashtextextended('usage:' || $1, 0)"


async def customer_ids(
    conn: asyncpg.Connection, account_id: str, ids: Sequence[str], external_ids: Sequence[str]
) -> tuple[set[str], dict[str, str]]:
    """Which of the ids exist, and the customer id of each external id that exists; the first statement of an
    ingestion, so it takes the account's usage lock (shared) before anything else, once, whatever it finds."""
    rows = await conn.fetch(
        f"WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({_USAGE_LOCK}))"
        " SELECT id, external_customer_id FROM customers WHERE EXISTS (SELECT FROM held) AND account_id = $1"
        " AND (id = ANY($2::text[]) OR external_customer_id = ANY($3::text[]))",
        account_id,
        list(ids),
        list(external_ids),
    )
    known = {r["id"] for r in rows}
    by_external = {r["external_customer_id"]: r["id"] for r in rows if r["external_customer_id"]}
    return known, by_external


async def store_events(
    conn: asyncpg.Connection, account_id: str, events: Sequence[Event], backfill_id: str = ""
) -> set[str]:
    """Insert the events whose keys are not stored yet and add them to the 15-minute rollups, in one statement;
    return the keys inserted now. Events of a backfill are stored not billable, without rollups (they count
    once it is closed). Duplicates (keys already stored, by this or a concurrent batch) add nothing.
    """
    if not events:
        return set()
    # The events' columns, in key order (a transpose of the typed tuples, in C), each one JSON array.
    ordered = sorted(events, key=attrgetter("idempotency_key"))
    keys, customers, event_names, occurred, properties = zip(*ordered, strict=True)
    arguments = (
        account_id,
        _JSON.encode(keys),
        _JSON.encode(customers),
        _JSON.encode(event_names),
        _JSON.encode([micros(moment) for moment in occurred]),
        _JSON.encode(properties),
        backfill_id,
        COUNT_PROPERTY,
        NUMBER_PATTERN,
    )
    # First as if every key were new, under a savepoint: a key stored already undoes only that attempt, and the
    # batch is stored again skipping the stored keys (a resend costs two attempts; a fresh batch, the cheaper one).
    try:
        async with savepoint(conn):
            count = await conn.fetchval(_STORE_NEW_EVENTS, *arguments)
    except asyncpg.UniqueViolationError:  # the statement's one unique index: the events' key (or a partition's)
        inserted: list[str] = await conn.fetchval(_STORE_EVENTS, *arguments)
        return set(inserted)
    if count != len(keys):  # a batch's keys are distinct (the use case drops repeats): each is one row
        raise RuntimeError(f"{count} events stored of a batch of {len(keys)} new keys")
    return set(keys)


async def stored_keys(conn: asyncpg.Connection, account_id: str, keys: Sequence[str]) -> set[str]:
    """Which of the idempotency keys are stored already."""
    rows = await conn.fetch(
        "SELECT idempotency_key FROM usage_events WHERE account_id = $1 AND idempotency_key = ANY($2::text[])",
        account_id,
        list(keys),
    )
    return {r["idempotency_key"] for r in rows}


async def rolled_up(
    conn: asyncpg.Connection,
    account_id: str,
    customer_id: str,
    event_name: str,
    prop: str,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[int, Decimal, Decimal | None]:
    """(events, total, maximum) of a property ("": the event count) over whole buckets in [start, end)."""
    row = await conn.fetchrow(
        """
        SELECT coalesce(sum(events), 0) AS events, coalesce(sum(total), 0) AS total, max(maximum) AS maximum
        FROM usage_rollups
        WHERE account_id = $1 AND customer_id = $2 AND event_name = $3 AND property = $4
          AND bucket >= $5 AND bucket < $6
        """,
        account_id,
        customer_id,
        event_name,
        prop,
        start,
        end,
    )
    return int(row["events"]), row["total"], row["maximum"]


async def raw_properties(
    conn: asyncpg.Connection, account_id: str, customer_id: str, event_name: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """The properties of each raw event in [start, end): for the tail of a bucket not yet closed."""
    rows = await conn.fetch(
        """
        SELECT properties FROM usage_events
        WHERE account_id = $1 AND customer_id = $2 AND event_name = $3 AND occurred_at >= $4 AND occurred_at < $5
          AND billable
        """,
        account_id,
        customer_id,
        event_name,
        start,
        end,
    )
    return [r["properties"] for r in rows]


async def distinct_values(
    conn: asyncpg.Connection,
    account_id: str,
    customer_id: str,
    event_name: str,
    prop: str,
    start: dt.datetime,
    end: dt.datetime,
) -> int:
    """The number of distinct values of prop among the events in [start, end)."""
    value: int = await conn.fetchval(
        """
        SELECT count(DISTINCT properties -> $4) FROM usage_events
        WHERE account_id = $1 AND customer_id = $2 AND event_name = $3 AND occurred_at >= $5 AND occurred_at < $6
          AND properties ? $4 AND billable
        """,
        account_id,
        customer_id,
        event_name,
        prop,
        start,
        end,
    )
    return value


async def matrix_groups(
    conn: asyncpg.Connection,
    account_id: str,
    customer_id: str,
    event_name: str,
    dimensions: Sequence[str],
    prop: str,
    start: dt.datetime,
    end: dt.datetime,
) -> list[tuple[tuple[str, ...], int, Decimal, Decimal | None, int]]:
    """Per matrix cell of the events in [start, end): (dimension values, events, sum, max, distinct values of prop).

    Aggregated by PostgreSQL; a property counts as a number exactly when server.domain.usage.numeric says so.
    """
    rows = await conn.fetch(
        """
        SELECT array(SELECT coalesce(properties ->> d, '') FROM unnest($4::text[]) d) AS cell,
            count(*) AS events,
            coalesce(sum(CASE WHEN properties ->> $5 ~ $8 AND length(properties ->> $5) <= 40
                THEN (properties ->> $5)::numeric END), 0) AS total,
            max(CASE WHEN properties ->> $5 ~ $8 AND length(properties ->> $5) <= 40
                THEN (properties ->> $5)::numeric END) AS maximum,
            count(DISTINCT properties -> $5) AS distinct_values
        FROM usage_events
        WHERE account_id = $1 AND customer_id = $2 AND event_name = $3 AND occurred_at >= $6 AND occurred_at < $7
          AND billable
        GROUP BY 1
        """,
        account_id,
        customer_id,
        event_name,
        list(dimensions),
        prop,
        start,
        end,
        NUMBER_PATTERN,
    )
    return [(tuple(r["cell"]), r["events"], r["total"], r["maximum"], r["distinct_values"]) for r in rows]


async def hold_usage(conn: asyncpg.Connection, account_id: str) -> None:
    """Take the account's usage lock exclusively until the transaction ends: no ingestion runs meanwhile."""
    await conn.execute(f"SELECT pg_advisory_xact_lock({_USAGE_LOCK})", account_id)


async def rebuild_rollups(
    conn: asyncpg.Connection, account_id: str, customer_id: str, start: dt.datetime, end: dt.datetime
) -> None:
    """Rebuild the customer's rollups of every bucket that [start, end) touches from its billable events (after
    a backfill made events count or stop counting). The caller holds the account's usage lock (hold_usage)."""
    first = bucket_of(start)
    after = bucket_of(end) + (dt.timedelta(minutes=15) if end > bucket_of(end) else dt.timedelta(0))
    await conn.execute(
        "DELETE FROM usage_rollups WHERE account_id = $1 AND customer_id = $2 AND bucket >= $3 AND bucket < $4",
        account_id,
        customer_id,
        first,
        after,
    )
    await conn.execute(_REBUILD_ROLLUPS, account_id, customer_id, first, after, COUNT_PROPERTY, NUMBER_PATTERN)


_REBUILD_ROLLUPS = _add_rollups_of(
    """
    SELECT customer_id, event_name, occurred_at, properties FROM usage_events
    WHERE account_id = $1 AND customer_id = $2 AND occurred_at >= $3 AND occurred_at < $4 AND billable
    """,
    "$5",
    "$6",
)
