"""Backfills (Orb's): usage sent for a timeframe that may already be invoiced, counted only once closed.

A backfill names a customer and a timeframe [start, end). Its events are
stored as they are sent (within the timeframe, of that customer) but do not
count until it is closed: closing makes them count at once (with
`replace_existing_events`, the customer's other events of the timeframe stop
counting) and re-prices every period whose usage the timeframe touches:
- a draft is re-priced in place;
- an issued, synced or paid invoice is never rewritten: for each of its usage
  lines, what the line bills now minus what it billed (and what earlier
  backfills already corrected) is recorded: an increase as a line of a new
  invoice of the subscription, a decrease as a credit on the issued invoice
  (to the customer balance, never more than the line charged after credits);
- a period not invoiced yet bills the new usage when its invoice comes.
Reverting a pending backfill discards it; reverting a closed one undoes it
the same way (its events stop counting, the replaced ones count again, and
the differences are recorded again). Events are never deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from server.domain.customers import CustomerRef
from server.domain.errors import FailedPrecondition, Violations
from server.domain.invoices import Line
from server.domain.pricing import PriceType

# How far back a backfill may reach: as far as usage is accepted at all.
MAX_BACKFILL_PAST: Final = dt.timedelta(days=5 * 366)


class BackfillStatus(StrEnum):
    """Where a backfill is (Orb's statuses, without the transient ones)."""

    PENDING = "pending"
    REFLECTED = "reflected"
    REVERTED = "reverted"


@dataclass(frozen=True)
class BackfillAdjustment:
    """A correction a backfill made to an invoice already issued: + charged on a new invoice, - credited."""

    invoice_id: str
    price_id: str
    name: str
    start_date: dt.date
    end_date: dt.date
    amount: Decimal
    adjustment_invoice_id: str  # "" for a credit
    balance_transaction_id: str  # "" for a charge


@dataclass(frozen=True)
class Backfill:
    """A backfill as stored, with the corrections it made."""

    id: str
    customer_id: str
    external_customer_id: str
    timeframe_start: dt.datetime
    timeframe_end: dt.datetime
    replace_existing_events: bool
    status: BackfillStatus
    events_ingested: int
    created_at: dt.datetime
    closed_at: dt.datetime | None
    reverted_at: dt.datetime | None
    adjustments: tuple[BackfillAdjustment, ...] = ()

    def check_pending(self) -> None:
        """Events are added, and the backfill closed, only while it is pending."""
        if self.status is not BackfillStatus.PENDING:
            raise FailedPrecondition(
                "BACKFILL_NOT_PENDING", f"the backfill is {self.status.value}, not pending", subject="backfill_id"
            )

    def covers(self, moment: dt.datetime) -> bool:
        """True when an event at that instant belongs in the backfill's timeframe."""
        return self.timeframe_start <= moment < self.timeframe_end


@dataclass(frozen=True)
class NewBackfill:
    """CreateBackfill, after its fields were read from the request."""

    customer: CustomerRef
    timeframe_start: dt.datetime
    timeframe_end: dt.datetime
    replace_existing_events: bool

    def validate(self, violations: Violations, now: dt.datetime) -> None:
        """A timeframe that starts before it ends, in the past (usage is accepted up to a day ahead), and no
        further back than usage is accepted."""
        if self.timeframe_end <= self.timeframe_start:
            violations.add("timeframe_end", "must not be before timeframe_start (and differ from it)")
        if self.timeframe_end > now + dt.timedelta(days=1):
            violations.add("timeframe_end", "must not be in the future (a day ahead at most, as usage)")
        if self.timeframe_start < now - MAX_BACKFILL_PAST:
            violations.add("timeframe_start", "must be within five years of now")


def overlaps(start: dt.datetime, end: dt.datetime, backfill: Backfill) -> bool:
    """True when [start, end) shares an instant with the backfill's timeframe."""
    return start < backfill.timeframe_end and backfill.timeframe_start < end


@dataclass(frozen=True)
class Correction:
    """What an issued invoice's usage line bills now against what it billed: + to charge, - to credit."""

    price_data: Mapping[str, Any]
    name: str
    start_date: dt.date
    end_date: dt.date
    quantity: Decimal  # the change of quantity
    amount: Decimal


def _usage(line: Line) -> bool:
    return (
        not line.is_one_off
        and line.price_data is not None
        and (line.price_data.get("price_type") == PriceType.USAGE.value)
    )


def corrections(
    billed: Sequence[Line], now: Sequence[Line], corrected: Mapping[tuple[str, dt.date], Decimal]
) -> list[Correction]:
    """The corrections an issued invoice's usage lines call for.

    `billed` are the invoice's lines; `now` its usage lines priced again (after
    the partial invoices' deduction, before credits); `corrected` what earlier
    backfills charged (+) or credited (-) per line (price id, first day). A
    line's value is what it billed before credits; the difference with what it
    bills now, less what was corrected, is charged when positive, and credited
    when negative, but never more than the line charged after credits plus its
    corrections (credits drawn are not given back).
    """
    was = {(li.price_data["id"], li.start_date): li for li in billed if _usage(li) and li.price_data}
    is_now = {(li.price_data["id"], li.start_date): li for li in now if _usage(li) and li.price_data}
    result = []
    for key in [*was, *(k for k in is_now if k not in was)]:
        old, new = was.get(key), is_now.get(key)
        line = new or old
        assert line is not None
        assert line.price_data is not None
        old_value = Decimal(0) if old is None else old.amount + old.credits_applied
        new_value = Decimal(0) if new is None else new.amount
        done = corrected.get(key, Decimal(0))
        delta = new_value - old_value - done
        if delta < 0:
            charged = (Decimal(0) if old is None else old.amount) + done
            delta = -min(-delta, max(charged, Decimal(0)))
        if delta != 0:
            quantity = (Decimal(0) if new is None else new.quantity) - (Decimal(0) if old is None else old.quantity)
            result.append(Correction(line.price_data, line.name, line.start_date, line.end_date, quantity, delta))
    return result
