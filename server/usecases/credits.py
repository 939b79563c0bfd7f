"""Prepaid credits: grant them, expire what is left of them, and read the blocks and the ledger.

Drawing and giving back happen with the invoices that draw them
(`server.usecases.credit_ledger`). Every ledger write holds the customer's row
lock; grants re-price the customer's subscription drafts (then locked in id
order) so they show the credits at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncGenerator

from server.db import credits as repo
from server.db import customers as customers_repo
from server.db import invoices as invoices_repo
from server.db.pool import Database
from server.domain import money
from server.domain.credits import CreditBlock, LedgerEntry, LedgerEntryType, NewGrant
from server.domain.customers import CustomerRef, check_same_currency
from server.domain.errors import InvalidArgument
from server.domain.pages import Page
from server.domain.validation import today_in
from server.usecases import subscription_billing
from server.usecases.customers import customer_batches
from server.usecases.invoices import Invoices
from server.usecases.unit import Actor, Transactions, Tx

log = logging.getLogger(__name__)


class Credits:
    """The credit use cases; grants re-price drafts through the invoice use cases."""

    def __init__(self, invoices: Invoices) -> None:
        self._invoices = invoices

    async def grant(self, tx: Tx, grant: NewGrant) -> CreditBlock:
        """GrantCredits: a block and its increment entry, in the customer's currency."""
        customer = await customers_repo.get_named(tx.conn, tx.account_id, grant.customer, lock="update")
        check_same_currency(grant.currency, customer.currency, what="the credits", subject="currency")
        amount = money.amount_in(grant.amount, customer.currency, "amount")
        effective = grant.effective_date or today_in(customer.timezone, tx.now)
        if grant.expiry_date is not None and grant.expiry_date <= effective:
            raise InvalidArgument.one("expiry_date", "must be after the effective date (today when none is given)")
        block_id = await repo.insert_block(
            tx.conn,
            tx.account_id,
            customer.id,
            currency=customer.currency,
            amount=amount,
            per_unit_cost_basis=grant.per_unit_cost_basis,
            effective_date=effective,
            expiry_date=grant.expiry_date,
            description=grant.description,
        )
        await repo.append_entry(
            tx.conn,
            tx.account_id,
            customer.id,
            block_id,
            LedgerEntryType.INCREMENT,
            amount,
            description=grant.description,
        )
        drafts = await invoices_repo.subscription_drafts_of(tx.conn, tx.account_id, customer.id)
        await invoices_repo.lock_many(tx.conn, tx.account_id, drafts)
        await self._invoices.refresh_drafts(tx, await subscription_billing.stale_drafts(tx.conn, tx.account_id, drafts))
        return await repo.block(tx.conn, tx.account_id, block_id)

    async def expire_due(self, transactions: Transactions, now: dt.datetime, account_id: str | None = None) -> int:
        """Expire the remainder of every block that may expire now (see `server.domain.credits`); one
        transaction per customer, which holds the customer's lock and checks again under it. Returns how many
        blocks expired."""
        async with transactions.db.connection() as conn:
            due = await repo.customers_with_expiring(conn, now, 500, account_id)
        expired = 0
        for owner, customer_id in due:
            async with transactions.db.transaction() as conn:
                tx = Tx(conn, Actor(owner, method="billing-runner"), now)
                await customers_repo.get(conn, owner, customer_id=customer_id, lock="update")
                block_ids = await repo.expirable(conn, owner, customer_id, now)
                for block_id, remaining in (await repo.remaining_of(conn, owner, block_ids)).items():
                    await repo.append_entry(
                        tx.conn,
                        owner,
                        customer_id,
                        block_id,
                        LedgerEntryType.EXPIRY,
                        remaining,
                        description="expired unused",
                    )
                    expired += 1
        return expired


def list_blocks(
    db: Database, account_id: str, ref: CustomerRef, page: Page[tuple[dt.datetime, str]]
) -> AsyncGenerator[list[CreditBlock], None]:
    """ListCreditBlocks: a customer's blocks, newest first, from one snapshot, in batches."""
    return customer_batches(
        db, account_id, ref, page, lambda customer_id: repo.blocks_query(account_id, customer_id, page.after)
    )


def list_ledger(
    db: Database, account_id: str, ref: CustomerRef, page: Page[tuple[dt.datetime, str]]
) -> AsyncGenerator[list[LedgerEntry], None]:
    """ListCreditLedger: a customer's credits ledger, newest first, from one snapshot, in batches."""
    return customer_batches(
        db, account_id, ref, page, lambda customer_id: repo.entries_query(account_id, customer_id, page.after)
    )
