"""Customer use cases: create and change customers, and move their balance by hand."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from server.db import credits as credits_repo
from server.db import customers as repo
from server.db import snapshots
from server.db.pool import Database
from server.db.snapshots import ListQuery
from server.domain import money
from server.domain.customers import (
    BalanceAction,
    BalanceDirection,
    BalanceTransaction,
    Customer,
    CustomerChanges,
    CustomerRef,
    NewCustomer,
    move_balance,
)
from server.domain.errors import FailedPrecondition
from server.domain.pages import Page
from server.domain.validation import TimeRange
from server.usecases.reads import read
from server.usecases.unit import Tx

R = TypeVar("R")


@dataclass(frozen=True)
class ManualAdjustment:
    """CreateBalanceTransaction: credit (increment) or debit (decrement) a customer's balance by hand."""

    customer: CustomerRef
    direction: BalanceDirection
    amount: Decimal
    description: str


async def create_customer(tx: Tx, customer: NewCustomer) -> Customer:
    """CreateCustomer."""
    return await repo.insert(tx.conn, tx.account_id, customer)


async def update_customer(tx: Tx, ref: CustomerRef, changes: CustomerChanges) -> Customer:
    """UpdateCustomer: the named fields; currency and timezone only while nothing depends on them."""
    current = await _lock(tx, ref)
    if changes.currency not in (None, current.currency) and await credits_repo.has_blocks(
        tx.conn, tx.account_id, current.id
    ):
        raise FailedPrecondition(
            "CUSTOMER_HAS_CREDITS", "currency cannot change once the customer was granted credits", subject="currency"
        )
    if changes.currency is not None or changes.timezone is not None:
        changes.check_allowed(
            current_currency=current.currency,
            current_timezone=current.timezone,
            has_invoices=await repo.has_invoices(tx.conn, tx.account_id, current.id),
            balance=current.balance,
        )
    metadata = changes.metadata.apply(current.metadata) if changes.metadata else current.metadata
    return await repo.update(tx.conn, tx.account_id, current.id, changes, metadata)


async def adjust_balance(tx: Tx, adjustment: ManualAdjustment) -> BalanceTransaction:
    """CreateBalanceTransaction: one manual_adjustment ledger row; the balance follows it."""
    customer = await _lock(tx, adjustment.customer)
    amount = money.amount_in(adjustment.amount, customer.currency, "amount")
    move = move_balance(customer.balance, adjustment.direction, amount)
    return await repo.insert_balance_transaction(
        tx.conn, tx.account_id, customer.id, BalanceAction.MANUAL_ADJUSTMENT, move, description=adjustment.description
    )


async def get_customer(db: Database, account_id: str, ref: CustomerRef) -> Customer:
    """GetCustomer: by id or external id, with its current balance."""
    return await read(db, repo.get_named, account_id, ref)


def customer_row(ref: CustomerRef) -> str:
    """The row queue (`server.db.row_queues`) of the customer a request names, for the calls that lock that
    customer's row first (UpdateCustomer, CreateBalanceTransaction, GrantCredits, an auto-issued CreateInvoice)."""
    return f"customer:{ref.customer_id}" if ref.customer_id else f"customer.external:{ref.external_customer_id}"


async def _lock(tx: Tx, ref: CustomerRef) -> Customer:
    return await repo.get_named(tx.conn, tx.account_id, ref, lock="update")


def list_customers(
    db: Database, account_id: str, created: TimeRange, page: Page[tuple[dt.datetime, str]]
) -> AsyncGenerator[list[Customer], None]:
    """ListCustomers: newest first, from one snapshot, in batches."""
    return snapshots.batches(db, repo.list_query(account_id, created, page.after), page)


def list_balance_transactions(
    db: Database,
    account_id: str,
    ref: CustomerRef,
    created: TimeRange,
    page: Page[tuple[dt.datetime, str]],
) -> AsyncGenerator[list[BalanceTransaction], None]:
    """ListBalanceTransactions: a customer's ledger, newest first, from one snapshot, in batches."""

    def query(customer_id: str) -> ListQuery[BalanceTransaction]:
        return repo.transactions_query(account_id, customer_id, created, page.after)

    return customer_batches(db, account_id, ref, page, query)


async def customer_batches(
    db: Database, account_id: str, ref: CustomerRef, page: Page[Any], query: Callable[[str], ListQuery[R]]
) -> AsyncGenerator[list[R], None]:
    """A list of one customer's records: the customer found first (NotFound before the stream starts), then
    the batches of `query(customer id)` from one snapshot."""
    customer = await get_customer(db, account_id, ref)
    async with contextlib.aclosing(snapshots.batches(db, query(customer.id), page)) as stream:
        async for records in stream:
            yield records
