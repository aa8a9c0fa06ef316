"""When to poll a feed next, and whether it has gone stale: pure functions of what was observed.

Kept apart from the service so the politeness rules (adaptive intervals, exponential backoff with jitter,
``Retry-After``) are plain arithmetic that a unit test checks without a server or a clock.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from monitor.ingest.rhythm import Rhythm

__all__ = ["PollPolicy", "backoff_s", "is_stale", "learned_period_s", "polite_delay_s", "poll_interval_s"]

# At most this many of a feed's newest dates feed the period estimate: the recent rhythm is what counts.
_PERIOD_SAMPLES = 20
# Poll about twice per expected update, so a new item waits half a period on average.
_POLLS_PER_PERIOD = 2.0


@dataclass(frozen=True)
class PollPolicy:
    """The bounds of polling: intervals, backoff and staleness (see IngestSettings for each)."""

    default_interval_s: float = 300.0
    min_interval_s: float = 60.0
    max_interval_s: float = 3600.0
    backoff_max_s: float = 6 * 3600.0
    jitter: float = 0.2
    """Each delay is spread by ±jitter, so feeds that failed together do not retry together."""
    stale_after_periods: float = 3.0
    stale_min_s: float = 2 * 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.min_interval_s <= self.max_interval_s:
            raise ValueError(
                f"min_interval_s ({self.min_interval_s:g}) must be > 0 and <= max_interval_s"
                f" ({self.max_interval_s:g})"
            )
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), not {self.jitter:g}")


def learned_period_s(dates: Iterable[datetime], now: datetime) -> float | None:
    """Return a feed's typical seconds between two items, from its items' dates; None if it cannot tell.

    The median gap resists the odd back-dated item. Dates in the future are a wrong clock, not a rhythm.
    """
    stamps = sorted({d.timestamp() for d in dates if d <= now}, reverse=True)[:_PERIOD_SAMPLES]
    if len(stamps) < 3:
        return None  # two dates are one gap: too little to call it a rhythm
    return max(1.0, statistics.median(a - b for a, b in itertools.pairwise(stamps)))


def poll_interval_s(
    policy: PollPolicy,
    configured_s: float | None,
    period_s: float | None,
    silent_s: float | None = None,
    rhythm: Rhythm | None = None,
) -> float:
    """Return the seconds between two polls of a healthy feed.

    A feed's own ``poll_interval_s`` is the user's explicit choice and is used as written. Otherwise the
    feed's ``rhythm`` (its rate of new items now, by hour of day and bursts: rhythm.py) sets it, within
    the policy's bounds: two polls per expected item. Without enough history for that, the period
    learned from the items' dates does, and a feed silent (``silent_s``) for much longer than that
    period is polled less and less often, up to the maximum: a desk's night, or a feed that died, does
    not deserve its daytime rhythm. A feed with neither gets the default.
    """
    if configured_s is not None:
        return configured_s
    if rhythm is not None:
        return min(policy.max_interval_s, max(policy.min_interval_s, rhythm.period_s / _POLLS_PER_PERIOD))
    if period_s is None:
        return policy.default_interval_s
    effective = max(period_s, (silent_s or 0.0) / _POLLS_PER_PERIOD)
    return min(policy.max_interval_s, max(policy.min_interval_s, effective / _POLLS_PER_PERIOD))


def polite_delay_s(policy: PollPolicy, delay_s: float, max_age_s: float | None) -> float:
    """Return ``delay_s``, or the server's ``Cache-Control: max-age`` if longer (up to the maximum interval).

    A server that says its feed stays fresh for ten minutes is not asked again sooner; one that says a
    day is still asked once per ``max_interval_s``, since a news feed's max-age is often a CDN default.
    """
    if max_age_s is None:
        return delay_s
    return max(delay_s, min(max_age_s, policy.max_interval_s))


def backoff_s(
    policy: PollPolicy,
    interval_s: float,
    failures: int,
    retry_after_s: float | None,
    rng: random.Random,
) -> float:
    """Return the seconds to wait after the ``failures``-th failure in a row (1 for the first).

    The first retry comes no later than the feed's interval (a one-off DNS or network hiccup must not
    cost a feed more than one poll), then the delay doubles with each failure, up to ``backoff_max_s``.
    The jitter only shortens a delay, so it spreads the retries of feeds that failed together without
    ever pushing one past that curve. A server's ``Retry-After`` is a floor: never ask again sooner than
    it said, but also not later than ``backoff_max_s``, so a typo of a week on its side does not silence
    a feed for a week.
    """
    exponent = min(max(failures, 1), 32) - 1  # past 2**31 intervals any cap is reached; avoids float overflow
    delay = min(policy.backoff_max_s, interval_s * 2.0**exponent)
    delay *= 1 - rng.uniform(0, policy.jitter)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.backoff_max_s))
    return delay


def is_stale(policy: PollPolicy, silent_s: float | None, expected_period_s: float | None) -> bool:
    """Return whether a feed silent for ``silent_s`` seconds is past what its update period allows.

    Without an expected period (set in the feeds file or learned) nothing is stale: a feed must first
    show a rhythm before its silence means anything. ``stale_min_s`` keeps a busy feed's quiet night
    from raising an alarm.
    """
    if silent_s is None or expected_period_s is None:
        return False
    return silent_s > max(policy.stale_min_s, policy.stale_after_periods * expected_period_s)
