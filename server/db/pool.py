"""Connection pools and transactions, bounded by the caller's deadline.

Two pools: one for unary work, one for List streams, so that slow or numerous
streams can never take the connections unary RPCs need (and unary RPCs never
use the stream pool). In each, an account holds at most its share of the
connections at once (`server.db.shares`), so one busy account cannot make the
others wait. A wait for a connection is bounded by the caller's deadline
(DEADLINE_EXCEEDED) and by the server's own bound (RESOURCE_EXHAUSTED, reason
POOL_EXHAUSTED); a commit whose connection is lost is UNAVAILABLE, reason
COMMIT_UNKNOWN. Gauges of both pools are in `server.metrics`.

Behind PgBouncer in transaction pooling mode (`transaction_pooling`), a
session carries nothing from one transaction to the next: no statement cache,
no session settings (the timeouts are set per transaction), and every
statement runs inside a transaction, so that asyncpg's unnamed prepare and
execute reach the same server connection. Migrations (advisory lock) and
LISTEN use a direct connection instead (`INVOICING_DIRECT_DATABASE_URL`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from server import context, metrics
from server.db.shares import Shares
from server.domain.errors import DeadlineExceeded, ResourceExhausted, Unavailable

Connection = asyncpg.Connection

# How the service's sessions are named in pg_stat_activity: unary work, and List streams' snapshots.
APPLICATION_NAME = "invoice-service"
STREAMS_APPLICATION_NAME = "invoice-service/streams"
LOOKUPS_APPLICATION_NAME = "invoice-service/lookups"

_POOL_EXHAUSTED_RETRY_MS = 200
# How the read-only transactions that several reads must agree in begin.
_READ_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_GENERIC_PLANS = "; SET LOCAL plan_cache_mode = force_generic_plan"


@dataclass(frozen=True)
class PoolSettings:
    """Sizes and timeouts of the pools."""

    min_size: int = 2
    max_size: int = 10
    stream_max_size: int = 4
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 5_000
    acquire_timeout_s: float = 5.0
    # A waiting stream holds nothing, so it may wait longer for a connection than a unary call.
    stream_acquire_timeout_s: float = 60.0
    account_share: float = 0.5
    statement_cache_size: int = 256
    transaction_pooling: bool = False


async def _set_codecs(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects; numbers stay exact (money is never a JSON number).
    for kind in ("jsonb", "json"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text")


async def init_connection(conn: asyncpg.Connection) -> None:
    """Set up a new connection as the service's pools do (json codecs), for connections opened elsewhere."""
    await _set_codecs(conn)


