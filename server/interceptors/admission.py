"""Admission control: bounded calls in flight per server process and per account, the excess refused at once.

A call over a limit is refused before it does any work, RESOURCE_EXHAUSTED
with an ErrorInfo whose reason names the limit (`SERVER_CONCURRENCY_LIMIT`,
`ACCOUNT_CONCURRENCY_LIMIT`, with the limit in its metadata) and a RetryInfo:
never queued past the limit, so a burst cannot build a backlog that misses its
deadlines, and one account at its limit leaves the rest of the server to the
others. Streams count while they are open. Health and reflection are exempt
(the base class never wraps them). Runs after authentication, which names the
account.

Turns: while other accounts are active (a call in flight now, or one that
ended within `Limits.shared_window_s`), an account's admitted unary calls run
at most `Limits.running_when_shared` at a time; the others wait their turn in
arrival order, for no longer than their deadline. The server runs on one event
loop, so every step of every running call delays the steps of every other
call: an account's calls beyond a few running at once add little to its own
throughput (calls that queue on one customer's row lock add nothing) but each
lengthens the other accounts' waits for the loop. Alone, an account runs all
its admitted calls. Streams are long-lived and never wait for a turn (their
database work is bounded by the stream pool's shares).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import grpc

from server import context, metrics
from server.domain.errors import DeadlineExceeded, ResourceExhausted
from server.interceptors.base import MethodInterceptor, ServerStream, Unary

# A refused caller that came back sooner than a call of its account can finish would only add load.
_RETRY_AFTER_MS = 1000


@dataclass(frozen=True)
class Limits:
    """Most calls in flight at once in this process, and per account; unary calls one account runs at once
    while others are active (0: no bound), and how long after its last call an account still counts as active."""

    server: int
    account: int
    running_when_shared: int = 0
    shared_window_s: float = 1.0


class _Turns:
    """Unary calls running per account, and the calls waiting for their turn, in arrival order.

    `in_flight` is the admission's count of calls in flight per account (read, never written, here).
    """

    def __init__(self, limits: Limits, in_flight: dict[str, int]) -> None:
        self._limit = limits.running_when_shared
        self._in_flight = in_flight
        self._window_s = limits.shared_window_s
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        # The two accounts whose calls ended last (most recent first), with when: the most recent end of a
        # call of any account other than a given one is among them.
        self._ended: list[tuple[str, float]] = []

    def _shared(self, account: str) -> bool:
        """True when an account other than this one has a call in flight or had one within the window."""
        if len(self._in_flight) > 1:
            return True
        since = time.monotonic() - self._window_s
        return any(other != account and ended > since for other, ended in self._ended)

    def _may_run(self, account: str) -> bool:
        return self._running.get(account, 0) < self._limit or not self._shared(account)

    async def take(self, account: str) -> None:
        """Wait for the account's turn (within the caller's deadline), then count the call as running."""
        queue = self._waiting.get(account)
        if not queue and self._may_run(account):
            self._running[account] = self._running.get(account, 0) + 1
            return
        if queue is None:
            queue = self._waiting[account] = deque()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        metrics.WAITING_TURN.inc()
        try:
            async with asyncio.timeout(context.remaining_seconds()):
                await turn
        except BaseException as exc:
            if turn.done() and not turn.cancelled():
                self.give_back(account)  # the turn came with the cancellation: pass it on
            else:
                turn.cancel()
                self._forget_if_idle(account)
            if isinstance(exc, TimeoutError):
                raise DeadlineExceeded("the deadline passed while the call waited for its account's turn") from None
            raise
        finally:
            metrics.WAITING_TURN.dec()

    def give_back(self, account: str) -> None:
        """End a running call's turn and start the next waiting calls of the account that may run now."""
        self._running[account] -= 1
        queue = self._waiting.get(account)
        while queue and self._may_run(account):
            turn = queue.popleft()
            if not turn.done():
                self._running[account] += 1
                turn.set_result(None)
        self._forget_if_idle(account)

    def ended(self, account: str) -> None:
        """Note that a call of the account ended now (for the others' `_shared`)."""
        now = time.monotonic()
        if self._ended and self._ended[0][0] == account:
            self._ended[0] = (account, now)
        else:
            self._ended = [(account, now), *self._ended[:1]]

    def _forget_if_idle(self, account: str) -> None:
        queue = self._waiting.get(account)
        if queue is not None and all(turn.done() for turn in queue):
            del self._waiting[account]
        if not self._running.get(account, 1) and account not in self._waiting:
            del self._running[account]


class Admission(MethodInterceptor):
    """Counts calls in flight; refuses those over a limit; gives unary calls their turns."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self._limits = limits
        self._in_flight = 0
        self._by_account: dict[str, int] = {}
        # Turns only when bounded: with no bound, calls pay nothing for them.
        self._turns = _Turns(limits, self._by_account) if limits.running_when_shared else None

    def _enter(self) -> str:
        """Admit the current call (returning its account) or raise ResourceExhausted naming the limit."""
        account = context.account_id()
        if self._in_flight >= self._limits.server:
            raise self._refuse(
                "SERVER_CONCURRENCY_LIMIT", f"the server has {self._limits.server} calls in flight", self._limits.server
            )
        held = self._by_account.get(account, 0)
        if held >= self._limits.account:
            raise self._refuse(
                "ACCOUNT_CONCURRENCY_LIMIT",
                f"this account has {self._limits.account} calls in flight on this server",
                self._limits.account,
            )
        self._in_flight += 1
        self._by_account[account] = held + 1
        metrics.IN_FLIGHT.inc()
        return account

    def _leave(self, account: str) -> None:
        self._in_flight -= 1
        held = self._by_account[account] - 1
        if held:
            self._by_account[account] = held
        else:
            del self._by_account[account]
        if self._turns is not None:
            self._turns.ended(account)
        metrics.IN_FLIGHT.dec()

    @staticmethod
    def _refuse(reason: str, what: str, limit: int) -> ResourceExhausted:
        metrics.REFUSED.labels(reason).inc()
        return ResourceExhausted(
            reason,
            f"{what}, its limit; retry after the delay given",
            retry_after_ms=_RETRY_AFTER_MS,
            metadata={"limit": str(limit)},
        )

    def unary(self, behavior: Unary, method: str) -> Unary:
        enter, leave, turns = self._enter, self._leave, self._turns

        async def call(request: Any, call_context: grpc.aio.ServicerContext) -> Any:
            account = enter()
            try:
                return await behavior(request, call_context)
            finally:
                leave(account)

        async def call_in_turn(request: Any, call_context: grpc.aio.ServicerContext) -> Any:
            assert turns is not None
            account = enter()
            try:
                await turns.take(account)
                try:
                    return await behavior(request, call_context)
                finally:
                    turns.give_back(account)
            finally:
                leave(account)

        return call if turns is None else call_in_turn

    def server_stream(self, behavior: ServerStream, method: str) -> ServerStream:
        enter, leave = self._enter, self._leave

        async def call(request: Any, call_context: grpc.aio.ServicerContext) -> AsyncGenerator[Any, None]:
            account = enter()
            try:
                async with contextlib.aclosing(behavior(request, call_context)) as stream:
                    async for message in stream:
                        yield message
            finally:
                leave(account)

        return call
