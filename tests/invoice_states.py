"""Direct database edits that put invoices into states the API cannot reach yet.

These helpers stand in for RPCs that do not exist yet: `force_status` for the
lifecycle RPCs (IssueInvoice, MarkInvoicePaid, VoidInvoice) and
`make_subscription_invoice` for the billing engine that creates subscription
invoices. Tests that use them should move to the real RPCs once those exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import asyncpg

StatusName = Literal["draft", "issued", "paid", "synced", "void"]


# The status edges the database allows (its status guard trigger), used to walk to a target status.
_EDGES: dict[str, tuple[str, ...]] = {
    "draft": ("issued", "paid"),
    "issued": ("paid", "void"),
    "synced": ("paid",),
    "paid": (),
    "void": (),
}


def _path(start: str, target: str) -> list[str] | None:
    """The statuses to pass through from start to target along allowed edges (shortest), or None."""
    paths: dict[str, list[str]] = {start: []}
    frontier = [start]
    while frontier:
        status = frontier.pop(0)
        if status == target:
            return paths[status]
        for following in _EDGES[status]:
            if following not in paths:
                paths[following] = [*paths[status], following]
                frontier.append(following)
    return None


async def _update_one(dsn: str, sql: str, *args: object) -> None:
    """Run an UPDATE that must change exactly one invoice."""
    conn = await asyncpg.connect(dsn)
    try:
        result = await conn.execute(sql, *args)
    finally:
        await conn.close()
    if result != "UPDATE 1":
        raise AssertionError(f"expected to update one invoice, got {result!r}")


_STEP = """
UPDATE invoices
   SET status = $2::text,
       invoice_number = CASE WHEN $2::text = 'draft' THEN NULL ELSE coalesce($3::text, invoice_number, $4::text) END,
       due_date = coalesce($5::date, due_date),
       issued_at = CASE WHEN $2::text = 'draft' THEN NULL ELSE coalesce(issued_at, now()) END,
       paid_at = CASE WHEN $2::text = 'paid' THEN coalesce(paid_at, now()) ELSE paid_at END,
       voided_at = CASE WHEN $2::text = 'void' THEN coalesce(voided_at, now()) ELSE voided_at END,
       version = version + 1,
       updated_at = now()
 WHERE id = $1
"""


async def force_status(
    dsn: str,
    invoice_id: str,
    status: StatusName,
    *,
    number: str | None = None,
    due_date: dt.date | None = None,
) -> None:
    """Put an invoice in `status` by updating its row, standing in for the lifecycle RPCs until they exist.

    The row walks the status edges the database allows (draft -> issued ->
    void, and so on), one UPDATE per edge, in one transaction. No edge leads
    into `synced` (an external accounting sync the service does not perform
    yet) or back to `draft`; those jumps are made with triggers disabled for
    the transaction. A non-draft invoice needs an invoice number (a CHECK
    constraint): `number` when given, else the one it has, else a fresh unique
    one; a draft loses its number. `due_date`, when given, replaces the due
    date. Each step bumps the version and sets the matching timestamp
    (issued_at, paid_at, voided_at), as a real transition would.
    """
    fallback = f"FORCED-{uuid.uuid4().hex[:12].upper()}"
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            current: str | None = await conn.fetchval(
                "SELECT status FROM invoices WHERE id = $1 FOR UPDATE", invoice_id
            )
            if current is None:
                raise AssertionError(f"no invoice {invoice_id}")
            steps = _path(current, status)
            if steps is None:
                await conn.execute("SET LOCAL session_replication_role = replica")
                steps = [status]
            if not steps:  # already there: still apply the number and due date
                steps = [status]
            for step in steps:
                result = await conn.execute(_STEP, invoice_id, step, number, fallback, due_date)
                if result != "UPDATE 1":
                    raise AssertionError(f"expected to update one invoice, got {result!r}")
    finally:
        await conn.close()


async def make_subscription_invoice(dsn: str, invoice_id: str, subscription_id: str) -> None:
    """Turn an invoice into a subscription invoice of `subscription_id`, standing in for the billing engine."""
    await _update_one(
        dsn,
        """
        UPDATE invoices
           SET invoice_source = 'subscription', subscription_id = $2, version = version + 1, updated_at = now()
         WHERE id = $1
        """,
        invoice_id,
        subscription_id,
    )


async def force_invoice_date(dsn: str, invoice_id: str, invoice_date: dt.date) -> None:
    """Move an invoice to another invoice date by updating its row (any status)."""
    await _update_one(
        dsn,
        "UPDATE invoices SET invoice_date = $2, version = version + 1, updated_at = now() WHERE id = $1",
        invoice_id,
        invoice_date,
    )
