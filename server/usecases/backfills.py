"""Backfills: create one, add its events (through ingestion), close it or revert it (see server.domain.backfills).

Closing and reverting run in one transaction each and lock, in the one order:
the backfill, the account's usage (exclusive: ingestion holds it shared, so no
batch adds to the rollups being rebuilt), the customer's subscriptions (share,
in id order: the period-end runner skips them meanwhile, so no invoice is
generated from events about to count or stop counting), the customer, then the
invoices in id order and the counters. Ingestion into a backfill holds it
shared, so it cannot close while events are being added.

Decreases on invoices already issued are credited to the customer balance as
`prorated_refund` transactions linked to the invoice (standing in for the
adjustment credit note on an issued invoice and the refund on a paid one,
until credit notes exist); increases are lines of a new invoice of the
subscription (a draft issued like the subscription's own, by the runner when
it may issue itself).
"""

from __future__ import annotations

from server.db import backfills as repo
from server.db import customers as customers_repo
from server.db import invoices as invoices_repo
from server.db import subscriptions as subscriptions_repo
from server.db import usage as usage_repo
from server.db.pool import Database
from server.domain.backfills import Backfill, BackfillAdjustment, BackfillStatus, NewBackfill, corrections, overlaps
from server.domain.customers import BalanceAction, BalanceDirection, Customer, CustomerRef, move_balance
from server.domain.errors import FailedPrecondition
from server.domain.events import InvoiceEventKind
from server.domain.invoices import InvoiceSource, InvoiceStatus, Line
from server.domain.periods import instant
from server.domain.subscriptions import Subscription, subscription_from
from server.domain.validation import today_in
from server.usecases import subscription_billing
from server.usecases.invoices import Invoices
from server.usecases.reads import read
from server.usecases.unit import Tx


