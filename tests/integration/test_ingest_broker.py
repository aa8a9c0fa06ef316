"""The ingestor end to end: a real HTTP server in front, the real embedded broker behind, restarts between.

What is asserted is what a reader of the ``articles`` topic sees: every item exactly once (an edited item
once more, as an update of the same id), nothing lost when the ingestor stops in the middle of publishing,
no matter which feeds hang, fail, rate-limit, are malformed, oversized or hostile.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.app.stages import build_ingest_stage
from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.ingest.feeds import load_feeds
from monitor.ingest.fetch import Fetcher
from monitor.ingest.schedule import PollPolicy
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestOptions, IngestService
from monitor.metrics import Metrics
from monitor.models import Article
from monitor.settings import IngestSettings, Settings
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.feeds import FeedServer, endless, feed, hang, rss, serve_feeds, status

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"

# Every format feedparser reads: (file, [(title, link, published, language)]) with the language either
# declared by the feed or detected from the text.
FORMATS: dict[str, list[tuple[str, str, datetime, str]]] = {
    "rss090": [
        (
            "Parliament approves the new budget after a long night of debate",
            "https://rss090.example/news/budget",
            datetime(2025, 3, 4, 9, 15, tzinfo=UTC),
            "en",
        ),
        (
            "Storm closes the main harbour and cancels every ferry to the islands",
            "https://rss090.example/news/storm",
            datetime(2025, 3, 4, 11, 40, tzinfo=UTC),
            "en",
        ),
    ],
    "rss091": [
        (
            "Le gouvernement présente sa réforme des retraites à l'Assemblée",
            "https://rss091.example/politique/retraites",
            datetime(2025, 3, 4, 7, 0, tzinfo=UTC),
            "fr",
        ),
    ],
    "rss092": [
        (
            "The central bank kept its interest rates unchanged on Thursday, citing slowing inflation"
            " across the region.",
            "{base}/economy/rates",
            datetime(2025, 3, 6, 14, 0, tzinfo=UTC),
            "en",
        ),
    ],
    "rss093": [
        (
            "Les agriculteurs manifestent devant la préfecture contre la baisse des prix du lait",
            "https://rss093.example/regions/lait",
            datetime(2025, 3, 3, 6, 30, tzinfo=UTC),
            "fr",
        ),
    ],
    "rss094": [
        (
            "Rail workers end their strike after an agreement on wages",
            "https://rss094.example/transport/strike",
            datetime(2025, 3, 5, 18, 20, tzinfo=UTC),
            "en",
        ),
    ],
    "rss10": [
        (
            "Sommet européen : les dirigeants trouvent un accord sur l'énergie",
            "https://rss10.example/monde/sommet",
            datetime(2025, 3, 6, 22, 10, tzinfo=UTC),
            "fr",
        ),
    ],
    "rss20": [
        (
            "Ceasefire talks resume in Geneva with both delegations present",
            "https://rss20.example/world/geneva?utm_source=rss&utm_medium=feed",
            datetime(2025, 3, 7, 10, 5, tzinfo=UTC),
            "en",
        ),
    ],
    "atom03": [
        (
            "Scientists map the deepest trench of the Atlantic ocean for the first time",
            "https://atom03.example/science/trench",
            datetime(2025, 3, 7, 9, 0, tzinfo=UTC),
            "en",
        ),
    ],
    "atom10": [
        (
            "Incendie : des milliers d'hectares brûlés dans le sud",
            "{base}/france/incendie",
            datetime(2025, 3, 8, 5, 45, tzinfo=UTC),
            "fr",
        ),
    ],
}

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>t</title><item><title>&lol3;</title><link>https://x.example/1</link></item>
</channel></rss>"""


def _read_all(
    bus: Bus, group: str, expected: int, settle_s: float = 1.0, timeout_s: float = 30.0
) -> list[Article]:
    """Return every article on the topic: wait for ``expected``, then a little longer for any extra."""
    consumer = bus.consumer(group, bus.settings.topics.articles, max_poll_records=500)
    got: list[Article] = []
    deadline = time.monotonic() + timeout_s
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=100).values():
                got.extend(Article.model_validate_json(r.value) for r in records)
            if len(got) >= expected:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at > settle_s:
                    break
    finally:
        consumer.close()
    return got


