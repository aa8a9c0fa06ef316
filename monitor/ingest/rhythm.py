"""A feed's rhythm: how many new items to expect per second now, from when its items appeared before.

News has a daily shape (a desk publishes all morning and sleeps at night) and bursts (an event, a live
page). A single median gap between items polls a busy morning feed too slowly and its night too often.
So the estimate is kept per hour of the day (UTC: a daily rhythm is periodic in any time zone), each
hour's rate shrunk towards the feed's overall rate while that hour has little history, and a burst (the
last hour far above that) wins while it lasts. Pure arithmetic on timestamps: the clock is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["HISTORY_S", "Rhythm", "estimate_rhythm"]

HISTORY_S = 14 * 86400.0
"""How far back arrivals count: two weeks hold every weekday twice, and forget a feed's old habits."""
_HOUR_S = 3600.0
_DAY_S = 86400.0
_MIN_ARRIVALS = 3  # fewer is no rhythm (two dates are one gap)
_MIN_SPAN_S = 3600.0  # arrivals all within a few minutes tell a burst, not a rate
_PRIOR_DAYS = 1.0  # an hour's own count weighs as much as the overall rate after one day of history
_BURST_S = 3600.0  # the "now" window of a burst
_BURST_MIN = 3  # arrivals in that window before it can count as a burst

RhythmSource = Literal["hour_of_day", "burst", "overall"]


@dataclass(frozen=True)
class Rhythm:
    """The expected rate of new items, and what it rests on."""

    rate_per_s: float
    source: RhythmSource
    days: float
    """Days of history behind the estimate: under one, the hour-of-day profile is mostly the prior."""

    @property
    def period_s(self) -> float:
        """Return the expected seconds between two new items."""
        return 1.0 / self.rate_per_s


def estimate_rhythm(arrivals: Sequence[float], now: float, history_s: float = HISTORY_S) -> Rhythm | None:
    """Return the rate of new items to expect at ``now`` from past ``arrivals`` (Unix seconds).

    The rate is the larger of this hour's and the next hour's (a morning rush is polled for before it
    starts, not an hour into it) and of the last hour's, if that is a burst. None while the history is
    too thin to tell (fewer than three arrivals, or all within an hour).
    """
    start = now - history_s
    recent = sorted(t for t in arrivals if start < t <= now)
    if len(recent) < _MIN_ARRIVALS or recent[-1] - recent[0] < _MIN_SPAN_S:
        return None
    # Watching starts with the first arrival: the items after it, over the time since, make the rate.
    first = recent[0]
    span = now - first
    overall = (len(recent) - 1) / span
    days = span / _DAY_S
    counts = [0] * 24
    for t in recent[1:]:
        counts[int(t // _HOUR_S) % 24] += 1
    exposure = _exposure(first, now)

    def hourly(hour: int) -> float:
        # Shrinkage: an hour's own count over its own watched time, with _PRIOR_DAYS hours of the overall
        # rate added, so an hour seen once or never leans on the feed's average.
        prior_s = _PRIOR_DAYS * _HOUR_S
        return (counts[hour] + prior_s * overall) / (exposure[hour] + prior_s)

    hour = int(now // _HOUR_S) % 24
    rate = max(hourly(hour), hourly((hour + 1) % 24))
    last_hour = sum(1 for t in recent[1:] if t > now - _BURST_S)
    if last_hour >= _BURST_MIN and last_hour / _BURST_S > rate:
        return Rhythm(last_hour / _BURST_S, "burst", days)
    return Rhythm(rate, "hour_of_day" if days >= _PRIOR_DAYS else "overall", days)


def _exposure(start: float, end: float) -> list[float]:
    """Return, for each hour of the day, how many seconds of it lie between ``start`` and ``end``."""
    seconds = [0.0] * 24
    at = start
    while at < end:
        slot_end = min(end, (at // _HOUR_S + 1) * _HOUR_S)
        seconds[int(at // _HOUR_S) % 24] += slot_end - at
        at = slot_end
    return seconds
