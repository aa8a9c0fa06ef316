"""Politeness per host: at most ``max_per_host`` requests at once, and a budget of requests per minute.

Many feeds of one outlet live on one server; polling forty of them at once is how a poller gets banned.
The limit is kept by not submitting, rather than by threads waiting on a semaphore, so the feeds of a slow
host never occupy the workers that other hosts' feeds need.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar
from urllib.parse import urlsplit

from monitor.ingest.feeds import FeedConfig

__all__ = ["FILE_HOST", "HostBudget", "host_of", "map_per_host"]

T = TypeVar("T")


FILE_HOST = "file"
"""The pseudo-host of file:// feeds: they share the concurrency limit, but no server needs a budget."""


def host_of(feed: FeedConfig) -> str:
    """Return the host a feed's requests count against; file feeds share one pseudo-host."""
    return (urlsplit(feed.url).hostname or FILE_HOST).lower()


def map_per_host(
    fn: Callable[[FeedConfig], T], feeds: Sequence[FeedConfig], workers: int, max_per_host: int
) -> list[T]:
    """Return ``fn(feed)`` for every feed, in feed order, run concurrently within the host limit.

    An exception in ``fn`` is raised here once every started call has ended.
    """
    queues: dict[str, deque[tuple[int, FeedConfig]]] = {}
    for index, feed in enumerate(feeds):
        queues.setdefault(host_of(feed), deque()).append((index, feed))
    busy: Counter[str] = Counter()
    running: dict[Future[T], tuple[int, str]] = {}
    results: dict[int, T] = {}
    with ThreadPoolExecutor(max(1, min(workers, len(feeds))), thread_name_prefix="ingest") as pool:

        def fill(host: str) -> None:
            while queues[host] and busy[host] < max_per_host:
                index, feed = queues[host].popleft()
                running[pool.submit(fn, feed)] = (index, host)
                busy[host] += 1

        for host in queues:
            fill(host)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index, host = running.pop(future)
                busy[host] -= 1
                results[index] = future.result()
                fill(host)
    return [results[i] for i in range(len(feeds))]


class HostBudget:
    """At most ``per_minute`` requests a minute to each host, and none while a host asked for a pause.

    A token bucket per host, holding at most a minute's worth: forty feeds of one outlet due at once
    start with a minute's allowance, then go at the budget's pace. A 429 or 503 with ``Retry-After``
    pauses the whole host (``block``), not only the feed that got it: the server is saying it is
    overloaded, whichever URL asked. Time is a parameter; used from the scheduler's thread only.
    """

    def __init__(self, per_minute: float) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be > 0, not {per_minute:g}")
        self.per_minute = per_minute
        self._tokens: dict[str, tuple[float, float]] = {}  # host -> (tokens, when counted)
        self._blocked: dict[str, float] = {}

    def _level(self, host: str, now: float) -> float:
        tokens, when = self._tokens.get(host, (self.per_minute, now))
        return min(self.per_minute, tokens + (now - when) * self.per_minute / 60.0)

    def take(self, host: str, now: float) -> bool:
        """Spend one request on ``host`` at ``now`` if the budget allows it; return whether it did."""
        if self._blocked.get(host, 0.0) > now:
            return False
        level = self._level(host, now)
        if level < 1.0:
            return False
        self._tokens[host] = (level - 1.0, now)
        return True

    def ready_at(self, host: str, now: float) -> float:
        """Return when ``host`` can next be asked (``now`` if it can be now)."""
        blocked = self._blocked.get(host, 0.0)
        missing = 1.0 - self._level(host, now)
        return max(now, blocked, now + missing * 60.0 / self.per_minute)

    def block(self, host: str, until: float) -> None:
        """Ask ``host`` nothing before ``until`` (its Retry-After); a block is never shortened."""
        self._blocked[host] = max(until, self._blocked.get(host, 0.0))
