"""ListInvoices never scans the account: its first batch reads a few rows whatever the filters.

An account of 20,000 invoices is seeded in bulk (set-based SQL, as the benchmark does: going through the API
would take minutes), statistics are gathered, and the plan of every filter of SPEC 4.5, alone and combined,
is run with EXPLAIN ANALYZE for a first batch of 20: no branch may read the table sequentially, and the rows
all branches read (index entries fetched plus rows filtered out) stay a small multiple of the batch. The one
exception is named: a due-date bound on one side only. Due dates follow invoice dates, which the planner,
taking the columns as independent, cannot know: for `due_date_lt` a date far back it reads in date order
until the old invoices (at 300,000 invoices about 200 ms for the first batch), without scanning the table.

A due-date range bounded on both sides is read a day at a time, at most a page from each day: a dense account
(60 invoices due on each of 60 days) shows that a page of a 30-day window reads no more than that (on the plan
made once for every value and on one made for its values), and random ranges of every kind, paged by keyset,
list exactly what a plain filter and sort of the account's rows finds.

A list whose plan no value can change (no bound, or a due-date range read a day at a time) runs at every page
the plan made once for every value rather than planning every branch of every page afresh (a list without
bounds states its page's limit for it); that plan reads a few rows for every such filter.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import random
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from server.db import snapshots
from server.db.invoices import list_query
from server.db.pool import Database, PoolSettings
from server.db.snapshots import MergedQuery
from server.domain.invoices import InvoiceFilter, InvoiceStatus, StoredInvoice
from server.domain.pages import Page
from tests.support.accounts import new_account
from tests.support.database import connection

pytestmark = pytest.mark.slow

INVOICES = 20_000
FIRST_BATCH = 20
# What a first batch of 20 may read across all its branches: a twentieth of the account (a filter that
# matches one row in ten, read in date order, reads ten rows for each it keeps).
MOST_ROWS_READ = INVOICES // 20

CASES: dict[str, InvoiceFilter] = {
    "default statuses": InvoiceFilter(),
    "every status": InvoiceFilter(statuses=tuple(InvoiceStatus)),
    "void, none match": InvoiceFilter(statuses=(InvoiceStatus.VOID,)),
    "draft and void, none match": InvoiceFilter(statuses=(InvoiceStatus.DRAFT, InvoiceStatus.VOID)),
    "amount above every total": InvoiceFilter(amount_gt=Decimal("100000")),
    "amount above most totals": InvoiceFilter(amount_gt=Decimal("10")),
    "amount equal": InvoiceFilter(amount=Decimal("62.50")),
    "amount below": InvoiceFilter(amount_lt=Decimal("20")),
    "customer": InvoiceFilter(customer_id="cus_plan_7"),
    "external customer": InvoiceFilter(external_customer_id="plan-7"),
    "customer, void": InvoiceFilter(customer_id="cus_plan_7", statuses=(InvoiceStatus.VOID,)),
    "subscription": InvoiceFilter(subscription_id="sub_none"),
    "recurring": InvoiceFilter(is_recurring=True),
    "one-off": InvoiceFilter(is_recurring=False),
    "invoice dates": InvoiceFilter(date_gte=dt.date(2021, 3, 1), date_lt=dt.date(2021, 3, 15)),
    "invoice dates, void": InvoiceFilter(date_gt=dt.date(2021, 3, 1), statuses=(InvoiceStatus.VOID,)),
    "due date": InvoiceFilter(due_date=dt.date(2022, 5, 5)),
    "due window": InvoiceFilter(due_date_from=dt.date(2022, 11, 1), due_date_to=dt.date(2022, 11, 8)),
    "due between": InvoiceFilter(due_date_gt=dt.date(2021, 6, 1), due_date_lt=dt.date(2021, 6, 20)),
    "date type due": InvoiceFilter(filter_by_due_date=True, date_gte=dt.date(2022, 3, 1), date_lt=dt.date(2022, 3, 9)),
    "customer, due window": InvoiceFilter(
        customer_id="cus_plan_7", due_date_from=dt.date(2022, 11, 1), due_date_to=dt.date(2022, 11, 30)
    ),
    "customer, due in a year": InvoiceFilter(
        external_customer_id="plan-7", due_date_from=dt.date(2021, 1, 1), due_date_to=dt.date(2021, 12, 31)
    ),
    "customer, amount, dates": InvoiceFilter(
        customer_id="cus_plan_3", amount_gt=Decimal("30"), date_lt=dt.date(2023, 1, 1)
    ),
    "resumed deep in the list": InvoiceFilter(),
}


@pytest.fixture(scope="module")
async def seeded(migrated_dsn: str) -> AsyncIterator[str]:
    """An account of 50 customers and 20,000 issued or paid invoices spread over four years (one per module).

    Its rows are removed afterwards: they carry no wire form, which other tests' background renders would
    otherwise find.
    """
    account = await new_account(migrated_dsn)
    async with connection(migrated_dsn) as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO customers (account_id, id, external_customer_id, name, email, currency, timezone,
                auto_collection, net_terms, balance)
            SELECT $1, 'cus_plan_' || g, 'plan-' || g, 'Customer ' || g, 'c' || g || '@plan.example', 'USD', 'UTC',
                false, 30, 0.00
            FROM generate_series(1, 50) g
            """,
            account.id,
        )
        await conn.execute(
            """
            INSERT INTO invoices (account_id, id, customer_id, invoice_source, status, invoice_number, currency,
                invoice_date, due_date, net_terms, subtotal, total, amount_due, auto_collection, issued_at, paid_at)
            SELECT $1, 'inv_plan_' || lpad(g::text, 7, '0'), 'cus_plan_' || (g % 50 + 1), 'one_off',
                CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'issued' END, 'PLAN-' || lpad(g::text, 7, '0'), 'USD',
                date '2020-01-01' + (g % 1500), date '2020-01-31' + (g % 1500), 30,
                12.50 + (g % 10) * 12.50, 12.50 + (g % 10) * 12.50, 12.50 + (g % 10) * 12.50, false, now(),
                CASE WHEN g % 3 = 0 THEN now() END
            FROM generate_series(1, $2) g
            """,
            account.id,
            INVOICES,
        )
    async with connection(migrated_dsn) as conn:
        await conn.execute("ANALYZE invoices")
    yield account.id
    async with connection(migrated_dsn) as conn, conn.transaction():
        await conn.execute("DELETE FROM invoices WHERE account_id = $1", account.id)
        await conn.execute("DELETE FROM customers WHERE account_id = $1", account.id)


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # The table, or one of its partitions in the layout partitioned by account (server.db.partitioning).
    if re.fullmatch(r"invoices(_p\d+)?", node.get("Relation Name", "")):
        yield node
    for child in node.get("Plans", ()):
        yield from _scans(child)


