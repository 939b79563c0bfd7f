"""Billing periods: calendar arithmetic of schedules, and local midnights across DST and odd offsets."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.periods import Period, Schedule, instant
from server.domain.usage import bucket_of

MONTHLY, QUARTERLY, SEMI_ANNUAL, ANNUAL = 1, 3, 6, 12


def d(text: str) -> dt.date:
    """A date from "YYYY-MM-DD"."""
    return dt.date.fromisoformat(text)


def starts(schedule: Schedule, count: int) -> list[str]:
    """The first days of the schedule's first `count` periods, as ISO strings."""
    return [schedule.period(k).start.isoformat() for k in range(count)]


# --- month ends ------------------------------------------------------------------------------


def test_jan_31_aligned_clamps_to_feb_29_in_a_leap_year_then_returns_to_the_31st() -> None:
    schedule = Schedule(d("2024-01-31"), MONTHLY, align_to_start=True)
    assert starts(schedule, 6) == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30"]
    assert schedule.period(0) == Period(d("2024-01-31"), d("2024-02-29"))
    assert schedule.period(1) == Period(d("2024-02-29"), d("2024-03-31"))
    assert schedule.period(1).last_day == d("2024-03-30")


def test_jan_31_aligned_clamps_to_feb_28_in_a_common_year() -> None:
    schedule = Schedule(d("2023-01-31"), MONTHLY, align_to_start=True)
    assert schedule.period(0) == Period(d("2023-01-31"), d("2023-02-28"))
    assert schedule.period(1) == Period(d("2023-02-28"), d("2023-03-31"))
    assert schedule.period(2) == Period(d("2023-03-31"), d("2023-04-30"))


def test_periods_run_across_a_year_end() -> None:
    schedule = Schedule(d("2023-11-30"), MONTHLY, align_to_start=True)
    assert starts(schedule, 5) == ["2023-11-30", "2023-12-30", "2024-01-30", "2024-02-29", "2024-03-30"]


def test_feb_29_annual_anniversaries() -> None:
    schedule = Schedule(d("2024-02-29"), ANNUAL, align_to_start=True)
    # Each boundary is counted from the anchor, so 2028 returns to the 29th.
    assert starts(schedule, 5) == ["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"]
    assert (schedule.period(0).end - schedule.period(0).start).days == 365


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2023-11-30", QUARTERLY, ["2023-11-30", "2024-02-29", "2024-05-30", "2024-08-30", "2024-11-30"]),
        ("2023-08-31", SEMI_ANNUAL, ["2023-08-31", "2024-02-29", "2024-08-31", "2025-02-28", "2025-08-31"]),
        ("2023-03-15", ANNUAL, ["2023-03-15", "2024-03-15", "2025-03-15", "2026-03-15", "2027-03-15"]),
    ],
)
def test_longer_cadences_aligned_to_the_start_date(start: str, months: int, expected: list[str]) -> None:
    schedule = Schedule(d(start), months, align_to_start=True)
    assert starts(schedule, 5) == expected
    for k in range(4):
        assert schedule.period(k).end == schedule.period(k + 1).start


# --- calendar alignment ------------------------------------------------------------------------


def test_calendar_alignment_has_a_partial_first_period() -> None:
    schedule = Schedule(d("2024-01-15"), MONTHLY, align_to_start=False)
    assert schedule.anchor == d("2024-01-01")
    assert schedule.period(0) == Period(d("2024-01-15"), d("2024-02-01"))
    assert schedule.period(1) == Period(d("2024-02-01"), d("2024-03-01"))
    assert schedule.period(2) == Period(d("2024-03-01"), d("2024-04-01"))


def test_calendar_alignment_from_the_first_is_not_partial() -> None:
    schedule = Schedule(d("2024-03-01"), MONTHLY, align_to_start=False)
    assert schedule.period(0) == Period(d("2024-03-01"), d("2024-04-01"))


def test_calendar_quarterly_counts_from_the_first_of_the_start_month() -> None:
    schedule = Schedule(d("2024-02-10"), QUARTERLY, align_to_start=False)
    assert schedule.period(0) == Period(d("2024-02-10"), d("2024-05-01"))
    assert schedule.period(1) == Period(d("2024-05-01"), d("2024-08-01"))
    annual = Schedule(d("2024-12-31"), ANNUAL, align_to_start=False)
    assert annual.period(0) == Period(d("2024-12-31"), d("2025-12-01"))


# --- index_of / period_containing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "index"),
    [
        ("2024-01-31", 0),
        ("2024-02-28", 0),
        ("2024-02-29", 1),  # a boundary belongs to the period it starts
        ("2024-03-30", 1),
        ("2024-03-31", 2),
        ("2025-01-30", 11),
        ("2025-01-31", 12),
    ],
)
def test_index_of_at_boundaries(day: str, index: int) -> None:
    schedule = Schedule(d("2024-01-31"), MONTHLY, align_to_start=True)
    assert schedule.index_of(d(day)) == index
    period = schedule.period_containing(d(day))
    assert period == schedule.period(index)
    assert period.contains(d(day))
    assert not period.contains(period.end)


