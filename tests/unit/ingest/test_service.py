"""The service over file:// feeds: no network, real store, real parser."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.ingest import service as service_module
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestService
from monitor.metrics import Metrics
from monitor.models import Article


def _rss(*titles: str) -> bytes:
    items = "".join(f"<item><title>{t}</title><link>https://x.example/{t}</link></item>" for t in titles)
    return f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(timeout_s=1, max_bytes=100_000, user_agent="test") as f:
        yield f


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SeenStore]:
    with SeenStore(tmp_path / "seen.sqlite3") as s:
        yield s


def _feed(tmp_path: Path, name: str, data: bytes) -> FeedConfig:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(data)
    return FeedConfig(id=name, url=path.as_uri())


def test_poll_all_reports_in_feed_order(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    feeds = [
        _feed(tmp_path, "one", _rss("b", "a")),
        FeedConfig(id="missing", url=(tmp_path / "missing.xml").as_uri()),
        _feed(tmp_path, "two", _rss("c")),
    ]
    published: list[Article] = []
    service = IngestService(feeds, fetcher, store, published.append, metrics, default_interval_s=60)
    reports = service.poll_all()
    assert [r.feed_id for r in reports] == ["one", "missing", "two"]
    assert [r.error.kind if r.error else None for r in reports] == [None, "file", None]
    assert sorted(a.title for a in published) == ["a", "b", "c"]
    assert [r.not_modified for r in service.poll_all()] == [True, False, True]


def test_duplicate_feed_ids_are_refused(fetcher: Fetcher, store: SeenStore, metrics: Metrics) -> None:
    feed = FeedConfig(id="a", url="https://a.example/rss")
    with pytest.raises(ValueError, match="duplicate feed ids"):
        IngestService([feed, feed], fetcher, store, lambda a: None, metrics, default_interval_s=60)


def test_a_parser_crash_is_a_feed_error(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("feedparser bug")

    monkeypatch.setattr(service_module, "parse_feed", crash)
    feed = _feed(tmp_path, "one", _rss("a"))
    service = IngestService([feed], fetcher, store, lambda a: None, metrics, default_interval_s=60)
    report = service.poll_feed(feed)
    assert report.error is not None
    assert report.error.kind == "parse"
    assert "feedparser bug" in report.error.detail


def test_stop_waits_for_the_publish_in_progress_and_loses_nothing(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    feed = _feed(tmp_path, "one", _rss("c", "b", "a"))
    stop = threading.Event()
    published: list[Article] = []

    def slow_publish(article: Article) -> None:
        stop.set()  # the owner stops while the first item is in flight
        threading.Event().wait(0.2)
        published.append(article)

    service = IngestService([feed], fetcher, store, slow_publish, metrics, default_interval_s=60)
    service.run(stop, tick_s=0.05)
    assert [a.title for a in published] == ["a"]  # finished, and marked; the rest left for later

    rest: list[Article] = []
    restarted = IngestService([feed], fetcher, store, rest.append, metrics, default_interval_s=60)
    report = restarted.poll_feed(feed)
    assert (report.published, report.duplicates) == (2, 1)
    assert [a.title for a in rest] == ["b", "c"]
