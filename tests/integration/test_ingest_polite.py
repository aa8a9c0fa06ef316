"""Politeness and safety against real local HTTP servers: host limits, backoff, private addresses,
HTTP charsets, full text from article pages, and ``newsmon feeds check --fetch``."""

from __future__ import annotations

import ipaddress
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from monitor.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.fulltext import FullText
from monitor.ingest.guard import GuardedTransport
from monitor.ingest.schedule import PollPolicy
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestOptions, IngestService
from monitor.metrics import Metrics
from monitor.models import Article
from tests.fixtures.feeds import FeedServer, Responder, feed, redirect, rss, serve_feeds, status


@pytest.fixture
def other_host() -> Iterator[FeedServer]:
    """A second server on another loopback address: another "host" for the per-host limit and the guard."""
    with serve_feeds("127.0.0.2") as server:
        yield server


def _fetcher(transport: GuardedTransport | None = None, block_private: bool = True) -> Fetcher:
    return Fetcher(2.0, 200_000, "newsmon-test/1", transport, block_private=block_private)


def slow_feed(
    body: bytes, delay_s: float, active: list[int], peak: list[int], lock: threading.Lock
) -> Responder:
    """Serve ``body`` after ``delay_s``, recording how many requests were in progress at once."""

    def respond(h: Any) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(delay_s)
        with lock:
            active[0] -= 1
        feed(body)(h)

    return respond


