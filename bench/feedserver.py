"""Generated RSS feeds on loopback hosts, for the pipeline benchmark: live feeds and burst feeds.

A *live* feed grows on a clock: its items are released at a fixed rate once ``start_live`` is called,
and it lists the newest ``window`` of them, as a news site does. A *burst* feed is empty until
``start_burst``, then lists all its items at once: a backlog the pipeline must drain. Every feed
answers conditional GETs (ETag, 304), and feeds are spread over several 127.0.0.x addresses so the
ingestor's per-host limit applies as it would to several outlets. Nothing here leaves loopback.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from xml.sax.saxutils import escape

__all__ = ["FeedItem", "GeneratedFeeds", "item_xml", "rss_document"]

_FIRST_HOST = 10  # 127.0.0.10 and up: clear of 127.0.0.1, which other servers of the session use


@dataclass(frozen=True)
class FeedItem:
    """One item of a generated feed: its text is the article's full body (``content:encoded``)."""

    guid: str
    title: str
    text: str
    published: datetime


def item_xml(item: FeedItem) -> str:
    """Return ``item`` as an RSS 2.0 ``<item>``: a short description and the full text as HTML paragraphs."""
    words = item.text.split()
    summary = " ".join(words[:40]) + " …"
    sentences = item.text.split(". ")
    paragraphs = "".join(
        "<p>" + escape(". ".join(sentences[i : i + 6])) + "</p>" for i in range(0, len(sentences), 6)
    )
    return (
        f"<item><title>{escape(item.title)}</title><link>{escape(item.guid)}</link>"
        f"<guid isPermaLink='true'>{escape(item.guid)}</guid>"
        f"<description>{escape(summary)}</description>"
        f"<content:encoded>{escape(paragraphs)}</content:encoded>"
        f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate></item>"
    )


def rss_document(name: str, language: str, items: list[str]) -> bytes:
    """Return an RSS 2.0 document of the ``<item>``s given (newest first), as a generated feed serves it."""
    return (
        "<?xml version='1.0' encoding='utf-8'?>"
        "<rss version='2.0' xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
        f"<title>Bench {name}</title><link>https://{name}.bench.invalid/</link><language>{language}</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


@dataclass
class _Feed:
    name: str
    language: str
    host: str
    items: list[FeedItem]
    xml: list[str] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)  # live feeds: release time of each item after start
    window: int = 20
    burst: bool = False
    hub: str | None = None  # a WebSub hub the feed names in its Link header
    cache: dict[int, tuple[bytes, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xml = [item_xml(i) for i in self.items]


class GeneratedFeeds:
    """Serve generated feeds at ``/feed/<name>`` on ``hosts`` loopback addresses, from a thread each."""

    def __init__(self, hosts: int = 8) -> None:
        self._feeds: dict[str, _Feed] = {}
        self._live_start: float | None = None
        self._burst = False
        self.burst_first_served: float | None = None
        self.requests = 0
        self._lock = threading.Lock()
        handler = self._handler()
        self._servers = [
            ThreadingHTTPServer((f"127.0.0.{_FIRST_HOST + h}", 0), handler) for h in range(hosts)
        ]
        for server in self._servers:
            server.daemon_threads = True
        self._threads = [
            threading.Thread(target=s.serve_forever, name="bench-feeds", daemon=True) for s in self._servers
        ]

    def add_live(
        self,
        name: str,
        language: str,
        items: list[FeedItem],
        offsets: list[float],
        window: int,
        *,
        hub: str | None = None,
    ) -> str:
        """Add a live feed showing ``items[k]`` from ``offsets[k]`` s after ``start_live``; return its URL.

        ``hub``: the WebSub hub the feed names (``Link: <hub>; rel="hub", <url>; rel="self"``), as a
        publisher behind a hub does; telling the hub about each new item is the caller's job.
        """
        host = self._host(len(self._feeds))
        self._feeds[name] = _Feed(name, language, host, items, offsets=offsets, window=window, hub=hub)
        return self.url(name)

    def add_burst(self, name: str, language: str, items: list[FeedItem]) -> str:
        """Add a feed that is empty until ``start_burst``, then lists ``items``; return its URL."""
        host = self._host(len(self._feeds))
        self._feeds[name] = _Feed(name, language, host, items, window=len(items), burst=True)
        return self.url(name)

    def url(self, name: str) -> str:
        """Return the URL of feed ``name``."""
        host = self._feeds[name].host
        server = next(s for s in self._servers if s.server_address[0] == host)
        return f"http://{host}:{server.server_address[1]}/feed/{name}"

    def start_live(self) -> float:
        """Start the live feeds' clocks; return the start time (``time.time()``)."""
        self._live_start = time.time()
        return self._live_start

    def start_burst(self) -> None:
        """Make the burst feeds list their items from the next request on."""
        self._burst = True

    def live_done(self) -> bool:
        """Return whether every live item has been released."""
        if self._live_start is None:
            return False
        elapsed = time.time() - self._live_start
        return all(not f.offsets or f.offsets[-1] <= elapsed for f in self._feeds.values() if not f.burst)

    def _host(self, n: int) -> str:
        return str(self._servers[n % len(self._servers)].server_address[0])

    def _released(self, feed: _Feed) -> int:
        if feed.burst:
            return len(feed.items) if self._burst else 0
        if self._live_start is None:
            return 0
        return bisect.bisect_right(feed.offsets, time.time() - self._live_start)

    def body(self, name: str) -> tuple[bytes, str, int]:
        """Return feed ``name``'s current body, its ETag, and how many items it has released so far."""
        feed = self._feeds[name]
        count = self._released(feed)
        with self._lock:
            cached = feed.cache.get(count)
            if cached is None:
                newest_first = feed.xml[max(0, count - feed.window) : count][::-1]
                cached = (rss_document(name, feed.language, newest_first), f'"{name}-{count}"')
                feed.cache = {count: cached}
        return cached[0], cached[1], count

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as news sites serve: a poll over HTTP/1.0 paid a new TCP connection each time,
            # a cost of this server, not of newsmon (whose client pools its connections).
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                if name not in feeds._feeds:
                    self.send_error(404)
                    return
                body, etag, count = feeds.body(name)
                feeds.requests += 1
                hub = feeds._feeds[name].hub
                links = f'<{hub}>; rel="hub", <{feeds.url(name)}>; rel="self"' if hub else None
                if feeds._feeds[name].burst and count and feeds.burst_first_served is None:
                    feeds.burst_first_served = time.time()
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    if links:
                        self.send_header("Link", links)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                if links:
                    self.send_header("Link", links)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> GeneratedFeeds:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
