"""Invoices and their line items (SQL only).

An invoice is read in one statement: its columns, its line items and its
balance transactions aggregated as JSON whose numbers are text, so that the
API converters build protos straight from the row and money never passes
through float.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from server.domain import money
from server.domain.errors import NotFound
from server.domain.ids import new_id
from server.domain.invoices import InvoiceFilter, InvoiceSource, InvoiceStatus, Line, Totals

_LINE_JSON = """
    jsonb_build_object(
        'id', li.id, 'name', li.name, 'quantity', li.quantity::text, 'start_date', li.start_date,
        'end_date', li.end_date, 'subtotal', li.subtotal::text, 'adjustments', li.adjustments,
        'adjusted_subtotal', li.adjusted_subtotal::text, 'credits_applied', li.credits_applied::text,
        'partially_invoiced_amount', li.partially_invoiced_amount::text, 'amount', li.amount::text,
        'sub_line_items', li.sub_line_items, 'price', li.price, 'is_one_off', li.is_one_off)
"""

_TRANSACTION_JSON = """
    jsonb_build_object(
        'id', t.id, 'customer_id', t.customer_id, 'action', t.action, 'type', t.type, 'amount', t.amount::text,
        'starting_balance', t.starting_balance::text, 'ending_balance', t.ending_balance::text,
        'invoice_id', t.invoice_id, 'credit_note_id', t.credit_note_id, 'description', t.description,
        'created_at', t.created_at)
"""

INVOICE_SELECT = f"""
SELECT i.id, i.version, i.status, i.invoice_source, i.invoice_number, i.customer_id, c.external_customer_id,
    i.subscription_id, i.currency, i.invoice_date, i.due_date, i.net_terms, i.subtotal::text AS subtotal,
    i.total::text AS total, i.amount_due::text AS amount_due, i.memo, i.metadata, i.discounts,
    i.minimum_amount::text AS minimum_amount, i.maximum_amount::text AS maximum_amount, i.auto_collection,
    i.will_auto_issue, i.billing_address, i.shipping_address, i.customer_tax_id, i.hosted_invoice_url,
    i.invoice_pdf, i.eligible_to_issue_at, i.scheduled_issue_at, i.issued_at, i.paid_at, i.voided_at,
    i.issue_failed_at, i.payment_started_at, i.payment_failed_at, i.sync_failed_at, i.created_at, i.updated_at,
    (SELECT coalesce(jsonb_agg({_LINE_JSON} ORDER BY li.position), '[]')
       FROM invoice_line_items li WHERE li.account_id = i.account_id AND li.invoice_id = i.id) AS line_items,
    (SELECT coalesce(jsonb_agg({_TRANSACTION_JSON} ORDER BY t.created_at, t.id), '[]')
       FROM customer_balance_transactions t
      WHERE t.account_id = i.account_id AND t.invoice_id = i.id) AS balance_transactions
