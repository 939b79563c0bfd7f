"""Transactions of the application layer: who acts, at which instant, and exactly once per request_id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from server.db import idempotency
from server.db.pool import Database

T = TypeVar("T")

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The real clock."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Actor:
    """Who makes a change: an API key through an RPC, or the service itself (key_id "")."""

    account_id: str
    key_id: str = ""
    method: str = ""  # the RPC ("/invoicing.v1.InvoiceService/IssueInvoice") or the job ("billing-runner")
    request_id: str = ""


@dataclass(frozen=True)
class Tx:
    """One open transaction of a use case: its connection, its actor and the instant it runs at."""

    conn: asyncpg.Connection
    actor: Actor
    now: dt.datetime

    @property
    def account_id(self) -> str:
        """The account every row the use case touches belongs to."""
        return self.actor.account_id


class Transactions:
    """Opens the transactions use cases run in."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def run(self, actor: Actor, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run work in one read-committed transaction."""
        async with self.db.transaction() as conn:
            return await work(Tx(conn, actor, self.clock()))

    async def exactly_once(
        self,
        actor: Actor,
        fingerprint: bytes,
        work: Callable[[Tx], Awaitable[T]],
        encode: Callable[[T], bytes],
    ) -> bytes:
        """Run work once per actor.request_id and answer with the encoded outcome.

        With a request_id, the key is claimed first (before any other lock) and the
        encoded outcome is stored in the same transaction as the change: a retry gets
        the stored bytes, a concurrent duplicate waits for the first and gets the
        same, and a different request (another fingerprint) under the same key fails
        ALREADY_EXISTS. Without one, work simply runs in a transaction.
        """
        key = actor.request_id
        async with self.db.transaction() as conn:
            if key:
                replay = await idempotency.claim(conn, actor.account_id, key, actor.method, fingerprint)
                if replay is not None:
                    return replay.response
            encoded = encode(await work(Tx(conn, actor, self.clock())))
            if key:
                await idempotency.record(conn, actor.account_id, key, encoded)
        return encoded
