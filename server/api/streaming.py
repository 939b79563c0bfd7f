"""Server-streaming List RPCs: batches of records as messages, resumable with opaque tokens.

The records come from one snapshot a batch at a time (`server.db.snapshots`: a
read-only repeatable-read transaction on the stream pool, read through a
server-side cursor), so rows committed while a stream runs are not seen, and
cancellation or a passed deadline releases the cursor, transaction and
connection at once. Here each batch becomes one or more response messages,
bounded by count and bytes; memory stays bounded by two batches (one being
written, one read ahead) whatever the client's speed.

A client that stops reading cannot keep its connection: the database side of
the stream (a task of its own) waits for the client to take each message, and
once it has waited `stall_timeout_s` (or `stall_timeout_busy_s` while another
stream waits for a connection it could use), or once the call's deadline has
passed, it closes its batches, which releases the snapshot and the connection.
The stream then ends ABORTED, reason STREAM_STALLED, with the resume token of
the last message sent in the error's metadata: a new call with that token
continues exactly after it.

Every message carries a resume token: the keyset position of its last record,
sealed with AES-GCM under a server secret and bound (as associated data) to the
account, the RPC and a digest of the filters. A tampered token, or one replayed
with other filters, fails to open and is rejected as INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message

from server import context, metrics
from server.domain.errors import InvalidArgument, StreamStalled
from server.domain.history import InvoiceVersion
from server.domain.invoices import StoredInvoice
from server.domain.pages import Page
from server.domain.periods import datetime_from_micros, micros

log = logging.getLogger(__name__)

Response = TypeVar("Response")
Item = TypeVar("Item")
Record = TypeVar("Record")
Listed = TypeVar("Listed", contravariant=True)
Position = TypeVar("Position", covariant=True)

_NONCE_BYTES = 12
_MAX_TOKEN_LENGTH = 512
# How often a stream waiting for its client looks at the clock and at the other streams.
_STALL_CHECK_S = 0.25
_STALLED_RETRY_MS = 100


@dataclass(frozen=True)
class StreamSettings:
    """Batch bounds (at most this many records and roughly this many bytes per message), and how long a
    stream keeps its database connection while its client does not read: `stall_timeout_s` in any case,
    `stall_timeout_busy_s` while another stream waits for a connection it could use."""

    batch_records: int = 250
    batch_bytes: int = 1_000_000
    stall_timeout_s: float = 30.0
    stall_timeout_busy_s: float = 2.0


class StreamPool(Protocol):
    """What a stream asks of the connection pool it reads from."""

    def contended(self, account: str | None) -> bool:
        """True while another stream (that the account's share allows) waits for a connection."""
        ...


class ResumeTokens:
    """Seals and opens resume tokens."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @staticmethod
    def scope(account_id: str, method: str, request: Message) -> bytes:
        """What a token is bound to: account, RPC and the filters (the request minus limit and token)."""
        filters = type(request)()
        filters.CopyFrom(request)
        for name in ("limit", "resume_token"):
            filters.ClearField(name)
        digest = hashlib.sha256(filters.SerializeToString(deterministic=True)).hexdigest()
        return f"{account_id}|{method}|{digest}".encode()

    def seal(self, scope: bytes, position: Sequence[Any]) -> str:
        """A token for a keyset position (a short list of JSON-able values)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, json.dumps(list(position), separators=(",", ":")).encode(), scope)
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, token: str, scope: bytes) -> list[Any]:
        """The position in a token, or InvalidArgument if it was altered or is for other filters."""
        if len(token) > _MAX_TOKEN_LENGTH:
            raise InvalidArgument.one("resume_token", "is too long", reason="RESUME_TOKEN_INVALID")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], scope)
            position = json.loads(plain)
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise InvalidArgument.one(
                "resume_token",
                "is not a token this stream issued: it was altered, or the filters differ from the first call",
                reason="RESUME_TOKEN_INVALID",
            ) from exc
        if not isinstance(position, list):
            raise InvalidArgument.one("resume_token", "is malformed", reason="RESUME_TOKEN_INVALID")
        return position


class Created(Protocol):
    """A record listed by (created_at, id)."""

    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> dt.datetime: ...