FROM invoices i JOIN customers c ON c.account_id = i.account_id AND c.id = i.customer_id
"""


def _price_json(line: Line, currency: str) -> dict[str, Any]:
    """The one-off unit price of a one-off line."""
    return {
        "id": new_id("price"),
        "name": line.name,
        "model_type": "unit",
        "price_type": "fixed_price",
        "cadence": "one_time",
        "billing_mode": "in_advance",
        "currency": currency,
        "fixed_price_quantity": money.to_wire(line.quantity),
        "unit_config": {"unit_amount": money.to_wire(line.unit_amount)},
    }


def _adjustments_json(line: Line) -> list[dict[str, Any]]:
    return [
        {
            "id": new_id("adj"),
            "adjustment_type": a.kind.value,
            "amount": money.to_wire(a.amount),
            "configured": money.to_wire(a.configured),
            "is_invoice_level": a.is_invoice_level,
            "reason": a.reason,
        }
        for a in line.adjustments
    ]


async def insert(
    conn: asyncpg.Connection,
    account_id: str,
    *,
    customer: asyncpg.Record,
    source: InvoiceSource,
    currency: str,
    invoice_date: dt.date,
    due_date: dt.date | None,
    net_terms: int,
    lines: Sequence[Line],
    totals: Totals,
    memo: str,
    metadata: dict[str, str],
    discounts: list[dict[str, str]],
    auto_collection: bool,
    will_auto_issue: bool,
) -> str:
    """Insert a draft invoice and its lines; return its id."""
    invoice_id = new_id("inv")
    await conn.execute(
        """
        INSERT INTO invoices (account_id, id, customer_id, invoice_source, status, currency, invoice_date, due_date,
            net_terms, subtotal, total, amount_due, memo, metadata, discounts, auto_collection, will_auto_issue,
            billing_address, shipping_address, customer_tax_id)
        VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17, $18)
        """,
        account_id,
        invoice_id,
        customer["id"],
        source.value,
        currency,
        invoice_date,
        due_date,
        net_terms,
        totals.subtotal,
        totals.total,
        memo,
        metadata,
        discounts,
        auto_collection,
        will_auto_issue,
        customer["billing_address"],
        customer["shipping_address"],
        customer["tax_id"],
    )
    await insert_lines(conn, account_id, invoice_id, lines, currency, first_position=0)
    return invoice_id


async def insert_lines(
    conn: asyncpg.Connection,
    account_id: str,
    invoice_id: str,
    lines: Sequence[Line],
    currency: str,
    *,
    first_position: int,
) -> list[str]:
    """Append lines to an invoice in one statement; return their ids."""
    ids = [new_id("ili") for _ in lines]
    await conn.execute(
        """
        INSERT INTO invoice_line_items (account_id, invoice_id, id, position, name, quantity, unit_amount,
            start_date, end_date, subtotal, adjustments, adjusted_subtotal, credits_applied,
            partially_invoiced_amount, amount, price, is_one_off)
        SELECT $1, $2, u.id, u.position, u.name, u.quantity, u.unit_amount, u.start_date, u.end_date, u.subtotal,
            u.adjustments::jsonb, u.adjusted_subtotal, $16, $16, u.amount, u.price::jsonb, u.is_one_off
        FROM unnest($3::text[], $4::int[], $5::text[], $6::numeric[], $7::numeric[], $8::date[], $9::date[],
            $10::numeric[], $11::text[], $12::numeric[], $13::numeric[], $14::text[], $15::bool[])
            AS u(id, position, name, quantity, unit_amount, start_date, end_date, subtotal, adjustments,
                 adjusted_subtotal, amount, price, is_one_off)
        """,
        account_id,
        invoice_id,
        ids,
        list(range(first_position, first_position + len(lines))),
        [li.name for li in lines],
        [li.quantity for li in lines],
        [li.unit_amount for li in lines],
        [li.start_date for li in lines],
        [li.end_date for li in lines],
        [li.subtotal for li in lines],
        [json.dumps(_adjustments_json(li)) for li in lines],
        [li.adjusted_subtotal for li in lines],
        [li.amount for li in lines],
        [json.dumps(_price_json(li, currency)) for li in lines],
        [li.is_one_off for li in lines],
        money.zero(currency),
    )
    return ids


async def get(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> asyncpg.Record:
    """One invoice with its lines and balance transactions; NotFound otherwise."""
    row: asyncpg.Record | None = await conn.fetchrow(
        INVOICE_SELECT + " WHERE i.account_id = $1 AND i.id = $2", account_id, invoice_id
    )
    if row is None:
        raise NotFound("invoice", invoice_id)
    return row


def list_query(account_id: str, filters: InvoiceFilter, after: tuple[dt.date, str] | None) -> tuple[str, list[Any]]:
    """SQL and arguments listing invoices by invoice date (newest first, ties by id) after a keyset position."""
    args: list[Any] = [account_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = ["i.account_id = $1", f"i.status = ANY({arg([s.value for s in filters.statuses])}::text[])"]
    if filters.customer_id is not None:
        conditions.append(f"i.customer_id = {arg(filters.customer_id)}")
    if filters.external_customer_id is not None:
        conditions.append(f"c.external_customer_id = {arg(filters.external_customer_id)}")
    if filters.subscription_id is not None:
        conditions.append(f"i.subscription_id = {arg(filters.subscription_id)}")
    date_column = "i.due_date" if filters.filter_by_due_date else "i.invoice_date"
    bounds: list[tuple[str, str, Any]] = [
        ("i.due_date", "=", filters.due_date),
        ("i.due_date", ">", filters.due_date_gt),
        ("i.due_date", "<", filters.due_date_lt),
        ("i.due_date", ">=", filters.due_date_from),
        ("i.due_date", "<=", filters.due_date_to),
        (date_column, ">", filters.date_gt),
        (date_column, ">=", filters.date_gte),
        (date_column, "<", filters.date_lt),
        (date_column, "<=", filters.date_lte),
        ("i.total", "=", filters.amount),
        ("i.total", ">", filters.amount_gt),
        ("i.total", "<", filters.amount_lt),
    ]
    for column, op, value in bounds:
        if value is not None:
            cast = "::numeric" if isinstance(value, Decimal) else "::date"
            conditions.append(f"{column} {op} {arg(value)}{cast}")
    if filters.is_recurring is not None:
        op = "=" if filters.is_recurring else "<>"
        conditions.append(f"i.invoice_source {op} '{InvoiceSource.SUBSCRIPTION.value}'")
    if after is not None:
        conditions.append(f"(i.invoice_date, i.id) < ({arg(after[0])}::date, {arg(after[1])})")
    sql = INVOICE_SELECT + " WHERE " + " AND ".join(conditions) + " ORDER BY i.invoice_date DESC, i.id DESC"
    return sql, args


def status_of(row: asyncpg.Record) -> InvoiceStatus:
    """The status column of an invoice record."""
    return InvoiceStatus(row["status"])