def _case_after(case: str) -> tuple[dt.date, str] | None:
    """Where a case of CASES starts: deep in the list for a resumed one, else at the top."""
    return (dt.date(2020, 6, 1), "inv_plan_9999999") if case == "resumed deep in the list" else None


def _case_query(case: str, account_id: str) -> MergedQuery[StoredInvoice]:
    """The list query of a case of CASES, for a first batch."""
    return list_query(account_id, CASES[case], _case_after(case), "schema", FIRST_BATCH)


async def _rows_read(conn: asyncpg.Connection, case: str, query: MergedQuery[StoredInvoice]) -> int:
    """The rows the query's branches read (index entries fetched and rows filtered out), by EXPLAIN ANALYZE;
    none may read the table sequentially."""
    read = 0
    for branch in query.branches:
        [plan] = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + branch.sql, *branch.args))
        for scan in _scans(plan["Plan"]):
            assert "Seq Scan" not in scan["Node Type"], (case, scan["Node Type"])
            read += (scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0)) * scan["Actual Loops"]
    return read


@pytest.mark.parametrize("case", list(CASES))
async def test_the_first_batch_reads_a_few_rows(case: str, seeded: str, migrated_dsn: str) -> None:
    async with connection(migrated_dsn) as conn:
        read = await _rows_read(conn, case, _case_query(case, seeded))
    assert read <= MOST_ROWS_READ, f"{case}: the first batch read {read} rows"


