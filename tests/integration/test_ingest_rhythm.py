"""Polling that learns, against real HTTP servers on loopback: each feed's rhythm, the server's
Cache-Control and Retry-After, and a request budget per host."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.schedule import PollPolicy
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestOptions, IngestService
from monitor.metrics import Metrics
from tests.fixtures.feeds import FeedServer, Responder, feed, serve_feeds, status

POLICY = PollPolicy(default_interval_s=300, min_interval_s=60, max_interval_s=3600, jitter=0.0)


def _fetcher() -> Fetcher:
    return Fetcher(2.0, 200_000, "newsmon-test/1", block_private=False)


def dated(name: str, minutes_ago: list[float]) -> bytes:
    """Return an RSS feed whose items were published ``minutes_ago``, newest first."""
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{name} {n}</title><link>https://{name}.example/{n}</link>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=m), usegmt=True)}</pubDate></item>"
        for n, m in enumerate(sorted(minutes_ago))
    )
    return f"<rss version='2.0'><channel><title>{name}</title>{items}</channel></rss>".encode()


def with_headers(responder: Responder, **headers: str) -> Responder:
    """Return ``responder`` with extra response headers (Cache-Control, Age)."""

    def respond(h: object) -> None:
        send_header = h.send_header  # type: ignore[attr-defined]
        end_headers = h.end_headers  # type: ignore[attr-defined]

        def end() -> None:
            for name, value in headers.items():
                send_header(name.replace("_", "-"), value)
            end_headers()

        h.end_headers = end  # type: ignore[attr-defined]
        responder(h)  # type: ignore[arg-type]

    return respond


def test_a_hot_feed_is_polled_often_and_a_cold_one_rarely_within_the_bounds(
    server: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    server.routes["/hot"] = feed(dated("hot", [2 * k for k in range(1, 30)]))  # every 2 min for an hour
    server.routes["/warm"] = feed(dated("warm", [20 * k for k in range(1, 12)]))  # every 20 min
    server.routes["/cold"] = feed(dated("cold", [3 * 1440 * k for k in range(1, 5)]))  # every 3 days
    feeds = [FeedConfig(id=n, url=server.url(f"/{n}")) for n in ("hot", "warm", "cold")]
    with _fetcher() as fetcher:
        service = IngestService(feeds, fetcher, store, lambda a: None, metrics, IngestOptions(policy=POLICY))
        hot, warm, cold = (service.poll_feed(f).next_poll_s for f in feeds)
    assert hot == POLICY.min_interval_s, "an item every 2 minutes: as often as allowed, no more"
    assert warm is not None
    assert 400 <= warm <= 800, "an item every 20 minutes: twice per item"
    assert cold == POLICY.max_interval_s, "an item every 3 days: as rarely as allowed, no less"
    assert len(store.arrivals("hot", 0.0)) == 29, "each item's date is a point of the feed's history"


def test_a_conditional_get_keeps_the_learned_rhythm_cheap(
    server: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    server.routes["/warm"] = feed(dated("warm", [20 * k for k in range(1, 12)]), etag='"v1"')
    warm = FeedConfig(id="warm", url=server.url("/warm"))
    with _fetcher() as fetcher:
        service = IngestService([warm], fetcher, store, lambda a: None, metrics, IngestOptions(policy=POLICY))
        first = service.poll_feed(warm)
        second = service.poll_feed(warm)
    assert second.not_modified
    assert server.requests_to("/warm")[1].headers.get("If-None-Match") == '"v1"'
    assert first.next_poll_s is not None
    assert second.next_poll_s == pytest.approx(first.next_poll_s, rel=0.01)


def test_cache_control_max_age_is_a_floor_on_the_next_poll(
    server: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    hot = dated("hot", [2 * k for k in range(1, 30)])
    server.routes["/fresh"] = with_headers(feed(hot), Cache_Control="public, max-age=900", Age="100")
    server.routes["/day"] = with_headers(feed(hot, etag='"d"'), Cache_Control="max-age=86400")
    server.routes["/nocache"] = with_headers(feed(hot), Cache_Control="no-cache, max-age=900")
    feeds = [FeedConfig(id=n, url=server.url(f"/{n}")) for n in ("fresh", "day", "nocache")]
    with _fetcher() as fetcher:
        service = IngestService(feeds, fetcher, store, lambda a: None, metrics, IngestOptions(policy=POLICY))
        fresh, day, nocache = (service.poll_feed(f).next_poll_s for f in feeds)
        again = service.poll_feed(feeds[1])
    assert fresh == 800, "fresh for 900 s, 100 of which were spent in a cache"
    assert day == POLICY.max_interval_s, "a day-long max-age is capped at the longest interval"
    assert again.not_modified
    assert again.next_poll_s == POLICY.max_interval_s, "a 304's Cache-Control counts too"
    assert nocache == POLICY.min_interval_s, "no-cache: ask each time, at the feed's own rhythm"


def _run(service: IngestService, seconds: float) -> None:
    stop = threading.Event()
    runner = threading.Thread(target=service.run, args=(stop,), kwargs={"tick_s": 0.02})
    runner.start()
    time.sleep(seconds)
    stop.set()
    runner.join(10)


def test_the_request_budget_per_host_caps_many_feeds_of_one_host(
    server: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    with serve_feeds("127.0.0.2") as other:
        for n in range(12):
            server.routes[f"/f{n}"] = feed(dated(f"f{n}", [10, 20, 30]))
            other.routes[f"/f{n}"] = feed(dated(f"g{n}", [10, 20, 30]))
        feeds = [FeedConfig(id=f"a{n}", url=server.url(f"/f{n}"), poll_interval_s=0.2) for n in range(12)]
        feeds += [FeedConfig(id=f"b{n}", url=other.url(f"/f{n}"), poll_interval_s=0.2) for n in range(12)]
        # Six a minute, a minute's worth at once: six requests per host, then one every 10 s.
        options = IngestOptions(policy=POLICY, max_per_host=4, host_requests_per_minute=6)
        with _fetcher() as fetcher:
            _run(IngestService(feeds, fetcher, store, lambda a: None, metrics, options), 3.0)
        assert len(server.requests) == 6
        assert len(other.requests) == 6, "each host has its own budget"


def test_429_with_retry_after_pauses_every_feed_of_that_host(
    server: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    server.routes["/limited"] = status(429, retry_after="2")
    server.routes["/sibling"] = feed(dated("sibling", [10, 20, 30]))
    feeds = [
        FeedConfig(id="limited", url=server.url("/limited"), poll_interval_s=0.1),
        FeedConfig(id="sibling", url=server.url("/sibling"), poll_interval_s=0.1),
    ]
    options = IngestOptions(policy=POLICY, max_per_host=1)
    with _fetcher() as fetcher:
        _run(IngestService(feeds, fetcher, store, lambda a: None, metrics, options), 3.0)
    first_429 = server.requests_to("/limited")[0].at
    sibling = [r.at for r in server.requests_to("/sibling")]
    during = [t - first_429 for t in sibling if first_429 < t < first_429 + 1.9]
    assert during == [], "the host asked for 2 s of quiet"
    assert any(t >= first_429 + 2.0 for t in sibling), "and is asked again once they are over"
    limited = [r.at for r in server.requests_to("/limited")]
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(limited)), "as does the feed itself"
