"""Demo data for `make run`: an account, its API key, customers and invoices.

The data is created through the public gRPC API of the running server, so it
goes through the same validation and rules as any client's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import grpc
from google.protobuf import timestamp_pb2
from google.type import date_pb2
from invoicing.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    common_pb2,
    customer_pb2,
    customer_service_pb2,
    customer_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    price_pb2,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
    usage_service_pb2,
    usage_service_pb2_grpc,
)

from server.keys import create_key, key_is_active

DEMO_ACCOUNT = "demo"
DEMO_PREFIX = "DEMO"
_KEY_FILE = "demo_api_key"


async def ensure_demo_key(dsn: str, data_dir: Path) -> str:
    """The demo account's API key: the one saved in data_dir if still active, else a new one."""
    path = data_dir / _KEY_FILE
    saved = await asyncio.to_thread(_read_key, path)
    if saved and await key_is_active(dsn, saved):
        return saved
    _, key = await create_key(dsn, DEMO_ACCOUNT, invoice_prefix=DEMO_PREFIX, description="demo key for make run")
    await asyncio.to_thread(_save_key, path, key)
    return key


def _read_key(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def _save_key(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    os.chmod(path, 0o600)


def _date(day: dt.date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


async def seed(target: str, key: str) -> bool:
    """Create demo customers and invoices unless the account already has customers; True if it seeded."""
    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
        invoices = invoice_service_pb2_grpc.InvoiceServiceStub(channel)
        existing = customers.ListCustomers(customer_service_pb2.ListCustomersRequest(limit=1), metadata=metadata)
        async for batch in existing:
            if batch.customers:
                return False
        # The seller the demo invoices' documents print (GetInvoiceDocument).
        await account_service_pb2_grpc.AccountServiceStub(channel).UpdateAccountProfile(
            account_service_pb2.UpdateAccountProfileRequest(
                name="Demo Analytics Inc.",
                email="billing@demo.example",
                address=common_pb2.Address(
                    line1="500 Market Street", city="San Francisco", state="CA", postal_code="94105", country="US"
                ),
                payment_instructions="Wire to First Example Bank, account 000123456789, quoting the invoice number.",
                request_id="demo-profile",
            ),
            metadata=metadata,
        )
        today = dt.datetime.now(dt.UTC).date()
        people = [
            ("Acme Corp", "billing@acme.example", "acme", "USD", "America/New_York"),
            ("Globex GmbH", "rechnung@globex.example", "globex", "EUR", "Europe/Berlin"),
            ("Umbrella KK", "seikyu@umbrella.example", "umbrella", "JPY", "Asia/Tokyo"),
        ]
        for name, email, external_id, currency, timezone in people:
            customer = await customers.CreateCustomer(
                customer_service_pb2.CreateCustomerRequest(
                    name=name,
                    email=email,
                    external_customer_id=external_id,
                    currency=currency,
                    timezone=timezone,
                    billing_address=common_pb2.Address(line1="1 Demo Street", city="Springfield", country="US"),
                    net_terms=30,
                    request_id=f"demo-customer-{external_id}",
                ),
                metadata=metadata,
            )
            await customers.CreateBalanceTransaction(
                customer_service_pb2.CreateBalanceTransactionRequest(
                    customer_id=customer.id,
                    amount="25" if currency == "JPY" else "25.00",
                    type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT,
                    description="welcome credit",
                    request_id=f"demo-credit-{external_id}",
                ),
                metadata=metadata,
            )
            unit = "1500" if currency == "JPY" else "12.50"
            for month in range(6):
                day = today - dt.timedelta(days=30 * month)
                invoice = await invoices.CreateInvoice(
                    invoice_service_pb2.CreateInvoiceRequest(
                        customer_id=customer.id,
                        currency=currency,
                        invoice_date=_date(day),
                        line_items=[
                            invoice_service_pb2.NewInvoiceLineItem(
                                name="Platform fee",
                                quantity="1",
                                unit_amount=unit,
                                start_date=_date(day - dt.timedelta(days=30)),
                                end_date=_date(day),
                            ),
                            invoice_service_pb2.NewInvoiceLineItem(
                                name="API calls",
                                quantity=str(1000 * (month + 1)),
                                unit_amount="0.0015" if currency != "JPY" else "0.2",
                                start_date=_date(day - dt.timedelta(days=30)),
                                end_date=_date(day),
                            ),
                        ],
                        memo="Thank you for your business.",
                        metadata={"source": "demo"},
                        discount=price_pb2.Discount(
                            discount_type=price_pb2.DISCOUNT_TYPE_PERCENTAGE,
                            percentage_discount="0.1",
                            reason="loyalty",
                        )
                        if month % 3 == 0
                        else None,
                        request_id=f"demo-invoice-{external_id}-{month}",
                    ),
                    metadata=metadata,
                )
                await _advance(invoices, invoice.id, month, day, metadata)
            if currency == "USD":
                await _subscribe(channel, customer.id, today, metadata)
    return True


async def _advance(
    invoices: invoice_service_pb2_grpc.InvoiceServiceStub,
    invoice_id: str,
    month: int,
    day: dt.date,
    metadata: tuple[tuple[str, str], ...],
) -> None:
    """Move demo invoices along the lifecycle: this month's stays draft, older ones are issued,
    most of them paid, one voided."""
    if month == 0:
        return
    await invoices.IssueInvoice(
        invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice_id, request_id=f"demo-issue-{invoice_id}"),
        metadata=metadata,
    )
    if month == 3:
        await invoices.VoidInvoice(
            invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice_id, request_id=f"demo-void-{invoice_id}"),
            metadata=metadata,
        )
    elif month >= 2:
        await invoices.MarkInvoicePaid(
            invoice_service_pb2.MarkInvoicePaidRequest(
                invoice_id=invoice_id,
                payment_received_date=_date(day + dt.timedelta(days=10)),
                external_id=f"wire-{invoice_id[-8:]}",
                notes="bank transfer",
                request_id=f"demo-pay-{invoice_id}",
            ),
            metadata=metadata,
        )


async def _subscribe(
    channel: grpc.aio.Channel, customer_id: str, today: dt.date, metadata: tuple[tuple[str, str], ...]
) -> None:
    """A plan with a platform fee and tiered API usage, a subscription since last month, and usage this month."""
    plans = plan_service_pb2_grpc.PlanServiceStub(channel)
    subscriptions = subscription_service_pb2_grpc.SubscriptionServiceStub(channel)
    usage = usage_service_pb2_grpc.UsageServiceStub(channel)
    plan = await plans.CreatePlan(
        plan_service_pb2.CreatePlanRequest(
            name="Growth",
            currency="USD",
            external_plan_id="growth",
            prices=[
                price_pb2.Price(
                    name="Platform fee",
                    model_type=price_pb2.PRICE_MODEL_TYPE_UNIT,
                    price_type=price_pb2.PRICE_TYPE_FIXED_PRICE,
                    cadence=price_pb2.CADENCE_MONTHLY,
                    unit_config=price_pb2.UnitConfig(unit_amount="49.00"),
                ),
                price_pb2.Price(
                    name="API calls",
                    model_type=price_pb2.PRICE_MODEL_TYPE_TIERED,
                    price_type=price_pb2.PRICE_TYPE_USAGE_PRICE,
                    cadence=price_pb2.CADENCE_MONTHLY,
                    billable_metric=price_pb2.BillableMetric(
                        event_name="api_call", aggregation=price_pb2.AGGREGATION_COUNT
                    ),
                    tiered_config=price_pb2.TieredConfig(
                        tiers=[
                            price_pb2.Tier(first_unit="0", last_unit="100", unit_amount="0"),
                            price_pb2.Tier(first_unit="100", unit_amount="0.05"),
                        ]
                    ),
                ),
            ],
            request_id="demo-plan-growth",
        ),
        metadata=metadata,
    )
    start = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    await subscriptions.CreateSubscription(
        subscription_service_pb2.CreateSubscriptionRequest(
            customer_id=customer_id, plan_id=plan.id, start_date=_date(start), request_id="demo-subscription"
        ),
        metadata=metadata,
    )
    now = dt.datetime.now(dt.UTC)
    month_start = dt.datetime.combine(today.replace(day=1), dt.time(0), tzinfo=dt.UTC)
    span = max((now - month_start).total_seconds(), 1.0)
    events = []
    for n in range(250):
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(month_start + dt.timedelta(seconds=span * n // 250))
        events.append(
            usage_service_pb2.Event(
                idempotency_key=f"demo-call-{n}", customer_id=customer_id, event_name="api_call", timestamp=stamp
            )
        )
    await usage.IngestEvents(usage_service_pb2.IngestEventsRequest(events=events), metadata=metadata)
