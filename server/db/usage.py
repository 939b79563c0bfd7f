"""Usage events and their 15-minute rollups (SQL only).

Raw events and rollups are written in one transaction, and only the events
that were actually inserted (not duplicates) and count (`billable`: not the
events of a backfill still open, nor those a closed backfill replaced) are
rolled up, so the rollups always equal an aggregation of the billable raw
events; a backfill that changes what counts rebuilds the rollups it touches. Rollup rows are upserted in
key order, so concurrent ingestions lock them in the same order and cannot
deadlock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from server.domain import money
from server.domain.usage import NUMBER_PATTERN, Event, PropertyValue, Rollup, RollupKey, bucket_of, rollups


def _json_value(value: PropertyValue) -> Any:
    # Numbers are stored as JSON strings so that they stay exact, in plain notation ("0.0000001", not "1E-7")
    # so that reading the raw events back finds the same numbers the rollups counted.
    return format(value, "f") if isinstance(value, Decimal) else value


async def customer_ids(
    conn: asyncpg.Connection, account_id: str, ids: Sequence[str], external_ids: Sequence[str]
) -> tuple[set[str], dict[str, str]]:
    """Which of the ids exist, and the customer id of each external id that exists."""
    rows = await conn.fetch(
        "SELECT id, external_customer_id FROM customers WHERE account_id = $1"
        " AND (id = ANY($2::text[]) OR external_customer_id = ANY($3::text[]))",
        account_id,
        list(ids),
        list(external_ids),
    )
    known = {r["id"] for r in rows}
    by_external = {r["external_customer_id"]: r["id"] for r in rows if r["external_customer_id"]}
    return known, by_external


async def insert_events(
    conn: asyncpg.Connection, account_id: str, events: Sequence[Event], backfill_id: str = ""
) -> set[str]:
    """Insert events, skipping keys already stored; return the keys inserted now. Events of a backfill are
    stored not billable (they count once it is closed).

    Rows go in key order, so concurrent batches with overlapping keys wait on each other in one order.
    """
    if not events:
        return set()
    events = sorted(events, key=lambda e: e.idempotency_key)
    rows = await conn.fetch(
        """
        INSERT INTO usage_events (account_id, idempotency_key, customer_id, event_name, occurred_at, properties,
            backfill_id, billable)
        SELECT $1, u.key, u.customer_id, u.event_name, u.occurred_at, u.properties::jsonb, NULLIF($7, ''), $7 = ''
        FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
            AS u(key, customer_id, event_name, occurred_at, properties)
        ON CONFLICT (account_id, idempotency_key) DO NOTHING
        RETURNING idempotency_key
        """,
        account_id,
        [e.idempotency_key for e in events],
        [e.customer_id for e in events],
        [e.event_name for e in events],
        [e.occurred_at for e in events],
        [json.dumps({k: _json_value(v) for k, v in e.properties.items()}) for e in events],
        backfill_id,
    )
    return {r["idempotency_key"] for r in rows}


async def stored_keys(conn: asyncpg.Connection, account_id: str, keys: Sequence[str]) -> set[str]:
    """Which of the idempotency keys are stored already."""
    rows = await conn.fetch(
        "SELECT idempotency_key FROM usage_events WHERE account_id = $1 AND idempotency_key = ANY($2::text[])",
        account_id,
        list(keys),
    )
    return {r["idempotency_key"] for r in rows}


async def add_rollups(conn: asyncpg.Connection, account_id: str, rollups: Mapping[RollupKey, Rollup]) -> None:
    """Add the rollups of newly inserted events to the stored ones (in key order)."""
    if not rollups:
        return
    keys = sorted(rollups)
    await conn.execute(
        """
        INSERT INTO usage_rollups AS r (account_id, customer_id, event_name, property, bucket, events, total, maximum)
        SELECT $1, u.customer_id, u.event_name, u.property, u.bucket, u.events, u.total, u.maximum
        FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::numeric[], $8::numeric[])
            AS u(customer_id, event_name, property, bucket, events, total, maximum)
        ON CONFLICT (account_id, customer_id, event_name, property, bucket) DO UPDATE SET
            events = r.events + EXCLUDED.events,
            total = r.total + EXCLUDED.total,
            maximum = greatest(r.maximum, EXCLUDED.maximum)
        """,
        account_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [rollups[k].events for k in keys],
        [rollups[k].total for k in keys],
        [rollups[k].maximum for k in keys],
    )


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


async def rebuild_rollups(
    conn: asyncpg.Connection, account_id: str, customer_id: str, start: dt.datetime, end: dt.datetime
) -> None:
    """Rebuild the customer's rollups of every bucket that [start, end) touches from its billable events (after
    a backfill made events count or stop counting)."""
    first = bucket_of(start)
    after = bucket_of(end) + (dt.timedelta(minutes=15) if end > bucket_of(end) else dt.timedelta(0))
    await conn.execute(
        "DELETE FROM usage_rollups WHERE account_id = $1 AND customer_id = $2 AND bucket >= $3 AND bucket < $4",
        account_id,
        customer_id,
        first,
        after,
    )
    totals: dict[RollupKey, Rollup] = {}
    cursor = conn.cursor(
        """
        SELECT idempotency_key, event_name, occurred_at, properties FROM usage_events
        WHERE account_id = $1 AND customer_id = $2 AND occurred_at >= $3 AND occurred_at < $4 AND billable
        """,
        account_id,
        customer_id,
        first,
        after,
    )
    batch: list[Event] = []
    async for row in cursor:
        batch.append(
            Event(row["idempotency_key"], customer_id, row["event_name"], row["occurred_at"], row["properties"])
        )
        if len(batch) >= 1000:
            _merge(totals, rollups(batch))
            batch = []
    _merge(totals, rollups(batch))
    await add_rollups(conn, account_id, totals)


def _merge(into: dict[RollupKey, Rollup], more: Mapping[RollupKey, Rollup]) -> None:
    with money.exact_context():
        for key, rollup in more.items():
            found = into.setdefault(key, Rollup())
            found.events += rollup.events
            found.total += rollup.total
            if rollup.maximum is not None and (found.maximum is None or rollup.maximum > found.maximum):
                found.maximum = rollup.maximum
