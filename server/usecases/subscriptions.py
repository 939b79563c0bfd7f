"""Subscription use cases: subscribe, cancel (settling what the cancellation cuts short), read, preview."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, replace

from server.db import customers as customers_repo
from server.db import invoices as invoices_repo
from server.db import plans as plans_repo
from server.db import snapshots
from server.db import subscriptions as repo
from server.db.pool import Database
from server.domain import money
from server.domain.billing import (
    CancelAt,
    SubscriptionStatus,
    advance_refund,
    billed_in_advance,
    cancellation_end,
)
from server.domain.changes import (
    ChangeRecord,
    PlanChange,
    QuantityChange,
    change_date,
    check_fixed_fee,
    check_new_plan,
)
from server.domain.customers import BalanceAction, BalanceDirection, check_same_currency, move_balance
from server.domain.invoices import InvoiceStatus
from server.domain.pages import Page
from server.domain.periods import instant
from server.domain.subscriptions import (
    NewSubscription,
    Subscription,
    SubscriptionRecord,
    SubscriptionUpdate,
    subscription_from,
)
from server.domain.timeline import ChangeKind
from server.usecases import subscription_billing
from server.usecases.invoices import Invoices
from server.usecases.reads import read
from server.usecases.subscription_billing import UpcomingInvoice
from server.usecases.unit import Tx


@dataclass(frozen=True)
class ChangeOutcome:
    """A subscription after a change, and the change as recorded."""

    subscription: SubscriptionRecord
    change: ChangeRecord


class Subscriptions:
    """The subscription use cases; cancellations and changes settle invoices through the invoice use cases."""

    def __init__(self, invoices: Invoices, grace: dt.timedelta) -> None:
        self._invoices = invoices
        self._grace = grace

    async def create(self, tx: Tx, new: NewSubscription) -> SubscriptionRecord:
        """CreateSubscription: the plan's currency must be the customer's; billing starts at the start date."""
        customer = await customers_repo.get_named(tx.conn, tx.account_id, new.customer)
        plan = await plans_repo.get_named(tx.conn, tx.account_id, new.plan)
        check_same_currency(plan.currency, customer.currency, what="the plan", subject="plan_id")
        threshold = new.invoicing_threshold
        if threshold is not None:
            threshold = money.amount_in(threshold, plan.currency, "invoicing_threshold")
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
            invoicing_threshold=threshold,
        )
        return await repo.get(tx.conn, tx.account_id, subscription_id)

    async def update(self, tx: Tx, subscription_id: str, update: SubscriptionUpdate) -> SubscriptionRecord:
        """UpdateSubscription: the metadata and the invoicing threshold (0 removes it)."""
        record = await repo.get(tx.conn, tx.account_id, subscription_id, lock="update")
        threshold = record.invoicing_threshold
        if update.invoicing_threshold is not None:
            value = money.amount_in(update.invoicing_threshold, record.plan.currency, "invoicing_threshold")
            threshold = value if value > 0 else None
        metadata = record.metadata if update.metadata is None else update.metadata.apply(record.metadata)
        await repo.update(tx.conn, tx.account_id, subscription_id, metadata=metadata, invoicing_threshold=threshold)
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
        last_billed_day = max(end_date - dt.timedelta(days=1), sub.schedule.start_date)
        await self._settle(tx, ending, sub.schedule.index_of(last_billed_day))
        return await repo.get(tx.conn, tx.account_id, sub.id)

    async def change_plan(self, tx: Tx, subscription_id: str, change: PlanChange) -> ChangeOutcome:
        """ChangeSubscriptionPlan: from the change's date the subscription bills the new plan.

        Changes that were to take effect on or after that date are superseded;
        the invoices already generated for the period it falls in are settled
        (`_settle`).
        """
        record = await repo.get(tx.conn, tx.account_id, subscription_id, lock="update")
        sub = subscription_from(record, tx.account_id)
        plan = await plans_repo.get_named(tx.conn, tx.account_id, change.plan)
        check_new_plan(plan, sub.currency, sub.schedule.months)
        day = change_date(sub.term, change.option, tx.now, change.requested)
        change_id = await repo.insert_change(
            tx.conn,
            tx.account_id,
            sub.id,
            kind=ChangeKind.PLAN,
            option=change.option,
            effective_date=day,
            plan_id=plan.id,
            previous_plan_id=sub.timeline.phase_on(day).plan_id,
        )
        later = [c.id for c in record.changes if c.effective_date >= day]
        return await self._changed(tx, sub, change_id, later, day)

    async def change_quantity(self, tx: Tx, subscription_id: str, change: QuantityChange) -> ChangeOutcome:
        """UpdateFixedFeeQuantity: from the change's date a fixed fee of the plan in effect bills a new quantity."""
        record = await repo.get(tx.conn, tx.account_id, subscription_id, lock="update")
        sub = subscription_from(record, tx.account_id)
        day = change_date(sub.term, change.option, tx.now, change.requested)
        phase = sub.timeline.phase_on(day)
        price = check_fixed_fee(phase, change.price_id)
        change_id = await repo.insert_change(
            tx.conn,
            tx.account_id,
            sub.id,
            kind=ChangeKind.QUANTITY,
            option=change.option,
            effective_date=day,
            plan_id=phase.plan_id,
            previous_plan_id=phase.plan_id,
            price_id=price.id,
            quantity=change.quantity,
            previous_quantity=price.fixed_quantity,
        )
        same_day = [
            c.id
            for c in record.changes
            if c.kind is ChangeKind.QUANTITY and c.price_id == price.id and c.effective_date == day
        ]
        return await self._changed(tx, sub, change_id, same_day, day)

    async def _changed(
        self, tx: Tx, sub: Subscription, change_id: str, superseded: list[str], day: dt.date
    ) -> ChangeOutcome:
        """After a change is recorded: supersede what it replaces, settle the period it falls in, read back."""
        if superseded:
            await repo.supersede(tx.conn, tx.account_id, superseded, change_id, tx.now)
        record = await repo.get(tx.conn, tx.account_id, sub.id)
        await self._settle(tx, subscription_from(record, tx.account_id), sub.schedule.index_of(day))
        return ChangeOutcome(record, await repo.get_change(tx.conn, tx.account_id, change_id))

    async def _settle(self, tx: Tx, sub: Subscription, first_boundary: int) -> None:
        """Settle the invoices already generated from boundary `first_boundary` on after the subscription's end
        or phases changed, in the same transaction.

        A draft whose lines would now differ is re-priced (an `updated`
        event). For an issued, synced or paid invoice whose period the end now
        cuts short, the unused part of its in-advance fees (`advance_refund`)
        goes to the customer balance as a `prorated_refund` transaction linked
        to the invoice (a change that moves the end later, or makes the period
        cost more, takes it back with `revert_prorated_refund`), and the
        invoice, which now shows that transaction, gets an `updated` event.
        Changes within a period that is not cut short are prorated on the next
        invoice instead (`proration_lines`). Void invoices billed nothing and
        are left alone.
        Locks: the caller holds the subscription; then the customer, then the
        invoices in id order, then the event counter.
        """
        affected = await invoices_repo.boundary_invoices(tx.conn, tx.account_id, sub.id, first_boundary)
        if not affected:
            return
        customer = await customers_repo.get(tx.conn, tx.account_id, customer_id=sub.customer_id, lock="update")
        balance = customer.balance
        stale: list[str] = []
        credits = []
        for invoice_id in affected:  # in id order
            invoice = await invoices_repo.lock(tx.conn, tx.account_id, invoice_id)
            assert invoice.billing_boundary is not None
            lines = await invoices_repo.priced_lines(tx.conn, tx.account_id, invoice_id)
            if invoice.status is InvoiceStatus.DRAFT:
                if await subscription_billing.reprices(tx.conn, sub, invoice.billing_boundary, lines):
                    stale.append(invoice_id)
                continue
            k = invoice.billing_boundary
            credit = advance_refund(
                sub.timeline,
                sub.schedule,
                k,
                sub.end_date,
                billed_in_advance(lines, sub.schedule.period(k), sub.currency),
                await invoices_repo.prorated_refunds(tx.conn, tx.account_id, invoice_id),
                sub.currency,
            )
            if credit != 0:  # a change that leaves this invoice's period as billed leaves it alone
                credits.append((invoice_id, credit))
        await self._invoices.refresh_drafts(tx, stale)
        for invoice_id, credit in credits:
            refund = credit > 0
            direction = BalanceDirection.INCREMENT if refund else BalanceDirection.DECREMENT
            move = move_balance(balance, direction, abs(credit))
            ends = "" if sub.end_date is None else f" ends on {sub.end_date.isoformat()}"
            await customers_repo.insert_balance_transaction(
                tx.conn,
                tx.account_id,
                sub.customer_id,
                BalanceAction.PRORATED_REFUND if refund else BalanceAction.REVERT_PRORATED_REFUND,
                move,
                description=(
                    f"Subscription {sub.id}{ends}: "
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
    return await read(db, repo.get, account_id, subscription_id)


def list_subscriptions(
    db: Database,
    account_id: str,
    customer_id: str | None,
    external_customer_id: str | None,
    statuses: Sequence[SubscriptionStatus],
    now: dt.datetime,
    page: Page[tuple[dt.datetime, str]],
) -> AsyncGenerator[list[SubscriptionRecord], None]:
    """ListSubscriptions: newest first, filtered by status at `now`, from one snapshot, in batches."""
    statuses_wanted = [s.value for s in statuses]
    query = repo.list_query(account_id, customer_id, external_customer_id, statuses_wanted, now, page.after)
    return snapshots.batches(db, query, page)


def list_changes(
    db: Database, account_id: str, subscription_id: str, page: Page[tuple[dt.datetime, str]]
) -> AsyncGenerator[list[ChangeRecord], None]:
    """ListSubscriptionChanges: a subscription's changes (superseded ones too), newest first, from one snapshot."""
    return snapshots.batches(db, repo.changes_query(account_id, subscription_id, page.after), page)
