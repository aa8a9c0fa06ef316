"""Polling arithmetic: adaptive intervals, backoff with jitter, Retry-After, staleness."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.ingest.schedule import (
    PollPolicy,
    backoff_s,
    is_stale,
    learned_period_s,
    polite_delay_s,
    poll_interval_s,
)

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
POLICY = PollPolicy(default_interval_s=300, min_interval_s=60, max_interval_s=3600, backoff_max_s=6 * 3600)


def _every(minutes: float, n: int, last_ago_min: float = 0) -> list[datetime]:
    newest = NOW - timedelta(minutes=last_ago_min)
    return [newest - timedelta(minutes=minutes * i) for i in range(n)]


def test_period_is_the_median_gap_between_items() -> None:
    assert learned_period_s(_every(20, 10), NOW) == 20 * 60
    # one back-dated item does not move the median
    assert learned_period_s([*_every(20, 10), NOW - timedelta(days=30)], NOW) == 20 * 60


def test_a_feed_gone_quiet_is_polled_less_often_but_keeps_its_rhythm() -> None:
    period = learned_period_s(_every(10, 3, last_ago_min=600), NOW)
    assert period == 600  # the silence is not a rhythm: staleness is judged against the real one
    assert poll_interval_s(POLICY, None, 1200, silent_s=0) == 600
    assert poll_interval_s(POLICY, None, 1200, silent_s=4 * 3600) == 3600
    assert poll_interval_s(POLICY, None, 1200, silent_s=1000) == 600  # within its period: no change


def test_too_few_dates_or_future_ones_teach_nothing() -> None:
    assert learned_period_s(_every(20, 2), NOW) is None
    assert learned_period_s([NOW + timedelta(hours=h) for h in (1, 2, 3)], NOW) is None
    assert learned_period_s([NOW, NOW, NOW], NOW) is None  # the same date thrice is one date


def test_interval_follows_the_period_within_bounds() -> None:
    assert poll_interval_s(POLICY, None, None) == 300  # no rhythm yet: the default
    assert poll_interval_s(POLICY, None, 1200) == 600  # two polls per period
    assert poll_interval_s(POLICY, None, 10) == 60  # never more often than the minimum
    assert poll_interval_s(POLICY, None, 7 * 86400) == 3600  # never less often than the maximum
    assert poll_interval_s(POLICY, 5.0, 1200) == 5.0  # a feed's own interval is the user's choice


def test_backoff_retries_within_the_interval_then_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    delays = [backoff_s(POLICY, 300, n, None, rng) for n in range(1, 12)]
    for n, delay in enumerate(delays[:5], start=1):
        assert 300 * 2 ** (n - 1) * 0.8 <= delay <= 300 * 2 ** (n - 1)
    assert all(d <= 6 * 3600 for d in delays)
    assert delays[-1] >= 6 * 3600 * 0.8
    # jitter: two feeds failing together do not retry together
    assert len({round(backoff_s(POLICY, 300, 1, None, random.Random(seed))) for seed in range(10)}) > 5


def test_retry_after_is_a_floor_within_the_cap() -> None:
    rng = random.Random(1)
    assert backoff_s(POLICY, 60, 1, 5000.0, rng) == 5000.0
    assert backoff_s(POLICY, 60, 1, 30 * 86400.0, rng) == 6 * 3600  # a server's "a month" is not obeyed
    assert 48 <= backoff_s(POLICY, 60, 1, 1.0, rng) <= 60  # a short Retry-After does not shorten backoff


def test_staleness_needs_a_period_and_a_floor() -> None:
    policy = PollPolicy(stale_after_periods=3, stale_min_s=3600)
    assert not is_stale(policy, None, 600)
    assert not is_stale(policy, 10_000, None)
    assert not is_stale(policy, 3000, 600)  # 5 periods, but under the floor: a quiet hour is not news
    assert is_stale(policy, 3700, 600)
    assert not is_stale(policy, 3 * 7200 - 1, 7200)
    assert is_stale(policy, 3 * 7200 + 1, 7200)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"min_interval_s": 100, "max_interval_s": 10}, "min_interval_s"), ({"jitter": 1.5}, "jitter")],
)
def test_contradictory_bounds_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PollPolicy(**kwargs)


def test_a_servers_max_age_is_a_floor_up_to_the_maximum_interval() -> None:
    policy = PollPolicy(min_interval_s=60, max_interval_s=3600)
    assert polite_delay_s(policy, 120.0, None) == 120.0
    assert polite_delay_s(policy, 120.0, 600.0) == 600.0
    assert polite_delay_s(policy, 900.0, 600.0) == 900.0, "a max-age never shortens the interval"
    assert polite_delay_s(policy, 120.0, 86400.0) == 3600.0, "a CDN's day-long default is capped"
