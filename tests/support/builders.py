"""Builders of valid requests and of the records they create, so that tests state only what matters to them.

Values (dates, instants), requests of every service with overrides, and the
`create_*` / `subscribe` shortcuts that send one through the API.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from google.type import date_pb2
from invoicing.v1 import (
    common_pb2,
    customer_pb2,
    customer_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    plan_service_pb2,
    price_pb2,
    subscription_service_pb2,
    usage_service_pb2,
)

from tests.support.client import Api

# --- values ----------------------------------------------------------------------------------------------


def date(day: dt.date | str) -> date_pb2.Date:
    """A google.type.Date from a date or "YYYY-MM-DD"."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def day_of(value: date_pb2.Date) -> dt.date:
    """The calendar date of a google.type.Date."""
    return dt.date(value.year, value.month, value.day)


def lines_by_name(invoice: invoice_pb2.Invoice) -> dict[str, tuple[str, str, dt.date, dt.date]]:
    """name → (quantity, amount, start date, end date) of each line."""
    return {li.name: (li.quantity, li.amount, day_of(li.start_date), day_of(li.end_date)) for li in invoice.line_items}


def at(text: str) -> dt.datetime:
    """An aware UTC instant from "YYYY-MM-DDTHH:MM"."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    """A Timestamp for an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def moment_of(value: timestamp_pb2.Timestamp) -> dt.datetime:
    """An aware UTC datetime from a Timestamp."""
    return value.ToDatetime(tzinfo=dt.UTC)


def today_utc() -> dt.date:
    """Today's date in UTC (the server's wall clock, outside the clocked server)."""
    return dt.datetime.now(dt.UTC).date()


def struct(entries: dict[str, Any]) -> struct_pb2.Struct:
    """A google.protobuf.Struct holding entries."""
    value = struct_pb2.Struct()
    value.update(entries)
    return value


# --- customers and one-off invoices ------------------------------------------------------------------


def customer_request(**overrides: Any) -> customer_service_pb2.CreateCustomerRequest:
    """A valid CreateCustomerRequest (USD, UTC) with overrides."""
    fields: dict[str, Any] = {
        "name": "Acme Corp",
        "email": "billing@acme.example",
        "external_customer_id": f"ext-{uuid.uuid4().hex[:10]}",
        "currency": "USD",
        "timezone": "UTC",
    }
    fields.update(overrides)
    return customer_service_pb2.CreateCustomerRequest(**fields)


async def create_customer(api: Api, **overrides: Any) -> customer_pb2.Customer:
    """Create a customer through the API."""
    result: customer_pb2.Customer = await api.customers.CreateCustomer(customer_request(**overrides))
    return result


def line(
    name: str = "Seats", quantity: str = "3", unit_amount: str = "10.00", **overrides: Any
) -> invoice_service_pb2.NewInvoiceLineItem:
    """A valid one-off line (service period 2024-01-01 to 2024-01-31) with overrides."""
    fields: dict[str, Any] = {
        "name": name,
        "quantity": quantity,
        "unit_amount": unit_amount,
        "start_date": date("2024-01-01"),
        "end_date": date("2024-01-31"),
    }
    fields.update(overrides)
    return invoice_service_pb2.NewInvoiceLineItem(**fields)


def invoice_request(customer: customer_pb2.Customer, **overrides: Any) -> invoice_service_pb2.CreateInvoiceRequest:
    """A valid CreateInvoiceRequest for the customer (one line, dated 2024-02-01) with overrides."""
    fields: dict[str, Any] = {
        "customer_id": customer.id,
        "currency": customer.currency,
        "invoice_date": date("2024-02-01"),
        "line_items": [line()],
    }
    fields.update(overrides)
    return invoice_service_pb2.CreateInvoiceRequest(**fields)


async def create_invoice(api: Api, customer: customer_pb2.Customer, **overrides: Any) -> invoice_pb2.Invoice:
    """Create a one-off invoice through the API."""
    result: invoice_pb2.Invoice = await api.invoices.CreateInvoice(invoice_request(customer, **overrides))
    return result


def add_line_request(
    invoice_id: str, amount: str = "5.00", **overrides: Any
) -> invoice_service_pb2.CreateInvoiceLineItemRequest:
    """A valid CreateInvoiceLineItemRequest (quantity 1, one-day period) with overrides."""
    fields: dict[str, Any] = {
        "invoice_id": invoice_id,
        "amount": amount,
        "quantity": "1",
        "name": "Extra",
        "start_date": date("2024-01-05"),
        "end_date": date("2024-01-05"),
    }
    fields.update(overrides)
    return invoice_service_pb2.CreateInvoiceLineItemRequest(**fields)


def mark_paid_request(invoice_id: str, **overrides: Any) -> invoice_service_pb2.MarkInvoicePaidRequest:
    """A valid MarkInvoicePaidRequest received yesterday (UTC), with overrides."""
    fields: dict[str, Any] = {
        "invoice_id": invoice_id,
        "payment_received_date": date(today_utc() - dt.timedelta(days=1)),
    }
    fields.update(overrides)
    return invoice_service_pb2.MarkInvoicePaidRequest(**fields)


def metadata_request(invoice_id: str, **change: Any) -> invoice_service_pb2.UpdateInvoiceRequest:
    """An UpdateInvoiceRequest that changes only the metadata (set, remove_keys, clear)."""
    return invoice_service_pb2.UpdateInvoiceRequest(invoice_id=invoice_id, metadata=common_pb2.MetadataChange(**change))


