"""Run one call per feed on a thread pool, never more than ``max_per_host`` at once against one host.

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

__all__ = ["host_of", "map_per_host"]

T = TypeVar("T")


def host_of(feed: FeedConfig) -> str:
    """Return the host a feed's requests count against; file feeds share one pseudo-host."""
    return (urlsplit(feed.url).hostname or "file").lower()


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
