"""Transactions of the application layer: who acts, at which instant, exactly once per request_id, or as a dry run.

A dry run (`Actor.dry_run`, the `validate_only` of every mutating request) is handled here and nowhere
else: the use case runs in full in its transaction, its outcome is encoded, and the transaction is rolled
back. So nothing it wrote is kept (outbox rows and history included; NOTIFY is only delivered on commit),
no counter moves, and no idempotency key is claimed or recorded: a dry run is never replayed, and a real
call with the same request_id afterwards runs for real. Its lock waits are bounded by
`dry_run_lock_wait_ms` (and the call's deadline): a preview gives up rather than queue behind real changes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import asyncpg

from server import context
from server.db import idempotency, rehearsals
from server.db.pool import Database
from server.db.row_queues import RowQueues

T = TypeVar("T")
R = TypeVar("R")

# How long a dry run waits for a lock another transaction holds before it gives up (ABORTED, LOCK_TIMEOUT).
DRY_RUN_LOCK_WAIT_MS = 1000

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The real clock."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Actor:
    """Who makes a change: an API key through an RPC, or the service itself (key_id "")."""

    account_id: str
    key_id: str = ""
    method: str = ""  # the RPC ("IssueInvoice") or the job ("billing-runner")
    request_id: str = ""
    dry_run: bool = False  # validate_only: run everything, answer, roll back

    def recorded(self) -> dict[str, str]:
        """Who made a change, as an invoice's history records it."""
        return {"method": self.method, "key_id": self.key_id, "request_id": self.request_id}


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


class _RolledBack(Exception):
    """Ends a dry run's transaction (which rolls it back), carrying the outcome out."""

    def __init__(self, outcome: object) -> None:
        super().__init__("dry run rolled back")
        self.outcome = outcome


class Transactions:
    """Opens the transactions use cases run in."""

    def __init__(self, db: Database, clock: Clock = utc_now, dry_run_lock_wait_ms: int = DRY_RUN_LOCK_WAIT_MS) -> None:
        self.db = db
        self.clock = clock
        self.dry_run_lock_wait_ms = dry_run_lock_wait_ms
        self.rows = RowQueues()

    async def run(self, actor: Actor, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run work in one read-committed transaction (rolled back afterwards for a dry run)."""
        if actor.dry_run:
            return await self._rehearse(actor, work, lambda outcome: outcome)
        async with self.db.transaction() as conn:
            return await work(Tx(conn, actor, self.clock()))

    async def _rehearse(self, actor: Actor, work: Callable[[Tx], Awaitable[T]], encode: Callable[[T], R]) -> R:
        """Run work and encode its outcome in a transaction that is then rolled back, whatever happens."""
        try:
            async with self.db.transaction() as conn:
                bound = min(self.dry_run_lock_wait_ms, self.db.settings.lock_timeout_ms)
                left = context.remaining_seconds()
                await rehearsals.bound_lock_waits(conn, bound if left is None else min(bound, int(left * 1000)))
                raise _RolledBack(encode(await work(Tx(conn, actor, self.clock()))))
        except _RolledBack as rolled_back:
            return cast(R, rolled_back.outcome)

    async def exactly_once(
        self,
        actor: Actor,
        fingerprint: bytes,
        work: Callable[[Tx], Awaitable[T]],
        encode: Callable[[T], bytes],
        row: str | None = None,
    ) -> bytes:
        """Run work once per actor.request_id and answer with the encoded outcome.

        With a request_id, the key is claimed first (before any other lock) and the
        encoded outcome is stored in the same transaction as the change: a retry gets
        the stored bytes, a concurrent duplicate waits for the first and gets the
        same, and a different request (another fingerprint) under the same key fails
        ALREADY_EXISTS. Without one, work simply runs in a transaction. A dry run
        neither claims nor records the key: it runs, answers and rolls back.

        `row` names the row whose exclusive lock the work takes first, when the request names it (see
        `server.db.row_queues`): the call then waits its turn in the server before taking a connection.
        A dry run never queues there: its lock waits are bounded, not served in turn.
        """
        if actor.dry_run:
            return await self._rehearse(actor, work, encode)
        turn = contextlib.nullcontext() if row is None else self.rows.turn(actor.account_id, row)
        async with turn:
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
