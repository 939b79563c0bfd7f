"""Scenario: GetUpcomingInvoice with a million usage events in the period, against a plain SQL aggregate."""

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
    invoice_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    price_pb2,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
)


def subscribe(target: str, key: str) -> tuple[str, str, dt.datetime]:
    """A customer billed for the sum of `tokens` since the start of this month: (customer, subscription, start)."""
    metadata = (("authorization", f"Bearer {key}"),)
    today = dt.datetime.now(dt.UTC).date()
    start = today.replace(day=1)
    with grpc.insecure_channel(target) as channel:
        customer = customer_service_pb2_grpc.CustomerServiceStub(channel).CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(name="Heavy user", email="heavy@bench.example", currency="USD"),
            metadata=metadata,
        )
        plan = plan_service_pb2_grpc.PlanServiceStub(channel).CreatePlan(
            plan_service_pb2.CreatePlanRequest(
                name="Tokens",
                currency="USD",
                prices=[
                    price_pb2.Price(
                        name="Tokens",
                        model_type=price_pb2.PRICE_MODEL_TYPE_UNIT,
                        price_type=price_pb2.PRICE_TYPE_USAGE_PRICE,
                        cadence=price_pb2.CADENCE_MONTHLY,
                        billable_metric=price_pb2.BillableMetric(
                            event_name="llm", aggregation=price_pb2.AGGREGATION_SUM, property="tokens"
                        ),
                        unit_config=price_pb2.UnitConfig(unit_amount="0.00001"),
                    )
                ],
            ),
            metadata=metadata,
        )
        subscription = subscription_service_pb2_grpc.SubscriptionServiceStub(channel).CreateSubscription(
            subscription_service_pb2.CreateSubscriptionRequest(
                customer_id=customer.id,
                plan_id=plan.id,
                start_date=date_pb2.Date(year=start.year, month=start.month, day=start.day),
            ),
            metadata=metadata,
        )
    return customer.id, subscription.id, dt.datetime.combine(start, dt.time(0), tzinfo=dt.UTC)


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
    """Median latency of GetUpcomingInvoice, 1 in flight."""
    request = invoice_service_pb2.GetUpcomingInvoiceRequest(subscription_id=subscription_id)
    metadata = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(target) as channel:
        stub = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        stub.GetUpcomingInvoice(request, metadata=metadata)
        samples = []
        for _ in range(count):
            begin = time.perf_counter_ns()
            stub.GetUpcomingInvoice(request, metadata=metadata)
            samples.append(time.perf_counter_ns() - begin)
    return statistics.median(samples) / 1e6


async def plain_sql_p50_ms(dsn: str, customer_id: str, start: dt.datetime, count: int) -> float:
    """Anchor: the same aggregate straight over the raw events, median of `count` runs."""
    conn = await asyncpg.connect(dsn)
    try:
        samples = []
        for _ in range(count):
            begin = time.perf_counter_ns()
            await conn.fetchval(
                "SELECT sum((properties ->> 'tokens')::numeric) FROM usage_events"
                " WHERE customer_id = $1 AND event_name = 'llm' AND occurred_at >= $2 AND occurred_at < now()",
                customer_id,
                start,
            )
            samples.append(time.perf_counter_ns() - begin)
        return statistics.median(samples) / 1e6
    finally:
        await conn.close()


def measure(target: str, dsn: str, key: str, account_name: str, events: int, runs: int) -> tuple[float, float]:
    """(GetUpcomingInvoice p50 ms, plain SQL p50 ms) with `events` events in the period."""
    customer_id, subscription_id, start = subscribe(target, key)
    asyncio.run(seed_events(dsn, account_name, customer_id, start, events))
    upcoming = upcoming_p50_ms(target, key, subscription_id, max(50, runs * 20))
    anchor = asyncio.run(plain_sql_p50_ms(dsn, customer_id, start, max(5, runs * 2)))
    return upcoming, anchor
