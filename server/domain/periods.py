"""Billing periods: calendar arithmetic in the customer's timezone.

A subscription's periods are consecutive [start, end) date ranges of its
cadence's length in months. With alignment to the subscription start date,
period k starts on the start date's day of month, k periods later, clamped to
the month's end (Jan 31 → Feb 28 → Mar 31: each boundary is computed from the
anchor, so a short month does not shift later ones). Without it, periods follow
the calendar from the first of the start month, and the first period is the
partial one from the start date.

A date means the whole local day in the customer's timezone; `instant` gives
the UTC instant at which a local day begins, so periods cut usage at local
midnight, DST changes included.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass

from server.domain.invoices import add_months

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # the Unix epoch, in UTC
_MICROSECOND = dt.timedelta(microseconds=1)


def micros(value: dt.datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float)."""
    return (value - EPOCH) // _MICROSECOND


def datetime_from_micros(value: int) -> dt.datetime:
    """The UTC datetime a count of microseconds since the epoch names (the inverse of micros)."""
    return EPOCH + dt.timedelta(microseconds=value)


@dataclass(frozen=True)
class Period:
    """A billing period: first day (inclusive) and the day after the last (exclusive)."""

    start: dt.date
    end: dt.date

    @property
    def last_day(self) -> dt.date:
        """The period's last day (inclusive), as invoices print it."""
        return self.end - dt.timedelta(days=1)

    def contains(self, day: dt.date) -> bool:
        """True when day falls in the period."""
        return self.start <= day < self.end


@dataclass(frozen=True)
class Schedule:
    """How a subscription's periods are laid out."""

    start_date: dt.date
    months: int
    align_to_start: bool

    @property
    def anchor(self) -> dt.date:
        """The date boundaries are counted from."""
        return self.start_date if self.align_to_start else self.start_date.replace(day=1)

    def boundary(self, index: int) -> dt.date:
        """The start of period `index` (0 is the first), before the first-period adjustment."""
        return add_months(self.anchor, index * self.months)

    # Schedules are immutable values and few are live at once, so caching their periods costs little and
    # spares ingestion (which places every event of a batch in its period) most of the calendar arithmetic.
    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def period(self, index: int) -> Period:
        """Period number `index`; the first one starts on the start date even when calendar-aligned."""
        start = self.start_date if index == 0 else self.boundary(index)
        return Period(start, self.boundary(index + 1))

    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def index_of(self, day: dt.date) -> int:
        """The number of the period that contains day (day must not be before the start date)."""
        if day < self.start_date:
            raise ValueError("the day is before the schedule starts")
        months_between = (day.year - self.anchor.year) * 12 + (day.month - self.anchor.month)
        index = max(0, months_between // self.months)
        while self.boundary(index) > day and index > 0:
            index -= 1
        while self.boundary(index + 1) <= day:
            index += 1
        return index

    def period_containing(self, day: dt.date) -> Period:
        """The period that contains day."""
        return self.period(self.index_of(day))


@functools.lru_cache(maxsize=4096)
def instant(day: dt.date, timezone: str) -> dt.datetime:
    """The UTC instant at which `day` begins in the timezone (local midnight)."""
    local = dt.datetime.combine(day, dt.time(0), tzinfo=zoneinfo.ZoneInfo(timezone))
    return local.astimezone(dt.UTC)