class Backfills:
    """The backfill use cases; corrections go through the invoice use cases."""

    def __init__(self, invoices: Invoices) -> None:
        self._invoices = invoices

    async def create(self, tx: Tx, customer: CustomerRef, new: NewBackfill) -> Backfill:
        """CreateBackfill: a pending backfill for the customer; one pending backfill per stretch of time."""
        # Locked: pending backfills of one customer are checked for overlaps one at a time.
        found = await customers_repo.get_named(tx.conn, tx.account_id, customer, lock="update")
        other = await repo.pending_overlapping(tx.conn, tx.account_id, found.id, new.timeframe_start, new.timeframe_end)
        if other is not None:
            raise FailedPrecondition(
                "BACKFILL_OVERLAPS",
                f"pending backfill {other} covers part of this timeframe: close or revert it first",
                subject="timeframe_start",
                metadata={"backfill_id": other},
            )
        backfill_id = await repo.insert(tx.conn, tx.account_id, found.id, new)
        return await repo.get(tx.conn, tx.account_id, backfill_id)

    async def close(self, tx: Tx, backfill_id: str) -> Backfill:
        """CloseBackfill: its events count from now on, and the periods they fall in are re-priced."""
        backfill = await repo.get(tx.conn, tx.account_id, backfill_id, lock="update")
        backfill.check_pending()
        subscriptions = await self._hold(tx, backfill)
        await repo.reflect(tx.conn, tx.account_id, backfill)
        await usage_repo.rebuild_rollups(
            tx.conn, tx.account_id, backfill.customer_id, backfill.timeframe_start, backfill.timeframe_end
        )
        await self._reprice(tx, backfill, subscriptions)
        await repo.set_status(tx.conn, tx.account_id, backfill.id, BackfillStatus.REFLECTED, tx.now)
        return await repo.get(tx.conn, tx.account_id, backfill.id)

    async def revert(self, tx: Tx, backfill_id: str) -> Backfill:
        """RevertBackfill: a pending backfill is discarded; a closed one is undone and its periods re-priced."""
        backfill = await repo.get(tx.conn, tx.account_id, backfill_id, lock="update")
        if backfill.status is BackfillStatus.REVERTED:
            raise FailedPrecondition("BACKFILL_REVERTED", "the backfill is already reverted", subject="backfill_id")
        if backfill.status is BackfillStatus.REFLECTED:
            subscriptions = await self._hold(tx, backfill)
            await repo.unreflect(tx.conn, tx.account_id, backfill.id)
            await usage_repo.rebuild_rollups(
                tx.conn, tx.account_id, backfill.customer_id, backfill.timeframe_start, backfill.timeframe_end
            )
            await self._reprice(tx, backfill, subscriptions)
        await repo.set_status(tx.conn, tx.account_id, backfill.id, BackfillStatus.REVERTED, tx.now)
        return await repo.get(tx.conn, tx.account_id, backfill.id)

    async def _hold(self, tx: Tx, backfill: Backfill) -> list[Subscription]:
        """Hold the account's usage (no batch adds to the rollups about to be rebuilt), share-lock the customer's
        subscriptions (in id order) and read them."""
        await usage_repo.hold_usage(tx.conn, tx.account_id)
        ids = await subscriptions_repo.of_customer(tx.conn, tx.account_id, backfill.customer_id)
        await subscriptions_repo.hold(tx.conn, tx.account_id, ids)
        return [subscription_from(await subscriptions_repo.get(tx.conn, tx.account_id, i), tx.account_id) for i in ids]

    async def _reprice(self, tx: Tx, backfill: Backfill, subscriptions: list[Subscription]) -> None:
        """Re-price the invoiced periods whose usage the timeframe touches: drafts in place; for issued invoices,
        the differences of their usage lines (a new invoice for what they now bill more, balance credits for
        less)."""
        customer = await customers_repo.get(tx.conn, tx.account_id, customer_id=backfill.customer_id, lock="update")
        touched: list[tuple[Subscription, str, int, InvoiceStatus]] = []
        for sub in subscriptions:
            for invoice_id, k, status in await invoices_repo.subscription_invoices(tx.conn, tx.account_id, sub.id):
                if k < 1:  # the first invoice bills no usage
                    continue
                period = sub.schedule.period(k - 1)
                if overlaps(instant(period.start, sub.timezone), sub.term.usage_end(period), backfill):
                    touched.append((sub, invoice_id, k, status))
        await invoices_repo.lock_many(tx.conn, tx.account_id, [invoice_id for _, invoice_id, _, _ in touched])
        await self._invoices.refresh_drafts(tx, [i for _, i, _, status in touched if status is InvoiceStatus.DRAFT])
        balance = customer.balance
        charges: dict[str, list[tuple[str, Line, BackfillAdjustment]]] = {}
        for sub, invoice_id, k, status in touched:
            if status is InvoiceStatus.DRAFT:
                continue
            billed = await invoices_repo.priced_lines(tx.conn, tx.account_id, invoice_id)
            now = await subscription_billing.usage_lines(tx.conn, sub, k)
            done = await repo.corrected(tx.conn, tx.account_id, invoice_id)
            for correction in corrections(billed, now, done):
                price_id = str(correction.price_data["id"])
                adjustment = BackfillAdjustment(
                    invoice_id, price_id, correction.name, correction.start_date, correction.end_date,
                    correction.amount, "", "",
                )  # fmt: skip
                if correction.amount > 0:
                    line = Line(
                        name=correction.name,
                        quantity=correction.quantity,
                        unit_amount=correction.amount,
                        start_date=correction.start_date,
                        end_date=correction.end_date,
                        subtotal=correction.amount,
                        adjustments=(),
                        adjusted_subtotal=correction.amount,
                        amount=correction.amount,
                        is_one_off=False,
                        price_data=correction.price_data,
                    )
                    charges.setdefault(sub.id, []).append((invoice_id, line, adjustment))
                    continue
                move = move_balance(balance, BalanceDirection.INCREMENT, -correction.amount)
                transaction = await customers_repo.insert_balance_transaction(
                    tx.conn,
                    tx.account_id,
                    customer.id,
                    BalanceAction.PRORATED_REFUND,
                    move,
                    description=(
                        f"Backfill {backfill.id}: {correction.name} from {correction.start_date.isoformat()} to"
                        f" {correction.end_date.isoformat()} bills less"
                    ),
                    invoice_id=invoice_id,
                )
                balance = move.ending_balance
                await repo.insert_adjustment(
                    tx.conn,
                    tx.account_id,
                    backfill.id,
                    BackfillAdjustment(
                        invoice_id, price_id, correction.name, correction.start_date, correction.end_date,
                        correction.amount, "", transaction.id,
                    ),
                )  # fmt: skip
                await self._invoices.touch(tx, invoice_id)  # a new version: the invoice shows the credit
        for sub in subscriptions:
            if sub.id in charges:
                await self._charge(tx, customer, sub, backfill, charges[sub.id])

    async def _charge(
        self,
        tx: Tx,
        customer: Customer,
        sub: Subscription,
        backfill: Backfill,
        charges: list[tuple[str, Line, BackfillAdjustment]],
    ) -> None:
        """A new invoice of the subscription with the usage a backfill adds to periods already invoiced."""
        lines = [line for _, line, _ in charges]
        invoice_id = await subscription_billing.insert_invoice(
            tx.conn,
            sub,
            customer,
            InvoiceSource.SUBSCRIPTION,
            today_in(sub.timezone, tx.now),
            lines,
            will_auto_issue=sub.auto_issue,
            eligible_to_issue_at=tx.now,
            memo=f"Usage added by backfill {backfill.id} to periods already invoiced",
        )
        for _, _, adjustment in charges:
            await repo.insert_adjustment(
                tx.conn,
                tx.account_id,
                backfill.id,
                BackfillAdjustment(
                    adjustment.invoice_id, adjustment.price_id, adjustment.name, adjustment.start_date,
                    adjustment.end_date, adjustment.amount, invoice_id, "",
                ),
            )  # fmt: skip
        await self._invoices.publish(tx, invoice_id, [InvoiceEventKind.CREATED])


async def get_backfill(db: Database, account_id: str, backfill_id: str) -> Backfill:
    """GetBackfill."""
    return await read(db, repo.get, account_id, backfill_id)
