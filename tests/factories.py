"""Builders for valid requests, so tests state only what matters to them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from google.type import date_pb2
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2, invoice_service_pb2

from tests.client import Api


def date(day: dt.date | str) -> date_pb2.Date:
    """A google.type.Date from a date or "YYYY-MM-DD"."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


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
