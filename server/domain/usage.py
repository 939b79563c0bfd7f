"""Usage events: what a valid event is, and how events roll up into 15-minute buckets.

Numbers in event properties arrive as JSON numbers (doubles) or decimal
strings. A double is read through its shortest round-trip representation
(0.1 → "0.1"), which is the decimal the producer wrote; decimal strings are
taken as they are. Nothing downstream sees a float.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, NamedTuple

from server.domain import money

MAX_EVENTS_PER_BATCH: Final = 1000
MAX_KEY_LENGTH: Final = 128
MAX_PROPERTIES: Final = 100
MAX_FUTURE: Final = dt.timedelta(days=1)
MAX_PAST: Final = dt.timedelta(days=366 * 5)
COUNT_PROPERTY: Final = ""  # the rollup row that counts events
# A property is a number when its stored text matches this (the database applies the same pattern).
NUMBER_PATTERN: Final = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"
_NUMBER_RE: Final = re.compile(NUMBER_PATTERN)

PropertyValue = str | bool | Decimal


@dataclass(frozen=True)
class EventProblem:
    """Why one event of a batch is rejected."""

    reason: str
    field: str
    message: str


class Event(NamedTuple):
    """A valid event, its customer resolved to an id (a typed tuple: batches make a thousand at a time)."""

    idempotency_key: str
    customer_id: str
    event_name: str
    occurred_at: dt.datetime
    properties: Mapping[str, PropertyValue]


def property_value(raw: Any, name: str) -> PropertyValue | EventProblem:
    """A property as stored: text, boolean, or a number as its exact decimal text in plain notation (the form
    numbers are stored in: `number_text`); lists, objects and null are refused."""
    if isinstance(raw, bool | str):
        return raw
    if isinstance(raw, float | int):
        return number_property(raw, name)
    kind = "null" if raw is None else type(raw).__name__
    return EventProblem(
        "INVALID_PROPERTY_TYPE", f"properties.{name}", f"must be a number, a string or a boolean, not {kind}"
    )


def number_property(number: float | int, name: str) -> str | EventProblem:
    """A number property as stored (`number_text`), or why it is refused (a double that is not finite)."""
    if isinstance(number, float) and not math.isfinite(number):
        return EventProblem("INVALID_PROPERTY", f"properties.{name}", "numbers must be finite")
    return number_text(number)


def check_event(key: str, event_name: str, occurred_at: dt.datetime | None, now: dt.datetime) -> EventProblem | None:
    """The checks that need no database: key, name and a plausible timestamp."""
    # NUL is refused here, per event, rather than by the database, which would refuse the whole batch for it.
    if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        return EventProblem(
            "INVALID_IDEMPOTENCY_KEY", "idempotency_key", f"is required, at most {MAX_KEY_LENGTH} characters, no NUL"
        )
    if not event_name or len(event_name) > 255 or "\x00" in event_name:
        return EventProblem("INVALID_EVENT_NAME", "event_name", "is required, at most 255 characters, no NUL")
    if occurred_at is None:
        return EventProblem("INVALID_TIMESTAMP", "timestamp", "is required")
    if occurred_at > now + MAX_FUTURE:
        return EventProblem("INVALID_TIMESTAMP", "timestamp", "is more than a day in the future")
    if occurred_at < now - MAX_PAST:
        return EventProblem("INVALID_TIMESTAMP", "timestamp", "is more than five years in the past")
    return None


def number_text(number: float | int | Decimal) -> str:
    """The text a number is stored as: exact, in plain notation ("0.0000001", not "1E-7"), so that reading the
    raw events back finds the same numbers the rollups counted. A double is read through its shortest
    round-trip text (repr), which is the decimal the producer wrote; integers lose its ".0" (5.0 → "5")."""
    if isinstance(number, float):
        text = repr(number).removesuffix(".0")
        return format(Decimal(text), "f") if "e" in text else text  # an exponent only for tiny or huge magnitudes
    return format(Decimal(number), "f")


def numeric(value: PropertyValue | None) -> Decimal | None:
    """The number a property holds (a number, or a decimal string), else None."""
    if isinstance(value, Decimal):
        value = format(value, "f")  # judged by the text it is stored as, so rollups and raw events agree
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value) and len(value) <= 40:
        return Decimal(value)
    return None


def negative_numbers(properties: Mapping[str, PropertyValue]) -> list[str]:
    """The names of the properties that hold a number below zero."""
    return [
        name
        for name, value in properties.items()
        # Only a text starting with "-" can be one (the cheap test first: every event of a batch is looked at).
        if (isinstance(value, Decimal) or (isinstance(value, str) and value[:1] == "-"))
        and (number := numeric(value)) is not None
        and number < 0
    ]


def any_negative_number(events: Iterable[Event]) -> bool:
    """Whether any event holds a number below zero. A batch is looked at whole, so each value gets the cheap test
    first: only a text starting with "-", or a Decimal, can be one."""
    for event in events:
        for value in event.properties.values():
            if (isinstance(value, str) and value[:1] == "-") or isinstance(value, Decimal):
                if negative_numbers(event.properties):
                    return True
                break  # this event's other values were just looked at by negative_numbers
    return False


def negative_quantity(event: Event, metered: Collection[tuple[str, str]]) -> EventProblem | None:
    """Why an event is refused for a negative number where a `sum` or `max` price reads a quantity.

    `metered` holds the (event name, property) pairs such prices read. A usage
    quantity cannot be negative (credits are given as credits, not as usage),
    so the event is refused rather than billed as a hidden credit. Other
    properties (matrix dimensions, unique_count values, unread ones) may be
    negative.
    """
    for name in negative_numbers(event.properties):
        if (event.event_name, name) in metered:
            return EventProblem(
                "NEGATIVE_QUANTITY",
                f"properties.{name}",
                f"a usage price sums or takes the maximum of {name!r} of {event.event_name!r} events: it must not"
                " be negative",
            )
    return None


def bucket_of(moment: dt.datetime) -> dt.datetime:
    """The start of the 15-minute bucket an instant falls in."""
    floored = moment.astimezone(dt.UTC).replace(second=0, microsecond=0)
    return floored - dt.timedelta(minutes=floored.minute % 15)


@dataclass
class Rollup:
    """Events, total and maximum of one property (or of the event count) in one bucket."""

    events: int = 0
    total: Decimal = Decimal(0)
    maximum: Decimal | None = None

    def add(self, value: Decimal) -> None:
        """Count one event carrying value."""
        self.events += 1
        self.total += value
        self.maximum = value if self.maximum is None or value > self.maximum else self.maximum


def aggregate(events: Iterable[Mapping[str, Any]], prop: str) -> Rollup:
    """Aggregate stored event properties exactly as ingestion rolls them up (one count row, "" prop, whose
    events each add 1; one row per property that holds a number, with its sum and maximum)."""
    result = Rollup()
    with money.exact_context():
        for properties in events:
            if prop == COUNT_PROPERTY:
                result.add(Decimal(1))
            elif (
                number := numeric(properties.get(prop) if isinstance(properties.get(prop), str) else None)
            ) is not None:
                result.add(number)
    return result


class IncomingEvent(NamedTuple):
    """An event of an ingestion batch that passed the checks of its own fields (its customer not yet found);
    a typed tuple, as Event."""

    position: int  # in the whole ingestion (across the batches of a stream): the index its errors name
    idempotency_key: str
    customer_id: str  # exactly one of the two is set
    external_customer_id: str
    event_name: str
    occurred_at: dt.datetime
    properties: Mapping[str, PropertyValue]


@dataclass
class IngestOutcome:
    """What an ingestion did: events stored, duplicates ignored, and each refused event with why."""

    ingested: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, EventProblem]] = field(default_factory=list)
    customers: set[str] = field(default_factory=set)  # whose events were stored (their thresholds are checked)

    def reject(self, index: int, problem: EventProblem) -> None:
        """Record why the event at index was refused."""
        self.rejected.append((index, problem))

    def add(self, other: IngestOutcome) -> None:
        """Count in what another ingestion (a later batch of the same stream) did."""
        self.ingested += other.ingested
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.customers |= other.customers
