"""The ingestor against a real local HTTP server: exactly which Articles reach ``publish``, poll by poll."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestService
from monitor.metrics import Metrics
from monitor.models import Article
from tests.fixtures.feeds import (
    FeedHandler,
    FeedServer,
    endless,
    feed,
    hang,
    redirect,
    rss,
    status,
)


@dataclass
class Rig:
    """The service under test, its collaborators, and every Article handed to ``publish``."""

    service: IngestService
    published: list[Article]
    metrics: Metrics
    store: SeenStore

    def titles(self) -> list[str]:
        return [a.title for a in self.published]


@pytest.fixture
def make_rig(tmp_path: Path, metrics: Metrics) -> Iterator[Callable[..., Rig]]:
    """Build services over one seen-store path, as restarts of the same ingestor would."""
    closers: list[Callable[[], None]] = []

    def make(
        feeds: list[FeedConfig],
        timeout_s: float = 2.0,
        max_bytes: int = 100_000,
        publish: Callable[[Article], None] | None = None,
    ) -> Rig:
        published: list[Article] = []
        fetcher = Fetcher(
            timeout_s=timeout_s, max_bytes=max_bytes, user_agent="newsmon-test/1", block_private=False
        )
        store = SeenStore(tmp_path / "var" / "ingest.sqlite3")
        closers.extend([fetcher.close, store.close])
        service = IngestService(feeds, fetcher, store, publish or published.append, metrics)
        return Rig(service, published, metrics, store)

    yield make
    for close in reversed(closers):
        close()


def test_changed_feed_conditional_get_and_restart(server: FeedServer, make_rig: Callable[..., Rig]) -> None:
    server.routes["/news"] = feed(rss(("b", "Second"), ("a", "First")), etag='"v1"')
    news = FeedConfig(id="news", url=server.url("/news"), language="en", tags=("world",))
    rig = make_rig([news])

    first = rig.service.poll_feed(news)
    assert (first.ok, first.status, first.published, first.duplicates) == (True, 200, 2, 0)
    assert rig.titles() == ["First", "Second"]  # oldest first
    article = rig.published[0]
    assert article.url == server.url("/articles/a")
    assert (article.feed_id, article.language, article.tags, article.summary) == (
        "news",
        "en",
        ("world",),
        "About First.",
    )

    second = rig.service.poll_feed(news)
    assert server.requests_to("/news")[-1].headers["If-None-Match"] == '"v1"'
    assert (second.status, second.not_modified, second.published) == (304, True, 0)
    assert len(rig.published) == 2

    # the feed changes: one edited item, one untouched, one new
    server.routes["/news"] = feed(rss(("c", "Third"), ("b", "Second"), ("a", "First, updated")), etag='"v2"')
    third = rig.service.poll_feed(news)
    assert (third.published, third.duplicates) == (2, 1)
    assert rig.titles()[2:] == ["First, updated", "Third"]
    assert rig.published[2].id == rig.published[0].id  # an update keeps the article's id

    # a restart over the same seen-store: validators and seen items survive
    restarted = make_rig([news])
    after = restarted.service.poll_feed(news)
    assert server.requests_to("/news")[-1].headers["If-None-Match"] == '"v2"'
    assert after.not_modified
    assert restarted.published == []

    # a server that ignores conditional GET: the same bytes are recognised by their hash, not parsed
    server.routes["/news"] = feed(rss(("c", "Third"), ("b", "Second"), ("a", "First, updated")), etag='"v3"')
    ignored = restarted.service.poll_feed(news)
    assert (ignored.status, ignored.unchanged, ignored.items, ignored.published) == (200, True, 0, 0)
    # ... and a body that differs only outside the items (a new lastBuildDate): the seen-store stops repeats
    rebuilt = rss(("c", "Third"), ("b", "Second"), ("a", "First, updated")).replace(
        b"<title>t</title>", b"<title>t2</title>"
    )
    server.routes["/news"] = feed(rebuilt)
    again = restarted.service.poll_feed(news)
    assert (again.unchanged, again.published, again.duplicates) == (False, 0, 3)
    assert restarted.published == []
    samples = rig.metrics.registry.get_sample_value
    assert samples("newsmon_articles_published_total", {"feed": "news"}) == 4
    assert samples("newsmon_feed_fetches_total", {"feed": "news", "outcome": "not_modified"}) == 2
    assert samples("newsmon_feed_fetches_total", {"feed": "news", "outcome": "unchanged"}) == 1
    assert samples("newsmon_articles_duplicate_total", {"feed": "news"}) == 4
    assert samples("newsmon_feed_http_responses_total", {"code": "304"}) == 2
    assert samples("newsmon_feed_items_fetched_total", {"feed": "news"}) == 2 + 3 + 3


def test_gzip_and_redirect_resolve_links_against_the_final_url(
    server: FeedServer, make_rig: Callable[..., Rig]
) -> None:
    server.routes["/old/feed"] = redirect("/new/feed.xml")
    server.routes["/new/feed.xml"] = feed(
        b"<rss version='2.0'><channel><title>t</title>"
        b"<item><title>Moved</title><link>story.html</link></item></channel></rss>",
        gzipped=True,
    )
    moved = FeedConfig(id="moved", url=server.url("/old/feed"))
    rig = make_rig([moved])
    report = rig.service.poll_feed(moved)
    assert report.ok, report.error
    assert [a.url for a in rig.published] == [server.url("/new/story.html")]
    assert "gzip" in server.requests_to("/new/feed.xml")[0].headers["Accept-Encoding"]
    assert server.requests_to("/old/feed")[0].headers["User-Agent"] == "newsmon-test/1"


def test_failing_feeds_do_not_stop_the_others(server: FeedServer, make_rig: Callable[..., Rig]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    server.routes.update(
        {
            "/good": feed(rss(("g1", "Good news"))),
            "/error": status(500),
            "/hang": hang(server),
            "/malformed": feed(
                rss(("m1", "Kept despite"), ("m2", "Broken & kept")).replace(b"</channel>", b"")
            ),
            "/html": feed(b"<html><body><h1>Site maintenance</h1></body></html>"),
            "/huge": endless,
        }
    )
    feeds = [
        FeedConfig(id="error", url=server.url("/error")),
        FeedConfig(id="hang", url=server.url("/hang")),
        FeedConfig(id="good", url=server.url("/good")),
        FeedConfig(id="malformed", url=server.url("/malformed")),
        FeedConfig(id="html", url=server.url("/html")),
        FeedConfig(id="huge", url=server.url("/huge")),
        FeedConfig(id="dead", url=f"http://127.0.0.1:{dead_port}/rss"),
    ]
    rig = make_rig(feeds, timeout_s=0.5, max_bytes=50_000)

    started = time.monotonic()
    with capture_logs() as logs:
        reports = {r.feed_id: r for r in rig.service.poll_all()}
    assert time.monotonic() - started < 3, "feeds must be polled concurrently, bounded by the timeout"

    assert sorted(rig.titles()) == ["Broken & kept", "Good news", "Kept despite"]
    errors = {fid: r.error.kind for fid, r in reports.items() if r.error is not None}
    assert errors == {
        "error": "http_status",
        "hang": "timeout",
        "html": "parse",
        "huge": "too_large",
        "dead": "connect",
    }
    assert reports["malformed"].ok
    assert reports["malformed"].problems[0].startswith("malformed feed")
    assert "HTTP 500" in str(reports["error"].error)

    failed = {e["feed"]: e for e in logs if e["event"] == "feed.fetch_failed"}
    assert set(failed) == set(errors)
    assert failed["dead"]["url"] == feeds[-1].url
    assert failed["dead"]["log_level"] == "warning"
    assert "cannot connect" in failed["dead"]["error"]
    samples = rig.metrics.registry.get_sample_value
    assert samples("newsmon_feed_errors_total", {"feed": "hang", "kind": "timeout"}) == 1
    assert samples("newsmon_feed_errors_total", {"feed": "malformed", "kind": "parse"}) == 1
    assert samples("newsmon_feed_fetches_total", {"feed": "good", "outcome": "ok"}) == 1
    assert samples("newsmon_feed_fetches_total", {"feed": "error", "outcome": "error"}) == 1
    assert samples("newsmon_feed_last_success_timestamp_seconds", {"feed": "good"}) is not None

    # the failed feeds recover on their own at the next poll
    server.routes["/error"] = feed(rss(("e1", "Back online")))
    assert rig.service.poll_feed(feeds[0]).ok
    assert rig.titles()[-1] == "Back online"


def test_an_item_whose_publish_failed_is_retried(server: FeedServer, make_rig: Callable[..., Rig]) -> None:
    server.routes["/news"] = feed(rss(("b", "Second"), ("a", "First")), etag='"v1"')
    news = FeedConfig(id="news", url=server.url("/news"))
    published: list[Article] = []
    broker_down = True

    def publish(article: Article) -> None:
        if broker_down and article.title == "Second":
            raise ConnectionError("broker unreachable")
        published.append(article)

    rig = make_rig([news], publish=publish)
    failed = rig.service.poll_feed(news)
    assert failed.error is not None
    assert failed.error.kind == "publish"
    assert [a.title for a in published] == ["First"]

    broker_down = False
    retried = rig.service.poll_feed(news)
    # the validators were not saved, so no 304 could hide the unpublished item
    assert "If-None-Match" not in server.requests_to("/news")[-1].headers
    assert (retried.published, retried.duplicates) == (1, 1)
    assert [a.title for a in published] == ["First", "Second"]


def test_run_polls_on_interval_and_stops_within_a_second(
    server: FeedServer, make_rig: Callable[..., Rig]
) -> None:
    polls = 0

    def growing(h: FeedHandler) -> None:
        nonlocal polls
        polls += 1
        items = [(f"n{i}", f"Item {i}") for i in range(min(polls, 3), 0, -1)]
        feed(rss(*items))(h)

    server.routes["/growing"] = growing
    server.routes["/hang"] = hang(server)
    feeds = [
        FeedConfig(id="growing", url=server.url("/growing"), poll_interval_s=0.1),
        FeedConfig(id="hang", url=server.url("/hang"), poll_interval_s=0.1),
    ]
    rig = make_rig(feeds, timeout_s=5.0)
    stop = threading.Event()
    runner = threading.Thread(target=rig.service.run, args=(stop,), daemon=True)
    runner.start()
    deadline = time.monotonic() + 5
    while polls < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    stopping = time.monotonic()
    stop.set()
    runner.join(3)
    assert not runner.is_alive()
    assert time.monotonic() - stopping < 1.2, (
        "stop must be noticed within a second, even with a fetch hanging"
    )
    assert rig.titles() == ["Item 1", "Item 2", "Item 3"]  # every item once, none repeated
    assert len(server.requests_to("/hang")) == 1  # a feed is never polled twice at once
