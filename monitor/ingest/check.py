"""``newsmon feeds check``: validate a feeds file and, on request, try every feed once and tabulate it.

A desk adding twenty feeds wants to know which ones work before they go live: this fetches and parses
each feed exactly as the ingestor would, but publishes nothing and remembers nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from monitor.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.hosts import map_per_host
from monitor.ingest.parse import parse_feed
from monitor.models import utcnow

__all__ = ["FeedCheck", "check_feeds", "format_age", "render_table"]


@dataclass(frozen=True)
class FeedCheck:
    """One feed's row in the table."""

    feed_id: str
    url: str
    status: str
    items: int = 0
    newest: datetime | None = None
    error: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Return whether the feed was fetched and parsed (problems in items are still ok)."""
        return not self.status.startswith("error")


def _check_one(fetcher: Fetcher, feed: FeedConfig) -> FeedCheck:
    started = time.monotonic()
    try:
        result = fetcher.fetch(feed)
    except FeedError as e:
        elapsed = time.monotonic() - started
        return FeedCheck(feed.id, feed.display_url, f"error:{e.kind}", error=e.detail, duration_s=elapsed)
    content = result.content or b""
    parsed = parse_feed(feed.id, content, result.url or feed.url, content_type=result.content_type)
    elapsed = time.monotonic() - started
    if not parsed.is_feed:
        kind = "hostile" if parsed.hostile else "parse"
        problems = "; ".join(parsed.problems)
        return FeedCheck(feed.id, feed.display_url, f"error:{kind}", error=problems, duration_s=elapsed)
    return FeedCheck(
        feed.id,
        feed.display_url,
        str(result.status),
        len(parsed.articles),
        max(parsed.dates, default=None),
        "; ".join(parsed.problems),
        elapsed,
    )


def check_feeds(
    feeds: list[FeedConfig], fetcher: Fetcher, workers: int, max_per_host: int
) -> list[FeedCheck]:
    """Fetch and parse every feed once, concurrently within the host limit; rows in feed order."""
    return map_per_host(lambda feed: _check_one(fetcher, feed), feeds, workers, max_per_host)


def format_age(newest: datetime | None, now: datetime) -> str:
    """Return how old the newest item is, as a person reads it: '45s', '12m', '3h', '4d', or '-'."""
    if newest is None:
        return "-"
    seconds = max(0.0, (now - newest).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def render_table(rows: list[FeedCheck], out: TextIO, now: datetime | None = None) -> None:
    """Write the rows as an aligned plain-text table (greppable, pasteable into a ticket).

    The errors are the last column and are never cut: the end of an error is often its fix.
    """
    now = now or utcnow()
    header = ("FEED", "STATUS", "ITEMS", "NEWEST", "TIME", "ERRORS")
    lines = [
        (
            r.feed_id,
            r.status,
            str(r.items),
            format_age(r.newest, now),
            f"{r.duration_s:.1f}s",
            _one_line(r.error),
        )
        for r in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header) - 1)]
    for cells in [header, *lines]:
        out.write(
            "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + "  " + cells[-1] + "\n"
        )


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "-"
