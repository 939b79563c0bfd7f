"""One-line RPC shortcuts that return the typed response, for the calls tests make most often."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from invoicing.v1 import (
    customer_pb2,
    customer_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    subscription_service_pb2,
    usage_service_pb2,
)

from server.app import RunningServer
from tests.support.builders import date, mark_paid_request
from tests.support.client import Api
from tests.support.clock import Clock, run_billing
from tests.support.wire import DRAFT, ISSUED, PAID, SYNCED, VOID

ALL_STATUSES: list[invoice_pb2.InvoiceStatus] = [DRAFT, ISSUED, PAID, SYNCED, VOID]

# --- invoices --------------------------------------------------------------------------------------------


async def get_invoice(api: Api, invoice_id: str) -> invoice_pb2.Invoice:
    """GetInvoice."""
    result: invoice_pb2.Invoice = await api.invoices.GetInvoice(
        invoice_service_pb2.GetInvoiceRequest(invoice_id=invoice_id)
    )
    return result


async def issue(api: Api, invoice_id: str, **fields: Any) -> invoice_pb2.Invoice:
    """IssueInvoice."""
    result: invoice_pb2.Invoice = await api.invoices.IssueInvoice(
        invoice_service_pb2.IssueInvoiceRequest(invoice_id=invoice_id, **fields)
    )
    return result


async def mark_paid(api: Api, invoice_id: str, **overrides: Any) -> invoice_pb2.Invoice:
    """MarkInvoicePaid with a payment received yesterday."""
    result: invoice_pb2.Invoice = await api.invoices.MarkInvoicePaid(mark_paid_request(invoice_id, **overrides))
    return result


async def void(api: Api, invoice_id: str, **fields: Any) -> invoice_pb2.Invoice:
    """VoidInvoice."""
    result: invoice_pb2.Invoice = await api.invoices.VoidInvoice(
        invoice_service_pb2.VoidInvoiceRequest(invoice_id=invoice_id, **fields)
    )
    return result


async def invoices_of(api: Api, **filters: Any) -> list[invoice_pb2.Invoice]:
    """Every invoice (any status) matching the ListInvoices filters, oldest invoice date first."""
    request = invoice_service_pb2.ListInvoicesRequest(status=ALL_STATUSES, **filters)
    found = [invoice async for batch in api.invoices.ListInvoices(request) for invoice in batch.invoices]
    return sorted(found, key=lambda i: (i.invoice_date.year, i.invoice_date.month, i.invoice_date.day, i.id))


async def upcoming(api: Api, subscription_id: str) -> invoice_pb2.UpcomingInvoice:
    """GetUpcomingInvoice."""
    result: invoice_pb2.UpcomingInvoice = await api.invoices.GetUpcomingInvoice(
        invoice_service_pb2.GetUpcomingInvoiceRequest(subscription_id=subscription_id)
    )
    return result


async def previewed_and_generated(
    api: Api, server: RunningServer, clock: Clock, subscription_id: str, preview_at: dt.datetime, run_at: dt.datetime
) -> tuple[invoice_pb2.Invoice, invoice_pb2.Invoice]:
    """The subscription's upcoming invoice at `preview_at` (before a period boundary), and the one invoice the
    period-end run at `run_at` (after it) generates."""
    clock.set(preview_at)
    preview = (await upcoming(api, subscription_id)).invoice
    before = {i.id for i in await invoices_of(api, subscription_id=subscription_id)}
    await run_billing(server, clock, run_at)
    [generated] = [i for i in await invoices_of(api, subscription_id=subscription_id) if i.id not in before]
    return preview, generated


# --- customers and their ledger --------------------------------------------------------------------------


async def get_customer(api: Api, customer_id: str) -> customer_pb2.Customer:
    """GetCustomer by id."""
    result: customer_pb2.Customer = await api.customers.GetCustomer(
        customer_service_pb2.GetCustomerRequest(customer_id=customer_id)
    )
    return result


async def balance_of(api: Api, customer_id: str) -> Decimal:
    """The customer's current balance."""
    return Decimal((await get_customer(api, customer_id)).balance)


async def adjust_balance(api: Api, customer_id: str, amount: Decimal | str) -> customer_pb2.BalanceTransaction:
    """A manual balance adjustment: an increment for a positive amount, a decrement for a negative one."""
    value = Decimal(amount)
    kind = customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT
    if value < 0:
        kind = customer_pb2.BALANCE_TRANSACTION_TYPE_DECREMENT
    result: customer_pb2.BalanceTransaction = await api.customers.CreateBalanceTransaction(
        customer_service_pb2.CreateBalanceTransactionRequest(customer_id=customer_id, amount=str(abs(value)), type=kind)
    )
    return result