# --- plans and prices ------------------------------------------------------------------------------------


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


# The model a price config belongs to, and the Price field that holds it.
ModelConfig = price_pb2.TieredConfig | price_pb2.BulkConfig | price_pb2.PackageConfig | price_pb2.MatrixConfig
_MODELS: dict[type[ModelConfig], tuple[price_pb2.PriceModelType, str]] = {
    price_pb2.TieredConfig: (price_pb2.PRICE_MODEL_TYPE_TIERED, "tiered_config"),
    price_pb2.BulkConfig: (price_pb2.PRICE_MODEL_TYPE_BULK, "bulk_config"),
    price_pb2.PackageConfig: (price_pb2.PRICE_MODEL_TYPE_PACKAGE, "package_config"),
    price_pb2.MatrixConfig: (price_pb2.PRICE_MODEL_TYPE_MATRIX, "matrix_config"),
}


def usage_price(
    name: str = "API calls",
    unit_amount: str = "0.10",
    *,
    billable: price_pb2.BillableMetric | None = None,
    config: ModelConfig | None = None,
    **overrides: Any,
) -> price_pb2.Price:
    """A monthly usage price counting `api_call` events unless overridden: the unit model at unit_amount, or the
    model of `config` (a tiered, bulk, package or matrix config)."""
    fields: dict[str, Any] = {
        "name": name,
        "model_type": price_pb2.PRICE_MODEL_TYPE_UNIT,
        "price_type": price_pb2.PRICE_TYPE_USAGE_PRICE,
        "cadence": price_pb2.CADENCE_MONTHLY,
        "billable_metric": billable or metric(),
        "unit_config": price_pb2.UnitConfig(unit_amount=unit_amount),
    }
    if config is not None:
        model, field = _MODELS[type(config)]
        fields.update({"model_type": model, "unit_config": None, field: config})
    fields.update(overrides)
    return price_pb2.Price(**fields)


def percentage_off(fraction: str = "", **fields: Any) -> price_pb2.Discount:
    """A percentage discount (a fraction: "0.1" is 10% off)."""
    return price_pb2.Discount(discount_type=price_pb2.DISCOUNT_TYPE_PERCENTAGE, percentage_discount=fraction, **fields)


def amount_off(amount: str, **fields: Any) -> price_pb2.Discount:
    """An amount discount (money off)."""
    return price_pb2.Discount(discount_type=price_pb2.DISCOUNT_TYPE_AMOUNT, amount_discount=amount, **fields)


def usage_off(units: str, **fields: Any) -> price_pb2.Discount:
    """A usage discount (units not billed)."""
    return price_pb2.Discount(discount_type=price_pb2.DISCOUNT_TYPE_USAGE, usage_discount=units, **fields)


def tiered(*steps: tuple[str, str]) -> price_pb2.TieredConfig:
    """Graduated tiers from (first unit, unit amount) steps: each tier ends where the next begins, the last never."""
    ends = [first for first, _ in steps[1:]] + [""]
    return price_pb2.TieredConfig(
        tiers=[
            price_pb2.Tier(first_unit=first, last_unit=end, unit_amount=amount)
            for (first, amount), end in zip(steps, ends, strict=True)
        ]
    )


def bulk(*steps: tuple[str, str]) -> price_pb2.BulkConfig:
    """Bulk tiers from (maximum units, unit amount) steps; the last has no maximum ("")."""
    return price_pb2.BulkConfig(
        tiers=[price_pb2.BulkTier(maximum_units=maximum, unit_amount=amount) for maximum, amount in steps]
    )


def tokens_price() -> price_pb2.Price:
    """Orb's graduated example, over the sum of `llm` events' tokens: 0-10k @ 0.001, 10k-100k @ 0.0008, then 0.0005."""
    return usage_price(
        "Tokens",
        billable=metric("llm", price_pb2.AGGREGATION_SUM, "tokens"),
        config=tiered(("0", "0.001"), ("10000", "0.0008"), ("100000", "0.0005")),
    )


def plan_request(*prices: price_pb2.Price, **overrides: Any) -> plan_service_pb2.CreatePlanRequest:
    """A CreatePlanRequest in USD with the given prices."""
    fields: dict[str, Any] = {"name": "Pro", "currency": "USD", "prices": list(prices)}
    fields.update(overrides)
    return plan_service_pb2.CreatePlanRequest(**fields)


async def create_plan(api: Api, *prices: price_pb2.Price, **overrides: Any) -> plan_service_pb2.Plan:
    """Create a plan through the API."""
    plan: plan_service_pb2.Plan = await api.plans.CreatePlan(plan_request(*prices, **overrides))
    return plan


# --- subscriptions and usage -----------------------------------------------------------------------------


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
    subscription: subscription_service_pb2.Subscription = await api.subscriptions.CreateSubscription(
        subscription_service_pb2.CreateSubscriptionRequest(**fields)
    )
    return subscription


async def billed_per_call(
    api: Api, start: str, unit_amount: str, **overrides: Any
) -> tuple[customer_pb2.Customer, subscription_service_pb2.Subscription]:
    """A customer that issues its invoices itself, subscribed from `start` to a plan of one usage price, "Calls"
    at `unit_amount` an `api_call` event."""
    customer = await create_customer(api, auto_issuance=False)
    plan = await create_plan(api, usage_price("Calls", unit_amount))
    return customer, await subscribe(api, customer, plan, start, **overrides)


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
        fields["properties"] = struct(properties)
    fields.update(overrides)
    return usage_service_pb2.Event(**fields)
