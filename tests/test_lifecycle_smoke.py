"""The lifecycle end to end: add a line, issue with a credit, pay; issue and void gives the credit back."""

from __future__ import annotations

from decimal import Decimal

from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2, invoice_service_pb2

from tests.support.builders import add_line_request, create_customer, create_invoice, date
from tests.support.client import Api


async def test_add_line_issue_then_mark_paid(api: Api) -> None:
    customer = await create_customer(api)
    draft = await create_invoice(api, customer)
    line = await api.invoices.CreateInvoiceLineItem(add_line_request(draft.id, "12.00", name="Setup"))
    assert line.amount == "12.00"
    issued = await api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id))
    assert issued.status == invoice_pb2.INVOICE_STATUS_ISSUED
    assert issued.total == "42.00"
    assert issued.invoice_number.endswith("-00001")
    assert issued.version == draft.version + 2
    paid = await api.invoices.MarkInvoicePaid(
        invoice_service_pb2.MarkInvoicePaidRequest(
            invoice_id=draft.id, payment_received_date=date("2024-02-02"), external_id="wire-1"
        )
    )
    assert paid.status == invoice_pb2.INVOICE_STATUS_PAID
    assert [p.amount for p in paid.payments] == ["42.00"]


async def test_issue_applies_credit_and_void_returns_it(api: Api) -> None:
    customer = await create_customer(api)
    await api.customers.CreateBalanceTransaction(
        customer_service_pb2.CreateBalanceTransactionRequest(
            customer_id=customer.id, amount="10.00", type=customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT
        )
    )
    draft = await create_invoice(api, customer)
    issued = await api.invoices.IssueInvoice(invoice_service_pb2.IssueInvoiceRequest(invoice_id=draft.id))
    assert Decimal(issued.amount_due) == Decimal("20.00")
    voided = await api.invoices.VoidInvoice(invoice_service_pb2.VoidInvoiceRequest(invoice_id=draft.id))
    assert voided.status == invoice_pb2.INVOICE_STATUS_VOID
    after = await api.customers.GetCustomer(customer_service_pb2.GetCustomerRequest(customer_id=customer.id))
    assert after.balance == "10.00"
    actions = [t.action for t in voided.customer_balance_transactions]
    assert actions == [
        customer_pb2.BALANCE_TRANSACTION_ACTION_APPLIED_TO_INVOICE,
        customer_pb2.BALANCE_TRANSACTION_ACTION_RETURN_FROM_VOIDING,
    ]
