"""Exactly-once mutations: one transaction that claims the request_id, changes, and stores the response."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from server.context import account_id
from server.db import idempotency
from server.db.pool import Database

M = TypeVar("M", bound=Message)


def request_hash(request: Message) -> bytes:
    """A fingerprint of the whole request, stable across retries (deterministic serialization)."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


async def run_mutation(
    db: Database,
    method: str,
    request: Message,
    response_type: type[M],
    work: Callable[[asyncpg.Connection, str], Awaitable[M]],
) -> M:
    """Run work(conn, account_id) in one transaction, exactly once per request_id.

    With a request_id, the key is claimed first (before any other lock), and the
    serialized response is stored in the same transaction as the change: a retry
    gets the stored response, a concurrent duplicate waits for the first and gets
    the same, and a different request under the same key fails ALREADY_EXISTS.
    """
    account = account_id()
    key: str = getattr(request, "request_id", "")
    async with db.transaction() as conn:
        if key:
            replay = await idempotency.claim(conn, account, key, method, request_hash(request))
            if replay is not None:
                return response_type.FromString(replay.response)
        response = await work(conn, account)
        if key:
            stored = response.SerializeToString(deterministic=True)
            await idempotency.record(conn, account, key, stored)
            # Answer from the stored bytes too, so the first caller and every replay get the same bytes
            # (map entries in one order).
            response = response_type.FromString(stored)
    return response
