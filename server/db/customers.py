"""Customers and their balance ledger (SQL only).

Rows become typed records in one place each (`customer_from`, `transaction_from`);
numerics arrive as Decimal, so money never passes through float.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import asyncpg

from server.db.records import fetch_row, record_from
from server.db.snapshots import ListQuery
from server.db.where import Where
from server.domain import money
from server.domain.customers import (
    Address,
    BalanceAction,
    BalanceDirection,
    BalanceMove,
    BalanceTransaction,
    Customer,
    CustomerChanges,
    CustomerRef,
    NewCustomer,
)
from server.domain.errors import AlreadyExists
from server.domain.ids import new_id
from server.domain.tax_ids import TaxId
from server.domain.validation import TimeRange

CUSTOMER_COLUMNS = """
    c.id, c.external_customer_id, c.name, c.email, c.currency, c.timezone, c.billing_address,
    c.shipping_address, c.tax_id, c.auto_collection, c.auto_issuance, c.net_terms, c.metadata,
    c.balance, c.created_at, c.updated_at, c.credit_balance
"""

TRANSACTION_COLUMNS = """
    t.id, t.customer_id, t.action, t.type, t.amount, t.starting_balance, t.ending_balance,
    t.invoice_id, t.credit_note_id, t.description, t.created_at
"""


def address_json(value: Address | TaxId | None) -> dict[str, Any] | None:
    """The stored JSON form of an address or a tax id (None stays None)."""
    return None if value is None else dataclasses.asdict(value)


def assignments(
    args: list[Any], plain: Mapping[str, object | None], parts: Mapping[str, Address | TaxId | None]
) -> list[str]:
    """The SET assignments of the changes named (None: unchanged), each value appended to `args`: a plain
    column as it is, an address or a tax id as its JSON form (an empty one removes it)."""
    result = []
    for column, value in plain.items():
        if value is not None:
            args.append(value)
            result.append(f"{column} = ${len(args)}")
    for column, part in parts.items():
        if part is not None:
            args.append(address_json(part) if any(dataclasses.astuple(part)) else None)
            result.append(f"{column} = ${len(args)}")
    return result


def customer_from(row: Mapping[str, Any]) -> Customer:
    """The customer of a row selected with CUSTOMER_COLUMNS."""
    return record_from(Customer, row)


def transaction_from(row: Mapping[str, Any]) -> BalanceTransaction:
    """The ledger row selected with TRANSACTION_COLUMNS (or its JSON form, numbers and times as text)."""
    return record_from(BalanceTransaction, row, direction=BalanceDirection(row["type"]))


async def insert(conn: asyncpg.Connection, account_id: str, customer: NewCustomer) -> Customer:
    """Insert a customer; AlreadyExists if its external id is taken."""
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO customers AS c (account_id, id, external_customer_id, name, email, currency, timezone,
                billing_address, shipping_address, tax_id, auto_collection, auto_issuance, net_terms, metadata, balance,
                credit_balance)
            VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
            RETURNING {CUSTOMER_COLUMNS}
            """,
            account_id,
            new_id("cus"),
            customer.external_customer_id,
            customer.name,
            customer.email,
            customer.currency,
            customer.timezone,
            address_json(customer.billing_address),
            address_json(customer.shipping_address),
            address_json(customer.tax_id),
            customer.auto_collection,
            customer.auto_issuance,
            customer.net_terms,
            customer.metadata,
            money.zero(customer.currency),
        )
    except asyncpg.UniqueViolationError as exc:
        raise _external_id_taken(customer.external_customer_id) from exc
    return customer_from(row)


def _external_id_taken(external_id: str) -> AlreadyExists:
    return AlreadyExists(
        "EXTERNAL_CUSTOMER_ID_TAKEN",
        f"a customer with external_customer_id {external_id!r} already exists",
        metadata={"external_customer_id": external_id},
    )


async def get(
    conn: asyncpg.Connection,
    account_id: str,
    *,
    customer_id: str = "",
    external_customer_id: str = "",
    lock: Literal["update", "share"] | None = None,
) -> Customer:
    """One customer by id or external id; NotFound otherwise. `lock` takes its row lock."""
    column, value = ("id", customer_id) if customer_id else ("external_customer_id", external_customer_id)
    clause = {None: "", "update": " FOR NO KEY UPDATE", "share": " FOR SHARE"}[lock]
    sql = f"SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE c.account_id = $1 AND c.{column} = $2{clause}"
    return customer_from(await fetch_row(conn, "customer", value, sql, account_id, value))


