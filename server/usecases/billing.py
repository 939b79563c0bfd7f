"""The period-end runner: invoices elapsed periods exactly once, then auto-issues eligible drafts.

It runs as a background task in every server process and as `python -m server
bill`; any number of them may run at once. Each subscription is taken with
FOR NO KEY UPDATE SKIP LOCKED, its next boundary is invoiced and advanced in the same
transaction, and a unique index on (subscription, boundary) rejects a second
invoice for a period whatever happens. The clock is a parameter so tests move
time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

import asyncpg

from server.db import invoices as invoices_repo
from server.db import subscriptions as repo
from server.db.pool import savepoint
from server.domain.errors import FailedPrecondition
from server.domain.events import InvoiceEventKind
from server.domain.subscriptions import DEFAULT_GRACE, subscription_from
from server.usecases import subscription_billing
from server.usecases.credits import Credits
from server.usecases.invoices import Invoices
from server.usecases.publish import invoice_changed
from server.usecases.unit import Actor, Transactions, Tx

log = logging.getLogger(__name__)


# The actor of every change the runner makes: the service itself, no API key.
RUNNER = "billing-runner"


@dataclass
class RunResult:
    """What one pass did."""

    generated: int = 0
    issued: int = 0
    expired: int = 0  # credit blocks whose remainder expired


class Runner:
    """Invoices elapsed billing periods and auto-issues due drafts (use cases of no RPC)."""

    def __init__(
        self,
        transactions: Transactions,
        invoices: Invoices,
        grace: dt.timedelta = DEFAULT_GRACE,
        credits: Credits | None = None,
    ):
        self._tx = transactions
        self._invoices = invoices
        self._grace = grace
        self._credits = credits or Credits(invoices)

    async def invoice_due_periods(self, now: dt.datetime, account_id: str | None = None) -> int:
        """Create the invoices of every boundary that has arrived; return how many were created.

        One subscription boundary per transaction, so that its locks (subscription, customer, then the
        account's event counter, the same order as every invoice mutation) are held only briefly.
        """
        created = 0
        while True:
            async with self._tx.db.transaction() as conn:
                due = await repo.due_for_invoicing(conn, now, 1, account_id)
                if not due:
                    return created
                owner, record = due[0]
                sub = subscription_from(record, owner)
                k = record.next_boundary
                async with savepoint(conn):  # a boundary already invoiced is only skipped
                    try:
                        invoice_id = await subscription_billing.generate(conn, sub, k, self._grace)
                        if invoice_id is not None:
                            tx = Tx(conn, Actor(owner, method=RUNNER), now)
                            await invoice_changed(tx, self._invoices.render, invoice_id, [InvoiceEventKind.CREATED])
                            created += 1
                    except asyncpg.UniqueViolationError:
                        log.info("boundary %d of %s was already invoiced", k, sub.id)
                last = sub.last_boundary()
                following = k + 1
                at = None if last is not None and following > last else sub.boundary_at(following)
                await repo.set_next_boundary(conn, sub.account_id, sub.id, following, at)

    async def issue_due_drafts(self, now: dt.datetime, account_id: str | None = None, limit: int = 500) -> int:
        """Issue the subscription drafts whose grace period is over and that may issue themselves.

        Each draft is issued in its own transaction through the IssueInvoice use case
        (customer lock, then invoice lock); a draft another process issued first
        is refused by the state table and skipped.
        """
        async with self._tx.db.connection() as conn:
            drafts = await invoices_repo.subscription_drafts_due(conn, now, limit, account_id)
        issued = 0
        for draft in drafts:
            try:
                async with self._tx.db.transaction() as conn:
                    tx = Tx(conn, Actor(draft.account_id, method=RUNNER), now)
                    await self._invoices.issue(tx, draft.invoice_id, None)
                issued += 1
            except FailedPrecondition as refused:
                log.debug("skipped auto-issue of %s: %s", draft.invoice_id, refused.message)
        return issued

    async def run_once(self, now: dt.datetime, account_id: str | None = None) -> RunResult:
        """One pass: invoice elapsed periods, issue what is due, then expire the prepaid credits no invoice can
        draw any more (of every account, or of one)."""
        generated = await self.invoice_due_periods(now, account_id)
        issued = await self.issue_due_drafts(now, account_id)
        expired = await self._credits.expire_due(self._tx, now, account_id)
        return RunResult(generated, issued, expired)

    async def run_forever(self, interval_s: float) -> None:
        """Run a pass every interval_s seconds until cancelled; errors are logged and retried."""
        while True:
            try:
                result = await self.run_once(self._tx.clock())
                if result.generated or result.issued:
                    log.info("billing: %d invoices generated, %d issued", result.generated, result.issued)
            except Exception:
                log.warning("billing pass failed; retrying", exc_info=True)
            await asyncio.sleep(interval_s)