async def ledger(api: Api, customer_id: str = "", **fields: Any) -> list[customer_pb2.BalanceTransaction]:
    """Every balance transaction a ListBalanceTransactions stream delivers (newest first), in order."""
    request = customer_service_pb2.ListBalanceTransactionsRequest(customer_id=customer_id, **fields)
    return [t async for batch in api.customers.ListBalanceTransactions(request) for t in batch.balance_transactions]


# --- subscriptions and usage -----------------------------------------------------------------------------


async def get_subscription(api: Api, subscription_id: str) -> subscription_service_pb2.Subscription:
    """GetSubscription."""
    subscription: subscription_service_pb2.Subscription = await api.subscriptions.GetSubscription(
        subscription_service_pb2.GetSubscriptionRequest(subscription_id=subscription_id)
    )
    return subscription


async def list_subscriptions(api: Api, **fields: Any) -> list[subscription_service_pb2.Subscription]:
    """Every subscription a ListSubscriptions stream delivers, in order."""
    request = subscription_service_pb2.ListSubscriptionsRequest(**fields)
    return [s async for batch in api.subscriptions.ListSubscriptions(request) for s in batch.subscriptions]


async def cancel(
    api: Api,
    subscription_id: str,
    option: subscription_service_pb2.CancelOption,
    on: str | None = None,
    request_id: str = "",
) -> subscription_service_pb2.Subscription:
    """CancelSubscription (on the date "YYYY-MM-DD", when given)."""
    request = subscription_service_pb2.CancelSubscriptionRequest(
        subscription_id=subscription_id, cancel_option=option, request_id=request_id
    )
    if on is not None:
        request.cancellation_date.CopyFrom(date(on))
    result: subscription_service_pb2.Subscription = await api.subscriptions.CancelSubscription(request)
    return result


async def ingest(api: Api, events: Sequence[usage_service_pb2.Event]) -> usage_service_pb2.IngestEventsResponse:
    """IngestEvents with one batch."""
    response: usage_service_pb2.IngestEventsResponse = await api.usage.IngestEvents(
        usage_service_pb2.IngestEventsRequest(events=list(events))
    )
    return response


async def ingest_ok(api: Api, events: Sequence[usage_service_pb2.Event]) -> None:
    """IngestEvents with one batch whose events must all be accepted."""
    response = await ingest(api, events)
    assert list(response.errors) == []


async def change_plan(
    api: Api,
    subscription_id: str,
    plan_id: str,
    option: subscription_service_pb2.ChangeOption,
    on: str | None = None,
    request_id: str = "",
) -> subscription_service_pb2.SubscriptionChangeResponse:
    """ChangeSubscriptionPlan (on the date "YYYY-MM-DD", when given)."""
    request = subscription_service_pb2.ChangeSubscriptionPlanRequest(
        subscription_id=subscription_id, plan_id=plan_id, change_option=option, request_id=request_id
    )
    return await _change(api.subscriptions.ChangeSubscriptionPlan, request, on)


async def change_quantity(
    api: Api,
    subscription_id: str,
    price_id: str,
    quantity: str,
    option: subscription_service_pb2.ChangeOption,
    on: str | None = None,
    request_id: str = "",
) -> subscription_service_pb2.SubscriptionChangeResponse:
    """UpdateFixedFeeQuantity (on the date "YYYY-MM-DD", when given)."""
    request = subscription_service_pb2.UpdateFixedFeeQuantityRequest(
        subscription_id=subscription_id,
        price_id=price_id,
        quantity=quantity,
        change_option=option,
        request_id=request_id,
    )
    return await _change(api.subscriptions.UpdateFixedFeeQuantity, request, on)


async def _change(
    rpc: Callable[[Any], Awaitable[subscription_service_pb2.SubscriptionChangeResponse]], request: Any, on: str | None
) -> subscription_service_pb2.SubscriptionChangeResponse:
    """A subscription change RPC, on the date "YYYY-MM-DD" when given."""
    if on is not None:
        request.change_date.CopyFrom(date(on))
    return await rpc(request)


async def subscription_changes(api: Api, subscription_id: str) -> list[subscription_service_pb2.SubscriptionChange]:
    """Every change a ListSubscriptionChanges stream delivers (newest first), in order."""
    request = subscription_service_pb2.ListSubscriptionChangesRequest(subscription_id=subscription_id)
    return [c async for batch in api.subscriptions.ListSubscriptionChanges(request) for c in batch.changes]
