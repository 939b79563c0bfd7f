"""Time on the clocked server: each test moves a clock of its own, read only by its own account's calls.

The clocked server (one for the session) reads the time from `Clocks`, which
answers with the clock of the account whose call is being served
(`server.context.caller()`), or with `START` outside a call and for an account
that has no clock. The period-end runner takes its instant as an argument and
is always run for one account (`run_billing`), so one test's pass never
touches another test's subscriptions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from server import context
from server.app import RunningServer

# Where every clock starts, and the time of any call no test clock answers for.
START = dt.datetime(2024, 1, 15, 12, 0, tzinfo=dt.UTC)


@dataclass
class Clock:
    """One test's time: the test sets it; every rule of its account's calls on the clocked server reads it."""

    account_id: str
    now: dt.datetime = START

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, moment: dt.datetime) -> None:
        """Move time (forwards or backwards)."""
        self.now = moment


class Clocks:
    """The clocked server's clock: the calling account's Clock, else START."""

    def __init__(self) -> None:
        self._by_account: dict[str, Clock] = {}

    def __call__(self) -> dt.datetime:
        try:
            account_id = context.account_id()
        except LookupError:  # not inside an authenticated call
            return START
        clock = self._by_account.get(account_id)
        return START if clock is None else clock.now

    @contextmanager
    def bound(self, clock: Clock) -> Iterator[Clock]:
        """Make clock the time of its account's calls for the duration of the block."""
        self._by_account[clock.account_id] = clock
        try:
            yield clock
        finally:
            del self._by_account[clock.account_id]


async def run_billing(server: RunningServer, clock: Clock, when: dt.datetime) -> None:
    """Move the clock to `when` and run one pass of the period-end runner over the clock's account."""
    clock.set(when)
    await server.runner.run_once(when, clock.account_id)