@dataclass(frozen=True)
class Keyset(Generic[Listed, Position]):
    """How a list's sort key goes into a resume token and comes back out."""

    position: Callable[[Listed], list[Any]]
    parse: Callable[[list[Any]], Position]


def _created_parse(position: list[Any]) -> tuple[dt.datetime, str]:
    return datetime_from_micros(int(position[0])), str(position[1])


def _created_position(record: Created) -> list[Any]:
    return [micros(record.created_at), record.id]


# Lists ordered by (created_at, id), newest first.
BY_CREATED: Keyset[Created, tuple[dt.datetime, str]] = Keyset(_created_position, _created_parse)
# Lists ordered by (invoice_date, id), most recent first.
BY_INVOICE_DATE: Keyset[StoredInvoice, tuple[dt.date, str]] = Keyset(
    lambda invoice: [invoice.invoice_date.isoformat(), invoice.id],
    lambda position: (dt.date.fromisoformat(position[0]), str(position[1])),
)

# Lists of an invoice's versions, oldest first.
BY_VERSION: Keyset[InvoiceVersion, int] = Keyset(lambda record: [record.version], lambda position: int(position[0]))


def _byte_size(message: Any) -> int:
    """The encoded size of a message (the default measure of a stream's items)."""
    size: int = message.ByteSize()
    return size


class _Stalled:
    """Put in the hand-off by the database side when it gave up its connection because nobody took a message."""


_DONE = object()


class _HandOff:
    """One message at a time from the database side (a task) to the gRPC side (the stream's generator)."""

    def __init__(self) -> None:
        self.item: object = None
        self.filled = asyncio.Event()
        self.ready = asyncio.Event()  # the gRPC side sent the previous message and wants the next
        self.ready.set()

    def put(self, item: object) -> None:
        self.item = item
        self.ready.clear()
        self.filled.set()

    async def take(self) -> object:
        await self.filled.wait()
        self.filled.clear()
        item, self.item = self.item, None
        return item


M = TypeVar("M", bound=Message)


def listed(response_type: type[M]) -> Callable[[list[Any], str], M]:
    """How a List RPC's response is made: the items in its one repeated field, with their resume token."""
    (field,) = [f.name for f in response_type.DESCRIPTOR.fields if f.is_repeated]
    return lambda items, token: response_type(**{field: items}, resume_token=token)