def test_index_of_with_calendar_alignment() -> None:
    schedule = Schedule(d("2024-01-15"), MONTHLY, align_to_start=False)
    assert schedule.index_of(d("2024-01-15")) == 0
    assert schedule.index_of(d("2024-01-31")) == 0
    assert schedule.index_of(d("2024-02-01")) == 1
    assert schedule.period_containing(d("2024-01-20")) == Period(d("2024-01-15"), d("2024-02-01"))


def test_index_of_before_the_start_is_refused() -> None:
    schedule = Schedule(d("2024-01-15"), MONTHLY, align_to_start=False)
    with pytest.raises(ValueError, match="before the schedule starts"):
        schedule.index_of(d("2024-01-14"))


@settings(max_examples=300, deadline=None)
@given(
    st.dates(dt.date(2000, 1, 1), dt.date(2090, 12, 31)),
    st.sampled_from([MONTHLY, QUARTERLY, SEMI_ANNUAL, ANNUAL]),
    st.booleans(),
    st.integers(0, 3000),
)
def test_periods_tile_the_calendar(start: dt.date, months: int, align: bool, offset: int) -> None:
    schedule = Schedule(start, months, align)
    day = start + dt.timedelta(days=offset)
    k = schedule.index_of(day)
    period = schedule.period(k)
    assert period.start <= day < period.end
    assert schedule.period_containing(day) == period
    assert period.end == schedule.period(k + 1).start  # no gap, no overlap
    if k > 0:
        assert schedule.period(k - 1).end == period.start
        # A full period lasts `months` calendar months, give or take a clamped month end.
        assert 28 * months - 3 <= (period.end - period.start).days <= 31 * months + 3
        if align:
            month_days = calendar.monthrange(period.start.year, period.start.month)[1]
            assert period.start.day == min(start.day, month_days)
        else:
            assert period.start.day == 1
    else:
        assert period.start == start


# --- instants --------------------------------------------------------------------------------


def test_local_midnight_in_utc() -> None:
    assert instant(d("2024-01-15"), "UTC") == dt.datetime(2024, 1, 15, tzinfo=dt.UTC)
    assert instant(d("2024-01-15"), "Europe/Paris") == dt.datetime(2024, 1, 14, 23, tzinfo=dt.UTC)
    assert instant(d("2024-01-15"), "Pacific/Auckland") == dt.datetime(2024, 1, 14, 11, tzinfo=dt.UTC)
    assert instant(d("2024-01-15"), "America/Los_Angeles").utcoffset() == dt.timedelta(0)


def test_new_york_spring_forward_day_lasts_23_hours() -> None:
    start = instant(d("2024-03-10"), "America/New_York")
    end = instant(d("2024-03-11"), "America/New_York")
    assert start == dt.datetime(2024, 3, 10, 5, tzinfo=dt.UTC)  # EST, -5
    assert end == dt.datetime(2024, 3, 11, 4, tzinfo=dt.UTC)  # EDT, -4
    assert end - start == dt.timedelta(hours=23)


def test_new_york_fall_back_day_lasts_25_hours() -> None:
    start = instant(d("2024-11-03"), "America/New_York")
    end = instant(d("2024-11-04"), "America/New_York")
    assert start == dt.datetime(2024, 11, 3, 4, tzinfo=dt.UTC)
    assert end == dt.datetime(2024, 11, 4, 5, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(hours=25)


def test_a_monthly_period_across_dst_is_cut_at_local_midnights() -> None:
    period = Schedule(d("2024-03-01"), MONTHLY, align_to_start=False).period(0)
    start = instant(period.start, "America/New_York")
    end = instant(period.end, "America/New_York")
    assert end - start == dt.timedelta(days=31, hours=-1)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Kathmandu", dt.datetime(2023, 12, 31, 18, 15, tzinfo=dt.UTC)),  # +5:45
        ("Asia/Kolkata", dt.datetime(2023, 12, 31, 18, 30, tzinfo=dt.UTC)),  # +5:30
        ("Pacific/Chatham", dt.datetime(2023, 12, 31, 10, 15, tzinfo=dt.UTC)),  # +13:45 (summer)
        ("Australia/Eucla", dt.datetime(2023, 12, 31, 15, 15, tzinfo=dt.UTC)),  # +8:45
    ],
)
def test_far_offset_midnights_fall_on_15_minute_bucket_edges(zone: str, expected: dt.datetime) -> None:
    midnight = instant(d("2024-01-01"), zone)
    assert midnight == expected
    assert bucket_of(midnight) == midnight
    assert bucket_of(midnight - dt.timedelta(microseconds=1)) == midnight - dt.timedelta(minutes=15)


@settings(max_examples=200, deadline=None)
@given(
    st.dates(dt.date(2000, 1, 1), dt.date(2060, 12, 31)),
    st.sampled_from(["America/New_York", "Europe/London", "Asia/Kathmandu", "Australia/Lord_Howe", "UTC"]),
)
def test_local_days_are_23_to_25_hours_and_start_on_bucket_edges(day: dt.date, zone: str) -> None:
    start = instant(day, zone)
    end = instant(day + dt.timedelta(days=1), zone)
    assert start.tzinfo is dt.UTC
    assert dt.timedelta(hours=23) <= end - start <= dt.timedelta(hours=25)
    assert bucket_of(start) == start
