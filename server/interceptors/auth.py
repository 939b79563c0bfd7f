"""Authentication: `authorization: Bearer <api key>` on every RPC except health and reflection.

A checked key is trusted for a few seconds (the key cache), so revocation takes effect within that time
for new calls; streams already open end UNAUTHENTICATED within about the same time
(`server.interceptors.revocation`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable
from typing import Any

import grpc

from server import context
from server.context import Caller
from server.db import accounts
from server.db.pool import Database
from server.domain.errors import Unauthenticated
from server.interceptors.base import BeforeCall, ServerStream, Unary
from server.interceptors.revocation import OpenStreams, call_until_revoked, stream_until_revoked
from server.keys import KEY_PREFIX, hash_key

_MAX_CACHED_KEYS = 10_000

Metadata = tuple[tuple[str, str | bytes], ...] | None


class KeyCache:
    """Remembers valid keys for a few seconds so that most calls skip the lookup."""

    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._entries: dict[bytes, tuple[Caller, float]] = {}

    def cached_caller(self, metadata: Metadata) -> Caller | None:
        """The caller whose bearer key is in the metadata when a recent lookup found the key valid, else None;
        Unauthenticated when there is no well-formed key."""
        return self._cached(hash_key(bearer_key(metadata)))

    def _cached(self, digest: bytes) -> Caller | None:
        cached = self._entries.get(digest)
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

    async def caller_for(self, metadata: Metadata) -> Caller:
        """The caller whose bearer key is in the metadata, or Unauthenticated."""
        digest = hash_key(bearer_key(metadata))
        if (cached := self._cached(digest)) is not None:
            return cached
        now = time.monotonic()
        async with self._db.connection() as conn:
            found = await accounts.key_by_hash(conn, digest)
        if found is None:
            raise Unauthenticated("unknown API key", reason="API_KEY_INVALID")
        if found.revoked_at is not None:
            raise Unauthenticated("the API key was revoked", reason="API_KEY_REVOKED")
        caller = Caller(account_id=found.account_id, key_id=found.id)
        if self._ttl > 0:
            if len(self._entries) > _MAX_CACHED_KEYS:
                self._entries.clear()
            self._entries[digest] = (caller, now + self._ttl)
        return caller


def bearer_key(metadata: Metadata) -> str:
    """The API key of `authorization: Bearer <key>`, or Unauthenticated naming what is wrong."""
    values = [v for k, v in (metadata or ()) if k == "authorization"]
    if not values:
        raise Unauthenticated(
            "missing authorization metadata: send 'authorization: Bearer <api key>'", reason="API_KEY_MISSING"
        )
    value = values[0] if isinstance(values[0], str) else values[0].decode(errors="replace")
    scheme, _, key = value.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > 128:
        raise Unauthenticated("malformed authorization: expected 'Bearer sk_...'", reason="API_KEY_MALFORMED")
    return key


class Authentication(BeforeCall):
    """Puts the caller of every non-public RPC in `server.context`, or ends the call UNAUTHENTICATED.

    Streams (server and client streaming) are registered in `streams` under their key for as long as they
    run, and end UNAUTHENTICATED when the key is revoked.
    """

    def __init__(self, keys: KeyCache, streams: OpenStreams) -> None:
        super().__init__()
        self._keys = keys
        self._streams = streams

    def before(self, call: grpc.aio.ServicerContext, method: str) -> Awaitable[None] | None:
        metadata = call.invocation_metadata()
        caller = self._keys.cached_caller(metadata)
        if caller is None:
            return self._look_up(metadata)
        context.set_caller(caller)
        return None

    async def _look_up(self, metadata: Metadata) -> None:
        context.set_caller(await self._keys.caller_for(metadata))

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        before, streams = self.finish_before, self._streams

        async def call(request: Any, call_context: grpc.aio.ServicerContext) -> AsyncGenerator[Any, None]:
            await before(call_context, method)
            with streams.track(context.caller().key_id) as revoked:
                async with contextlib.aclosing(
                    stream_until_revoked(behavior(request, call_context), revoked)
                ) as stream:
                    async for message in stream:
                        yield message

        return call

    def client_stream(self, behavior: Unary, method: str) -> Unary:
        before, streams = self.finish_before, self._streams

        async def call(requests: Any, call_context: grpc.aio.ServicerContext) -> Any:
            await before(call_context, method)
            with streams.track(context.caller().key_id) as revoked:
                return await call_until_revoked(behavior(requests, call_context), revoked)

        return call
