"""What every invoice mutation does last: keep the invoice's wire form, record the version, announce the change.

`invoice_changed` reads the invoice as the change left it and renders its wire
form once; in the same transaction it stores those bytes on the invoice (the
read path answers GetInvoice and ListInvoices with them, building nothing),
records them as a new version in the invoice's history (who made it:
`tx.actor`), and appends one event per kind to the outbox, so a rolled-back
change emits nothing and a committed one is never lost. The rendered bytes
come back with the invoice: a servicer answers with exactly the bytes readers
and watchers get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from server.db import events as events_repo
from server.db import invoices as invoices_repo
from server.domain.events import InvoiceEventKind
from server.domain.invoices import Invoice
from server.usecases.unit import Tx


class InvoiceRenderer(Protocol):
    """Renders an invoice in its wire form (deterministic bytes).

    Supplied by the API layer, which owns the wire format; the application layer only stores and forwards
    the bytes. `schema` names the rendering (message schema and converter revision): a stored form of
    another schema is stale and is rendered again.
    """

    @property
    def schema(self) -> str: ...

    def __call__(self, invoice: Invoice) -> bytes: ...


@dataclass(frozen=True)
class ChangedInvoice:
    """An invoice as a change left it, and its wire form."""

    invoice: Invoice
    wire: bytes


async def invoice_changed(
    tx: Tx, render: InvoiceRenderer, invoice_id: str, kinds: Sequence[InvoiceEventKind]
) -> ChangedInvoice:
    """Record the invoice as it is now in its history, append events of these kinds; return it and its wire form."""
    invoice = await invoices_repo.get(tx.conn, tx.account_id, invoice_id)
    wire = render(invoice)
    # One statement for the three writes: a mutation's round trips to the database are most of its cost.
    await events_repo.publish(tx.conn, tx.account_id, invoice.header, wire, render.schema, kinds, **tx.actor.recorded())
    return ChangedInvoice(invoice, wire)