async def get_named(
    conn: asyncpg.Connection, account_id: str, ref: CustomerRef, *, lock: Literal["update", "share"] | None = None
) -> Customer:
    """The customer a reference names (by id or external id); NotFound otherwise. `lock` takes its row lock."""
    return await get(
        conn, account_id, customer_id=ref.customer_id, external_customer_id=ref.external_customer_id, lock=lock
    )


async def has_invoices(conn: asyncpg.Connection, account_id: str, customer_id: str) -> bool:
    """True once any invoice exists for the customer."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invoices WHERE account_id = $1 AND customer_id = $2)", account_id, customer_id
    )
    return found


async def update(
    conn: asyncpg.Connection, account_id: str, customer_id: str, changes: CustomerChanges, metadata: Mapping[str, str]
) -> Customer:
    """Write the named changes (the caller holds the row lock and computed the new metadata)."""
    args: list[Any] = [account_id, customer_id, metadata]
    plain = {
        "name": changes.name,
        "email": changes.email,
        "currency": changes.currency,
        "timezone": changes.timezone,
        "auto_collection": changes.auto_collection,
        "auto_issuance": changes.auto_issuance,
        "net_terms": changes.net_terms,
    }
    parts = {
        "billing_address": changes.billing_address,
        "shipping_address": changes.shipping_address,
        "tax_id": changes.tax_id,
    }
    changed = ["updated_at = now()", "metadata = $3", *assignments(args, plain, parts)]
    row = await conn.fetchrow(
        f"UPDATE customers c SET {', '.join(changed)} WHERE c.account_id = $1 AND c.id = $2 "
        f"RETURNING {CUSTOMER_COLUMNS}",
        *args,
    )
    return customer_from(row)


def list_query(account_id: str, created: TimeRange, after: tuple[dt.datetime, str] | None) -> ListQuery[Customer]:
    """SQL and arguments listing customers newest first, after a keyset position."""
    where = Where("c.account_id = $1", account_id)
    where.within(created, "c.created_at")
    return where.newest_first(f"SELECT {CUSTOMER_COLUMNS} FROM customers c", "c", after, customer_from)


async def insert_balance_transaction(
    conn: asyncpg.Connection,
    account_id: str,
    customer_id: str,
    action: BalanceAction,
    move: BalanceMove,
    *,
    description: str = "",
    invoice_id: str | None = None,
    credit_note_id: str | None = None,
) -> BalanceTransaction:
    """Append a ledger row and set the customer's balance to its ending balance.

    The caller holds the customer's row lock and computed `move` from the balance it read.
    """
    row = await conn.fetchrow(
        f"""
        WITH t AS (
            INSERT INTO customer_balance_transactions (account_id, id, customer_id, action, type, amount,
                starting_balance, ending_balance, invoice_id, description, credit_note_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            RETURNING *
        ), c AS (
            UPDATE customers SET balance = $8, updated_at = now() WHERE account_id = $1 AND id = $3
        )
        SELECT {TRANSACTION_COLUMNS} FROM t
        """,
        account_id,
        new_id("cbt"),
        customer_id,
        action.value,
        move.direction.value,
        move.amount,
        move.starting_balance,
        move.ending_balance,
        invoice_id,
        description,
        credit_note_id,
    )
    return transaction_from(row)


async def share_keys(conn: asyncpg.Connection, account_id: str, customer_ids: Sequence[str]) -> None:
    """Key-share-lock customers (in id order), as inserting their events will: taken before any invoice lock,
    so that such an insert never waits on a customer while holding an invoice (the one lock order)."""
    await conn.execute(
        "SELECT 1 FROM customers WHERE account_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR KEY SHARE",
        account_id,
        sorted(customer_ids),
    )


def transactions_query(
    account_id: str, customer_id: str, created: TimeRange, after: tuple[dt.datetime, str] | None
) -> ListQuery[BalanceTransaction]:
    """SQL and arguments listing a customer's ledger newest first, after a keyset position."""
    where = Where("t.account_id = $1 AND t.customer_id = $2", account_id, customer_id)
    where.within(created, "t.created_at")
    select = f"SELECT {TRANSACTION_COLUMNS} FROM customer_balance_transactions t"
    return where.newest_first(select, "t", after, transaction_from)
