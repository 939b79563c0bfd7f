"""Builders for plans, prices, subscriptions and usage events, shared by the billing engine tests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from google.type import date_pb2
from invoicing.v1 import (
    customer_pb2,
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

from tests.client import Api
from tests.factories import date

ALL_STATUSES = (
    invoice_pb2.INVOICE_STATUS_DRAFT,
    invoice_pb2.INVOICE_STATUS_ISSUED,
    invoice_pb2.INVOICE_STATUS_PAID,
    invoice_pb2.INVOICE_STATUS_SYNCED,
    invoice_pb2.INVOICE_STATUS_VOID,
)


@dataclass
class Stubs:
    """The billing services on an authenticated channel."""

    plans: plan_service_pb2_grpc.PlanServiceStub
    subscriptions: subscription_service_pb2_grpc.SubscriptionServiceStub
    usage: usage_service_pb2_grpc.UsageServiceStub


def stubs(api: Api) -> Stubs:
    """PlanService, SubscriptionService and UsageService stubs on the api's channel."""
    return Stubs(
        plans=plan_service_pb2_grpc.PlanServiceStub(api.channel),
        subscriptions=subscription_service_pb2_grpc.SubscriptionServiceStub(api.channel),
        usage=usage_service_pb2_grpc.UsageServiceStub(api.channel),
    )


# --- time ----------------------------------------------------------------------------------------


