"""The period-end runner: invoices elapsed periods exactly once, then auto-issues eligible drafts.

It runs as a background task in every server process and as `python -m server
bill`; any number of them may run at once. Each subscription is taken with
FOR UPDATE SKIP LOCKED, its next boundary is invoiced and advanced in the same
transaction, and a unique index on (subscription, boundary) rejects a second
invoice for a period whatever happens. The clock is a parameter so tests move
time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from server.api import events
from server.api import lifecycle as actions
from server.billing import engine
from server.db import invoices as invoices_repo
from server.db import subscriptions as repo
from server.db.pool import Database
from server.domain.errors import FailedPrecondition

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What one pass did."""

    generated: int = 0
    issued: int = 0


async def invoice_due_periods(db: Database, now: dt.datetime, grace: dt.timedelta) -> int:
    """Create the invoices of every boundary that has arrived; return how many were created.

    One subscription boundary per transaction, so that its locks (subscription, customer, then the
    account's event counter, the same order as every invoice mutation) are held only briefly.
    """
    created = 0
    while True:
        async with db.transaction() as conn:
            rows = await repo.due_for_invoicing(conn, now, 1)
            if not rows:
                return created
            row = rows[0]
            sub = engine.subscription_from(row, row["account_id"])
            k = row["next_boundary"]
            async with conn.transaction():  # a savepoint: a boundary already invoiced is only skipped
                try:
                    invoice_id = await engine.generate(conn, sub, k, grace)
                    if invoice_id is not None:
                        await events.record(conn, sub.account_id, invoice_id, ["created"])
                        created += 1
                except asyncpg.UniqueViolationError:
                    log.info("boundary %d of %s was already invoiced", k, sub.id)
            last = sub.last_boundary()
            following = k + 1
            at = None if last is not None and following > last else sub.boundary_at(following)
            await repo.set_next_boundary(conn, sub.account_id, sub.id, following, at)


async def issue_due_drafts(db: Database, now: dt.datetime, limit: int = 500) -> int:
    """Issue the subscription drafts whose grace period is over and that may issue themselves.

    Each draft is issued in its own transaction through the IssueInvoice path
    (customer lock, then invoice lock); a draft another process issued first
    is refused by the state table and skipped.
    """
    async with db.connection() as conn:
        rows = await invoices_repo.subscription_drafts_due(conn, now, limit)
    issued = 0
    for row in rows:
        try:
            async with db.transaction() as conn:
                await actions.issue(conn, row["account_id"], row["id"], None, now)
            issued += 1
        except FailedPrecondition as refused:
            log.debug("skipped auto-issue of %s: %s", row["id"], refused.message)
    return issued


async def run_once(db: Database, now: dt.datetime, grace: dt.timedelta = engine.DEFAULT_GRACE) -> RunResult:
    """One pass: invoice elapsed periods, then issue what is due."""
    generated = await invoice_due_periods(db, now, grace)
    issued = await issue_due_drafts(db, now)
    return RunResult(generated, issued)


async def run_forever(db: Database, clock: Callable[[], dt.datetime], interval_s: float, grace: dt.timedelta) -> None:
    """Run a pass every interval_s seconds until cancelled; errors are logged and retried."""
    while True:
        try:
            result = await run_once(db, clock(), grace)
            if result.generated or result.issued:
                log.info("billing: %d invoices generated, %d issued", result.generated, result.issued)
        except Exception:
            log.warning("billing pass failed; retrying", exc_info=True)
        await asyncio.sleep(interval_s)
