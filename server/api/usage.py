"""UsageService: batched and client-streamed event ingestion, exactly once per idempotency key."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import struct_pb2
from invoicing.v1 import usage_service_pb2, usage_service_pb2_grpc

from server.api import converters as conv
from server.context import account_id
from server.db import usage as repo
from server.db.pool import Database
from server.domain.errors import InvalidArgument
from server.domain.usage import (
    MAX_EVENTS_PER_BATCH,
    MAX_PROPERTIES,
    Event,
    EventProblem,
    PropertyValue,
    check_event,
    property_value,
    rollups,
)


@dataclass
class Outcome:
    """Counts and per-event errors of an ingestion."""

    ingested: int = 0
    duplicates: int = 0
    errors: list[usage_service_pb2.EventError] = field(default_factory=list)

    def reject(self, index: int, problem: EventProblem) -> None:
        """Record why the event at index was refused."""
        self.errors.append(
            usage_service_pb2.EventError(
                index=index, reason=problem.reason, field=problem.field, message=problem.message
            )
        )

    def response(self) -> usage_service_pb2.IngestEventsResponse:
        """The response message."""
        return usage_service_pb2.IngestEventsResponse(
            ingested=self.ingested, duplicates=self.duplicates, errors=self.errors
        )


def _plain(value: struct_pb2.Value) -> Any:
    """A property's Python value, read without JSON (which refuses NaN and infinities before they can be named)."""
    kind = value.WhichOneof("kind")
    if kind in ("number_value", "string_value", "bool_value"):
        return getattr(value, kind)
    if kind == "list_value":
        return list(value.list_value.values)
    if kind == "struct_value":
        return dict(value.struct_value.fields)
    return None


def _properties(message: usage_service_pb2.Event) -> dict[str, PropertyValue] | EventProblem:
    raw = {name: _plain(value) for name, value in message.properties.fields.items()}
    if len(raw) > MAX_PROPERTIES:
        return EventProblem("TOO_MANY_PROPERTIES", "properties", f"at most {MAX_PROPERTIES} properties")
    result: dict[str, PropertyValue] = {}
    for name, value in raw.items():
        if not name or len(name) > 255 or "\x00" in name:
            return EventProblem("INVALID_PROPERTY", "properties", "names must be 1 to 255 characters, without NUL")
        parsed = property_value(value, name)
        if isinstance(parsed, EventProblem):
            return parsed
        if isinstance(parsed, str) and "\x00" in parsed:
            return EventProblem("INVALID_PROPERTY", f"properties.{name}", "must not contain NUL characters")
        result[name] = parsed
    return result


class UsageServicer(usage_service_pb2_grpc.UsageServiceServicer):
    """Implements UsageService."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime]) -> None:
        self._db = db
        self._clock = clock

    async def _ingest(
        self, account: str, events: Sequence[usage_service_pb2.Event], offset: int, outcome: Outcome
    ) -> None:
        """Validate a batch (its size first, before any per-event work), then store its valid events and their
        rollups in one transaction."""
        if not events or len(events) > MAX_EVENTS_PER_BATCH:
            raise InvalidArgument.one("events", f"a batch has 1 to {MAX_EVENTS_PER_BATCH} events")
        now = self._clock()
        candidates: list[tuple[int, usage_service_pb2.Event, dict[str, PropertyValue], dt.datetime]] = []
        for index, message in enumerate(events, start=offset):
            if message.HasField("timestamp") and not conv.is_valid_timestamp(message.timestamp):
                outcome.reject(index, EventProblem("INVALID_TIMESTAMP", "timestamp", conv.TIMESTAMP_RANGE))
                continue
            occurred = conv.datetime_from(message.timestamp) if message.HasField("timestamp") else None
            problem = check_event(message.idempotency_key, message.event_name, occurred, now)
            if problem is None and bool(message.customer_id) == bool(message.external_customer_id):
                problem = EventProblem(
                    "INVALID_CUSTOMER", "customer_id", "set exactly one of customer_id and external_customer_id"
                )
            properties = _properties(message) if problem is None else {}
            if isinstance(properties, EventProblem):
                problem = properties
            if problem is not None:
                outcome.reject(index, problem)
                continue
            assert occurred is not None
            assert isinstance(properties, dict)
            candidates.append((index, message, properties, occurred))
        async with self._db.transaction() as conn:
            known, by_external = await repo.customer_ids(
                conn,
                account,
                [m.customer_id for _, m, _, _ in candidates if m.customer_id],
                [m.external_customer_id for _, m, _, _ in candidates if m.external_customer_id],
            )
            valid: list[Event] = []
            seen: set[str] = set()
            for index, message, properties, occurred in candidates:
                customer = (
                    message.customer_id
                    if message.customer_id in known
                    else by_external.get(message.external_customer_id)
                )
                if customer is None:
                    which = "customer_id" if message.customer_id else "external_customer_id"
                    outcome.reject(index, EventProblem("CUSTOMER_NOT_FOUND", which, "no such customer in this account"))
                    continue
                if message.idempotency_key in seen:
                    outcome.duplicates += 1
                    continue
                seen.add(message.idempotency_key)
                valid.append(Event(message.idempotency_key, customer, message.event_name, occurred, properties))
            inserted = await repo.insert_events(conn, account, valid)
            await repo.add_rollups(conn, account, rollups(e for e in valid if e.idempotency_key in inserted))
        outcome.ingested += len(inserted)
        outcome.duplicates += len(valid) - len(inserted)

    async def IngestEvents(
        self, request: usage_service_pb2.IngestEventsRequest, context: grpc.aio.ServicerContext
    ) -> usage_service_pb2.IngestEventsResponse:
        outcome = Outcome()
        await self._ingest(account_id(), request.events, 0, outcome)
        return outcome.response()

    async def IngestEventStream(
        self,
        request_iterator: AsyncIterator[usage_service_pb2.IngestEventStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> usage_service_pb2.IngestEventsResponse:
        outcome = Outcome()
        account = account_id()
        offset = 0
        async for request in request_iterator:
            await self._ingest(account, request.events, offset, outcome)
            offset += len(request.events)
        return outcome.response()
