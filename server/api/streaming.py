"""Server-streaming List RPCs: batches of records as messages, resumable with opaque tokens.

The records come from one snapshot a batch at a time (`server.db.snapshots`);
here each batch becomes one or more response messages, bounded by count and
bytes.

Every message carries a resume token: the keyset position of its last record,
sealed with AES-GCM under a server secret and bound (as associated data) to the
account, the RPC and a digest of the filters. A tampered token, or one replayed
with other filters, fails to open and is rejected as INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message

from server.api import converters as conv
from server.domain.errors import InvalidArgument
from server.domain.invoices import Invoice

Response = TypeVar("Response", bound=Message)
Item = TypeVar("Item", bound=Message)
Record = TypeVar("Record")
Listed = TypeVar("Listed", contravariant=True)
Position = TypeVar("Position", covariant=True)

_NONCE_BYTES = 12
_MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class StreamSettings:
    """Batch bounds: at most this many records and roughly this many bytes per message."""

    batch_records: int = 250
    batch_bytes: int = 1_000_000


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
    return conv.datetime_from_micros(int(position[0])), str(position[1])


def _created_position(record: Created) -> list[Any]:
    return [conv.micros(record.created_at), record.id]


# Lists ordered by (created_at, id), newest first.
BY_CREATED: Keyset[Created, tuple[dt.datetime, str]] = Keyset(_created_position, _created_parse)
# Lists ordered by (invoice_date, id), most recent first.
BY_INVOICE_DATE: Keyset[Invoice, tuple[dt.date, str]] = Keyset(
    lambda invoice: [invoice.header.invoice_date.isoformat(), invoice.header.id],
    lambda position: (dt.date.fromisoformat(position[0]), str(position[1])),
)


class Lister:
    """What every List RPC shares: resume tokens in, batches and tokens out."""

    def __init__(self, tokens: ResumeTokens, settings: StreamSettings) -> None:
        self._tokens = tokens
        self._settings = settings

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

    async def stream(
        self,
        scope: bytes,
        batches: AsyncIterator[list[Record]],
        *,
        keyset: Keyset[Record, Any],
        build: Callable[[Record], Item],
        respond: Callable[[list[Item], str], Response],
    ) -> AsyncIterator[Response]:
        """Messages of built records, each with the token that resumes right after its last record."""
        limit_bytes = self._settings.batch_bytes
        async for records in batches:
            items: list[Item] = []
            size = 0
            for index, record in enumerate(records):
                item = build(record)
                items.append(item)
                size += item.ByteSize()
                if size >= limit_bytes and index < len(records) - 1:
                    yield respond(items, self._tokens.seal(scope, keyset.position(record)))
                    items, size = [], 0
            if items:
                yield respond(items, self._tokens.seal(scope, keyset.position(records[-1])))
