"""Admission control: bounded calls in flight per server process and per account, the excess refused at once.

A call over a limit is refused before it does any work, RESOURCE_EXHAUSTED
with an ErrorInfo whose reason names the limit (`SERVER_CONCURRENCY_LIMIT`,
`ACCOUNT_CONCURRENCY_LIMIT`, with the limit in its metadata) and a RetryInfo:
never queued, so a burst cannot build a backlog that misses its deadlines,
and one account at its limit leaves the rest of the server to the others.
Streams count while they are open. Health and reflection are exempt (the
base class never wraps them). Runs after authentication, which names the
account.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import grpc

from server import context, metrics
from server.domain.errors import ResourceExhausted
from server.interceptors.base import MethodInterceptor, ServerStream, Unary

# A refused caller that came back sooner than a call of its account can finish would only add load.
_RETRY_AFTER_MS = 1000


@dataclass(frozen=True)
class Limits:
    """Most calls in flight at once in this process, and per account."""

    server: int
    account: int


class Admission(MethodInterceptor):
    """Counts calls in flight; refuses those over a limit."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self._limits = limits
        self._in_flight = 0
        self._by_account: dict[str, int] = {}

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
        enter, leave = self._enter, self._leave

        async def call(request: Any, call_context: grpc.aio.ServicerContext) -> Any:
            account = enter()
            try:
                return await behavior(request, call_context)
            finally:
                leave(account)

        return call

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
