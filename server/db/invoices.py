"""Invoices and their line items (SQL only).

An invoice is read in one statement: its columns, its line items, balance
transactions and payments aggregated as JSON (json, not jsonb: cheaper to
build, and parsed once in Python) whose numbers are text, so that the
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
from server.domain.errors import AlreadyExists, NotFound
from server.domain.ids import new_id
from server.domain.invoices import InvoiceFilter, InvoiceSource, Line, Totals

_LINE_JSON = """
    json_build_object(
        'id', li.id, 'name', li.name, 'quantity', li.quantity::text, 'start_date', li.start_date,
        'end_date', li.end_date, 'subtotal', li.subtotal::text, 'adjustments', li.adjustments,
        'adjusted_subtotal', li.adjusted_subtotal::text, 'credits_applied', li.credits_applied::text,
        'partially_invoiced_amount', li.partially_invoiced_amount::text, 'amount', li.amount::text,
        'sub_line_items', li.sub_line_items, 'price', li.price, 'is_one_off', li.is_one_off)
"""

_TRANSACTION_JSON = """
    json_build_object(
        'id', t.id, 'customer_id', t.customer_id, 'action', t.action, 'type', t.type, 'amount', t.amount::text,
        'starting_balance', t.starting_balance::text, 'ending_balance', t.ending_balance::text,
        'invoice_id', t.invoice_id, 'credit_note_id', t.credit_note_id, 'description', t.description,
        'created_at', t.created_at)
"""

_PAYMENT_JSON = """
    json_build_object(
        'id', p.id, 'amount', p.amount::text, 'payment_received_date', p.payment_received_date,
        'external_id', p.external_id, 'notes', p.notes, 'created_at', p.created_at)
