"""Invoices and their line items (SQL only).

An invoice is read in one statement: its columns, its line items, balance
transactions, payments and credit notes aggregated as JSON (json, not jsonb: cheaper to
build, and parsed once in Python) whose numbers are text, so that money never
passes through float. `invoice_from` turns such a row into the typed Invoice,
the one place that knows its columns.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from server.db.customers import address_json, transaction_from
from server.db.json import as_date
from server.db.records import fetch_row, record_from
from server.db.snapshots import ListQuery, MergedQuery
from server.domain import money
from server.domain.credit_notes import CreditNoteKind, InvoiceCreditNote
from server.domain.customers import BalanceDirection, Customer
from server.domain.errors import AlreadyExists
from server.domain.ids import new_id
from server.domain.invoices import (
    AdjustmentKind,
    Discount,
    DiscountKind,
    Invoice,
    InvoiceFilter,
    InvoiceHeader,
    InvoiceSource,
    InvoiceStatus,
    Line,
    LineAdjustment,
    Payment,
    StoredInvoice,
    Totals,
)
from server.domain.lifecycle import AppliedBalance

_LINE_JSON = """
    json_build_object(
        'id', li.id, 'name', li.name, 'quantity', li.quantity::text, 'unit_amount', li.unit_amount::text,
        'start_date', li.start_date,
        'end_date', li.end_date, 'subtotal', li.subtotal::text, 'adjustments', li.adjustments,
        'adjusted_subtotal', li.adjusted_subtotal::text, 'credits_applied', li.credits_applied::text,
        'partially_invoiced_amount', li.partially_invoiced_amount::text, 'amount', li.amount::text,
        'sub_line_items', li.sub_line_items, 'price', li.price, 'is_one_off', li.is_one_off)
"""

TRANSACTION_JSON = """
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

_CREDIT_NOTE_JSON = """
    json_build_object(
        'id', n.id, 'credit_note_number', n.credit_note_number, 'type', n.type, 'reason', n.reason,
        'memo', n.memo, 'total', n.total::text, 'applied_to_amount_due', n.applied_to_amount_due::text,
        'credited_to_balance', n.credited_to_balance::text, 'created_at', n.created_at, 'voided_at', n.voided_at)
"""

HEADER_COLUMNS = """
    i.id, i.customer_id, i.subscription_id, i.billing_boundary, i.invoice_source, i.status, i.version,
    i.invoice_number, i.currency, i.invoice_date, i.due_date, i.net_terms, i.subtotal, i.total, i.amount_due, i.memo,
    i.metadata, i.discounts, i.minimum_amount, i.maximum_amount, i.auto_collection, i.will_auto_issue,
    i.billing_address, i.shipping_address, i.customer_tax_id, i.hosted_invoice_url, i.invoice_pdf,
    i.eligible_to_issue_at, i.scheduled_issue_at, i.issued_at, i.paid_at, i.voided_at, i.issue_failed_at,
    i.payment_started_at, i.payment_failed_at, i.sync_failed_at, i.created_at, i.updated_at
"""

_LINES_OF = f"""
    (SELECT coalesce(json_agg({_LINE_JSON} ORDER BY li.position), '[]'::json)
       FROM invoice_line_items li WHERE li.account_id = i.account_id AND li.invoice_id = i.id)
"""

INVOICE_SELECT = f"""
SELECT {HEADER_COLUMNS}, c.external_customer_id, {_LINES_OF} AS line_items,
    (SELECT coalesce(json_agg({TRANSACTION_JSON} ORDER BY t.created_at, t.id), '[]'::json)
       FROM customer_balance_transactions t
      WHERE t.account_id = i.account_id AND t.invoice_id = i.id) AS balance_transactions,
    (SELECT coalesce(json_agg({_PAYMENT_JSON} ORDER BY p.created_at, p.id), '[]'::json)
       FROM payments p WHERE p.account_id = i.account_id AND p.invoice_id = i.id) AS payments,
    (SELECT coalesce(json_agg({_CREDIT_NOTE_JSON} ORDER BY n.created_at, n.id), '[]'::json)
       FROM credit_notes n WHERE n.account_id = i.account_id AND n.invoice_id = i.id) AS credit_notes
FROM invoices i JOIN customers c ON c.account_id = i.account_id AND c.id = i.customer_id
"""


