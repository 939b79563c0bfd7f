"""Subscription use cases: subscribe, cancel (settling what the cancellation cuts short), read, preview."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace

from server.db import customers as customers_repo
from server.db import invoices as invoices_repo
from server.db import plans as plans_repo
from server.db import snapshots
from server.db import subscriptions as repo
from server.db.pool import Database
from server.domain.billing import CancelAt, SubscriptionStatus, cancellation_end, fee_credit
from server.domain.customers import BalanceAction, BalanceDirection, check_same_currency, move_balance
from server.domain.invoices import InvoiceStatus
from server.domain.periods import instant
from server.domain.subscriptions import NewSubscription, Subscription, SubscriptionRecord, subscription_from
from server.usecases import subscription_billing
from server.usecases.invoices import Invoices
from server.usecases.subscription_billing import UpcomingInvoice
from server.usecases.unit import Tx


class Subscriptions:
    """The subscription use cases; cancellations change invoices through the invoice use cases."""

    def __init__(self, invoices: Invoices, grace: dt.timedelta) -> None:
        self._invoices = invoices
        self._grace = grace

    async def create(self, tx: Tx, new: NewSubscription) -> SubscriptionRecord:
        """CreateSubscription: the plan's currency must be the customer's; billing starts at the start date."""
        customer = await customers_repo.get(
            tx.conn,
            tx.account_id,
            customer_id=new.customer.customer_id,
            external_customer_id=new.customer.external_customer_id,
        )
        plan = await plans_repo.get(
            tx.conn, tx.account_id, plan_id=new.plan.plan_id, external_plan_id=new.plan.external_plan_id
        )
        check_same_currency(plan.currency, customer.currency, what="the plan", subject="plan_id")
        subscription_id = await repo.insert(
            tx.conn,
            tx.account_id,
            customer_id=customer.id,
            plan_id=plan.id,
            start_date=new.start_date,
            align_to_start=new.align_to_start,
            net_terms=new.net_terms if new.net_terms is not None else customer.net_terms,
            auto_issuance=new.auto_issuance,
            metadata=dict(new.metadata),
            first_boundary_at=instant(new.start_date, customer.timezone),
        )
        return await repo.get(tx.conn, tx.account_id, subscription_id)

    async def cancel(
        self, tx: Tx, subscription_id: str, when: CancelAt, requested: dt.date | None
    ) -> SubscriptionRecord:
        """CancelSubscription: set when billing stops, make the final invoice due then, settle what is cut short."""
        record = await repo.get(tx.conn, tx.account_id, subscription_id, lock="update")
        sub = subscription_from(record, tx.account_id)
        end_date, ended_at = cancellation_end(sub.term, when, tx.now, requested)
        ending = replace(sub, end_date=end_date, ended_at=ended_at)
        last = ending.last_boundary()
        following = record.next_boundary
        # The final invoice falls due when billing stops, so the runner's next pass generates it.
        due = None if last is None or following > last else ending.boundary_at(following)
        await repo.set_end(tx.conn, tx.account_id, sub.id, end_date, ended_at, due)
        await self._settle_cancellation(tx, ending)
        return await repo.get(tx.conn, tx.account_id, sub.id)

    async def _settle_cancellation(self, tx: Tx, sub: Subscription) -> None:
        """Settle the invoices a cancellation cuts short, in the cancellation's transaction.

        Every invoice already generated for the period that contains the last
        billed day, or later, whose in-advance fees the new end changes
        (`fee_credit`) is settled: a draft is lowered (its lines re-priced, an
        `updated` event); for an issued, synced or paid invoice, the unused part of
        its in-advance fees goes to the customer balance as a `prorated_refund`
        transaction linked to the invoice (a later cancellation that moves the end
        later takes it back with `revert_prorated_refund`), and the invoice, which
        now shows that transaction, gets an `updated` event. Void invoices billed
        nothing and are left alone.
        Locks: the caller holds the subscription; then the customer, then the
        invoices in id order, then the event counter.
        """
        assert sub.end_date is not None
        last_billed_day = max(sub.end_date - dt.timedelta(days=1), sub.schedule.start_date)
        affected = await invoices_repo.boundary_invoices(
            tx.conn, tx.account_id, sub.id, sub.schedule.index_of(last_billed_day)
        )
        if not affected:
            return
        customer = await customers_repo.get(tx.conn, tx.account_id, customer_id=sub.customer_id, lock="update")
        balance = customer.balance
        credits = []
        for invoice_id in affected:  # in id order
            invoice = await invoices_repo.lock(tx.conn, tx.account_id, invoice_id)
            assert invoice.billing_boundary is not None
            credit = fee_credit(
                sub.prices,
                sub.schedule,
                invoice.billing_boundary,
                sub.end_date,
                await invoices_repo.generated_amounts(tx.conn, tx.account_id, invoice_id),
                await invoices_repo.prorated_refunds(tx.conn, tx.account_id, invoice_id),
                sub.currency,
            )
            if credit != 0:  # an end that changes nothing for this invoice leaves it alone
                credits.append((invoice_id, invoice.status is InvoiceStatus.DRAFT, credit))
        await self._invoices.refresh_drafts(tx, [invoice_id for invoice_id, draft, _ in credits if draft])
        for invoice_id, draft, credit in credits:
            if draft:
                continue
            refund = credit > 0
            direction = BalanceDirection.INCREMENT if refund else BalanceDirection.DECREMENT
            move = move_balance(balance, direction, abs(credit))
            await customers_repo.insert_balance_transaction(
                tx.conn,
                tx.account_id,
                sub.customer_id,
                BalanceAction.PRORATED_REFUND if refund else BalanceAction.REVERT_PRORATED_REFUND,
                move,
                description=(
                    f"Subscription {sub.id} ends on {sub.end_date.isoformat()}: "
                    + ("unused in-advance fees refunded" if refund else "refund for days now billed taken back")
                ),
                invoice_id=invoice_id,
            )
            balance = move.ending_balance
            await self._invoices.touch(tx, invoice_id)  # a new version: the invoice shows the transaction

    async def upcoming(self, db: Database, account_id: str, subscription_id: str, now: dt.datetime) -> UpcomingInvoice:
        """GetUpcomingInvoice: computed from one snapshot (of the unary pool: a unary RPC), never stored."""
        async with db.read_snapshot() as conn:
            return await subscription_billing.upcoming_invoice(conn, account_id, subscription_id, now, self._grace)


async def get_subscription(db: Database, account_id: str, subscription_id: str) -> SubscriptionRecord:
    """GetSubscription."""
    async with db.connection() as conn:
        return await repo.get(conn, account_id, subscription_id)


def list_subscriptions(
    db: Database,
    account_id: str,
    customer_id: str | None,
    external_customer_id: str | None,
    statuses: Sequence[SubscriptionStatus],
    now: dt.datetime,
    after: tuple[dt.datetime, str] | None,
    *,
    batch: int,
    limit: int,
) -> AsyncGenerator[list[SubscriptionRecord], None]:
    """ListSubscriptions: newest first, filtered by status at `now`, from one snapshot, in batches."""
    query = repo.list_query(account_id, customer_id, external_customer_id, [s.value for s in statuses], now, after)
    return snapshots.batches(db, query, size=batch, limit=limit)
