"""Usage ingestion: events stored exactly once per idempotency key, with their rollups, in one transaction.

A batch's events are stored unless nothing could bill them: a negative
quantity where a `sum` or `max` price reads the property, or a timestamp in a
period whose invoice is no longer a draft (`PERIOD_CLOSED`: such usage is sent
through a backfill). Events within a draft's grace window are stored and the
draft is re-priced in the same transaction, so a late event is billed or
refused, never accepted and lost. A backfill's events are stored without
counting until it closes (`server.usecases.backfills`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.db import backfills as backfills_repo
from server.db import plans as plans_repo
from server.db import usage as repo
from server.domain.backfills import Backfill
from server.domain.usage import (
    Event,
    EventProblem,
    IncomingEvent,
    IngestOutcome,
    any_negative_number,
    negative_quantity,
)
from server.usecases.invoices import Invoices
from server.usecases.subscription_billing import check_usage_periods
from server.usecases.unit import Tx


@dataclass
class _Late:
    """The drafts that accepted late events fall in, and the resent events of closed periods."""

    events: list[Event]
    drafts: dict[str, set[int]]
    duplicates: int = 0

    def drafts_of(self, inserted: set[str]) -> list[str]:
        """The drafts that bill an event stored now (resent events change nothing)."""
        return [
            invoice_id
            for invoice_id, where in self.drafts.items()
            if any(self.events[p].idempotency_key in inserted for p in where)
        ]


class Usage:
    """The ingestion use case; late events re-price drafts through the invoice use cases."""

    def __init__(self, invoices: Invoices) -> None:
        self._invoices = invoices

    async def ingest(
        self, tx: Tx, incoming: Sequence[IncomingEvent], outcome: IngestOutcome, backfill_id: str = ""
    ) -> None:
        """Store a batch's billable events and their rollups; count duplicates and refusals into outcome.

        With a backfill: its events (of its customer, within its timeframe) are stored not counting, without
        rollups, until it is closed; the backfill is held (shared) meanwhile, so it cannot close under them.
        """
        backfill = None
        if backfill_id:
            backfill = await backfills_repo.get(tx.conn, tx.account_id, backfill_id, lock="share")
            backfill.check_pending()
        known, by_external = await repo.customer_ids(
            tx.conn,
            tx.account_id,
            # Each id once: a batch names its few customers hundreds of times.
            list({e.customer_id for e in incoming if e.customer_id}),
            list({e.external_customer_id for e in incoming if e.external_customer_id}),
        )
        valid: list[Event] = []
        positions: list[int] = []
        seen: set[str] = set()
        for item in incoming:
            customer = item.customer_id if item.customer_id in known else by_external.get(item.external_customer_id)
            if customer is None:
                which = "customer_id" if item.customer_id else "external_customer_id"
                outcome.reject(
                    item.position, EventProblem("CUSTOMER_NOT_FOUND", which, "no such customer in this account")
                )
                continue
            if item.idempotency_key in seen:
                outcome.duplicates += 1
                continue
            seen.add(item.idempotency_key)
            valid.append(Event(item.idempotency_key, customer, item.event_name, item.occurred_at, item.properties))
            positions.append(item.position)
        if backfill is not None:
            await self._backfill(tx, backfill, valid, positions, outcome)
            return
        valid, positions, late = await self._billable(tx, valid, positions, outcome)
        inserted = await repo.store_events(tx.conn, tx.account_id, valid)
        await self._invoices.refresh_drafts(tx, late.drafts_of(inserted))
        outcome.ingested += len(inserted)
        outcome.customers |= {e.customer_id for e in valid if e.idempotency_key in inserted}
        outcome.duplicates += len(valid) - len(inserted) + late.duplicates

    async def _backfill(
        self, tx: Tx, backfill: Backfill, events: list[Event], positions: list[int], outcome: IngestOutcome
    ) -> None:
        """Store a backfill's events (not counting yet): each of its customer and within its timeframe."""
        kept = []
        for event, index in zip(events, positions, strict=True):
            if event.customer_id != backfill.customer_id:
                outcome.reject(
                    index,
                    EventProblem("BACKFILL_CUSTOMER_MISMATCH", "customer_id", "the backfill is for another customer"),
                )
            elif not backfill.covers(event.occurred_at):
                outcome.reject(
                    index,
                    EventProblem("OUTSIDE_BACKFILL_TIMEFRAME", "timestamp", "is outside the backfill's timeframe"),
                )
            else:
                kept.append((event, index))
        events, _ = await _quantities(tx, [e for e, _ in kept], [i for _, i in kept], outcome)
        inserted = await repo.store_events(tx.conn, tx.account_id, events, backfill.id)
        await backfills_repo.count_ingested(tx.conn, tx.account_id, backfill.id, len(inserted))
        outcome.ingested += len(inserted)
        outcome.duplicates += len(events) - len(inserted)

    async def _billable(
        self, tx: Tx, events: list[Event], positions: list[int], outcome: IngestOutcome
    ) -> tuple[list[Event], list[int], _Late]:
        """Refuse what no invoice can bill: negative quantities, and usage in a period already invoiced.

        An event refused for its period whose key is already stored is a resent one: counted as a
        duplicate, as any resend is.
        """
        events, positions = await _quantities(tx, events, positions, outcome)
        check = await check_usage_periods(tx.conn, tx.account_id, events, tx.now)
        if not check.closed:  # the common case: every event is kept
            return events, positions, _Late(events, check.drafts)
        closed_keys = [events[p].idempotency_key for p in check.closed]
        stored = await repo.stored_keys(tx.conn, tx.account_id, closed_keys)
        late = _Late(events, check.drafts)
        kept = []
        for position, (event, index) in enumerate(zip(events, positions, strict=True)):
            if position not in check.closed:
                kept.append((event, index))
            elif event.idempotency_key in stored:
                late.duplicates += 1
            else:
                outcome.reject(index, EventProblem("PERIOD_CLOSED", "timestamp", check.closed[position]))
        return [e for e, _ in kept], [i for _, i in kept], late


async def _quantities(
    tx: Tx, events: list[Event], positions: list[int], outcome: IngestOutcome
) -> tuple[list[Event], list[int]]:
    """Refuse events with a negative number where a `sum` or `max` price reads a quantity; keep the others."""
    if not any_negative_number(events):
        return events, positions
    names = sorted({e.event_name for e in events})
    metered = await plans_repo.metered_properties(tx.conn, tx.account_id, names)
    kept = []
    for event, index in zip(events, positions, strict=True):
        problem = negative_quantity(event, metered)
        if problem is None:
            kept.append((event, index))
        else:
            outcome.reject(index, problem)
    return [e for e, _ in kept], [i for _, i in kept]