def discounts_from(data: Sequence[Mapping[str, str]]) -> tuple[Discount, ...]:
    """The invoice-level discounts stored as JSON."""
    result = []
    for item in data:
        kind = DiscountKind(item["discount_type"])
        value_field = "percentage_discount" if kind is DiscountKind.PERCENTAGE else "amount_discount"
        result.append(Discount(kind, Decimal(item[value_field]), item.get("reason", "")))
    return tuple(result)


def discounts_json(discounts: Sequence[Discount]) -> list[dict[str, str]]:
    """The stored JSON form of invoice-level discounts."""
    result = []
    for discount in discounts:
        value_field = "percentage_discount" if discount.kind is DiscountKind.PERCENTAGE else "amount_discount"
        result.append(
            {
                "discount_type": discount.kind.value,
                value_field: money.to_wire(discount.value),
                "reason": discount.reason,
            }
        )
    return result


def _adjustment_from(data: Mapping[str, Any]) -> LineAdjustment:
    return record_from(LineAdjustment, data, kind=AdjustmentKind(data["adjustment_type"]))


def line_from(data: Mapping[str, Any]) -> Line:
    """A stored line from its JSON form (_LINE_JSON)."""
    return record_from(
        Line,
        data,
        adjustments=tuple(_adjustment_from(a) for a in data["adjustments"]),
        sub_line_data=tuple(data["sub_line_items"]),
        price_data=data["price"],
    )


def _payment_from(data: Mapping[str, Any]) -> Payment:
    return record_from(Payment, data, received=as_date(data["payment_received_date"]))


def credit_note_summary_from(data: Mapping[str, Any]) -> InvoiceCreditNote:
    """A credit note as its invoice lists it, from its JSON form (_CREDIT_NOTE_JSON)."""
    return record_from(InvoiceCreditNote, data, number=data["credit_note_number"], kind=CreditNoteKind(data["type"]))


def header_from(row: Mapping[str, Any]) -> InvoiceHeader:
    """The invoice columns of a row selected with HEADER_COLUMNS."""
    return record_from(
        InvoiceHeader, row, source=InvoiceSource(row["invoice_source"]), discounts=discounts_from(row["discounts"])
    )


def invoice_from(row: Mapping[str, Any]) -> Invoice:
    """The invoice of a row selected with INVOICE_SELECT."""
    return record_from(
        Invoice,
        row,
        header=header_from(row),
        lines=tuple(line_from(li) for li in row["line_items"]),
        balance_transactions=tuple(transaction_from(t) for t in row["balance_transactions"]),
        payments=tuple(_payment_from(p) for p in row["payments"]),
        credit_notes=tuple(credit_note_summary_from(n) for n in row["credit_notes"]),
    )


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
    customer: Customer,
    source: InvoiceSource,
    currency: str,
    invoice_date: dt.date,
    due_date: dt.date | None,
    net_terms: int,
    lines: Sequence[Line],
    totals: Totals,
    memo: str,
    metadata: dict[str, str],
    discounts: Sequence[Discount],
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
        VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $22, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, $20, $21::timestamptz, CASE WHEN $15 THEN $21::timestamptz END)
        """,
        account_id,
        invoice_id,
        customer.id,
        source.value,
        currency,
        invoice_date,
        due_date,
        net_terms,
        totals.subtotal,
        totals.total,
        memo,
        metadata,
        discounts_json(discounts),
        auto_collection,
        will_auto_issue,
        address_json(customer.billing_address),
        address_json(customer.shipping_address),
        address_json(customer.tax_id),
        subscription_id,
        billing_boundary,
        eligible_to_issue_at,
        totals.amount_due,
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
    """Append lines to an invoice in one statement; return their ids. Every line carries its price."""
    if any(li.price_data is None for li in lines):
        raise ValueError("a stored line needs its price")
    ids = [new_id("ili") for _ in lines]
    await conn.execute(
        """
        INSERT INTO invoice_line_items (account_id, invoice_id, id, position, name, quantity, unit_amount,
            start_date, end_date, subtotal, adjustments, adjusted_subtotal, credits_applied,
            partially_invoiced_amount, amount, price, is_one_off, sub_line_items)
        SELECT $1, $2, u.id, u.position, u.name, u.quantity, u.unit_amount, u.start_date, u.end_date, u.subtotal,
            u.adjustments::jsonb, u.adjusted_subtotal, u.credits + $16, u.partial + $16, u.amount, u.price::jsonb,
            u.is_one_off, u.sub_lines::jsonb
        FROM unnest($3::text[], $4::int[], $5::text[], $6::numeric[], $7::numeric[], $8::date[], $9::date[],
            $10::numeric[], $11::text[], $12::numeric[], $13::numeric[], $14::text[], $15::bool[], $17::text[],
            $18::numeric[], $19::numeric[])
            AS u(id, position, name, quantity, unit_amount, start_date, end_date, subtotal, adjustments,
                 adjusted_subtotal, amount, price, is_one_off, sub_lines, credits, partial)
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
        [json.dumps(li.price_data) for li in lines],
        [li.is_one_off for li in lines],
        money.zero(currency),
        [json.dumps(list(li.sub_line_data)) for li in lines],
        [li.credits_applied for li in lines],
        [li.partially_invoiced_amount for li in lines],
    )
    return ids