def at(text: str) -> dt.datetime:
    """An aware UTC instant from "YYYY-MM-DDTHH:MM"."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def day_of(value: date_pb2.Date) -> dt.date:
    """A date from a google.type.Date."""
    return dt.date(value.year, value.month, value.day)


def moment_of(value: Any) -> dt.datetime:
    """An aware datetime from a Timestamp."""
    result: dt.datetime = value.ToDatetime(tzinfo=dt.UTC)
    return result


# --- prices --------------------------------------------------------------------------------------


def fixed_fee(
    name: str = "Platform", amount: str = "100.00", *, quantity: str = "", **overrides: Any
) -> price_pb2.Price:
    """A monthly fixed fee (unit model), billed in advance unless overridden."""
    fields: dict[str, Any] = {
        "name": name,
        "model_type": price_pb2.PRICE_MODEL_TYPE_UNIT,
        "price_type": price_pb2.PRICE_TYPE_FIXED_PRICE,
        "cadence": price_pb2.CADENCE_MONTHLY,
        "unit_config": price_pb2.UnitConfig(unit_amount=amount),
        "fixed_price_quantity": quantity,
    }
    fields.update(overrides)
    return price_pb2.Price(**fields)


def metric(
    event_name: str = "api_call",
    aggregation: price_pb2.Aggregation = price_pb2.AGGREGATION_COUNT,
    prop: str = "",
) -> price_pb2.BillableMetric:
    """A billable metric."""
    return price_pb2.BillableMetric(event_name=event_name, aggregation=aggregation, property=prop)


def usage_price(
    name: str = "API calls",
    unit_amount: str = "0.10",
    *,
    billable: price_pb2.BillableMetric | None = None,
    **overrides: Any,
) -> price_pb2.Price:
    """A monthly usage price (unit model, counting `api_call` events unless overridden)."""
    fields: dict[str, Any] = {
        "name": name,
        "model_type": price_pb2.PRICE_MODEL_TYPE_UNIT,
        "price_type": price_pb2.PRICE_TYPE_USAGE_PRICE,
        "cadence": price_pb2.CADENCE_MONTHLY,
        "billable_metric": billable or metric(),
        "unit_config": price_pb2.UnitConfig(unit_amount=unit_amount),
    }
    fields.update(overrides)
    return price_pb2.Price(**fields)


def plan_request(*prices: price_pb2.Price, **overrides: Any) -> plan_service_pb2.CreatePlanRequest:
    """A CreatePlanRequest in USD with the given prices."""
    fields: dict[str, Any] = {"name": "Pro", "currency": "USD", "prices": list(prices)}
    fields.update(overrides)
    return plan_service_pb2.CreatePlanRequest(**fields)


async def create_plan(api: Api, *prices: price_pb2.Price, **overrides: Any) -> plan_service_pb2.Plan:
    """Create a plan through the API."""
    plan: plan_service_pb2.Plan = await stubs(api).plans.CreatePlan(plan_request(*prices, **overrides))
    return plan


# --- subscriptions ----------------------------------------------------------------------------------


async def subscribe(
    api: Api,
    customer: customer_pb2.Customer,
    plan: plan_service_pb2.Plan,
    start: str,
    **overrides: Any,
) -> subscription_service_pb2.Subscription:
    """Subscribe the customer to the plan from `start` ("YYYY-MM-DD")."""
    fields: dict[str, Any] = {"customer_id": customer.id, "plan_id": plan.id, "start_date": date(start)}
    fields.update(overrides)
    subscription: subscription_service_pb2.Subscription = await stubs(api).subscriptions.CreateSubscription(
        subscription_service_pb2.CreateSubscriptionRequest(**fields)
    )
    return subscription


async def cancel(
    api: Api,
    subscription_id: str,
    option: subscription_service_pb2.CancelOption,
    on: str | None = None,
    request_id: str = "",
) -> subscription_service_pb2.Subscription:
    """CancelSubscription."""
    request = subscription_service_pb2.CancelSubscriptionRequest(
        subscription_id=subscription_id, cancel_option=option, request_id=request_id
    )
    if on is not None:
        request.cancellation_date.CopyFrom(date(on))
    result: subscription_service_pb2.Subscription = await stubs(api).subscriptions.CancelSubscription(request)
    return result


async def get_subscription(api: Api, subscription_id: str) -> subscription_service_pb2.Subscription:
    """GetSubscription."""
    subscription: subscription_service_pb2.Subscription = await stubs(api).subscriptions.GetSubscription(
        subscription_service_pb2.GetSubscriptionRequest(subscription_id=subscription_id)
    )
    return subscription


async def upcoming(api: Api, subscription_id: str) -> invoice_pb2.UpcomingInvoice:
    """GetUpcomingInvoice."""
    result: invoice_pb2.UpcomingInvoice = await api.invoices.GetUpcomingInvoice(
        invoice_service_pb2.GetUpcomingInvoiceRequest(subscription_id=subscription_id)
    )
    return result


def lines_by_name(invoice: invoice_pb2.Invoice) -> dict[str, tuple[str, str, dt.date, dt.date]]:
    """name → (quantity, amount, start date, end date) of each line."""
    return {li.name: (li.quantity, li.amount, day_of(li.start_date), day_of(li.end_date)) for li in invoice.line_items}


async def invoices_of(api: Api, **filters: Any) -> list[invoice_pb2.Invoice]:
    """Every invoice (any status) matching the ListInvoices filters, oldest invoice date first."""
    request = invoice_service_pb2.ListInvoicesRequest(status=ALL_STATUSES, **filters)
    found = [invoice async for batch in api.invoices.ListInvoices(request) for invoice in batch.invoices]
    return sorted(found, key=lambda i: (i.invoice_date.year, i.invoice_date.month, i.invoice_date.day, i.id))


# --- usage --------------------------------------------------------------------------------------------


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    """A Timestamp for an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def event(
    customer_id: str,
    when: dt.datetime | None,
    *,
    key: str | None = None,
    name: str = "api_call",
    properties: dict[str, Any] | None = None,
    **overrides: Any,
) -> usage_service_pb2.Event:
    """A usage event (a random idempotency key unless given)."""
    fields: dict[str, Any] = {
        "idempotency_key": key if key is not None else uuid.uuid4().hex,
        "customer_id": customer_id,
        "event_name": name,
    }
    if when is not None:
        fields["timestamp"] = timestamp(when)
    if properties is not None:
        struct = struct_pb2.Struct()
        struct.update(properties)
        fields["properties"] = struct
    fields.update(overrides)
    return usage_service_pb2.Event(**fields)


async def ingest(api: Api, events: Sequence[usage_service_pb2.Event]) -> usage_service_pb2.IngestEventsResponse:
    """IngestEvents with one batch."""
    response: usage_service_pb2.IngestEventsResponse = await stubs(api).usage.IngestEvents(
        usage_service_pb2.IngestEventsRequest(events=list(events))
    )
    return response


async def ingest_ok(api: Api, events: Sequence[usage_service_pb2.Event]) -> None:
    """Ingest events that must all be accepted."""
    response = await ingest(api, events)
    assert list(response.errors) == []