async def test_a_one_sided_due_bound_never_scans_the_table(seeded: str, migrated_dsn: str) -> None:
    """The named exception: due dates on one side only are read in date order or from the due-date index,
    as the planner judges; neither scans the table, but the first batch may read ahead (see the module)."""
    for filters in (InvoiceFilter(due_date_lt=dt.date(2020, 3, 1)), InvoiceFilter(due_date_gt=dt.date(2023, 6, 1))):
        query = list_query(seeded, filters, None, "schema", FIRST_BATCH)
        async with connection(migrated_dsn) as conn:
            for branch in query.branches:
                [plan] = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + branch.sql, *branch.args))
                assert all("Seq Scan" not in scan["Node Type"] for scan in _scans(plan["Plan"]))


# A dense account: 60 invoices on each of 60 due dates, in two statuses, their invoice dates 30 days before
# and spread over a week so that the list order (invoice date, then id) crosses the due-date order.
DENSE_DAYS = 60
DENSE_PER_DAY = 60
DENSE_FIRST_DUE = dt.date(2024, 3, 1)
_DENSE_INVOICES = """
    SELECT 'inv_dense_' || lpad(((g * 7919) % ($3::int * $4::int))::text, 5, '0'),
        CASE WHEN g % 4 = 0 THEN 'paid' ELSE 'issued' END, 'DENSE-' || g,
        $2::date + g / $4::int - 30 - (g % 7), $2::date + g / $4::int, 30
    FROM generate_series(0, $3::int * $4::int - 1) g
"""
# The same due dates, but each invoice due some terms of five (0 to 90 days) after its date, in three statuses:
# the invoices due on a range's last day are not the newest, and those due on its other days often are.
_MIXED_TERMS_INVOICES = """
    SELECT 'inv_mixed_' || lpad(g::text, 5, '0'), (ARRAY['issued', 'paid', 'void'])[g % 3 + 1], 'MIXED-' || g,
        $2::date + g % $3::int - terms, $2::date + g % $3::int, terms
    FROM (SELECT g, (ARRAY[0, 15, 30, 60, 90])[abs(hashint4(g * 31)) % 5 + 1] AS terms
          FROM generate_series(0, $3::int * $4::int - 1) g) planned
"""


