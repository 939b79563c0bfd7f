"""Revocation reaches open streams: a stream of a key that gets revoked ends UNAUTHENTICATED.

A new call checks its key through the key cache, so revocation stops new calls
within the cache time; a stream, once open, would run on. So every open stream
(server or client streaming) is registered under its key id, and one
background task per process asks the database, every `interval_s`, which of the
keys with open streams were revoked (one query for all of them, whatever the
number of streams), then ends those streams. A stream waiting for events or
for its client's next message ends at once; the authentication interceptor
races each stream against its key's revocation.

Why a registry and one task rather than a per-stream re-check: the cost is one
query per interval for the whole process instead of one per stream, and a
stream that sends nothing (a quiet WatchInvoiceEvents) ends as promptly as a
busy one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterator
from typing import TypeVar

from server.db import accounts
from server.db.pool import Database
from server.domain.errors import Unauthenticated

log = logging.getLogger(__name__)

T = TypeVar("T")


def _revoked_error() -> Unauthenticated:
    return Unauthenticated("the API key was revoked while the stream was open", reason="API_KEY_REVOKED")


class OpenStreams:
    """The open streams of this process by API key id, each with the event that ends it."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def track(self, key_id: str) -> Iterator[asyncio.Event]:
        """Register a stream of key_id for the duration of the block; the event is set if the key is revoked."""
        revoked = asyncio.Event()
        self._by_key.setdefault(key_id, set()).add(revoked)
        try:
            yield revoked
        finally:
            events = self._by_key.get(key_id)
            if events is not None:
                events.discard(revoked)
                if not events:
                    del self._by_key[key_id]

    def key_ids(self) -> list[str]:
        """The keys that have open streams now."""
        return list(self._by_key)

    def revoke(self, key_id: str) -> int:
        """End every open stream of key_id; return how many there were."""
        events = self._by_key.get(key_id, set())
        for revoked in events:
            revoked.set()
        return len(events)


async def watch_revocations(streams: OpenStreams, db: Database, interval_s: float) -> None:
    """Every interval_s, end the open streams whose key was revoked (until cancelled)."""
    while True:
        await asyncio.sleep(interval_s)
        key_ids = streams.key_ids()
        if not key_ids:
            continue
        try:
            async with db.connection() as conn:
                revoked = await accounts.revoked_key_ids(conn, key_ids)
        except Exception:  # the database is away: the streams fail on their own; check again later
            log.debug("could not check keys of open streams for revocation", exc_info=True)
            continue
        for key_id in revoked:
            ended = streams.revoke(key_id)
            log.info("API key %s was revoked: ending its %d open stream(s)", key_id, ended)


async def stream_until_revoked(stream: AsyncIterator[T], revoked: asyncio.Event) -> AsyncGenerator[T, None]:
    """The messages of stream, until revoked is set: then the stream is closed and Unauthenticated raised."""
    revocation = asyncio.ensure_future(revoked.wait())
    following: asyncio.Future[T] | None = None
    try:
        while True:
            following = asyncio.ensure_future(anext(stream))
            await asyncio.wait({following, revocation}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                raise _revoked_error()
            try:
                message = following.result()
            except StopAsyncIteration:
                return
            following = None
            yield message
    finally:
        revocation.cancel()
        if following is not None:
            following.cancel()  # (no effect when it is done)
            await asyncio.gather(following, return_exceptions=True)  # its outcome is retrieved either way
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()


async def call_until_revoked(call: Awaitable[T], revoked: asyncio.Event) -> T:
    """The result of call (a client-streaming handler), unless revoked is set first: then Unauthenticated."""
    work = asyncio.ensure_future(call)
    revocation = asyncio.ensure_future(revoked.wait())
    try:
        await asyncio.wait({work, revocation}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            raise _revoked_error()
        return work.result()
    finally:
        revocation.cancel()
        work.cancel()  # (no effect when it is done)
        await asyncio.gather(work, return_exceptions=True)  # its outcome is retrieved either way
