"""The rhythm estimator on made-up histories, with the clock passed in: no sleeping, no wall time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.ingest.rhythm import HISTORY_S, estimate_rhythm
from monitor.ingest.schedule import PollPolicy, poll_interval_s

DAY = 86400.0
HOUR = 3600.0
# A Monday at midnight UTC: the fake clock's origin.
T0 = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
POLICY = PollPolicy(default_interval_s=300, min_interval_s=60, max_interval_s=3600)


def office_hours(days: int, every_s: float = 600.0) -> list[float]:
    """Return a desk's arrivals: one item every ``every_s`` from 08:00 to 18:00 UTC, ``days`` days."""
    return [
        T0 + d * DAY + 8 * HOUR + k * every_s for d in range(days) for k in range(int(10 * HOUR / every_s))
    ]


def interval_at(arrivals: list[float], now: float) -> float:
    return poll_interval_s(POLICY, None, None, None, estimate_rhythm(arrivals, now))


def test_too_little_history_is_no_rhythm() -> None:
    assert estimate_rhythm([], T0) is None
    assert estimate_rhythm([T0 - 100, T0 - 50], T0) is None, "two arrivals are one gap"
    assert estimate_rhythm([T0 - 30, T0 - 20, T0 - 10], T0) is None, (
        "three in a minute are a burst, not a rate"
    )
    assert (
        estimate_rhythm([T0 - HISTORY_S - 3 * DAY, T0 - HISTORY_S - 2 * DAY, T0 - HISTORY_S - DAY], T0)
        is None
    )


def test_a_desk_is_polled_often_in_office_hours_and_rarely_at_night() -> None:
    history = office_hours(7)
    day8 = T0 + 7 * DAY
    at_ten = estimate_rhythm(history, day8 + 10 * HOUR)
    assert at_ten is not None
    assert at_ten.source == "hour_of_day"
    # Six items an hour, 7 days of them against one day of prior: close to 600 s between items.
    assert 600 <= at_ten.period_s <= 800
    assert interval_at(history, day8 + 10 * HOUR) == pytest.approx(at_ten.period_s / 2)
    assert interval_at(history, day8 + 3 * HOUR) == POLICY.max_interval_s, "nothing happens at 03:00"


def test_the_hour_before_the_rush_is_already_polled_for_it() -> None:
    history = office_hours(7)
    day8 = T0 + 7 * DAY
    assert interval_at(history, day8 + 7.5 * HOUR) < 500, "07:30: the 08:00 rush is an hour away at most"
    assert interval_at(history, day8 + 5.5 * HOUR) == POLICY.max_interval_s


def test_a_burst_wins_over_a_quiet_feeds_habit() -> None:
    quiet = [T0 + d * DAY + 12 * HOUR for d in range(10)]  # one item a day, at noon
    now = T0 + 10 * DAY + 3 * HOUR
    calm = estimate_rhythm(quiet, now)
    assert calm is not None
    assert calm.source == "hour_of_day"
    burst = [*quiet, now - 50 * 60, now - 30 * 60, now - 20 * 60, now - 5 * 60]
    hot = estimate_rhythm(burst, now)
    assert hot is not None
    assert hot.source == "burst"
    assert hot.period_s == pytest.approx(HOUR / 4)
    assert interval_at(burst, now) == pytest.approx(HOUR / 8)
    assert interval_at(quiet, now) == POLICY.max_interval_s


def test_hot_feeds_are_never_polled_below_the_minimum_nor_cold_ones_above_the_maximum() -> None:
    torrent = [T0 - k * 5.0 for k in range(2000)]  # an item every 5 s for almost 3 hours
    assert interval_at(torrent, T0) == POLICY.min_interval_s
    trickle = [T0 - k * 3 * DAY for k in range(1, 5)]
    assert interval_at(trickle, T0) == POLICY.max_interval_s


def test_a_feed_that_stops_is_polled_less_and_less() -> None:
    history = [T0 - k * 600.0 for k in range(1, 50)]  # every 10 minutes until T0
    intervals = [interval_at(history, T0 + h * HOUR) for h in (0, 2, 6, 24)]
    assert intervals == sorted(intervals)
    assert intervals[0] < 600 < intervals[-1]


def test_a_fixed_interval_is_the_users_word() -> None:
    assert poll_interval_s(POLICY, 45.0, None, None, estimate_rhythm(office_hours(7), T0 + 7 * DAY)) == 45.0


def test_arrivals_in_the_future_are_ignored() -> None:
    history = office_hours(3)
    now = T0 + 3 * DAY
    assert estimate_rhythm([*history, now + 10, now + 20, now + 30], now) == estimate_rhythm(history, now)
