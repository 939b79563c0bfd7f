"""UsageService: batched and client-streamed event ingestion, exactly once per idempotency key."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import struct_pb2
from invoicing.v1 import usage_service_pb2, usage_service_pb2_grpc

from server.api import converters as conv
from server.api.mutations import actor_of
from server.api.requests import check_fields, customer_request
from server.api.servicer import Servicer
from server.context import account_id
from server.domain.backfills import Backfill, NewBackfill
from server.domain.errors import InvalidArgument, Violations
from server.domain.usage import (
    MAX_EVENTS_PER_BATCH,
    MAX_PROPERTIES,
    EventProblem,
    IncomingEvent,
    IngestOutcome,
    PropertyValue,
    check_event,
    number_property,
    property_value,
)
from server.domain.validation import check_id
from server.usecases.backfills import Backfills, get_backfill
from server.usecases.ingestion import Usage
from server.usecases.thresholds import Thresholds
from server.usecases.unit import Transactions, Tx


def response_of(outcome: IngestOutcome) -> usage_service_pb2.IngestEventsResponse:
    """The response message of an ingestion."""
    return usage_service_pb2.IngestEventsResponse(
        ingested=outcome.ingested,
        duplicates=outcome.duplicates,
        errors=[
            usage_service_pb2.EventError(index=index, reason=p.reason, field=p.field, message=p.message)
            for index, p in outcome.rejected
        ],
    )


def _plain(value: struct_pb2.Value, kind: str | None) -> Any:
    """A property's Python value (`kind`: the Value's WhichOneof), read without JSON (which refuses NaN and
    infinities before they can be named)."""
    if kind in ("number_value", "string_value", "bool_value"):
        return getattr(value, kind)
    if kind == "list_value":
        return list(value.list_value.values)
    if kind == "struct_value":
        return dict(value.struct_value.fields)
    return None


def _properties(
    fields: Mapping[str, struct_pb2.Value], names_seen: set[str]
) -> dict[str, PropertyValue] | EventProblem:
    """An event's properties as stored, or the first problem found (their count is checked before any of them).
    `names_seen` holds the names already found valid in the batch: most events repeat the same few."""
    if len(fields) > MAX_PROPERTIES:
        return EventProblem("TOO_MANY_PROPERTIES", "properties", f"at most {MAX_PROPERTIES} properties")
    result: dict[str, PropertyValue] = {}
    for name in fields:  # names, then a lookup each: a map's items() view is the slower way to the same pairs
        if name not in names_seen:
            if not name or len(name) > 255 or "\x00" in name:
                return EventProblem("INVALID_PROPERTY", "properties", "names must be 1 to 255 characters, without NUL")
            names_seen.add(name)
        value = fields[name]
        # A text is stored as it is (property_value would return it unchanged): the common case, read first. An
        # empty text reads as every other kind does, so those are told apart by their kind.
        text = value.string_value
        if text:
            if "\x00" in text:
                return EventProblem("INVALID_PROPERTY", f"properties.{name}", "must not contain NUL characters")
            result[name] = text
            continue
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            result[name] = text
            continue
        parsed = (
            number_property(value.number_value, name)
            if kind == "number_value"
            else property_value(_plain(value, kind), name)
        )
        if isinstance(parsed, EventProblem):
            return parsed
        result[name] = parsed
    return result


def _incoming(
    events: Sequence[usage_service_pb2.Event], offset: int, now: dt.datetime, outcome: IngestOutcome
) -> list[IncomingEvent]:
    """The events of a batch that pass the checks of their own fields; each of the others is rejected into outcome
    (indexes count from offset). Fields are read once each: a batch holds up to a thousand events."""
    batch: list[IncomingEvent] = []
    names_seen: set[str] = set()
    for index, message in enumerate(events, start=offset):
        occurred = None
        if message.HasField("timestamp"):
            occurred = conv.datetime_from(message.timestamp)
            if occurred is None:
                outcome.reject(index, EventProblem("INVALID_TIMESTAMP", "timestamp", conv.TIMESTAMP_RANGE))
                continue
        key, name = message.idempotency_key, message.event_name
        customer_id, external_id = message.customer_id, message.external_customer_id
        problem = check_event(key, name, occurred, now)
        if problem is None and (bool(customer_id) == bool(external_id) or "\x00" in customer_id + external_id):
            problem = EventProblem(
                "INVALID_CUSTOMER", "customer_id", "set exactly one of customer_id and external_customer_id, no NUL"
            )
        if problem is None:
            properties = _properties(message.properties.fields, names_seen)
            if isinstance(properties, EventProblem):
                problem = properties
        if problem is not None:
            outcome.reject(index, problem)
            continue
        assert occurred is not None
        assert isinstance(properties, dict)
        batch.append(IncomingEvent(index, key, customer_id, external_id, name, occurred, properties))
    return batch


class UsageServicer(Servicer, usage_service_pb2_grpc.UsageServiceServicer):
    """Implements UsageService."""

    def __init__(self, transactions: Transactions, usage: Usage, thresholds: Thresholds, backfills: Backfills) -> None:
        super().__init__(transactions)
        self._usage = usage
        self._thresholds = thresholds
        self._backfills = backfills

    async def _ingest(
        self, request: Any, events: Sequence[usage_service_pb2.Event], offset: int, outcome: IngestOutcome
    ) -> None:
        """Check a batch (its size first, before any per-event work), then each of its events; store the valid
        ones and their rollups in one transaction."""
        if not events or len(events) > MAX_EVENTS_PER_BATCH:
            raise InvalidArgument.one("events", f"a batch has 1 to {MAX_EVENTS_PER_BATCH} events")
        v = Violations()
        check_id(request.backfill_id, "backfill_id", v, required=False)
        v.raise_if_any()
        batch = _incoming(events, offset, self._tx.clock(), outcome)
        actor = actor_of(request)
        stored = IngestOutcome()
        backfill_id = request.backfill_id
        await self._tx.run(actor, lambda tx: self._usage.ingest(tx, batch, stored, backfill_id))
        outcome.add(stored)
        if not actor.dry_run:  # a dry run committed nothing: no threshold can have been crossed
            # Once the batch has committed: the partial invoices its usage calls for (a transaction each).
            await self._thresholds.after_ingest(self._tx, actor, stored.customers)

    async def IngestEvents(
        self, request: usage_service_pb2.IngestEventsRequest, context: grpc.aio.ServicerContext
    ) -> usage_service_pb2.IngestEventsResponse:
        outcome = IngestOutcome()
        await self._ingest(request, request.events, 0, outcome)
        return response_of(outcome)

    async def IngestEventStream(
        self,
        request_iterator: AsyncIterator[usage_service_pb2.IngestEventStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> usage_service_pb2.IngestEventsResponse:
        outcome = IngestOutcome()
        offset = 0
        async for request in request_iterator:
            await self._ingest(request, request.events, offset, outcome)
            offset += len(request.events)
        return response_of(outcome)

    async def CreateBackfill(
        self, request: usage_service_pb2.CreateBackfillRequest, context: grpc.aio.ServicerContext
    ) -> usage_service_pb2.Backfill:
        customer, v = customer_request(request, "request_id")
        start = conv.optional_timestamp(request, "timeframe_start")
        end = conv.optional_timestamp(request, "timeframe_end")
        for name, value in (("timeframe_start", start), ("timeframe_end", end)):
            if value is None:
                v.add(name, "is required")
        if start is not None and end is not None:
            NewBackfill(customer, start, end, request.replace_existing_events).validate(v, self._tx.clock())
        v.raise_if_any()
        assert start is not None
        assert end is not None
        new = NewBackfill(customer, start, end, request.replace_existing_events)
        return await self._mutation(
            request, usage_service_pb2.Backfill, lambda tx: self._backfills.create(tx, customer, new), conv.backfill_pb
        )

    async def GetBackfill(
        self, request: usage_service_pb2.GetBackfillRequest, context: grpc.aio.ServicerContext
    ) -> usage_service_pb2.Backfill:
        check_fields(request, "backfill_id")
        return conv.backfill_pb(await get_backfill(self._tx.db, account_id(), request.backfill_id))

    async def CloseBackfill(
        self, request: usage_service_pb2.CloseBackfillRequest, context: grpc.aio.ServicerContext
    ) -> usage_service_pb2.Backfill:
        return await self._move_backfill(request, self._backfills.close)

    async def RevertBackfill(
        self, request: usage_service_pb2.RevertBackfillRequest, context: grpc.aio.ServicerContext
    ) -> usage_service_pb2.Backfill:
        return await self._move_backfill(request, self._backfills.revert)

    async def _move_backfill(
        self, request: Any, move: Callable[[Tx, str], Awaitable[Backfill]]
    ) -> usage_service_pb2.Backfill:
        """Close or revert a backfill, exactly once per request_id."""
        check_fields(request, "backfill_id", "request_id")
        return await self._mutation(
            request, usage_service_pb2.Backfill, lambda tx: move(tx, request.backfill_id), conv.backfill_pb
        )