async def get(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> Invoice:
    """One invoice with its lines, balance transactions and payments; NotFound otherwise."""
    sql = INVOICE_SELECT + " WHERE i.account_id = $1 AND i.id = $2"
    return invoice_from(await fetch_row(conn, "invoice", invoice_id, sql, account_id, invoice_id))


def _current_form(schema_arg: str) -> str:
    """The SQL condition under which invoice `i`'s stored wire form may be sent as it is: rendered from the
    invoice's current version, under the schema `schema_arg` names. The one place this rule is written."""
    return f"i.wire_version = i.version AND i.wire_schema = {schema_arg}"


def list_query(
    account_id: str,
    filters: InvoiceFilter,
    after: tuple[dt.date, str] | None,
    schema: str,
    limit: int = 0,
) -> MergedQuery[StoredInvoice]:
    """SQL and arguments listing invoices by invoice date (newest first, ties by id) after a keyset position.

    Each row is the invoice's keyset and its stored wire form when that form is current for `schema`. Each
    status is a query of its own, merged in order as rows are read (`server.db.snapshots`): its rows come
    from an index that leads with the status, already sorted, and a status with no invoices costs one
    probe. A page of a closed due-date range is one statement instead (`_by_day_sql`). `limit` (0: none)
    tells the planner how few rows the caller wants.
    """
    args: list[Any] = [account_id, schema]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = []
    if filters.customer_id is not None:
        conditions.append(f"i.customer_id = {arg(filters.customer_id)}")
    if filters.external_customer_id is not None:
        # As a customer id, so that the customer's index on invoices serves the list.
        conditions.append(
            "i.customer_id = (SELECT c.id FROM customers c"
            f" WHERE c.account_id = $1 AND c.external_customer_id = {arg(filters.external_customer_id)})"
        )
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
    # One customer's invoices come in list order from the customer's own index, where a due-date range is a
    # filter: the list reads at most that customer's invoices (at 2M invoices, a year's range of a customer
    # of 20k took 1.2 ms this way, against 0.8 s read a day at a time or fenced).
    customer_scoped = filters.customer_id is not None or filters.external_customer_id is not None
    due_days = None if customer_scoped else _due_days(filters)
    by_day = due_days if due_days is not None and 0 < due_days[1] <= DAY_BY_DAY_MAX and limit > 0 else None
    # With no bound among the filters, no value can change the plan: the page's limit is written into the
    # statement (rounded up to a power of two: the page is counted as rows are read) and every page runs the
    # plan made once for every value (the generic plan, `generic_plans` below), instead of planning every
    # branch again (the statements of an unfiltered first batch at 2M invoices: 0.71 ms planned afresh, 0.28
    # ms on the plan kept). As `LIMIT $n`, the generic plan was costed for a tenth of the matching rows. A
    # bound's plan does depend on its value (how many rows pass it): there the limit stays a parameter, and
    # each page is planned for its values, except for a due-date range read a day at a time (below).
    value_free = all(value is None for _, _, value in bounds)
    page_rows = (str(_plan_limit(limit)) if value_free else arg(limit)) if limit > 0 else ""
    limited = _LIST_ORDER + (f" LIMIT {page_rows}" if page_rows else "")
    only_due_range = by_day is not None and all(value is None or column == "i.due_date" for column, _, value in bounds)

    def of_status(status: str) -> str:
        return (
            " FROM invoices i WHERE i.account_id = $1"
            + "".join(f" AND {condition}" for condition in conditions)
            + f" AND i.status = {status}"
        )

    if by_day:
        # A due-date range read a day at a time, with no other bound, reads each day by an equality whatever
        # the dates: its plan does not depend on them either. Planned afresh, its statement costs more to plan
        # than to run (a first batch of a 30-day window, from asyncpg: 2.6 ms at 10k invoices and 4.1 ms at
        # 2M planned at every page, 1.5 and 2.9 ms on the plan made once).
        return MergedQuery(
            (ListQuery(_by_day_sql(arg, of_status, filters.statuses, by_day, page_rows, limited), args, _stored_from),),
            _listing_order,
            generic_plans=only_due_range,
        )
    # A longer closed range (or a list without a page) is read from the due-date index first and only its
    # rows are sorted (fenced by OFFSET 0, which keeps the planner from reading the account in list order to
    # find them); a range open on a side, or one customer's, is left to the planner.
    fence = " OFFSET 0" if due_days is not None else ""
    columns = f"i.id, i.invoice_date, CASE WHEN {_current_form('$2')} THEN i.wire END AS wire"
    sql = f"SELECT * FROM (SELECT {columns}{of_status(f'${len(args) + 1}')}{fence}) listed{limited}"
    branches = [ListQuery(sql, [*args, value.value], _stored_from) for value in dict.fromkeys(filters.statuses)]
    return MergedQuery(tuple(branches), _listing_order, generic_plans=value_free)


def _by_day_sql(
    arg: Callable[[Any], str],
    of_status: Callable[[str], str],
    statuses: tuple[InvoiceStatus, ...],
    by_day: tuple[dt.date, int],
    page_rows: str,
    limited: str,
) -> str:
    """A page of a closed range of due dates (a window, a day), every status asked for in one statement.

    Such a range holds invoices whose invoice dates cluster where the planner, which takes the two columns as
    independent, does not expect them. So each status's each due date is read on its own: at most a page of
    keys, already in list order, from the due-date index (which holds them: no table row is read unless
    another filter needs it); the page's first keys are kept, and only then are those invoices read (a
    lateral join, so the planner cannot choose to read the account to join them).

    A page of keys a day is what a day could hold of the page, but rarely does: an invoice is due some terms
    after its date, so the newest invoices of a range are mostly due on its last days. The range's last day
    is therefore read first: when it holds a page of keys of some status, the page's oldest invoice date
    among them is a floor no key of the page can be below (that day alone holds a page of keys at or above
    it), and every other day reads only its keys at or above the floor (the first batch of a 30-day window
    at 2M invoices in one account read 1,200 index keys without the floor, 39 with it).

    `arg` adds a value to the statement's arguments and returns its placeholder; `of_status(expression)` is
    the FROM and WHERE clause of the list's filters with the status given by `expression`.
    """
    listed_statuses = arg([status.value for status in dict.fromkeys(statuses)])
    first_day, last_number = arg(by_day[0]), arg(by_day[1] - 1)
    last_day = f"{first_day}::date + {last_number}::int"
    last_days_page = (
        f"SELECT i.invoice_date{of_status('last_status.status')} AND i.due_date = {last_day}"
        f"{_LIST_ORDER} OFFSET {page_rows} - 1 LIMIT 1"
    )
    floor = (
        f"COALESCE((SELECT max(oldest.invoice_date) FROM unnest({listed_statuses}::text[]) AS last_status(status)"
        f" CROSS JOIN LATERAL ({last_days_page}) oldest), '-infinity'::date)"
    )
    day = (
        f"SELECT i.invoice_date, i.id{of_status('listed_status.status')}"
        f" AND i.due_date = {first_day}::date + day.number AND i.invoice_date >= {floor}{limited}"
    )
    keys = (
        f"SELECT listed.* FROM unnest({listed_statuses}::text[]) AS listed_status(status)"
        f" CROSS JOIN generate_series(0, {last_number}::int) AS day(number) CROSS JOIN LATERAL ({day}) listed{limited}"
    )
    form = f"SELECT CASE WHEN {_current_form('$2')} THEN i.wire END AS wire FROM invoices i"
    return (
        f"SELECT page.id, page.invoice_date, form.wire FROM ({keys}) page"
        f" CROSS JOIN LATERAL ({form} WHERE i.account_id = $1 AND i.id = page.id) form{limited}"
    )


# The order of every invoice list (newest invoice date first, ties by id), as the keyset and its indexes hold it.
_LIST_ORDER = " ORDER BY invoice_date DESC, id DESC"


def _plan_limit(limit: int) -> int:
    """A page's limit as a list statement states it: the next power of two, at least 16 (a few statements
    serve every page size)."""
    return max(16, 1 << (limit - 1).bit_length())


# The longest closed range of due dates a page reads one day at a time (a leap year): each day costs an index
# probe, which a longer range no longer repays; see list_query.
DAY_BY_DAY_MAX = 366


def _due_days(filters: InvoiceFilter) -> tuple[dt.date, int] | None:
    """The first due date and the number of days of a due-date range bounded on both sides (a day, a window,
    between two dates; 0 days when the bounds exclude each other); None when a side is unbounded."""
    due = filters.filter_by_due_date
    # As day numbers: a bound one past a date at the end of the calendar is still a bound.
    lower = [
        _day(filters.due_date),
        _day(filters.due_date_from),
        _day(filters.due_date_gt, 1),
        *((_day(filters.date_gte), _day(filters.date_gt, 1)) if due else ()),
    ]
    upper = [
        _day(filters.due_date),
        _day(filters.due_date_to),
        _day(filters.due_date_lt, -1),
        *((_day(filters.date_lte), _day(filters.date_lt, -1)) if due else ()),
    ]
    lows = [day for day in lower if day is not None]
    highs = [day for day in upper if day is not None]
    if not lows or not highs:
        return None
    first, last = max(lows), min(highs)
    if first > last:
        return dt.date.min, 0
    return dt.date.fromordinal(first), last - first + 1


def _day(date: dt.date | None, shift: int = 0) -> int | None:
    return None if date is None else date.toordinal() + shift


def _listing_order(invoice: StoredInvoice) -> tuple[dt.date, str]:
    return invoice.invoice_date, invoice.id


def _stored_from(row: Mapping[str, Any]) -> StoredInvoice:
    return StoredInvoice(row["id"], row["invoice_date"], row["wire"])


async def customer_of(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> str:
    """The id of the invoice's customer (never changes, so it can be read before taking locks)."""
    sql = "SELECT customer_id FROM invoices WHERE account_id = $1 AND id = $2"
    customer_id: str = (await fetch_row(conn, "invoice", invoice_id, sql, account_id, invoice_id))[0]
    return customer_id


async def lock(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> InvoiceHeader:
    """Lock the invoice row for this transaction and return its columns."""
    sql = f"SELECT {HEADER_COLUMNS} FROM invoices i WHERE i.account_id = $1 AND i.id = $2 FOR NO KEY UPDATE"
    return header_from(await fetch_row(conn, "invoice", invoice_id, sql, account_id, invoice_id))


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
    return [record_from(Line, r, adjustments=()) for r in rows]


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


async def line_item(conn: asyncpg.Connection, account_id: str, line_id: str) -> Line:
    """One stored line item."""
    sql = f"SELECT {_LINE_JSON} FROM invoice_line_items li WHERE li.account_id = $1 AND li.id = $2"
    return line_from((await fetch_row(conn, "line_item", line_id, sql, account_id, line_id))[0])


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


async def applied_balance(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> list[AppliedBalance]:
    """The balance transactions the invoice caused when it was issued, oldest first."""
    rows = await conn.fetch(
        """
        SELECT type, amount FROM customer_balance_transactions
        WHERE account_id = $1 AND invoice_id = $2 AND action = 'applied_to_invoice' ORDER BY created_at, id
        """,
        account_id,
        invoice_id,
    )
    return [AppliedBalance(BalanceDirection(r["type"]), r["amount"]) for r in rows]


async def replace_generated_lines(
    conn: asyncpg.Connection, account_id: str, invoice_id: str, generated: Sequence[Line], currency: str
) -> list[str]:
    """Swap a subscription invoice's generated lines for new ones, keeping one-off lines added by hand; return
    the new lines' ids, in order."""
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
    return await insert_lines(conn, account_id, invoice_id, generated, currency, first_position=0)


@dataclass(frozen=True)
class DraftRef:
    """A draft invoice of some account (the runner's queue spans accounts)."""

    account_id: str
    invoice_id: str


async def subscription_drafts_due(
    conn: asyncpg.Connection, now: dt.datetime, limit: int, account_id: str | None = None
) -> list[DraftRef]:
    """Subscription drafts that should issue themselves now (spans accounts, like the runner)."""
    rows = await conn.fetch(
        """
        SELECT account_id, id FROM invoices
        WHERE status = 'draft' AND subscription_id IS NOT NULL AND will_auto_issue AND eligible_to_issue_at <= $1
            AND ($3::text IS NULL OR account_id = $3)
        ORDER BY eligible_to_issue_at LIMIT $2
        """,
        now,
        limit,
        account_id,
    )
    return [DraftRef(r["account_id"], r["id"]) for r in rows]


async def boundary_invoices(
    conn: asyncpg.Connection, account_id: str, subscription_id: str, first_boundary: int
) -> list[str]:
    """The ids of the subscription's invoices of boundaries from first_boundary on, not void, in id order."""
    rows = await conn.fetch(
        """
        SELECT id, billing_boundary FROM invoices
        WHERE account_id = $1 AND subscription_id = $2 AND billing_boundary >= $3 AND status <> 'void'
          AND invoice_source = 'subscription'
        ORDER BY id
        """,
        account_id,
        subscription_id,
        first_boundary,
    )
    return [r["id"] for r in rows]


async def priced_lines(conn: asyncpg.Connection, account_id: str, invoice_id: str) -> list[Line]:
    """The invoice's lines, in order, each with its price and amounts."""
    value = await conn.fetchval(
        f"SELECT {_LINES_OF} FROM invoices i WHERE i.account_id = $1 AND i.id = $2", account_id, invoice_id
    )
    return [line_from(item) for item in value or []]


async def boundary_invoice_lines(
    conn: asyncpg.Connection, account_id: str, subscription_id: str, boundary: int
) -> list[Line] | None:
    """The lines (with their prices) of the subscription's invoice of a boundary; None when it has none that is
    not void."""
    value = await conn.fetchval(
        f"""
        SELECT {_LINES_OF} FROM invoices i
        WHERE i.account_id = $1 AND i.subscription_id = $2 AND i.billing_boundary = $3
          AND i.invoice_source = 'subscription' AND i.status <> 'void'
        """,
        account_id,
        subscription_id,
        boundary,
    )
    return None if value is None else [line_from(item) for item in value]


async def prorated_refunds(
    conn: asyncpg.Connection, account_id: str, invoice_id: str, *, with_backfills: bool = False
) -> Decimal:
    """The net balance credited for the invoice by prorated refunds so far (refunds less their reversals): those of
    cancellations and negative totals, and with `with_backfills` the credits of backfills too."""
    value: Decimal = await conn.fetchval(
        """
        SELECT coalesce(sum(CASE type WHEN 'increment' THEN amount ELSE -amount END), 0)
        FROM customer_balance_transactions t
        WHERE account_id = $1 AND invoice_id = $2 AND action IN ('prorated_refund', 'revert_prorated_refund')
          AND ($3 OR NOT EXISTS (SELECT 1 FROM backfill_adjustments a
                                 WHERE a.account_id = t.account_id AND a.balance_transaction_id = t.id))
        """,
        account_id,
        invoice_id,
        with_backfills,
    )
    return value


async def lock_many(conn: asyncpg.Connection, account_id: str, invoice_ids: Sequence[str]) -> None:
    """Lock invoices for this transaction, in id order (the order for several invoices)."""
    await conn.execute(
        "SELECT 1 FROM invoices WHERE account_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR NO KEY UPDATE",
        account_id,
        sorted(invoice_ids),
    )


@dataclass(frozen=True)
class StoredWire:
    """An invoice's stored wire form, and whether it is current (rendered at its version, by this schema)."""

    id: str
    wire: bytes | None
    fresh: bool


# Keep an invoice's wire form at a version ($1 account, $2 invoice, $3 version, $4 bytes, $5 schema): a no-op
# once the invoice has moved past that version. (Also a part of publishing a change: `server.db.events`.)
STORE_WIRE = """
UPDATE invoices SET wire = $4, wire_version = $3, wire_schema = $5
WHERE account_id = $1 AND id = $2 AND version = $3
"""


async def store_wire(
    conn: asyncpg.Connection, account_id: str, invoice_id: str, version: int, wire: bytes, schema: str
) -> None:
    """Keep the wire form of the invoice at `version` (a no-op if the invoice has moved past that version)."""
    await conn.execute(
        STORE_WIRE,
        account_id,
        invoice_id,
        version,
        wire,
        schema,
    )


async def store_wires(
    conn: asyncpg.Connection, account_id: str, forms: Sequence[tuple[str, int, bytes]], schema: str
) -> None:
    """`store_wire` for many invoices of an account at once: (invoice id, version, wire form) each.

    One statement over arrays, not `executemany`: a pipelined `executemany` cancelled part-way (a server
    stopping while it refreshes forms) leaves PostgreSQL waiting for the rest of the pipeline and asyncpg
    waiting for its answer, and the connection hangs until its command timeout. A single statement is
    cancelled as any other.
    """
    if not forms:
        return
    await conn.execute(
        """
        UPDATE invoices i SET wire = f.wire, wire_version = f.version, wire_schema = $5
        FROM unnest($2::text[], $3::bigint[], $4::bytea[]) AS f(id, version, wire)
        WHERE i.account_id = $1 AND i.id = f.id AND i.version = f.version
        """,
        account_id,
        [invoice_id for invoice_id, _, _ in forms],
        [version for _, version, _ in forms],
        [wire for _, _, wire in forms],
        schema,
    )


# One invoice's stored wire form by primary key ($1 account, $2 invoice, $3 the current schema).
_ONE_STORED_WIRE = f"""
    SELECT i.wire, ({_current_form("$3")}) IS TRUE AS fresh
    FROM invoices i WHERE i.account_id = $1 AND i.id = $2
"""


class PreparedWireLookup:
    """The lookup of one invoice's stored wire form as a statement prepared once per connection, for the
    connections that run it over and over (the lookup lane): a prepared statement's call skips the layers of
    asyncpg's per-call statement cache (alone, the part of the call up to the bytes sent went from 22 to 17.5 µs;
    in the server, the time a py-spy profile finds in them, about 8% of a lone GetInvoice's, went away).

    Not for a transaction pooler's connections (a prepared statement lives in one server session)."""

    NAME = "invoicing_one_stored_wire"
    """The statement's name in each session (named whether or not asyncpg's statement cache is on)."""

    def __init__(self) -> None:
        self._prepared: weakref.WeakKeyDictionary[asyncpg.Connection, asyncpg.prepared_stmt.PreparedStatement] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, conn: asyncpg.Connection, key: tuple[str, str], schema: str) -> StoredWire | None:
        """The invoice's stored wire form, or None when there is no such invoice (or it is another account's)."""
        statement = self._prepared.get(conn)
        if statement is None:
            statement = self._prepared[conn] = await conn.prepare(_ONE_STORED_WIRE, name=self.NAME)
        account_id, invoice_id = key
        return _one_stored_wire(invoice_id, await statement.fetchrow(account_id, invoice_id, schema))


def _one_stored_wire(invoice_id: str, row: asyncpg.Record | None) -> StoredWire | None:
    """A row of `_ONE_STORED_WIRE` as a StoredWire (None: no such invoice)."""
    return None if row is None else StoredWire(invoice_id, row["wire"], row["fresh"])


one_stored_wire = PreparedWireLookup()
"""The process's one `PreparedWireLookup`: its statements are per session, whoever runs them."""


async def stored_wires(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str]], schema: str
) -> dict[tuple[str, str], StoredWire]:
    """The stored wire forms of several invoices, each named by (account id, invoice id), in one statement.

    Invoices that do not exist (or are another account's) are absent from the result.
    """
    if len(keys) == 1:
        # The common case at low load, as a plain primary-key lookup: the join over unnest costs a plan per
        # execution (PostgreSQL keeps planning it afresh), several times the lookup itself.
        ((account_id, invoice_id),) = keys
        found = _one_stored_wire(invoice_id, await conn.fetchrow(_ONE_STORED_WIRE, account_id, invoice_id, schema))
        return {} if found is None else {keys[0]: found}
    rows = await conn.fetch(
        f"""
        SELECT i.account_id, i.id, i.wire, ({_current_form("$3")}) IS TRUE AS fresh
        FROM unnest($1::text[], $2::text[]) AS k(account_id, id)
        JOIN invoices i ON i.account_id = k.account_id AND i.id = k.id
        """,
        [account for account, _ in keys],
        [invoice for _, invoice in keys],
        schema,
    )
    return {(r["account_id"], r["id"]): StoredWire(r["id"], r["wire"], r["fresh"]) for r in rows}


async def get_many(conn: asyncpg.Connection, account_id: str, invoice_ids: Sequence[str]) -> list[Invoice]:
    """Whole invoices by id (those that exist), in no particular order."""
    rows = await conn.fetch(
        INVOICE_SELECT + " WHERE i.account_id = $1 AND i.id = ANY($2::text[])", account_id, list(invoice_ids)
    )
    return [invoice_from(row) for row in rows]


async def stale_wires(conn: asyncpg.Connection, account_id: str, schema: str, after: str, limit: int) -> list[str]:
    """The ids, after `after` in id order (a keyset: a sweep reads the account's invoices once), of the
    account's invoices whose wire form is missing, older than the invoice, or of another schema."""
    rows = await conn.fetch(
        """
        SELECT id FROM invoices
        WHERE account_id = $1 AND id > $3
            AND (wire IS NULL OR wire_version <> version OR wire_schema IS DISTINCT FROM $2)
        ORDER BY id LIMIT $4
        """,
        account_id,
        schema,
        after,
        limit,
    )
    return [row["id"] for row in rows]


async def subscription_drafts_of(conn: asyncpg.Connection, account_id: str, customer_id: str) -> list[str]:
    """The ids of the customer's drafts that bill a subscription's period, in id order."""
    rows = await conn.fetch(
        """
        SELECT id FROM invoices
        WHERE account_id = $1 AND customer_id = $2 AND status = 'draft' AND invoice_source = 'subscription'
          AND billing_boundary IS NOT NULL
        ORDER BY id
        """,
        account_id,
        customer_id,
    )
    return [r["id"] for r in rows]


async def partially_invoiced(
    conn: asyncpg.Connection, account_id: str, subscription_id: str, boundary: int
) -> dict[tuple[str, dt.date], Decimal]:
    """What the subscription's partial invoices (not void) of a boundary billed of each line, before credits:
    (price id, first day) → the sum of those lines' amounts and credits applied."""
    rows = await conn.fetch(
        """
        SELECT li.price ->> 'id' AS price_id, li.start_date, sum(li.amount + li.credits_applied) AS covered
        FROM invoices i JOIN invoice_line_items li ON li.account_id = i.account_id AND li.invoice_id = i.id
        WHERE i.account_id = $1 AND i.subscription_id = $2 AND i.billing_boundary = $3
          AND i.invoice_source = 'partial' AND i.status <> 'void'
        GROUP BY 1, 2
        """,
        account_id,
        subscription_id,
        boundary,
    )
    return {(r["price_id"], r["start_date"]): r["covered"] for r in rows}


async def subscription_invoices(
    conn: asyncpg.Connection, account_id: str, subscription_id: str
) -> list[tuple[str, int, InvoiceStatus]]:
    """(id, boundary, status) of the subscription's invoices of its periods that are not void, by boundary."""
    rows = await conn.fetch(
        """
        SELECT id, billing_boundary, status FROM invoices
        WHERE account_id = $1 AND subscription_id = $2 AND invoice_source = 'subscription'
          AND billing_boundary IS NOT NULL AND status <> 'void'
        ORDER BY billing_boundary
        """,
        account_id,
        subscription_id,
    )
    return [(r["id"], r["billing_boundary"], InvoiceStatus(r["status"])) for r in rows]