def test_at_most_max_per_host_requests_at_once_and_other_hosts_are_not_held_up(
    server: FeedServer, other_host: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    active, peak, lock = [0], [0], threading.Lock()
    for n in range(6):
        server.routes[f"/slow{n}"] = slow_feed(rss((f"s{n}", f"Slow {n}")), 0.2, active, peak, lock)
    other_host.routes["/fast"] = feed(rss(("f", "Fast")))
    feeds = [FeedConfig(id=f"slow{n}", url=server.url(f"/slow{n}")) for n in range(6)]
    feeds.append(FeedConfig(id="fast", url=other_host.url("/fast")))
    with _fetcher(block_private=False) as fetcher:
        options = IngestOptions(workers=8, max_per_host=2)
        service = IngestService(feeds, fetcher, store, lambda a: None, metrics, options)
        started = time.monotonic()
        reports = service.poll_all()
    assert all(r.ok for r in reports)
    assert peak[0] == 2  # six feeds of one host, two at a time
    assert time.monotonic() - started >= 0.6  # three rounds of 0.2 s
    # the other host did not wait behind the first host's queue: it went out before any slow feed answered
    assert other_host.requests_to("/fast")[0].at - started < 0.2


def test_when_polls_cannot_keep_up_the_most_overdue_feed_goes_first(
    server: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    """Eight feeds of one host want a poll every 0.1 s; the host allows one at a time, each takes 0.1 s.

    Seen in the soak benchmark: the slot went to the first due feed in the feeds file, so under
    overload the feeds at the end of the file were not polled for minutes and lost the items that
    scrolled out of their window. Every feed must get its turn.
    """
    active, peak, lock = [0], [0], threading.Lock()
    names = [f"f{n}" for n in range(8)]
    for name in names:
        server.routes[f"/{name}"] = slow_feed(rss((name, f"Item {name}")), 0.1, active, peak, lock)
    feeds = [FeedConfig(id=name, url=server.url(f"/{name}"), poll_interval_s=0.1) for name in names]
    with _fetcher(block_private=False) as fetcher:
        options = IngestOptions(workers=4, max_per_host=1)
        service = IngestService(feeds, fetcher, store, lambda a: None, metrics, options)
        stop = threading.Event()
        runner = threading.Thread(target=service.run, args=(stop,), kwargs={"tick_s": 0.02})
        runner.start()
        deadline = time.monotonic() + 20
        while len(server.requests) < 32 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        runner.join(5)
    polls = {name: len(server.requests_to(f"/{name}")) for name in names}
    assert peak[0] == 1
    assert sum(polls.values()) >= 32, polls
    # Round robin, give or take the poll in progress when it stopped.
    assert max(polls.values()) - min(polls.values()) <= 1, polls


def test_private_addresses_are_refused_before_any_request(server: FeedServer, other_host: FeedServer) -> None:
    server.routes["/feed"] = feed(rss(("a", "Internal")))
    server.routes["/hop"] = redirect(other_host.url("/feed"))
    other_host.routes["/feed"] = feed(rss(("b", "Behind the redirect")))
    loopback = FeedConfig(id="loopback", url=server.url("/feed"))
    by_name = FeedConfig(id="by_name", url=f"http://localhost:{server.port}/feed")
    with _fetcher() as fetcher:  # block_private is on by default
        for feed_config in (loopback, by_name):
            with pytest.raises(FeedError, match="private addresses are refused") as caught:
                fetcher.fetch(feed_config)
            assert caught.value.kind == "blocked"
            assert "ingest.block_private_addresses" in str(caught.value)
    assert server.requests == []

    # A redirect to a refused address is refused too: the guard checks every connection, not the URL.
    only_first = GuardedTransport(allowed=lambda ip: ip == ipaddress.ip_address("127.0.0.1"))
    with _fetcher(transport=only_first) as fetcher:
        with pytest.raises(FeedError, match=r"127\.0\.0\.2, a private or reserved address") as caught:
            fetcher.fetch(FeedConfig(id="hop", url=server.url("/hop")))
        assert caught.value.kind == "blocked"
        assert fetcher.fetch(FeedConfig(id="direct", url=server.url("/feed"))).status == 200
    assert other_host.requests == []


def test_backoff_grows_between_failed_polls_and_retry_after_is_honoured(
    server: FeedServer, other_host: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    server.routes["/down"] = status(500)
    # On another host: a 429 pauses its whole host (test_ingest_rhythm.py), which would hold up /down.
    other_host.routes["/limited"] = status(429, retry_after="1")
    feeds = [
        FeedConfig(id="down", url=server.url("/down"), poll_interval_s=0.05),
        FeedConfig(id="limited", url=other_host.url("/limited"), poll_interval_s=0.05),
    ]
    policy = PollPolicy(backoff_max_s=1.0, jitter=0.0)
    with _fetcher(block_private=False) as fetcher:
        service = IngestService(feeds, fetcher, store, lambda a: None, metrics, IngestOptions(policy=policy))
        stop = threading.Event()
        runner = threading.Thread(target=service.run, args=(stop,), kwargs={"tick_s": 0.02})
        runner.start()
        deadline = time.monotonic() + 8
        while len(server.requests_to("/down")) < 7 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        runner.join(5)
    down = [r.at for r in server.requests_to("/down")]
    gaps = [b - a for a, b in itertools.pairwise(down)]
    # the first retry within the 0.05 s interval, then doubled at each failure, capped at backoff_max_s
    assert len(gaps) >= 5
    for gap, expected in zip(gaps, [0.05, 0.1, 0.2, 0.4, 0.8], strict=False):
        assert expected <= gap < expected + 0.25, gaps  # never sooner; later only by scheduling slack
    limited = [b - a for a, b in itertools.pairwise(r.at for r in other_host.requests_to("/limited"))]
    assert limited, "the rate-limited feed was retried"
    assert all(1.0 <= gap < 1.25 for gap in limited), limited  # Retry-After: 1, not the 0.1 s backoff
    responses_429 = metrics.registry.get_sample_value("newsmon_feed_http_responses_total", {"code": "429"})
    assert responses_429 == len(limited) + 1


def test_the_http_charset_decodes_a_feed_without_a_declaration(
    server: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    body = (
        "<rss version='2.0'><channel><title>t</title><item><title>Новости дня</title><link>/n/1</link></item>"
    )
    server.routes["/ru"] = feed(
        (body + "</channel></rss>").encode("cp1251"), content_type="text/xml; charset=windows-1251"
    )
    published: list[Article] = []
    feed_config = FeedConfig(id="ru", url=server.url("/ru"))
    with _fetcher(block_private=False) as fetcher:
        IngestService([feed_config], fetcher, store, published.append, metrics).poll_feed(feed_config)
    assert [a.title for a in published] == ["Новости дня"]


def test_short_items_get_the_full_text_of_their_page(
    server: FeedServer, store: SeenStore, metrics: Metrics
) -> None:
    paragraphs = "".join(
        f"<p>Paragraph {n}: the summit in Brussels ended late on Tuesday with an agreement on energy.</p>"
        for n in range(8)
    )
    server.routes["/feed"] = feed(
        b"<rss version='2.0'><channel><title>t</title>"
        b"<item><title>Summit ends</title><link>/story</link><description>Short teaser.</description></item>"
        b"<item><title>Broken page</title><link>/gone</link><description>Kept as it is.</description></item>"
        b"</channel></rss>"
    )
    server.routes["/story"] = feed(
        f"<html><body><nav>Home | World</nav><article><h1>Summit ends</h1>{paragraphs}</article></body>"
        "</html>".encode(),
        content_type="text/html; charset=utf-8",
    )
    published: list[Article] = []
    feed_config = FeedConfig(id="news", url=server.url("/feed"), full_text=True)
    with _fetcher(block_private=False) as fetcher:
        options = IngestOptions(full_text=FullText(fetcher, min_chars=400))
        report = IngestService([feed_config], fetcher, store, published.append, metrics, options).poll_feed(
            feed_config
        )
    assert report.published == 2
    story, broken = sorted(published, key=lambda a: a.title, reverse=True)
    assert (story.text_source, broken.text_source) == ("page", "summary")
    assert "Paragraph 7: the summit in Brussels" in story.text
    assert story.summary == "Short teaser."
    assert broken.text == "Kept as it is."
    assert "text/html" in server.requests_to("/story")[0].headers["Accept"]
    samples = metrics.registry.get_sample_value
    assert samples("newsmon_fulltext_fetches_total", {"outcome": "ok"}) == 1
    assert samples("newsmon_fulltext_fetches_total", {"outcome": "fetch_error"}) == 1
    # a second poll does not fetch the pages again: the items are the same in the feed
    with _fetcher(block_private=False) as fetcher:
        options = IngestOptions(full_text=FullText(fetcher, min_chars=400))
        again = IngestService([feed_config], fetcher, store, published.append, metrics, options)
        assert again.poll_feed(feed_config).published == 0
    assert len(server.requests_to("/story")) == 1


def test_feeds_check_fetch_prints_a_table_and_fails_on_a_broken_feed(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server.routes["/good"] = feed(rss(("b", "Second"), ("a", "First")))
    server.routes["/bad"] = status(503)
    feeds_file = tmp_path / "feeds.yaml"
    feeds = [{"id": "good", "url": server.url("/good")}, {"id": "bad", "url": server.url("/bad")}]
    feeds_file.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
    monkeypatch.setenv("NEWSMON_INGEST__BLOCK_PRIVATE_ADDRESSES", "false")
    assert main(["feeds", "check", str(feeds_file), "--fetch"]) == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("good", "bad"))}
    assert rows["good"][1:3] == ["200", "2"]
    assert rows["bad"][1] == "error:http_status"
    assert "HTTP 503" in out
    assert "1 of 2 feeds fetched and parsed" in out
    assert server.requests_to("/good")  # it really fetched
