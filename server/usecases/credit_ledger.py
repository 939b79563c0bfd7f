"""The credits ledger as invoices move it: what an invoice draws when it is issued, and gives back when voided.

Both run inside the invoice's transaction, which holds the customer's row lock
(the one order: customer, then invoice), as every write to the ledger does.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from server.db import credits as repo
from server.domain.credits import LedgerEntryType
from server.usecases.unit import Tx


async def draw(tx: Tx, customer_id: str, invoice_id: str, draws: Sequence[tuple[str, str, Decimal]]) -> None:
    """Take from the blocks what the invoice's lines draw (line id, block id, amount): one decrement each."""
    for line_id, block_id, amount in draws:
        await repo.append_entry(
            tx.conn,
            tx.account_id,
            customer_id,
            block_id,
            LedgerEntryType.DECREMENT,
            amount,
            invoice_id=invoice_id,
            line_item_id=line_id,
        )


async def give_back(tx: Tx, customer_id: str, invoice_id: str) -> None:
    """Return to each block what a voided invoice drew from it (a block past its expiry expires again later)."""
    for block_id, amount in (await repo.drawn_by(tx.conn, tx.account_id, invoice_id)).items():
        if amount > 0:
            await repo.append_entry(
                tx.conn,
                tx.account_id,
                customer_id,
                block_id,
                LedgerEntryType.RETURN_FROM_VOIDING,
                amount,
                invoice_id=invoice_id,
                description="the invoice that drew these credits was voided",
            )
