"""Plans (SQL only). Prices are stored with the plan as a JSON list of price dicts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from server.db.records import fetch_row, record_from
from server.db.snapshots import ListQuery
from server.db.where import Where
from server.domain.errors import AlreadyExists
from server.domain.ids import new_id
from server.domain.plans import NewPlan, Plan, PlanRef

_NAMES = ("id", "external_plan_id", "name", "currency", "prices", "metadata", "created_at")
PLAN_COLUMNS = ", ".join(f"p.{name}" for name in _NAMES)


def plan_columns(prefix: str = "") -> str:
    """PLAN_COLUMNS, each named with a prefix (for queries that join plans to another table)."""
    return ", ".join(f"p.{name} AS {prefix}{name}" for name in _NAMES)


def plan_from(row: Mapping[str, Any], prefix: str = "") -> Plan:
    """The plan of a row selected with plan_columns(prefix)."""
    return record_from(Plan, {name: row[f"{prefix}{name}"] for name in _NAMES})


async def insert(conn: asyncpg.Connection, account_id: str, plan: NewPlan) -> Plan:
    """Insert a plan; AlreadyExists if its external id is taken."""
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO plans AS p (account_id, id, external_plan_id, name, currency, prices, metadata)
            VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7) RETURNING {PLAN_COLUMNS}
            """,
            account_id,
            new_id("plan"),
            plan.external_plan_id,
            plan.name,
            plan.currency,
            [dict(p) for p in plan.prices],
            dict(plan.metadata),
        )
    except asyncpg.UniqueViolationError as exc:
        raise AlreadyExists(
            "EXTERNAL_PLAN_ID_TAKEN",
            f"a plan with external_plan_id {plan.external_plan_id!r} already exists",
            metadata={"external_plan_id": plan.external_plan_id},
        ) from exc
    return plan_from(row)


async def get(conn: asyncpg.Connection, account_id: str, *, plan_id: str = "", external_plan_id: str = "") -> Plan:
    """One plan by id or external id; NotFound otherwise."""
    column, value = ("id", plan_id) if plan_id else ("external_plan_id", external_plan_id)
    sql = f"SELECT {PLAN_COLUMNS} FROM plans p WHERE p.account_id = $1 AND p.{column} = $2"
    return plan_from(await fetch_row(conn, "plan", value, sql, account_id, value))


async def get_named(conn: asyncpg.Connection, account_id: str, ref: PlanRef) -> Plan:
    """The plan a reference names (by id or external id); NotFound otherwise."""
    return await get(conn, account_id, plan_id=ref.plan_id, external_plan_id=ref.external_plan_id)


def list_query(account_id: str, after: tuple[dt.datetime, str] | None) -> ListQuery[Plan]:
    """SQL and arguments listing plans newest first, after a keyset position."""
    return Where("p.account_id = $1", account_id).newest_first(
        f"SELECT {PLAN_COLUMNS} FROM plans p", "p", after, plan_from
    )


async def metered_properties(
    conn: asyncpg.Connection, account_id: str, event_names: Sequence[str]
) -> set[tuple[str, str]]:
    """The (event name, property) pairs that `sum` and `max` usage prices of the account's plans read."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT pr -> 'billable_metric' ->> 'event_name' AS event_name,
            pr -> 'billable_metric' ->> 'property' AS property
        FROM plans p, jsonb_array_elements(p.prices) pr
        WHERE p.account_id = $1 AND pr -> 'billable_metric' ->> 'aggregation' IN ('sum', 'max')
          AND pr -> 'billable_metric' ->> 'event_name' = ANY($2::text[])
        """,
        account_id,
        list(event_names),
    )
    return {(r["event_name"], r["property"]) for r in rows}