"""

INVOICE_SELECT = f"""
SELECT i.id, i.version, i.status, i.invoice_source, i.invoice_number, i.customer_id, c.external_customer_id,
    i.subscription_id, i.currency, i.invoice_date, i.due_date, i.net_terms, i.subtotal::text AS subtotal,
    i.total::text AS total, i.amount_due::text AS amount_due, i.memo, i.metadata, i.discounts,
    i.minimum_amount::text AS minimum_amount, i.maximum_amount::text AS maximum_amount, i.auto_collection,
    i.will_auto_issue, i.billing_address, i.shipping_address, i.customer_tax_id, i.hosted_invoice_url,
    i.invoice_pdf, i.eligible_to_issue_at, i.scheduled_issue_at, i.issued_at, i.paid_at, i.voided_at,
    i.issue_failed_at, i.payment_started_at, i.payment_failed_at, i.sync_failed_at, i.created_at, i.updated_at,
    (SELECT coalesce(json_agg({_LINE_JSON} ORDER BY li.position), '[]'::json)
       FROM invoice_line_items li WHERE li.account_id = i.account_id AND li.invoice_id = i.id) AS line_items,
    (SELECT coalesce(json_agg({_TRANSACTION_JSON} ORDER BY t.created_at, t.id), '[]'::json)
       FROM customer_balance_transactions t
      WHERE t.account_id = i.account_id AND t.invoice_id = i.id) AS balance_transactions,
    (SELECT coalesce(json_agg({_PAYMENT_JSON} ORDER BY p.created_at, p.id), '[]'::json)
       FROM payments p WHERE p.account_id = i.account_id AND p.invoice_id = i.id) AS payments
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
    subscription_id: str | None = None,
    billing_boundary: int | None = None,
    eligible_to_issue_at: dt.datetime | None = None,
) -> str:
    """Insert a draft invoice and its lines; return its id.

    A subscription invoice names its billing boundary; a second invoice for the
    same boundary violates a unique index (see the billing runner).
    """
    invoice_id = new_id("inv")
    await conn.execute(
        """
        INSERT INTO invoices (account_id, id, customer_id, invoice_source, status, currency, invoice_date, due_date,
            net_terms, subtotal, total, amount_due, memo, metadata, discounts, auto_collection, will_auto_issue,
            billing_address, shipping_address, customer_tax_id, subscription_id, billing_boundary,
            eligible_to_issue_at, scheduled_issue_at)
        VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, $20, $21::timestamptz, CASE WHEN $15 THEN $21::timestamptz END)
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
        subscription_id,
        billing_boundary,
        eligible_to_issue_at,
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
            partially_invoiced_amount, amount, price, is_one_off, sub_line_items)
        SELECT $1, $2, u.id, u.position, u.name, u.quantity, u.unit_amount, u.start_date, u.end_date, u.subtotal,
            u.adjustments::jsonb, u.adjusted_subtotal, $16, $16, u.amount, u.price::jsonb, u.is_one_off,
            u.sub_lines::jsonb
        FROM unnest($3::text[], $4::int[], $5::text[], $6::numeric[], $7::numeric[], $8::date[], $9::date[],
            $10::numeric[], $11::text[], $12::numeric[], $13::numeric[], $14::text[], $15::bool[], $17::text[])
            AS u(id, position, name, quantity, unit_amount, start_date, end_date, subtotal, adjustments,
                 adjusted_subtotal, amount, price, is_one_off, sub_lines)
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
        [json.dumps(li.price_data or _price_json(li, currency)) for li in lines],
        [li.is_one_off for li in lines],
        money.zero(currency),
        [json.dumps(list(li.sub_line_data)) for li in lines],
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


async def customer_of(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> str:
    """The id of the invoice's customer (never changes, so it can be read before taking locks)."""
    customer_id: str | None = await conn.fetchval(
        "SELECT customer_id FROM invoices WHERE account_id = $1 AND id = $2", account_id, invoice_id
    )
    if customer_id is None:
        raise NotFound("invoice", invoice_id)
    return customer_id


async def lock(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> asyncpg.Record:
    """Lock the invoice row for this transaction and return its mutable state."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT id, customer_id, status, version, invoice_source, currency, invoice_date, due_date, net_terms,
            subtotal, total, amount_due, discounts, metadata, eligible_to_issue_at
        FROM invoices WHERE account_id = $1 AND id = $2 FOR UPDATE
        """,
        account_id,
        invoice_id,
    )
    if row is None:
        raise NotFound("invoice", invoice_id)
    return row


async def save(conn: asyncpg.Connection, account_id: str, invoice_id: str, changes: dict[str, Any]) -> None:
    """Write changed columns of a locked invoice and bump its version."""
    assignments = ["version = version + 1", "updated_at = now()"]
    args: list[Any] = [account_id, invoice_id]
    for column, value in changes.items():
        args.append(value)
        assignments.append(f"{column} = ${len(args)}")
    await conn.execute(f"UPDATE invoices SET {', '.join(assignments)} WHERE account_id = $1 AND id = $2", *args)


async def lines(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> list[Line]:
    """The invoice's lines, in order, as domain lines."""
    rows = await conn.fetch(
        """
        SELECT id, name, quantity, unit_amount, start_date, end_date, subtotal, adjusted_subtotal, amount,
            is_one_off, position
        FROM invoice_line_items WHERE account_id = $1 AND invoice_id = $2 ORDER BY position
        """,
        account_id,
        invoice_id,
    )
    return [
        Line(
            id=r["id"],
            name=r["name"],
            quantity=r["quantity"],
            unit_amount=r["unit_amount"],
            start_date=r["start_date"],
            end_date=r["end_date"],
            subtotal=r["subtotal"],
            adjustments=(),
            adjusted_subtotal=r["adjusted_subtotal"],
            amount=r["amount"],
            is_one_off=r["is_one_off"],
        )
        for r in rows
    ]


async def next_position(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> int:
    """The position after the invoice's last line."""
    position: int = await conn.fetchval(
        "SELECT coalesce(max(position) + 1, 0) FROM invoice_line_items WHERE account_id = $1 AND invoice_id = $2",
        account_id,
        invoice_id,
    )
    return position


async def update_line_amounts(conn: asyncpg.Connection, account_id: str, priced: Sequence[Line]) -> None:
    """Rewrite the adjustments and amounts of existing lines (after a discount is spread again)."""
    if not priced:
        return
    await conn.execute(
        """
        UPDATE invoice_line_items li
        SET adjustments = u.adjustments::jsonb, adjusted_subtotal = u.adjusted_subtotal, amount = u.amount
        FROM unnest($2::text[], $3::text[], $4::numeric[], $5::numeric[])
            AS u(id, adjustments, adjusted_subtotal, amount)
        WHERE li.account_id = $1 AND li.id = u.id
        """,
        account_id,
        [li.id for li in priced],
        [json.dumps(_adjustments_json(li)) for li in priced],
        [li.adjusted_subtotal for li in priced],
        [li.amount for li in priced],
    )


async def delete_line(conn: asyncpg.Connection, account_id: str, invoice_id: str, line_id: str) -> None:
    """Delete one line of the invoice."""
    await conn.execute(
        "DELETE FROM invoice_line_items WHERE account_id = $1 AND invoice_id = $2 AND id = $3",
        account_id,
        invoice_id,
        line_id,
    )


async def line_item(conn: asyncpg.Connection, account_id: str, line_id: str) -> dict[str, Any]:
    """One line item in the JSON form the converters read."""
    value: dict[str, Any] | None = await conn.fetchval(
        f"SELECT {_LINE_JSON} FROM invoice_line_items li WHERE li.account_id = $1 AND li.id = $2",
        account_id,
        line_id,
    )
    if value is None:
        raise NotFound("line_item", line_id)
    return value


async def next_invoice_number(conn: asyncpg.Connection, account_id: str) -> tuple[str, int]:
    """Bump the account's counter row and return (prefix, number).

    The row lock is held until commit, so numbers are gapless: a rolled-back
    issue gives its number back, and issues of one account take turns only for
    the length of this update. Taken last in every transaction (after customer
    and invoice locks).
    """
    row = await conn.fetchrow(
        """
        WITH n AS (
            INSERT INTO invoice_number_sequences AS s (account_id, last_number) VALUES ($1, 1)
            ON CONFLICT (account_id) DO UPDATE SET last_number = s.last_number + 1
            RETURNING last_number
        )
        SELECT a.invoice_prefix, n.last_number FROM n, accounts a WHERE a.id = $1
        """,
        account_id,
    )
    return row["invoice_prefix"], row["last_number"]


async def insert_payment(
    conn: asyncpg.Connection,
    account_id: str,
    invoice_id: str,
    *,
    amount: Decimal,
    received: dt.date,
    external_id: str,
    notes: str,
) -> None:
    """Record a payment; AlreadyExists if its external id is taken in the account."""
    try:
        await conn.execute(
            """
            INSERT INTO payments (account_id, id, invoice_id, amount, payment_received_date, external_id, notes)
            VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7)
            """,
            account_id,
            new_id("pay"),
            invoice_id,
            amount,
            received,
            external_id,
            notes,
        )
    except asyncpg.UniqueViolationError as exc:
        raise AlreadyExists(
            "PAYMENT_EXTERNAL_ID_TAKEN",
            f"a payment with external_id {external_id!r} already exists",
            metadata={"external_id": external_id},
        ) from exc


async def applied_balance(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> list[asyncpg.Record]:
    """The balance transactions the invoice caused when it was issued, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT type, amount FROM customer_balance_transactions
        WHERE account_id = $1 AND invoice_id = $2 AND action = 'applied_to_invoice' ORDER BY created_at, id
        """,
        account_id,
        invoice_id,
    )
    return rows


async def replace_generated_lines(
    conn: asyncpg.Connection, account_id: str, invoice_id: str, generated: Sequence[Line], currency: str
) -> None:
    """Swap a subscription invoice's generated lines for new ones, keeping one-off lines added by hand."""
    await conn.execute(
        "DELETE FROM invoice_line_items WHERE account_id = $1 AND invoice_id = $2 AND NOT is_one_off",
        account_id,
        invoice_id,
    )
    # Hand-added lines move after the generated ones, in their order (via negative positions, so that the
    # unique position index never sees two lines on one position).
    await conn.execute(
        "UPDATE invoice_line_items SET position = -1 - position WHERE account_id = $1 AND invoice_id = $2",
        account_id,
        invoice_id,
    )
    await conn.execute(
        """
        UPDATE invoice_line_items li SET position = $3 + r.rank
        FROM (SELECT id, row_number() OVER (ORDER BY position DESC) - 1 AS rank
              FROM invoice_line_items WHERE account_id = $1 AND invoice_id = $2) r
        WHERE li.account_id = $1 AND li.id = r.id
        """,
        account_id,
        invoice_id,
        len(generated),
    )
    await insert_lines(conn, account_id, invoice_id, generated, currency, first_position=0)


async def subscription_drafts_due(conn: asyncpg.Connection, now: dt.datetime, limit: int) -> list[asyncpg.Record]:
    """Subscription drafts that should issue themselves now (spans accounts, like the runner)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT account_id, id FROM invoices
        WHERE status = 'draft' AND subscription_id IS NOT NULL AND will_auto_issue AND eligible_to_issue_at <= $1
        ORDER BY eligible_to_issue_at LIMIT $2
        """,
        now,
        limit,
    )
    return rows


async def subscription_invoice(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> tuple[str, int] | None:
    """(subscription id, billing boundary) of a subscription invoice, or None."""
    row = await conn.fetchrow(
        "SELECT subscription_id, billing_boundary FROM invoices WHERE account_id = $1 AND id = $2",
        account_id,
        invoice_id,
    )
    if row is None or row["subscription_id"] is None:
        return None
    return row["subscription_id"], row["billing_boundary"]


async def boundary_invoices(
    conn: asyncpg.Connection, account_id: str, subscription_id: str, first_boundary: int
) -> list[asyncpg.Record]:
    """The subscription's invoices of boundaries from first_boundary on, not void, in id order."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, billing_boundary FROM invoices
        WHERE account_id = $1 AND subscription_id = $2 AND billing_boundary >= $3 AND status <> 'void'
        ORDER BY id
        """,
        account_id,
        subscription_id,
        first_boundary,
    )
    return rows


async def generated_amounts(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> dict[str, Decimal]:
    """The amount of each line the subscription generated on the invoice, by the id of its plan price."""
    rows = await conn.fetch(
        """
        SELECT price ->> 'id' AS price_id, amount FROM invoice_line_items
        WHERE account_id = $1 AND invoice_id = $2 AND NOT is_one_off
        """,
        account_id,
        invoice_id,
    )
    return {r["price_id"]: r["amount"] for r in rows}


async def prorated_refunds(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> Decimal:
    """The net balance credited for the invoice by cancellations so far (refunds less their reversals)."""
    value: Decimal = await conn.fetchval(
        """
        SELECT coalesce(sum(CASE type WHEN 'increment' THEN amount ELSE -amount END), 0)
        FROM customer_balance_transactions
        WHERE account_id = $1 AND invoice_id = $2 AND action IN ('prorated_refund', 'revert_prorated_refund')
        """,
        account_id,
        invoice_id,
    )
    return value


async def lock_drafts(conn: asyncpg.Connection, account_id: str, invoice_ids: Sequence[str]) -> dict[str, str]:
    """Lock invoices (in id order) for this transaction; return the status of each."""
    rows = await conn.fetch(
        "SELECT id, status FROM invoices WHERE account_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE",
        account_id,
        sorted(invoice_ids),
    )
    return {r["id"]: r["status"] for r in rows}
