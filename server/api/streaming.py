"""Server-streaming List RPCs: batches over one snapshot, resumable with opaque tokens.

A stream runs in one read-only repeatable-read transaction on the stream pool
and reads through a server-side cursor one batch at a time, so rows committed
while it runs are not seen, memory stays bounded by two batches (one being
written, one read ahead) whatever the client's speed, and cancellation or a
passed deadline releases the cursor, transaction and connection at once.

A client that stops reading cannot keep its connection: the database side of
the stream (a task of its own) waits for the client to take each batch, and
once it has waited `stall_timeout_s` (or `stall_timeout_busy_s` while another
stream waits for a connection it could use) it releases the snapshot and the
connection. The stream then ends ABORTED, reason STREAM_STALLED, with the
resume token of the last batch sent in the error's metadata: a new call with
that token continues exactly after it.

Every message carries a resume token: the keyset position of its last record,
sealed with AES-GCM under a server secret and bound (as associated data) to the
account, the RPC and a digest of the filters. A tampered token, or one replayed
with other filters, fails to open and is rejected as INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message

from server import context, metrics
from server.api import converters as conv
from server.db.pool import Database
from server.domain.errors import InvalidArgument, StreamStalled

log = logging.getLogger(__name__)

Response = TypeVar("Response", bound=Message)
Item = TypeVar("Item", bound=Message)
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


class _Stalled:
    """Put in the hand-off by the database side when it gave up its connection because nobody took a batch."""


class _StalledExit(Exception):
    """Leaves the snapshot (rolling it back) when the client stalled."""


_DONE = object()


class _HandOff:
    """One batch at a time from the database side (a task) to the gRPC side (the stream's generator)."""

    def __init__(self) -> None:
        self.item: object = None
        self.filled = asyncio.Event()
        self.ready = asyncio.Event()  # the gRPC side sent the previous batch and wants the next
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


@dataclass(frozen=True)
class _Source(Generic[Item, Response]):
    """What one stream reads and how it turns rows into messages."""

    db: Database
    query: tuple[str, list[Any]]
    build: Callable[[asyncpg.Record], Item]
    position: Callable[[asyncpg.Record], Sequence[Any]]
    respond: Callable[[list[Item], str], Response]
    tokens: ResumeTokens
    scope: bytes
    limit: int
    settings: StreamSettings


async def stream_batches(
    db: Database,
    query: tuple[str, list[Any]],
    *,
    build: Callable[[asyncpg.Record], Item],
    position: Callable[[asyncpg.Record], Sequence[Any]],
    respond: Callable[[list[Item], str], Response],
    tokens: ResumeTokens,
    scope: bytes,
    limit: int,
    settings: StreamSettings,
) -> AsyncIterator[Response]:
    """Run query in a snapshot and yield responses of built records, each with its resume token.

    Raises StreamStalled (with the token of the last response yielded) when the client stopped taking
    responses for longer than the settings allow.
    """
    source = _Source(db, query, build, position, respond, tokens, scope, limit, settings)
    hand_off = _HandOff()
    reader = asyncio.create_task(_read_batches(source, hand_off))
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


async def _read_batches(source: _Source[Any, Any], hand_off: _HandOff) -> None:
    """The database side of a stream: read, build and hand over batches until done, failed or stalled."""
    db, settings, tokens, scope = source.db, source.settings, source.tokens, source.scope
    build, position, respond = source.build, source.position, source.respond
    caller = context.current_caller()
    account = None if caller is None else caller.account_id

    async def hand_over(response: Any, token: str) -> bool:
        """Give the batch to the gRPC side once it took the previous one; False if the client stalled."""
        waiting_since = time.monotonic()
        while not hand_off.ready.is_set():
            try:
                await asyncio.wait_for(hand_off.ready.wait(), timeout=_STALL_CHECK_S)
            except TimeoutError:
                waited = time.monotonic() - waiting_since
                if waited >= settings.stall_timeout_s or (
                    waited >= settings.stall_timeout_busy_s and db.streams.contended(account)
                ):
                    return False
        hand_off.put((response, token))
        return True

    sql, args = source.query
    remaining = source.limit if source.limit > 0 else None
    try:
        async with db.snapshot() as conn:
            cursor = await conn.cursor(sql, *args)
            while remaining is None or remaining > 0:
                want = settings.batch_records if remaining is None else min(settings.batch_records, remaining)
                rows = await cursor.fetch(want)
                if not rows:
                    break
                items: list[Any] = []
                size = 0
                for index, row in enumerate(rows):
                    item = build(row)
                    items.append(item)
                    size += item.ByteSize()
                    if size >= settings.batch_bytes and index < len(rows) - 1:
                        token = tokens.seal(scope, position(row))
                        if not await hand_over(respond(items, token), token):
                            raise _StalledExit
                        items, size = [], 0
                if items:
                    token = tokens.seal(scope, position(rows[-1]))
                    if not await hand_over(respond(items, token), token):
                        raise _StalledExit
                if remaining is not None:
                    remaining -= len(rows)
                if len(rows) < want:
                    break
    except _StalledExit:
        method = context.method()
        metrics.STREAMS_STALLED.labels(method).inc()
        log.info("%s: the client stopped reading; released its snapshot and connection", method)
        hand_off.item = _Stalled()
        hand_off.filled.set()
        return
    except Exception as exc:  # handed to the gRPC side, which raises it in the call
        await hand_off.ready.wait()  # (the connection is back already: no stall bound needed here)
        hand_off.put(exc)
        return
    await hand_off.ready.wait()
    hand_off.put(_DONE)


@dataclass(frozen=True)
class Keyset(Generic[Position]):
    """How a list's sort key goes into a resume token and comes back out."""

    position: Callable[[asyncpg.Record], list[Any]]
    parse: Callable[[list[Any]], Position]


def _created_parse(position: list[Any]) -> tuple[dt.datetime, str]:
    return conv.datetime_from_micros(int(position[0])), str(position[1])


def _created_position(row: asyncpg.Record) -> list[Any]:
    return [conv.micros(row["created_at"]), row["id"]]


# Lists ordered by (created_at, id), newest first.
BY_CREATED: Keyset[tuple[dt.datetime, str]] = Keyset(_created_position, _created_parse)
# Lists ordered by (invoice_date, id), most recent first.
BY_INVOICE_DATE: Keyset[tuple[dt.date, str]] = Keyset(
    lambda row: [row["invoice_date"].isoformat(), row["id"]],
    lambda position: (dt.date.fromisoformat(position[0]), str(position[1])),
)


class Lister:
    """What every List RPC shares: resume tokens in, batches and tokens out."""

    def __init__(self, db: Database, tokens: ResumeTokens, settings: StreamSettings) -> None:
        self._db = db
        self._tokens = tokens
        self._settings = settings

    def resume(
        self, account_id: str, method: str, request: Message, keyset: Keyset[Position]
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

    def stream(
        self,
        scope: bytes,
        query: tuple[str, list[Any]],
        *,
        keyset: Keyset[Any],
        build: Callable[[asyncpg.Record], Item],
        respond: Callable[[list[Item], str], Response],
        limit: int,
    ) -> AsyncIterator[Response]:
        """The batches of query, each with the token that resumes after it."""
        return stream_batches(
            self._db,
            query,
            build=build,
            position=keyset.position,
            respond=respond,
            tokens=self._tokens,
            scope=scope,
            limit=limit,
            settings=self._settings,
        )
