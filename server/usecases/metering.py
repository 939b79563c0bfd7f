"""Metering: measure a usage price's quantity over [start, end) from rollups and raw events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import asyncpg

from server.db import usage as repo
from server.domain.billing import Usage
from server.domain.pricing import Aggregation, ModelType, Price
from server.domain.usage import COUNT_PROPERTY, aggregate, bucket_of


def _pick(aggregation: Aggregation, events: int, total: Decimal, maximum: Decimal | None) -> Decimal:
    if aggregation is Aggregation.COUNT:
        return Decimal(events)
    if aggregation is Aggregation.SUM:
        return total
    return maximum if maximum is not None else Decimal(0)


async def measure(
    conn: asyncpg.Connection, account_id: str, customer_id: str, price: Price, start: dt.datetime, end: dt.datetime
) -> Usage:
    """The quantity of a usage price over [start, end).

    count, sum and max read the 15-minute rollups for whole buckets and the raw
    events only for the unfinished bucket at the end; unique_count and matrix
    prices read raw events (their groups are not pre-aggregated).
    """
    metric = price.metric
    assert metric is not None
    if price.model is ModelType.MATRIX:
        return await _matrix(conn, account_id, customer_id, price, start, end)
    if metric.aggregation is Aggregation.UNIQUE_COUNT:
        count = await repo.distinct_values(
            conn, account_id, customer_id, metric.event_name, metric.property, start, end
        )
        return Usage(Decimal(count))
    prop = COUNT_PROPERTY if metric.aggregation is Aggregation.COUNT else metric.property
    closed = min(bucket_of(end), end) if end > start else start
    events, total, maximum = await repo.rolled_up(conn, account_id, customer_id, metric.event_name, prop, start, closed)
    if closed < end:
        tail = await repo.raw_properties(conn, account_id, customer_id, metric.event_name, closed, end)
        rest = aggregate(tail, prop)
        events += rest.events
        total += rest.total
        if rest.maximum is not None and (maximum is None or rest.maximum > maximum):
            maximum = rest.maximum
    return Usage(_pick(metric.aggregation, events, total, maximum))


async def _matrix(
    conn: asyncpg.Connection, account_id: str, customer_id: str, price: Price, start: dt.datetime, end: dt.datetime
) -> Usage:
    metric = price.metric
    assert metric is not None
    groups = await repo.matrix_groups(
        conn, account_id, customer_id, metric.event_name, price.dimensions, metric.property, start, end
    )
    cells: dict[tuple[str, ...], Decimal] = {}
    for key, count, total, maximum, distinct in groups:
        if metric.aggregation is Aggregation.UNIQUE_COUNT:
            cells[key] = Decimal(distinct)
        else:
            cells[key] = _pick(metric.aggregation, count, total, maximum)
    return Usage(sum(cells.values(), Decimal(0)), cells)