async def _account_of(migrated_dsn: str, invoices: str) -> AsyncIterator[tuple[str, list[asyncpg.Record]]]:
    """An account of one customer ('cus_dense') and the invoices `invoices` selects (id, status, number, invoice
    date, due date, net terms; $2 the first due date, $3 the days, $4 the invoices a day), and its rows."""
    account = await new_account(migrated_dsn)
    async with connection(migrated_dsn) as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO customers (account_id, id, external_customer_id, name, email, currency, timezone,
                auto_collection, net_terms, balance)
            VALUES ($1, 'cus_dense', 'dense', 'Dense', 'd@dense.example', 'USD', 'UTC', false, 30, 0.00)
            """,
            account.id,
        )
        await conn.execute(
            f"""
            INSERT INTO invoices (account_id, id, customer_id, invoice_source, status, invoice_number, currency,
                invoice_date, due_date, net_terms, subtotal, total, amount_due, auto_collection, issued_at, paid_at,
                voided_at)
            SELECT $1, planned.id, 'cus_dense', 'one_off', planned.status, planned.number, 'USD', planned.dated,
                planned.due, planned.terms, 10.00, 10.00, 10.00, false, now(),
                CASE WHEN planned.status = 'paid' THEN now() END, CASE WHEN planned.status = 'void' THEN now() END
            FROM ({invoices}) AS planned(id, status, number, dated, due, terms)
            """,
            account.id,
            DENSE_FIRST_DUE,
            DENSE_DAYS,
            DENSE_PER_DAY,
        )
        rows = await conn.fetch(
            "SELECT id, customer_id, invoice_date, due_date, status FROM invoices WHERE account_id = $1", account.id
        )
    async with connection(migrated_dsn) as conn:
        await conn.execute("ANALYZE invoices")
    yield account.id, rows
    async with connection(migrated_dsn) as conn, conn.transaction():
        await conn.execute("DELETE FROM invoices WHERE account_id = $1", account.id)
        await conn.execute("DELETE FROM customers WHERE account_id = $1", account.id)


@pytest.fixture(scope="module")
async def dense(migrated_dsn: str) -> AsyncIterator[tuple[str, list[asyncpg.Record]]]:
    """An account of 3,600 invoices due on 60 consecutive days, and its rows (id, customer, dates, status)."""
    async for account in _account_of(migrated_dsn, _DENSE_INVOICES):
        yield account


@pytest.fixture(scope="module")
async def mixed_terms(migrated_dsn: str) -> AsyncIterator[tuple[str, list[asyncpg.Record]]]:
    """An account of 3,600 invoices due on the same 60 days, each some terms of five after its date."""
    async for account in _account_of(migrated_dsn, _MIXED_TERMS_INVOICES):
        yield account


@pytest.mark.parametrize("plan", ["generic", "custom"])
async def test_a_page_of_a_due_window_reads_a_few_days_not_the_window(
    plan: str, dense: tuple[str, list[asyncpg.Record]], migrated_dsn: str
) -> None:
    """A 30-day window of the dense account holds 1,350 issued invoices; its first page of 20 reads a few
    days' keys and then the page's invoices, not every invoice of the window: on the plan made once for
    every value (which the service runs where sessions keep their statements) and on one planned for its
    values (behind a transaction pooler)."""
    account_id, rows = dense
    days = 30
    first, last = DENSE_FIRST_DUE + dt.timedelta(days=10), DENSE_FIRST_DUE + dt.timedelta(days=10 + days - 1)
    window = InvoiceFilter(due_date_from=first, due_date_to=last, statuses=(InvoiceStatus.ISSUED,))
    in_window = sum(1 for row in rows if first <= row["due_date"] <= last and row["status"] == "issued")
    assert in_window == days * DENSE_PER_DAY * 3 // 4
    query = list_query(account_id, window, None, "schema", FIRST_BATCH)
    assert query.generic_plans, "the window's plan depends on no value"
    async with connection(migrated_dsn) as conn:
        await conn.execute(f"SET plan_cache_mode = force_{plan}_plan")
        read = await _rows_read(conn, "due window", query)
    # The last day's page of keys sets a floor (its oldest invoice date): the other days read only their keys
    # at or above it (the few days before, whose invoices are as new as some of the page), then the page's
    # own invoices are read: about 100 rows, where a page of keys from every day would be 620.
    assert read <= 6 * FIRST_BATCH < in_window // 10, f"the first page read {read} rows"


def _due_range(rng: random.Random) -> InvoiceFilter:
    """A due-date range of a random kind and length around the dense account's due dates (some empty, some
    longer than a quarter, some reaching past the data)."""
    start = DENSE_FIRST_DUE + dt.timedelta(days=rng.randint(-5, DENSE_DAYS + 2))
    end = start + dt.timedelta(days=rng.choice((-2, 0, 1, 6, 29, 45, 365, 366, 400)))
    before, after = start - dt.timedelta(days=1), end + dt.timedelta(days=1)
    statuses = rng.choice(((InvoiceStatus.ISSUED,), (InvoiceStatus.PAID, InvoiceStatus.ISSUED), (InvoiceStatus.VOID,)))
    kind = rng.choice(("from-to", "gt-lt", "exact", "date type due", "mixed"))
    if kind == "from-to":
        filters = InvoiceFilter(due_date_from=start, due_date_to=end, statuses=statuses)
    elif kind == "gt-lt":
        filters = InvoiceFilter(due_date_gt=before, due_date_lt=after, statuses=statuses)
    elif kind == "exact":
        filters = InvoiceFilter(due_date=start, statuses=statuses)
    elif kind == "date type due":
        filters = InvoiceFilter(filter_by_due_date=True, date_gt=before, date_lte=end, statuses=statuses)
    else:
        filters = InvoiceFilter(due_date_from=start, due_date_lt=after, date_lt=DENSE_FIRST_DUE, statuses=statuses)
    # One customer's list is read from the customer's index instead (the account's one customer, or another).
    return replace(filters, customer_id=rng.choice((None, None, "cus_dense", "cus_none")))


def _admits(filters: InvoiceFilter, row: asyncpg.Record) -> bool:
    """The oracle: the filters of `_due_range` applied to one row, as SPEC 4.5 words them."""
    due: dt.date = row["due_date"]
    dated: dt.date = due if filters.filter_by_due_date else row["invoice_date"]
    checks = [
        (due, operator.eq, filters.due_date),
        (due, operator.ge, filters.due_date_from),
        (due, operator.le, filters.due_date_to),
        (due, operator.gt, filters.due_date_gt),
        (due, operator.lt, filters.due_date_lt),
        (dated, operator.gt, filters.date_gt),
        (dated, operator.le, filters.date_lte),
        (dated, operator.lt, filters.date_lt),
    ]
    in_status = row["status"] in {status.value for status in filters.statuses}
    in_customer = filters.customer_id in (None, row["customer_id"])
    return in_status and in_customer and all(bound is None or compare(day, bound) for day, compare, bound in checks)


@pytest.fixture(params=["dense", "mixed terms"])
def due_account(
    request: pytest.FixtureRequest,
    dense: tuple[str, list[asyncpg.Record]],
    mixed_terms: tuple[str, list[asyncpg.Record]],
) -> tuple[str, list[asyncpg.Record]]:
    """Each account of invoices due on the same 60 days, in turn."""
    return dense if request.param == "dense" else mixed_terms


@pytest.mark.parametrize("plan", ["generic", "custom"])
async def test_due_ranges_page_through_exactly_what_a_filter_and_sort_finds(
    plan: str, due_account: tuple[str, list[asyncpg.Record]], migrated_dsn: str
) -> None:
    """Paged by keyset (each page after the last row of the one before), every due range lists exactly the
    rows a plain filter and sort of the account's rows finds, in order, whether it is read a day at a time
    (on the plan made once for every value and on one planned for its values) or fenced: in an account where
    the invoices due on a range's last day are its newest, and in one where they often are not."""
    account_id, rows = due_account
    rng = random.Random(20261202)
    async with connection(migrated_dsn) as conn:
        await conn.execute(f"SET plan_cache_mode = force_{plan}_plan")
        for _ in range(40):
            filters = _due_range(rng)
            page = rng.choice((7, 20, 500))
            expected = sorted(((row["invoice_date"], row["id"]) for row in rows if _admits(filters, row)), reverse=True)
            listed: list[tuple[dt.date, str]] = []
            after: tuple[dt.date, str] | None = None
            while True:
                query = list_query(account_id, filters, after, "schema", page)
                merged = sorted(
                    [(row["invoice_date"], row["id"]) for branch in query.branches for row in
                     await conn.fetch(branch.sql, *branch.args)],
                    reverse=True,
                )[:page]  # fmt: skip
                listed += merged
                if len(merged) < page:
                    break
                after = merged[-1]
            assert listed == expected, filters


