"""Values as they come back inside JSON aggregates (dates and times as ISO text) turned into Python values."""

from __future__ import annotations

import datetime as dt


def as_date(value: dt.date | str) -> dt.date:
    """A date column, or its ISO text from a JSON aggregate."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def as_datetime(value: dt.datetime | str) -> dt.datetime:
    """A timestamptz column, or its ISO text from a JSON aggregate (always with an offset)."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
