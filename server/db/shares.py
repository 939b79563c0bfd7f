"""Fair shares of a connection pool: no account may hold more than its share of the connections at once.

Without shares, one account with many calls in flight (a hot customer whose
calls queue on a row lock, or a burst of streams) takes every connection of
the pool, and every other account's calls wait behind it. With shares, an
account at its share waits for its own connections to come back, and the rest
of the pool stays free for the others.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass


@dataclass
class _Share:
    """One account's slots and how many calls hold or wait for one."""

    slots: asyncio.Semaphore
    users: int = 0
    waiting: int = 0


class Shares:
    """Per-account limits on connections held at once, as a fraction of a pool's size."""

    def __init__(self, pool_size: int, fraction: float) -> None:
        self.limit = max(1, math.ceil(pool_size * fraction))
        self._shares: dict[str, _Share] = {}

    async def acquire(self, account: str) -> None:
        """Wait for one of the account's slots (cancel the wait to give up)."""
        share = self._shares.get(account)
        if share is None:
            share = self._shares[account] = _Share(asyncio.Semaphore(self.limit))
        share.users += 1
        share.waiting += 1
        try:
            await share.slots.acquire()
        except BaseException:
            share.users -= 1
            self._forget_if_unused(account, share)
            raise
        finally:
            share.waiting -= 1

    def release(self, account: str) -> None:
        """Give back a slot taken by acquire."""
        share = self._shares[account]
        share.slots.release()
        share.users -= 1
        self._forget_if_unused(account, share)

    def has_waiters(self, account: str) -> bool:
        """True when a call of the account waits for one of its slots."""
        share = self._shares.get(account)
        return share is not None and share.waiting > 0

    def _forget_if_unused(self, account: str, share: _Share) -> None:
        if share.users == 0 and self._shares.get(account) is share:
            del self._shares[account]