@pytest.mark.parametrize(
    "filters",
    [
        InvoiceFilter(due_date_gt=dt.date.max, due_date_lt=dt.date.max),
        InvoiceFilter(due_date_from=dt.date.min, due_date_lt=dt.date.min),
        InvoiceFilter(due_date_from=dt.date.max, due_date_to=dt.date.max),
        InvoiceFilter(due_date=dt.date.min, due_date_to=dt.date.min),
        InvoiceFilter(filter_by_due_date=True, date_gt=dt.date.max, date_lte=dt.date.max),
        InvoiceFilter(due_date_from=dt.date(2024, 3, 20), due_date_to=dt.date(2024, 3, 10)),
    ],
)
async def test_due_ranges_at_the_ends_of_the_calendar_list_nothing(
    filters: InvoiceFilter, dense: tuple[str, list[asyncpg.Record]], migrated_dsn: str
) -> None:
    """A bound one day past the last (or before the first) date of the calendar, and bounds that exclude each
    other, make an empty list, not an error."""
    account_id, _ = dense
    async with connection(migrated_dsn) as conn:
        for limit in (20, 0):
            query = list_query(account_id, filters, None, "schema", limit)
            for branch in query.branches:
                assert await conn.fetch(branch.sql, *branch.args) == []


# The filters no value of which can change the plan (no bound): their statements state the page's limit.
VALUE_FREE = [
    "default statuses", "every status", "void, none match", "draft and void, none match", "customer",
    "external customer", "customer, void", "subscription", "recurring", "one-off", "resumed deep in the list",
]  # fmt: skip


