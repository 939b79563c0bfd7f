"""The billing engine end to end: plan, subscription, usage, upcoming invoice, period-end invoice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from google.protobuf import struct_pb2, timestamp_pb2
from invoicing.v1 import (
    invoice_pb2,
    invoice_service_pb2,
    plan_service_pb2,
    plan_service_pb2_grpc,
    price_pb2,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
    usage_service_pb2,
    usage_service_pb2_grpc,
)

from server.app import RunningServer
from tests.billing_support import Clock
from tests.client import Api
from tests.factories import create_customer, date


def _event(key: str, customer_id: str, when: dt.datetime, tokens: str) -> usage_service_pb2.Event:
    properties = struct_pb2.Struct()
    properties.update({"tokens": tokens})
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return usage_service_pb2.Event(
        idempotency_key=key, customer_id=customer_id, event_name="llm", timestamp=stamp, properties=properties
    )


async def test_upcoming_invoice_equals_the_generated_one(
    clocked_api: Api, clocked_server: RunningServer, clock: Clock
) -> None:
    clock.set(dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC))
    plans = plan_service_pb2_grpc.PlanServiceStub(clocked_api.channel)
    subscriptions = subscription_service_pb2_grpc.SubscriptionServiceStub(clocked_api.channel)
    usage = usage_service_pb2_grpc.UsageServiceStub(clocked_api.channel)
    customer = await create_customer(clocked_api, auto_issuance=True)
    plan = await plans.CreatePlan(
        plan_service_pb2.CreatePlanRequest(
            name="Pro",
            currency="USD",
            prices=[
                price_pb2.Price(
                    name="Platform",
                    model_type=price_pb2.PRICE_MODEL_TYPE_UNIT,
                    price_type=price_pb2.PRICE_TYPE_FIXED_PRICE,
                    cadence=price_pb2.CADENCE_MONTHLY,
                    unit_config=price_pb2.UnitConfig(unit_amount="100.00"),
                ),
                price_pb2.Price(
                    name="Tokens",
                    model_type=price_pb2.PRICE_MODEL_TYPE_TIERED,
                    price_type=price_pb2.PRICE_TYPE_USAGE_PRICE,
                    cadence=price_pb2.CADENCE_MONTHLY,
                    billable_metric=price_pb2.BillableMetric(
                        event_name="llm", aggregation=price_pb2.AGGREGATION_SUM, property="tokens"
                    ),
                    tiered_config=price_pb2.TieredConfig(
                        tiers=[
                            price_pb2.Tier(first_unit="0", last_unit="10000", unit_amount="0.001"),
                            price_pb2.Tier(first_unit="10000", last_unit="100000", unit_amount="0.0008"),
                            price_pb2.Tier(first_unit="100000", unit_amount="0.0005"),
                        ]
                    ),
                ),
            ],
        )
    )
    subscription = await subscriptions.CreateSubscription(
        subscription_service_pb2.CreateSubscriptionRequest(
            customer_id=customer.id, plan_id=plan.id, start_date=date("2024-01-01")
        )
    )
    assert subscription.current_billing_period_start_date == date("2024-01-01")
    assert subscription.current_billing_period_end_date == date("2024-02-01")
    result = await usage.IngestEvents(
        usage_service_pb2.IngestEventsRequest(
            events=[
                _event("e1", customer.id, dt.datetime(2024, 1, 3, tzinfo=dt.UTC), "100000"),
                _event("e2", customer.id, dt.datetime(2024, 1, 9, 23, 59, tzinfo=dt.UTC), "50000"),
                _event("e1", customer.id, dt.datetime(2024, 1, 3, tzinfo=dt.UTC), "100000"),
            ]
        )
    )
    assert (result.ingested, result.duplicates, list(result.errors)) == (2, 1, [])
    upcoming = await clocked_api.invoices.GetUpcomingInvoice(
        invoice_service_pb2.GetUpcomingInvoiceRequest(subscription_id=subscription.id)
    )
    assert upcoming.target_date == date("2024-02-01")
    amounts = {line.name: line.amount for line in upcoming.invoice.line_items}
    assert amounts == {"Tokens": "107.00", "Platform": "100.00"}

    clock.set(dt.datetime(2024, 2, 1, 13, tzinfo=dt.UTC))
    # Boundary 0 (January's fee in advance) and boundary 1; a second pass adds nothing.
    await clocked_server.runner.run_once(clock.now)
    clock.set(dt.datetime(2024, 2, 2, 1, tzinfo=dt.UTC))
    await clocked_server.runner.run_once(clock.now)
    listed = [
        invoice
        async for batch in clocked_api.invoices.ListInvoices(
            invoice_service_pb2.ListInvoicesRequest(
                subscription_id=subscription.id,
                status=[
                    invoice_pb2.INVOICE_STATUS_DRAFT,
                    invoice_pb2.INVOICE_STATUS_ISSUED,
                    invoice_pb2.INVOICE_STATUS_PAID,
                ],
            )
        )
        for invoice in batch.invoices
    ]
    assert len(listed) == 2
    february = next(i for i in listed if i.invoice_date == date("2024-02-01"))
    assert february.status == invoice_pb2.INVOICE_STATUS_ISSUED
    assert {line.name: line.amount for line in february.line_items} == amounts
    assert Decimal(february.total) == Decimal("207.00")
