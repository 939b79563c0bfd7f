"""Fair shares of a connection pool: no account may hold more than its share of the connections at once.

(The same per-key slots, one per key, are the server's row queues: `server.db.row_queues`.)

Without shares, one account with many calls in flight (a hot customer whose
calls queue on a row lock, or a burst of streams) takes every connection of
the pool, and every other account's calls wait behind it. With shares, an
account at its share waits for its own connections to come back, and the rest
of the pool stays free for the others.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass
class _Share:
    """One account's slots and how many calls hold or wait for one."""

    slots: asyncio.Semaphore
    users: int = 0
    waiting: int = 0


class Shares:
    """Per-key limits on slots held at once: an account's connections of a pool, in arrival order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._shares: dict[Hashable, _Share] = {}

    @classmethod
    def of_pool(cls, pool_size: int, fraction: float) -> Shares:
        """Each account's share of a pool: a fraction of its connections, at least one."""
        return cls(max(1, math.ceil(pool_size * fraction)))

    async def acquire(self, account: Hashable) -> None:
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

    def release(self, account: Hashable) -> None:
        """Give back a slot taken by acquire."""
        share = self._shares[account]
        share.slots.release()
        share.users -= 1
        self._forget_if_unused(account, share)

    def has_waiters(self, account: Hashable) -> bool:
        """True when a call of the account waits for one of its slots."""
        share = self._shares.get(account)
        return share is not None and share.waiting > 0

    def full(self, account: Hashable) -> bool:
        """True when every slot of the account is held (a call asking for one now waits)."""
        share = self._shares.get(account)
        return share is not None and share.slots.locked()

    def __len__(self) -> int:
        """The keys with slots held or waited for (a key is forgotten when its last user is done)."""
        return len(self._shares)

    def _forget_if_unused(self, account: Hashable, share: _Share) -> None:
        if share.users == 0 and self._shares.get(account) is share:
            del self._shares[account]
