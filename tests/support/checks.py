"""Invariants that many tests check: totals are the sum of their lines, balances the sum of their ledger."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import grpc
from invoicing.v1 import customer_pb2, customer_service_pb2, invoice_pb2

from tests.support.calls import balance_of, ledger
from tests.support.client import Api, expect_error


def signed(row: customer_pb2.BalanceTransaction) -> Decimal:
    """A ledger row's effect on the balance."""
    amount = Decimal(row.amount)
    return amount if row.type == customer_pb2.BALANCE_TRANSACTION_TYPE_INCREMENT else -amount


def assert_ledger_chains(newest_first: Sequence[customer_pb2.BalanceTransaction]) -> None:
    """From zero, oldest first, every row starts where the previous one ended and ends where its amount takes it."""
    previous_end = Decimal(0)
    for row in reversed(newest_first):
        assert Decimal(row.starting_balance) == previous_end, row
        assert Decimal(row.ending_balance) == Decimal(row.starting_balance) + signed(row), row
        previous_end = Decimal(row.ending_balance)


async def assert_balance_matches_ledger(api: Api, customer_id: str) -> Decimal:
    """Check the customer's balance equals the signed sum of its ledger, and each row adds up; return it."""
    rows = await ledger(api, customer_id)
    for row in rows:
        assert Decimal(row.ending_balance) == Decimal(row.starting_balance) + signed(row), row
    balance = await balance_of(api, customer_id)
    assert balance == sum((signed(row) for row in rows), Decimal(0))
    return balance


def assert_totals_are_sum_of_lines(invoice: invoice_pb2.Invoice) -> None:
    """total = sum of line amounts, subtotal = sum of line subtotals, each line's amount = its adjusted subtotal
    less what partial invoices billed of it and the prepaid credits it draws."""
    assert Decimal(invoice.total) == sum((Decimal(li.amount) for li in invoice.line_items), Decimal(0)), invoice.id
    assert Decimal(invoice.subtotal) == sum((Decimal(li.subtotal) for li in invoice.line_items), Decimal(0))
    for line in invoice.line_items:
        adjusted = Decimal(line.subtotal) + sum((Decimal(a.amount) for a in line.adjustments), Decimal(0))
        assert Decimal(line.adjusted_subtotal) == adjusted
        deducted = Decimal(line.partially_invoiced_amount) + Decimal(line.credits_applied)
        assert Decimal(line.amount) == adjusted - deducted


def sequence_of(number: str) -> int:
    """The sequence part of an invoice number ("ABC-00042" -> 42)."""
    prefix, _, sequence = number.rpartition("-")
    assert prefix, number
    assert sequence.isdigit(), number
    return int(sequence)


async def assert_customer_not_found(api: Api, customer: customer_pb2.Customer) -> None:
    """GetCustomer by the customer's id and by its external id both fail NOT_FOUND CUSTOMER_NOT_FOUND for api."""
    for request in (
        customer_service_pb2.GetCustomerRequest(customer_id=customer.id),
        customer_service_pb2.GetCustomerRequest(external_customer_id=customer.external_customer_id),
    ):
        error = await expect_error(api.customers.GetCustomer(request))
        assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "CUSTOMER_NOT_FOUND"), request