@pytest.mark.parametrize("case", ["default statuses", "every status", "resumed deep in the list", "due window"])
async def test_the_account_s_list_is_planned_once_not_at_every_page(case: str, seeded: str, migrated_dsn: str) -> None:
    """A list whose plan no value can change (no bound, or a due-date range read a day at a time) runs, at
    every page, the plan made once for every value, never one planned afresh: planning each page's statements
    costs about as much as running them. Read through the service's own snapshot, three pages."""
    database = await Database.connect(migrated_dsn, PoolSettings(min_size=1, max_size=2, stream_max_size=1))
    try:
        after = _case_after(case)
        previous: list[tuple[int, int]] = []
        for number in range(1, 4):  # each page in a snapshot of its own, on the one stream session
            listed, mode, plans = await _page_and_plans(database, CASES[case], seeded, after)
            assert mode == "force_generic_plan"
            assert all(custom == 0 and generic >= 1 for custom, generic in plans), (number, plans)
            if number == 3:  # the statements of the page before (both pages resumed): run again on their plan
                assert all(now[1] > before[1] for now, before in zip(plans, previous, strict=True)), (previous, plans)
            previous, after = plans, listed[-1]
        _, mode, _ = await _page_and_plans(database, CASES["amount above most totals"], seeded, None)
        assert mode == "auto", "a bound's plan depends on its value: its page is planned for it"
    finally:
        await database.close()


async def _page_and_plans(
    database: Database, filters: InvoiceFilter, account_id: str, after: tuple[dt.date, str] | None
) -> tuple[list[tuple[dt.date, str]], str, list[tuple[int, int]]]:
    """A first batch of the list through `snapshots.batches`; the plan_cache_mode it ran under and, for each
    of its statements, (executions planned for their values, executions on the plan made for every value) on
    the session that ran them."""
    query = list_query(account_id, filters, after, "schema", FIRST_BATCH)
    seen: dict[str, Any] = {}

    async def complete(conn: asyncpg.Connection, listed: list[StoredInvoice]) -> list[StoredInvoice]:
        seen["mode"] = await conn.fetchval("SELECT current_setting('plan_cache_mode')")
        seen["plans"] = [
            tuple(await conn.fetchrow(
                "SELECT custom_plans, generic_plans FROM pg_prepared_statements WHERE statement = $1", branch.sql
            ))
            for branch in query.branches
        ]  # fmt: skip
        return listed

    page = Page(after, FIRST_BATCH, FIRST_BATCH)
    listed = []
    async for batch in snapshots.batches(database, query, page, complete=complete):
        listed += [(invoice.invoice_date, invoice.id) for invoice in batch]
    return listed, seen["mode"], seen["plans"]


async def test_behind_a_transaction_pooler_no_list_is_forced_onto_one_plan(seeded: str, migrated_dsn: str) -> None:
    """Where sessions do not keep their statements (a transaction pooler: asyncpg's statement cache is off), a
    list whose plan no value can change still runs each page planned afresh: its snapshot forces nothing."""
    settings = PoolSettings(min_size=1, max_size=2, stream_max_size=1, statement_cache_size=0, transaction_pooling=True)
    database = await Database.connect(migrated_dsn, settings)
    try:
        assert not database.plans_kept
        listed, mode, _ = await _page_and_plans(database, CASES["default statuses"], seeded, None)
        assert listed
        assert mode == "auto"
    finally:
        await database.close()


# The due-date ranges read a day at a time, with no other bound: their plan depends on no value either.
DAY_BY_DAY = ["due date", "due window", "due between", "date type due"]


@pytest.mark.parametrize("case", VALUE_FREE + DAY_BY_DAY)
async def test_the_plan_kept_for_a_list_without_bounds_reads_a_few_rows(
    case: str, seeded: str, migrated_dsn: str
) -> None:
    # The plan made once for every value (the generic plan, forced here) is the one each page then runs.
    query = _case_query(case, seeded)
    assert query.generic_plans
    if case in VALUE_FREE:
        assert all("LIMIT $" not in branch.sql for branch in query.branches), "the page's limit is stated"
    async with connection(migrated_dsn) as conn:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        read = await _rows_read(conn, case, query)
    assert read <= MOST_ROWS_READ, f"{case}: the first batch read {read} rows"