def _write_feeds_file(path: Path, server: FeedServer, ids: list[str]) -> Path:
    path.write_text(
        yaml.safe_dump({"feeds": [{"id": i, "url": server.url(f"/{i}")} for i in ids]}), encoding="utf-8"
    )
    return path


@pytest.fixture
def site(tmp_path: Path) -> Iterator[FeedServer]:
    """The feeds of the first poll: every format, plus feeds that change, fail, hang or attack."""
    with serve_feeds() as server:
        for name in FORMATS:
            data = (FEEDS / f"{name}.xml").read_bytes()
            server.routes[f"/{name}"] = feed(data, etag=f'"{name}-v1"', content_type="text/xml")
        server.routes["/changing"] = feed(rss(("b", "Second story"), ("a", "First story")), etag='"c1"')
        server.routes["/flaky"] = status(503)
        server.routes["/limited"] = status(429, retry_after="2")
        server.routes["/malformed"] = feed(
            rss(("m2", "Broken & kept"), ("m1", "Kept despite the break")).replace(b"</channel>", b"")
        )
        server.routes["/hang"] = hang(server)
        server.routes["/huge"] = endless
        server.routes["/hostile"] = feed(BILLION_LAUGHS)
        yield server


def _service(
    tmp_path: Path, feeds_file: Path, bus: Bus, metrics: Metrics, on_publish: Callable[[Article], None]
) -> tuple[IngestService, Callable[[], None]]:
    """Build the ingestor as the stage does, over the seen-store in ``tmp_path``; return it and its closer."""
    producer = bus.producer()
    topic = bus.settings.topics.articles

    def publish(article: Article) -> None:
        producer.send(topic, key=article.id.encode(), value=encode(article)).get(timeout=10)
        on_publish(article)

    fetcher = Fetcher(timeout_s=0.5, max_bytes=50_000, user_agent="newsmon-test/1", block_private=False)
    store = SeenStore(tmp_path / "ingest.sqlite3")
    # A short backoff cap keeps the test fast; Retry-After (2 s) is below it, so it is honoured as sent.
    policy = PollPolicy(default_interval_s=60, min_interval_s=30, max_interval_s=600, backoff_max_s=3)
    service = IngestService(
        load_feeds(feeds_file), fetcher, store, publish, metrics, IngestOptions(policy=policy, max_per_host=4)
    )

    def close() -> None:
        fetcher.close()
        store.close()
        producer.close(timeout=10)

    return service, close