async def _init_pooled_connection(conn: asyncpg.Connection) -> None:
    async with conn.transaction():  # the type lookups behind the codecs must reach one server connection
        await _set_codecs(conn)


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query: sessions carry no state (SET LOCAL only, no session locks).

    asyncpg still rolls back an open transaction before calling this.
    """


class TrackedPool:
    """An asyncpg pool with per-account shares and the figures its gauges report."""

    def __init__(self, name: str, pool: asyncpg.Pool, account_share: float, acquire_timeout_s: float) -> None:
        self.name = name
        self.pool = pool
        self.shares = Shares.of_pool(pool.get_max_size(), account_share)
        self.acquire_timeout_s = acquire_timeout_s
        self.observe_wait = metrics.acquire_wait(name)
        self.in_use = 0
        self.waiting = 0  # calls waiting for a connection, for their account's share or for the pool
        self.pool_waiting = 0  # of which: within their share, waiting for the pool itself

    def stats(self) -> metrics.PoolStats:
        """What the pool gauges show now."""
        return metrics.PoolStats(
            in_use=self.in_use,
            idle=self.pool.get_idle_size(),
            size=self.pool.get_size(),
            max_size=self.pool.get_max_size(),
            waiting=self.waiting,
        )

    def contended(self, account: str | None) -> bool:
        """True when a call waits for a connection that a holder of account's could give back.

        That is a call waiting for the pool itself (the pool is full), or a call of the same account waiting
        for the account's share; calls of other accounts waiting for their own shares do not count.
        """
        return self.pool_waiting > 0 or (account is not None and self.shares.has_waiters(account))


class _LaneLease:
    """One use of a lookup lane connection (`Database.lookup`).

    A class rather than an @asynccontextmanager: on the hot read path the generator machinery of the latter
    cost more than the rest of taking and giving back the connection.
    """

    __slots__ = ("_conn", "_connect", "_idle", "_open")

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        idle: list[asyncpg.Connection],
        opened: set[asyncpg.Connection],
    ) -> None:
        self._connect = connect
        self._idle = idle
        self._open = opened

    async def __aenter__(self) -> asyncpg.Connection:
        conn = self._idle.pop() if self._idle else None
        if conn is None or conn.is_closed():
            conn = await self._connect()
            self._open.add(conn)
        self._conn = conn
        return conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self._idle.append(self._conn)
            return
        self._open.discard(self._conn)
        self._conn.terminate()  # its state is unknown (a statement may still run): never reuse it


class Database:
    """The pools of one server process."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        stream_pool: asyncpg.Pool,
        settings: PoolSettings,
        connect: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
    ) -> None:
        self.pool = pool
        self.stream_pool = stream_pool
        self.settings = settings
        # Connections of the lookup lane (see `lookup`), opened on demand; idle ones wait here.
        self._connect = connect
        self._lookup_idle: list[asyncpg.Connection] = []
        self._lookup_open: set[asyncpg.Connection] = set()
        self.unary = TrackedPool("unary", pool, settings.account_share, settings.acquire_timeout_s)
        self.streams = TrackedPool("stream", stream_pool, settings.account_share, settings.stream_acquire_timeout_s)
        # Set by the health probe: whether the database answered its last checks. A connection wait that
        # runs out while the database is down is UNAVAILABLE, not an exhausted pool.
        self.reachable = True
        metrics.watch_pools([self.unary, self.streams])

    @classmethod
    async def connect(cls, dsn: str, settings: PoolSettings | None = None) -> Database:
        """Open both pools."""
        settings = settings or PoolSettings()
        server_settings = {"application_name": APPLICATION_NAME}
        if not settings.transaction_pooling:  # behind PgBouncer these are set per transaction instead
            server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
            server_settings["lock_timeout"] = str(settings.lock_timeout_ms)
        common: dict[str, Any] = {
            "init": _init_pooled_connection if settings.transaction_pooling else init_connection,
            "reset": _no_reset,
            "server_settings": server_settings,
            "statement_cache_size": 0 if settings.transaction_pooling else settings.statement_cache_size,
            "command_timeout": settings.statement_timeout_ms / 1000 + 5,
        }
        pool = await asyncpg.create_pool(dsn, min_size=settings.min_size, max_size=settings.max_size, **common)
        # The stream pool's sessions carry their own name, so pg_stat_activity tells List snapshots apart.
        streams = {**common, "server_settings": {**server_settings, "application_name": STREAMS_APPLICATION_NAME}}
        try:
            stream_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=settings.stream_max_size, **streams)
        except BaseException:
            await pool.close()
            raise
        lookups = {**common, "server_settings": {**server_settings, "application_name": LOOKUPS_APPLICATION_NAME}}
        init = lookups.pop("init")
        del lookups["reset"]

        async def connect_lookup() -> asyncpg.Connection:
            conn = await asyncpg.connect(dsn, timeout=settings.acquire_timeout_s, **lookups)
            await init(conn)
            return conn

        return cls(pool, stream_pool, settings, connect_lookup)

    async def close(self) -> None:
        """Close both pools, waiting for connections in use to come back, and the lookup lane."""
        await asyncio.gather(self.pool.close(), self.stream_pool.close())
        for conn in [*self._lookup_open]:
            self._lookup_open.discard(conn)
            await conn.close()
        self._lookup_idle.clear()

    @property
    def plans_kept(self) -> bool:
        """Whether sessions keep prepared statements, so PostgreSQL may keep a statement's plan (not behind a
        transaction pooler, where asyncpg's statement cache is off and every statement is planned afresh)."""
        return not self.settings.transaction_pooling and self.settings.statement_cache_size > 0

    @property
    def has_lookup_lane(self) -> bool:
        """Whether `lookup` gives connections of its own lane (direct sessions), not the unary pool's."""
        return self._connect is not None and not self.settings.transaction_pooling

    def lookup(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection of the lookup lane, for one single-statement read on behalf of many callers.

        The lane serves the coalesced primary-key lookups of the hot read path (server.db.wire_loader), which
        runs one statement at a time: it keeps that connection of its own, beside the pools, so a lookup costs
        its statement and no pool checkout (a checkout, with its share, bound and gauges, costs more than the
        lookup itself). A connection that fails is closed, not reused; the next lookup opens another. Behind a
        transaction pooler (or without a way to connect) the lookup takes a connection of the unary pool
        instead, as any read does.
        """
        connect = self._connect if self.has_lookup_lane else None
        if connect is None:
            return self.connection()
        return _LaneLease(connect, self._lookup_idle, self._lookup_open)

    @asynccontextmanager
    async def _acquire(self, tracked: TrackedPool) -> AsyncIterator[asyncpg.Connection]:
        """A connection of tracked, within the caller's share, bounded by deadline and the pool's own bound."""
        caller = context.current_caller()
        account = None if caller is None else caller.account_id
        left = context.remaining_seconds()
        bound = tracked.acquire_timeout_s if left is None else max(0.001, min(left, tracked.acquire_timeout_s))
        started = time.perf_counter()
        share: str | None = None  # the account whose share slot this call holds
        tracked.waiting += 1
        try:
            async with asyncio.timeout(bound):
                if account is not None:
                    await tracked.shares.acquire(account)
                    share = account
                tracked.pool_waiting += 1
                try:
                    conn = await tracked.pool.acquire()
                finally:
                    tracked.pool_waiting -= 1
        except BaseException as exc:
            if share is not None:
                tracked.shares.release(share)
            if isinstance(exc, TimeoutError):
                raise self._wait_failed(tracked, bound) from None
            raise
        finally:
            tracked.waiting -= 1
            tracked.observe_wait(time.perf_counter() - started)
        tracked.in_use += 1
        try:
            yield conn
        finally:
            tracked.in_use -= 1
            try:
                await tracked.pool.release(conn)
            finally:
                if share is not None:
                    tracked.shares.release(share)

    def _wait_failed(self, tracked: TrackedPool, bound: float) -> Exception:
        left = context.remaining_seconds()
        if left is not None and left <= 0.05:
            return DeadlineExceeded("the deadline passed while waiting for a database connection")
        if not self.reachable:
            return Unavailable("the database is unavailable; retry")
        return ResourceExhausted(
            "POOL_EXHAUSTED",
            f"no {tracked.name} database connection became free within {bound:g} s; retry",
            retry_after_ms=_POOL_EXHAUSTED_RETRY_MS,
            metadata={"pool": tracked.name},
        )

    def _deadline_settings(self) -> str:
        """The statements that make a transaction's statements and lock waits stop when the caller's deadline
        passes ('' when the session's own timeouts apply)."""
        left = context.remaining_seconds()
        if left is None:
            if not self.settings.transaction_pooling:
                return ""
            left = self.settings.statement_timeout_ms / 1000
        ms = max(1, int(left * 1000))
        lock_ms = max(1, min(ms, self.settings.lock_timeout_ms))
        return f"; SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {lock_ms}"

    @asynccontextmanager
    async def _in_transaction(self, conn: asyncpg.Connection, begin: str) -> AsyncIterator[asyncpg.Connection]:
        """Run the block in a transaction on conn, committed when it ends, rolled back when it raises.

        BEGIN and the caller's timeouts go in one message (one round trip instead of two). The transaction is
        begun by statement, not by asyncpg's `Connection.transaction()`, so a block inside it takes its
        savepoints with `savepoint()`.
        """
        await conn.execute(begin + self._deadline_settings())
        try:
            yield conn
        except BaseException:
            if not conn.is_closed():
                # A failed rollback leaves the transaction open; the pool rolls it back on release.
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
            raise
        try:
            status = await conn.execute("COMMIT")
        except Exception as exc:
            if is_connection_loss(exc):
                raise Unavailable(
                    "the connection to the database was lost while committing: the change may or may not be"
                    " saved; retry with the same request_id",
                    reason="COMMIT_UNKNOWN",
                    retry_after_ms=_POOL_EXHAUSTED_RETRY_MS,
                ) from exc
            raise
        if status != "COMMIT":  # PostgreSQL rolls back a failed transaction it is asked to commit
            raise RuntimeError(f"the transaction was rolled back at COMMIT ({status}): a failed statement in it")

    @asynccontextmanager
    async def _transaction(self, tracked: TrackedPool, begin: str = "BEGIN") -> AsyncIterator[asyncpg.Connection]:
        async with self._acquire(tracked) as conn, self._in_transaction(conn, begin):
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A read-committed read-write transaction on the unary pool."""
        async with self._transaction(self.unary) as conn:
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the unary pool for single-statement reads (each statement is its own snapshot)."""
        async with self._acquire(self.unary) as conn:
            if not self.settings.transaction_pooling:
                yield conn
                return
            async with self._in_transaction(conn, "BEGIN"):  # one server connection for prepare and execute
                yield conn

    @asynccontextmanager
    async def read_snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """A read-only repeatable-read transaction on the unary pool: several reads of one unary call agree."""
        async with self._transaction(self.unary, _READ_SNAPSHOT) as conn:
            yield conn

    @asynccontextmanager
    async def snapshot(self, *, generic_plans: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A read-only repeatable-read transaction on the stream pool: one snapshot for a whole stream.

        With `generic_plans`, where sessions keep their statements (`plans_kept`), its prepared statements run on
        the plan PostgreSQL keeps for every value of their parameters from their first execution on (set in the
        BEGIN's own message: no round trip). Behind a transaction pooler every statement is planned afresh.
        """
        begin = _READ_SNAPSHOT + (_GENERIC_PLANS if generic_plans and self.plans_kept else "")
        async with self._transaction(self.streams, begin) as conn:
            yield conn


@asynccontextmanager
async def savepoint(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A savepoint in the open transaction: what the block changed is undone when it raises (and it raises)."""
    await conn.execute("SAVEPOINT block")
    try:
        yield
    except BaseException:
        if not conn.is_closed():
            with contextlib.suppress(Exception):  # (the transaction then fails as a whole; the error says why)
                await conn.execute("ROLLBACK TO SAVEPOINT block")
        raise
    await conn.execute("RELEASE SAVEPOINT block")


def is_connection_loss(exc: BaseException) -> bool:
    """True when exc means the connection to the database was lost or refused (a timeout is not)."""
    if isinstance(exc, TimeoutError):  # an OSError since Python 3.11, but running out of time is not a lost link
        return False
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        # 08: connection exceptions; 57P01-57P03: the server shut down or cannot accept connections yet.
        return state.startswith("08") or state in {"57P01", "57P02", "57P03"}
    # InternalClientError: asyncpg's protocol found the connection mid-way through something else, as when the
    # server's farewell (a FATAL error) on an idle connection was read but not yet the end of the stream.
    return isinstance(exc, (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError))
