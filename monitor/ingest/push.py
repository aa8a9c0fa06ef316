"""The seam between polling and push: what the ingest service offers a push source, and what it asks.

The service knows nothing of WebSub; it hands every fetch to the push source (to discover hubs), asks it
how long to wait before the next poll of a feed (long while a hub pushes it), and takes pushed bodies
through the very parse, seen-store and publish path of a poll. A push source that loses its hub asks
for a poll now, so the fallback to polling costs a feed no more than the push itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import FetchResult
from monitor.ingest.poll import FeedReport

__all__ = ["PushSink", "PushSource"]


class PushSink(Protocol):
    """What the ingest service offers a push source."""

    def receive(self, feed_id: str, result: FetchResult) -> FeedReport | None:
        """Handle a pushed body as a poll's fetch would be; None when no such feed is configured."""

    def poll_soon(self, feed_id: str) -> None:
        """Poll the feed as soon as its host allows, whatever its schedule said."""


class PushSource(Protocol):
    """Something that pushes feeds' new content to the ingest service (WebSub)."""

    def start(self, sink: PushSink, feeds: Sequence[FeedConfig]) -> None:
        """Start taking pushes for ``feeds`` and handing them to ``sink``."""

    def stop(self) -> None:
        """Stop taking pushes; pushes not handled yet are dropped (the next poll finds their items)."""

    def feeds_changed(self, feeds: Sequence[FeedConfig]) -> None:
        """Take note of an edit of the feeds file: feeds gone are unsubscribed."""

    def observe(self, feed: FeedConfig, result: FetchResult) -> None:
        """Look at a poll's fetch (hub links in its headers and body); must be quick and never raise."""

    def next_poll_s(self, feed_id: str, interval_s: float) -> float:
        """Return the seconds to the feed's next poll, given the ``interval_s`` its poll asked for."""
