"""Pace the messages to one receiver: a least interval, a most-per-minute, and the server's retry-after.

Telegram allows about one message a second per chat and twenty a minute per group, and answers 429
with ``retry_after`` beyond that; other services have limits of their own. A message that may not go
yet is postponed, not failed: waiting is not an error and costs no retry. Pure: times are given.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

__all__ = ["RateLimiter"]

_MINUTE = timedelta(minutes=1)


class RateLimiter:
    """The sending pace of one delivery channel."""

    def __init__(self, min_interval_s: float | None = None, per_minute: int | None = None) -> None:
        self.min_interval = timedelta(seconds=min_interval_s or 0)
        self.per_minute = per_minute
        self._sent: deque[datetime] = deque()
        self._blocked_until: datetime | None = None

    def next_allowed(self, now: datetime) -> datetime:
        """Return the earliest time a message may be sent (``now`` when it may go at once)."""
        allowed = now
        if self._blocked_until is not None and self._blocked_until > allowed:
            allowed = self._blocked_until
        if self._sent and self._sent[-1] + self.min_interval > allowed:
            allowed = self._sent[-1] + self.min_interval
        if self.per_minute is not None:
            while self._sent and self._sent[0] <= now - _MINUTE:
                self._sent.popleft()
            if len(self._sent) >= self.per_minute:
                allowed = max(allowed, self._sent[-self.per_minute] + _MINUTE)
        return allowed

    def record(self, now: datetime) -> None:
        """Count a message sent at ``now``."""
        self._sent.append(now)
        keep = max(self.per_minute or 1, 1)
        while len(self._sent) > keep:
            self._sent.popleft()

    def block(self, until: datetime) -> None:
        """Send nothing before ``until`` (the server said so: HTTP 429 retry_after)."""
        if self._blocked_until is None or until > self._blocked_until:
            self._blocked_until = until
