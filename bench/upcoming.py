"""Scenario: GetUpcomingInvoice with a million usage events in the period, against a plain SQL aggregate.

The period is a month aligned to the subscription's start, fifteen days in: the events spread over the
elapsed half, so the service reads closed 15-minute rollups for nearly all of them and raw events only for
the bucket not yet closed (measuring on the first day of a calendar month would put them all in that one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time

import asyncpg
import grpc
from google.type import date_pb2
from invoicing.v1 import (
    customer_service_pb2,
    customer_service_pb2_grpc,
    invoice_service_pb2,
    plan_service_pb2,
    plan_service_pb2_grpc,
    price_pb2,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
)

from bench.load import Metadata, bearer, unary_latencies_ms
from bench.table import Row, ratio_at_most

MID_PERIOD_DAYS = 15


def period_start() -> dt.date:
    """The start of a monthly period aligned to the subscription's start, half of which has elapsed today.

    The measurement is then taken mid-period: almost every event lies in a closed 15-minute bucket (read
    from the rollups), a few in the unfinished one (read raw), as on an ordinary day, whatever the date.
    """
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=MID_PERIOD_DAYS)


def create_usage_plan(channel: grpc.Channel, metadata: Metadata, event_name: str, prop: str) -> str:
    """A plan billing the monthly sum of `prop` over `event_name` events; its id."""
    plan = plan_service_pb2_grpc.PlanServiceStub(channel).CreatePlan(
        plan_service_pb2.CreatePlanRequest(
            name=f"Metered {event_name}",
            currency="USD",
            prices=[
                price_pb2.Price(
                    name=f"{event_name} {prop}",
                    model_type=price_pb2.PRICE_MODEL_TYPE_UNIT,
                    price_type=price_pb2.PRICE_TYPE_USAGE_PRICE,
                    cadence=price_pb2.CADENCE_MONTHLY,
                    billable_metric=price_pb2.BillableMetric(
                        event_name=event_name, aggregation=price_pb2.AGGREGATION_SUM, property=prop
                    ),
                    unit_config=price_pb2.UnitConfig(unit_amount="0.00001"),
                )
            ],
        ),
        metadata=metadata,
    )
    return str(plan.id)


def subscribe(target: str, key: str) -> tuple[str, str, dt.datetime]:
    """A new customer on a new plan billing the sum of `tokens` of `llm` events, half-way through its period:
    (customer id, subscription id, the period's start)."""
    start = period_start()
    with grpc.insecure_channel(target) as channel:
        plan_id = create_usage_plan(channel, bearer(key), "llm", "tokens")
        customer_id, subscription_id = subscribe_customer(channel, bearer(key), plan_id, "Heavy user", start)
    return customer_id, subscription_id, dt.datetime.combine(start, dt.time(0), tzinfo=dt.UTC)


def subscribe_customer(
    channel: grpc.Channel, metadata: Metadata, plan_id: str, name: str, start: dt.date
) -> tuple[str, str]:
    """A new customer subscribed to the plan from `start`, billed on the start's day each month:
    (customer id, subscription id)."""
    customer = customer_service_pb2_grpc.CustomerServiceStub(channel).CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(name=name, email="usage@bench.example", currency="USD"),
        metadata=metadata,
    )
    subscription = subscription_service_pb2_grpc.SubscriptionServiceStub(channel).CreateSubscription(
        subscription_service_pb2.CreateSubscriptionRequest(
            customer_id=customer.id,
            plan_id=plan_id,
            start_date=date_pb2.Date(year=start.year, month=start.month, day=start.day),
            align_billing_with_subscription_start_date=True,
        ),
        metadata=metadata,
    )
    return str(customer.id), str(subscription.id)


async def seed_events(dsn: str, account_name: str, customer_id: str, start: dt.datetime, count: int) -> None:
    """`count` events spread over [start, now), with their 15-minute rollups, written with set-based SQL."""
    conn = await asyncpg.connect(dsn)
    try:
        account_id = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", account_name)
        span = dt.datetime.now(dt.UTC) - start - dt.timedelta(minutes=1)
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO usage_events (account_id, idempotency_key, customer_id, event_name, occurred_at, properties)
                SELECT $1, 'bench-' || g, $2, 'llm', $3::timestamptz + ($4::interval * g) / $5::int,
                       jsonb_build_object('tokens', ((g % 1000) + 1)::text)
                FROM generate_series(0, $5 - 1) g
                """,
                account_id,
                customer_id,
                start,
                span,
                count,
            )
            await conn.execute(
                """
                INSERT INTO usage_rollups
                    (account_id, customer_id, event_name, property, bucket, events, total, maximum)
                SELECT account_id, customer_id, event_name, p.property,
                       date_bin('15 minutes', occurred_at, 'epoch'), count(*), sum(p.value), max(p.value)
                FROM usage_events, LATERAL (
                    VALUES ('', 1::numeric), ('tokens', (properties ->> 'tokens')::numeric)
                ) AS p(property, value)
                WHERE account_id = $1 AND customer_id = $2
                GROUP BY 1, 2, 3, 4, 5
                """,
                account_id,
                customer_id,
            )
        await conn.execute("ANALYZE usage_events; ANALYZE usage_rollups")
    finally:
        await conn.close()


def upcoming_p50_ms(target: str, key: str, subscription_id: str, count: int) -> float:
    """Median latency of GetUpcomingInvoice, 1 in flight (Python client)."""
    body = invoice_service_pb2.GetUpcomingInvoiceRequest(subscription_id=subscription_id).SerializeToString()
    method = "/invoicing.v1.InvoiceService/GetUpcomingInvoice"
    return statistics.median(unary_latencies_ms(target, method, [body] * count, bearer(key)))


async def plain_sql_p50_ms(dsn: str, account_name: str, customer_id: str, start: dt.datetime, count: int) -> float:
    """Anchor: the same aggregate straight over the raw events (through their index), median of `count` runs."""
    conn = await asyncpg.connect(dsn)
    try:
        account_id = await conn.fetchval("SELECT id FROM accounts WHERE name = $1", account_name)
        samples = []
        for _ in range(count):
            begin = time.perf_counter_ns()
            await conn.fetchval(
                "SELECT sum((properties ->> 'tokens')::numeric) FROM usage_events WHERE account_id = $1"
                " AND customer_id = $2 AND event_name = 'llm' AND occurred_at >= $3 AND occurred_at < now()",
                account_id,
                customer_id,
                start,
            )
            samples.append(time.perf_counter_ns() - begin)
        return statistics.median(samples) / 1e6
    finally:
        await conn.close()


def row(target: str, dsn: str, key: str, account_name: str, events: int, samples: int) -> Row:
    """GetUpcomingInvoice p50 with `events` events in the period, against the plain SQL aggregate's p50."""
    customer_id, subscription_id, start = subscribe(target, key)
    asyncio.run(seed_events(dsn, account_name, customer_id, start, events))
    upcoming = upcoming_p50_ms(target, key, subscription_id, samples)
    anchor = asyncio.run(plain_sql_p50_ms(dsn, account_name, customer_id, start, max(3, samples // 10)))
    return Row("upcoming", f"GetUpcomingInvoice p50, {events:,} events in the period (mid-period)", upcoming,
               "ms", "plain SQL over the raw events", anchor, ratio_at_most(0.2, value_at_most=20, unit="ms"),
               "Python client (1 in flight); asyncpg")  # fmt: skip