def test_exactly_the_right_articles_reach_the_broker_across_restarts(
    broker: BrokerUnderTest, unique: str, tmp_path: Path, site: FeedServer
) -> None:
    bus = broker.bus(unique)
    bus.ensure_topics()
    ids = [*FORMATS, "changing", "flaky", "limited", "malformed", "hang", "huge", "hostile"]
    feeds_file = _write_feeds_file(tmp_path / "feeds.yaml", site, ids)

    # 1. First run: one poll of every feed.
    first_metrics = Metrics(CollectorRegistry())
    service, close = _service(tmp_path, feeds_file, bus, first_metrics, lambda a: None)
    started = time.monotonic()
    reports = {r.feed_id: r for r in service.poll_all()}
    close()
    assert time.monotonic() - started < 5, "a hanging feed must not hold up the others"
    errors = {fid: r.error.kind for fid, r in reports.items() if r.error}
    assert errors == {
        "flaky": "http_status",
        "limited": "http_status",
        "hang": "timeout",
        "huge": "too_large",
        "hostile": "hostile",
    }
    limited_at = site.requests_to("/limited")[0].at

    # 2. The sites change; the ingestor restarts and is stopped right after its first publication.
    site.routes["/changing"] = feed(
        rss(("c", "Third story"), ("b", "Second story"), ("a", "First story, corrected")), etag='"c2"'
    )
    site.routes["/flaky"] = feed(rss(("f1", "Back after the outage")))
    site.routes["/limited"] = feed(rss(("l1", "Worth the wait")))
    stop = threading.Event()
    interrupted: list[Article] = []

    def stop_after_first(article: Article) -> None:
        interrupted.append(article)
        stop.set()
        time.sleep(0.3)  # the item is acknowledged but not yet marked seen while the service stops

    second, close = _service(tmp_path, feeds_file, bus, Metrics(CollectorRegistry()), stop_after_first)
    second.run(stop, tick_s=0.05)
    close()
    assert [a.title for a in interrupted] == ["First story, corrected"]  # oldest first; "Third story" left

    # 3. A third run picks up whatever the interrupted one left.
    third_metrics = Metrics(CollectorRegistry())
    stop = threading.Event()
    published: list[Article] = []
    third, close = _service(tmp_path, feeds_file, bus, third_metrics, published.append)
    runner = threading.Thread(target=third.run, args=(stop,), kwargs={"tick_s": 0.05})
    runner.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not {"Worth the wait", "Back after the outage"} <= {
        a.title for a in published
    }:
        time.sleep(0.05)
    stop.set()
    runner.join(10)
    close()

    assert sorted(a.title for a in published) == ["Back after the outage", "Third story", "Worth the wait"]
    articles = _read_all(bus, f"reader-{unique}", expected=18)
    expected_titles = Counter(
        [title for items in FORMATS.values() for title, *_ in items]
        + ["First story", "Second story", "Kept despite the break", "Broken & kept"]  # first run
        + [
            "First story, corrected",
            "Third story",
            "Back after the outage",
            "Worth the wait",
        ]  # after changes
    )
    assert Counter(a.title for a in articles) == expected_titles
    ids_seen = Counter(a.id for a in articles)
    (updated,) = [i for i, n in ids_seen.items() if n > 1]  # the one correction, under the same id
    assert {a.title for a in articles if a.id == updated} == {"First story", "First story, corrected"}
    # Retry-After: 2 was honoured across the restarts.
    assert site.requests_to("/limited")[1].at - limited_at >= 2.0

    by_title = {a.title: a for a in articles}
    for name, items in FORMATS.items():
        for title, link, published_at, language in items:
            article = by_title[title]
            assert article.feed_id == name
            assert article.url == link.format(base=f"http://127.0.0.1:{site.port}")
            assert article.published == published_at
            assert article.language == language, (name, article.language)
    assert by_title["Ceasefire talks resume in Geneva with both delegations present"].text_source == "feed"
    not_modified = {"feed": "rss20", "outcome": "not_modified"}
    assert third_metrics.registry.get_sample_value("newsmon_feed_fetches_total", not_modified) == 1


def test_the_stage_wired_from_settings_publishes_and_reloads_its_feeds_file(
    broker: BrokerUnderTest, unique: str, tmp_path: Path
) -> None:
    bus = broker.bus(unique)
    bus.ensure_topics()
    with serve_feeds() as server:
        server.routes["/one"] = feed(rss(("o1", "Only story of feed one")))
        server.routes["/two"] = feed(rss(("t1", "Only story of feed two")))
        feeds_file = _write_feeds_file(tmp_path / "feeds.yaml", server, ["one"])
        settings = Settings(
            kafka=bus.settings,
            ingest=IngestSettings(
                feeds_file=feeds_file,
                state_db=tmp_path / "ingest.sqlite3",
                block_private_addresses=False,
                reload_check_s=0.05,
                timeout_s=2,
            ),
        )
        metrics = Metrics(CollectorRegistry())
        stage = build_ingest_stage(settings, bus, metrics)
        stop = threading.Event()
        runner = threading.Thread(target=stage.run, args=(stop,))
        runner.start()
        try:
            value = metrics.registry.get_sample_value

            def wait_for(what: Callable[[], bool]) -> None:
                deadline = time.monotonic() + 10
                while not what() and time.monotonic() < deadline:
                    time.sleep(0.02)

            wait_for(lambda: value("newsmon_articles_published_total", {"feed": "one"}) == 1)
            feeds_file.write_text("feeds:\n  - id: two\n    url: nope://x\n", encoding="utf-8")
            wait_for(lambda: value("newsmon_feeds_reloads_total", {"outcome": "error"}) == 1)
            _write_feeds_file(feeds_file, server, ["one", "two"])
            wait_for(lambda: value("newsmon_articles_published_total", {"feed": "two"}) == 1)
        finally:
            stop.set()
            runner.join(10)
        assert value("newsmon_feeds_reloads_total", {"outcome": "ok"}) == 1
    articles = _read_all(bus, f"reader-{unique}", expected=2, settle_s=0.5)
    assert sorted(a.title for a in articles) == ["Only story of feed one", "Only story of feed two"]
    assert {a.language for a in articles} == {"en"}  # detected: neither feed declares one
