"""Threshold billing: a partial invoice as soon as the usage a period has accrued, not yet invoiced, reaches the
subscription's invoicing threshold (Orb's `invoicing_threshold`, invoice source `partial`).

A partial invoice bills the usage lines of the current period up to now
(fixed fees never count), each less what earlier partial invoices of the
period billed of it and less the prepaid credits it draws, exactly as the
period's own invoice will price them (`subscription_billing.bill_boundary`);
it is issued at once, whatever the customer's auto-issuance. The period's
invoice, its preview and its refreshes deduct every partial invoice that is
not void (`partially_invoiced_amount`), so each unit of usage is billed once.

The check runs after each ingestion batch commits, in a transaction of its
own that takes the subscription's row lock first: checks of concurrent
batches take turns, and each sees the events and the partial invoices every
earlier one committed, so one crossing of the threshold issues one partial
invoice. A process that stops between a batch's commit and its check leaves
the crossing to the next batch's check (or to the period's invoice, which
bills everything anyway): no usage is billed twice or lost.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import asyncpg

from server.db import customers as customers_repo
from server.db import invoices as invoices_repo
from server.db import subscriptions as repo
from server.domain.billing import SubscriptionStatus
from server.domain.errors import DomainError
from server.domain.events import InvoiceEventKind
from server.domain.invoices import InvoiceSource, totals
from server.domain.subscriptions import subscription_from
from server.domain.validation import today_in
from server.usecases import credit_ledger, subscription_billing
from server.usecases.invoices import Invoices
from server.usecases.unit import Actor, Transactions, Tx

log = logging.getLogger(__name__)


class Thresholds:
    """The threshold use case; partial invoices are issued through the invoice use cases."""

    def __init__(self, invoices: Invoices) -> None:
        self._invoices = invoices

    async def bill(self, tx: Tx, subscription_id: str) -> str | None:
        """Issue a partial invoice for the subscription's current period if its uninvoiced usage has reached the
        threshold; return its id (None when it has not, or the subscription has no threshold or is not active).

        Locks: the subscription, the customer, then the new invoice and the counters.
        """
        record = await repo.get(tx.conn, tx.account_id, subscription_id, lock="update")
        threshold = record.invoicing_threshold
        if threshold is None:
            return None
        sub = subscription_from(record, tx.account_id)
        status, _ = sub.term.status(tx.now)
        if status is not SubscriptionStatus.ACTIVE:
            return None
        today = today_in(sub.timezone, tx.now)
        k = sub.schedule.index_of(today) + 1  # the boundary whose invoice bills the current period
        if record.next_boundary > k:  # that invoice exists already: it bills the period from now on
            return None
        customer = await customers_repo.get(tx.conn, tx.account_id, customer_id=sub.customer_id, lock="update")
        billed = await subscription_billing.bill_boundary(tx.conn, sub, k, usage_until=tx.now, usage_only=True)
        kept = [
            (index, line)
            for index, line in enumerate(billed.lines)
            if line.amount != 0 or line.credits_applied != 0  # lines of which nothing new is billed stay off
        ]
        lines = [line for _, line in kept]
        if totals(lines, sub.currency).total < threshold:
            return None
        invoice_id = await subscription_billing.insert_invoice(
            tx.conn,
            sub,
            customer,
            InvoiceSource.PARTIAL,
            today,
            lines,
            will_auto_issue=True,
            billing_boundary=k,
            eligible_to_issue_at=tx.now,
        )
        await self._invoices.publish(tx, invoice_id, [InvoiceEventKind.CREATED])
        ids = [line.id for line in await invoices_repo.lines(tx.conn, tx.account_id, invoice_id)]
        positions = {index: ids[n] for n, (index, _) in enumerate(kept)}
        draws = [(positions[d.line], d.block_id, d.amount) for d in billed.draws if d.line in positions]
        await credit_ledger.draw(tx, customer.id, invoice_id, draws)
        await self._invoices.issue_locked(tx, customer, await invoices_repo.lock(tx.conn, tx.account_id, invoice_id))
        return invoice_id

    async def after_ingest(self, transactions: Transactions, actor: Actor, customer_ids: Collection[str]) -> None:
        """Check the thresholds of the subscriptions of customers whose events were just stored, one transaction
        each. A failed check (a lock not won within the deadline, the database gone) is logged and left to the
        next batch: the ingestion itself has committed."""
        if not customer_ids:
            return
        async with transactions.db.connection() as conn:
            subscription_ids = await repo.with_threshold(
                conn, actor.account_id, sorted(customer_ids), transactions.clock()
            )
        for subscription_id in subscription_ids:

            async def check(tx: Tx, checked: str = subscription_id) -> str | None:
                return await self.bill(tx, checked)

            try:
                await transactions.run(actor, check)
            except (DomainError, asyncpg.PostgresError, OSError):
                log.warning("threshold check of %s failed; the next batch checks again", subscription_id, exc_info=True)
