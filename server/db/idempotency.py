"""Idempotency records: claim a request_id inside the mutation's transaction (SQL only).

The first transaction to insert the key owns it; a concurrent duplicate blocks
on the key's unique index until the owner commits (then it reads the stored
response) or rolls back (then it becomes the owner). Lock order: the key is
always taken first, before any customer or invoice row.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from server.domain.errors import AlreadyExists


@dataclass(frozen=True)
class Replay:
    """The stored response of an earlier identical request."""

    response: bytes


async def claim(
    conn: asyncpg.Connection, account_id: str, request_id: str, method: str, request_hash: bytes
) -> Replay | None:
    """Own request_id for this transaction (None), or return the earlier outcome to replay.

    Raises AlreadyExists when the key was used for a different request.
    """
    while True:
        owned = await conn.fetchval(
            "INSERT INTO idempotency_keys (account_id, request_id, method, request_hash) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (account_id, request_id) DO NOTHING RETURNING true",
            account_id,
            request_id,
            method,
            request_hash,
        )
        if owned:
            return None
        row = await conn.fetchrow(
            "SELECT method, request_hash, response FROM idempotency_keys WHERE account_id = $1 AND request_id = $2",
            account_id,
            request_id,
        )
        if row is None:
            continue  # the owner rolled back after our insert gave up; try to own it again
        if row["method"] != method or bytes(row["request_hash"]) != request_hash:
            raise AlreadyExists(
                "IDEMPOTENCY_KEY_REUSED",
                f"request_id {request_id!r} was already used for a different request",
                metadata={"request_id": request_id, "method": row["method"]},
            )
        return Replay(bytes(row["response"]))


async def record(conn: asyncpg.Connection, account_id: str, request_id: str, response: bytes) -> None:
    """Store the response of the request that owns request_id (same transaction as its change)."""
    await conn.execute(
        "UPDATE idempotency_keys SET response = $3 WHERE account_id = $1 AND request_id = $2",
        account_id,
        request_id,
        response,
    )


async def purge_older_than(conn: asyncpg.Connection, days: int) -> int:
    """Delete records older than the retention; return how many went."""
    status: str = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1)", days
    )
    return int(status.split()[-1])
