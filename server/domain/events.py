"""The invoice change stream: what an event is, and from where a watcher may resume."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from server.domain.errors import InvalidArgument, OutOfRange


class InvoiceEventKind(StrEnum):
    """What happened to an invoice (values as stored)."""

    CREATED = "created"
    LINE_ITEM_ADDED = "line_item_added"
    LINE_ITEM_DELETED = "line_item_deleted"
    UPDATED = "updated"
    ISSUED = "issued"
    PAID = "paid"
    VOIDED = "voided"
    CREDIT_NOTE_CREATED = "credit_note_created"
    CREDIT_NOTE_VOIDED = "credit_note_voided"


@dataclass(frozen=True)
class InvoiceEvent:
    """One event of an account's change stream, with the invoice as the change left it (its wire form)."""

    sequence: int
    kind: InvoiceEventKind
    invoice_id: str
    customer_id: str
    version: int
    occurred_at: dt.datetime
    invoice: bytes


def check_resume_position(after_sequence: int, oldest_kept: int | None, last: int) -> None:
    """A watcher may resume after any sequence still kept (or the last one); older ones are gone."""
    if after_sequence > last:
        raise InvalidArgument.one("after_sequence", f"is beyond the last event ({last})")
    first_kept = oldest_kept if oldest_kept is not None else last + 1
    if after_sequence < first_kept - 1:
        raise OutOfRange(
            "EVENTS_EXPIRED",
            f"events after {after_sequence} are no longer kept; the oldest kept is {first_kept}",
            metadata={"oldest_sequence": str(first_kept)},
        )