class Lister:
    """What every List RPC shares: resume tokens in; messages of batches, with tokens, out."""

    def __init__(self, tokens: ResumeTokens, settings: StreamSettings, pool: StreamPool) -> None:
        self._tokens = tokens
        self._settings = settings
        self._pool = pool

    def resume(
        self, account_id: str, method: str, request: Message, keyset: Keyset[Any, Position]
    ) -> tuple[bytes, Position | None]:
        """The token scope of this call and the position its resume_token continues after (None: the start)."""
        scope = ResumeTokens.scope(account_id, method, request)
        token: str = getattr(request, "resume_token", "")  # every List request has one
        if not token:
            return scope, None
        try:
            return scope, keyset.parse(self._tokens.open(token, scope))
        except (IndexError, TypeError, ValueError) as exc:
            raise InvalidArgument.one("resume_token", "is malformed", reason="RESUME_TOKEN_INVALID") from exc

    @property
    def batch_records(self) -> int:
        """How many records a batch read from the database holds at most."""
        return self._settings.batch_records

    def serve(
        self,
        request: Any,
        keyset: Keyset[Any, Position],  # the records' type comes from `read` (a keyset may be of a supertype)
        read: Callable[[str, Page[Position]], AsyncGenerator[list[Record], None]],
        *,
        build: Callable[[Record], Item],
        respond: Callable[[list[Item], str], Response],
        size: Callable[[Item], int] | None = None,
    ) -> AsyncGenerator[Response, None]:
        """A List RPC's whole stream, once its request is validated: the page its resume_token and limit ask
        for, read (`read(account id, page)`) in the caller's account and streamed (`stream`).

        A List servicer method returns this stream as it is (it is no generator itself), so the layers around
        it close the stream they are given: no generator in between is left for the collector to close.
        """
        account = context.account_id()
        scope, after = self.resume(account, context.method().rpartition("/")[2], request, keyset)
        batches = read(account, Page(after, self.batch_records, request.limit))
        return self.stream(scope, batches, keyset=keyset, build=build, respond=respond, size=size)

    async def stream(
        self,
        scope: bytes,
        batches: AsyncGenerator[list[Record], None],
        *,
        keyset: Keyset[Record, Any],
        build: Callable[[Record], Item],
        respond: Callable[[list[Item], str], Response],
        size: Callable[[Item], int] | None = None,
    ) -> AsyncGenerator[Response, None]:
        """Messages of built records, each with the token that resumes right after its last record.

        A record is built into an item (a message, or wire bytes) whose `size` counts toward the byte bound;
        `respond` makes the items and the token one response.

        Raises StreamStalled (with the token of the last message yielded) when the client stopped taking
        messages for longer than the settings allow.
        """
        measure = size or _byte_size
        limit_bytes = self._settings.batch_bytes

        async def messages() -> AsyncGenerator[tuple[Response, str], None]:
            """(message, its token) for each batch, split where a message would pass the byte bound."""
            # Closing these messages closes the batches at once (and so the snapshot and its connection).
            async with contextlib.aclosing(batches):
                async for records in batches:
                    items: list[Item] = []
                    total = 0
                    for index, record in enumerate(records):
                        item = build(record)
                        items.append(item)
                        total += measure(item)
                        if total >= limit_bytes and index < len(records) - 1:
                            token = self._tokens.seal(scope, keyset.position(record))
                            yield respond(items, token), token
                            items, total = [], 0
                    if items:
                        token = self._tokens.seal(scope, keyset.position(records[-1]))
                        yield respond(items, token), token

        hand_off = _HandOff()
        reader = asyncio.create_task(self._read(messages(), hand_off))
        last_token = ""
        try:
            while True:
                item = await hand_off.take()
                if item is _DONE:
                    return
                if isinstance(item, _Stalled):
                    raise StreamStalled(
                        "the client did not read the stream for too long, so its database snapshot was released;"
                        " call again with the resume_token in this error's metadata to continue after the last"
                        " record sent",
                        resume_token=last_token,
                        retry_after_ms=_STALLED_RETRY_MS,
                    )
                if isinstance(item, BaseException):
                    raise item
                response, last_token = cast(tuple[Response, str], item)
                yield response
                hand_off.ready.set()
        finally:
            if not reader.done():
                reader.cancel()
            # Wait for the transaction to end and the connection to go back before the call completes.
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, messages: AsyncGenerator[tuple[Any, str], None], hand_off: _HandOff) -> None:
        """The database side of a stream: hand over messages until done, failed or stalled."""
        settings = self._settings
        caller = context.current_caller()
        account = None if caller is None else caller.account_id

        async def client_took_the_last() -> bool:
            """Wait until the gRPC side took the previous message; False if the client stalled or the call's
            deadline passed (no message can reach the client then, whether or not its call was cut yet)."""
            waiting_since = time.monotonic()
            while not hand_off.ready.is_set():
                try:
                    await asyncio.wait_for(hand_off.ready.wait(), timeout=_STALL_CHECK_S)
                except TimeoutError:
                    if context.deadline_passed():
                        return False
                    waited = time.monotonic() - waiting_since
                    if waited >= settings.stall_timeout_s or (
                        waited >= settings.stall_timeout_busy_s and self._pool.contended(account)
                    ):
                        return False
            return True

        try:
            async with contextlib.aclosing(messages):  # closing them ends the snapshot: the connection goes back
                async for message in messages:
                    if not await client_took_the_last():
                        break
                    hand_off.put(message)
                else:
                    await hand_off.ready.wait()
                    hand_off.put(_DONE)
                    return
        except Exception as exc:  # handed to the gRPC side, which raises it in the call
            await hand_off.ready.wait()  # (the connection is back already: no stall bound needed here)
            hand_off.put(exc)
            return
        method = context.method()
        if context.deadline_passed():
            log.debug("%s: the call's deadline passed; released its snapshot and connection", method)
        else:
            metrics.STREAMS_STALLED.labels(method).inc()
            log.info("%s: the client stopped reading; released its snapshot and connection", method)
        hand_off.item = _Stalled()
        hand_off.filled.set()
