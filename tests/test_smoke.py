"""The harness works end to end: a real server, a real channel, a real database."""

from __future__ import annotations

from decimal import Decimal

from invoicing.v1 import invoice_service_pb2

from tests.support.builders import create_customer, create_invoice
from tests.support.client import Api


async def test_create_then_get_invoice(api: Api) -> None:
    customer = await create_customer(api)
    created = await create_invoice(api, customer)
    fetched = await api.invoices.GetInvoice(invoice_service_pb2.GetInvoiceRequest(invoice_id=created.id))
    assert fetched == created
    assert Decimal(fetched.total) == Decimal("30.00")
