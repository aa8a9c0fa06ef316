"""The service over file:// feeds: no network, real store, real parser."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from monitor.ingest import parse as parse_module
from monitor.ingest import poll as poll_module
from monitor.ingest.entry import article_of
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.reload import FeedsWatcher
from monitor.ingest.schedule import PollPolicy
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestOptions, IngestService
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
    service = IngestService(feeds, fetcher, store, published.append, metrics)
    reports = service.poll_all()
    assert [r.feed_id for r in reports] == ["one", "missing", "two"]
    assert [r.error.kind if r.error else None for r in reports] == [None, "file", None]
    assert sorted(a.title for a in published) == ["a", "b", "c"]
    assert [r.not_modified for r in service.poll_all()] == [True, False, True]


def test_duplicate_feed_ids_are_refused(fetcher: Fetcher, store: SeenStore, metrics: Metrics) -> None:
    feed = FeedConfig(id="a", url="https://a.example/rss")
    with pytest.raises(ValueError, match="duplicate feed ids"):
        IngestService([feed, feed], fetcher, store, lambda a: None, metrics)


def test_a_parser_crash_is_a_feed_error(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("feedparser bug")

    monkeypatch.setattr(poll_module, "parse_feed", crash)
    feed = _feed(tmp_path, "one", _rss("a"))
    service = IngestService([feed], fetcher, store, lambda a: None, metrics)
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

    service = IngestService([feed], fetcher, store, slow_publish, metrics)
    service.run(stop, tick_s=0.05)
    assert [a.title for a in published] == ["a"]  # finished, and marked; the rest left for later

    rest: list[Article] = []
    restarted = IngestService([feed], fetcher, store, rest.append, metrics)
    report = restarted.poll_feed(feed)
    assert (report.published, report.duplicates) == (2, 1)
    assert [a.title for a in rest] == ["b", "c"]


def _dated_rss(*ages_min: float, now: datetime | None = None) -> bytes:
    now = now or datetime.now(UTC)
    items = "".join(
        f"<item><title>t{i}</title><link>https://x.example/{i}</link>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=age), usegmt=True)}</pubDate></item>"
        for i, age in enumerate(ages_min)
    )
    return f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()


def test_interval_adapts_to_the_feeds_rhythm_and_survives_a_restart(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    feed = _feed(tmp_path, "busy", _dated_rss(5, 25, 45, 65, 85))  # an item every 20 minutes
    policy = PollPolicy(default_interval_s=300, min_interval_s=60, max_interval_s=3600)
    service = IngestService([feed], fetcher, store, lambda a: None, metrics, IngestOptions(policy=policy))
    report = service.poll_feed(feed)
    # Twice per expected item: 4 items in the 85 minutes since the first, or the last hour's 3 (the
    # estimate leans on the hour of the day the test runs in, hence a range).
    assert report.next_poll_s is not None
    assert 400 <= report.next_poll_s <= 800
    assert store.get_state("busy").period_s == 1200
    assert metrics.registry.get_sample_value("newsmon_feed_next_poll_seconds", {"feed": "busy"}) == (
        report.next_poll_s
    )
    assert len(store.arrivals("busy", 0.0)) == 5, "the items' own dates are the feed's history"
    # a 304-like poll (file unchanged) keeps the learned rhythm, also in a new service
    again = IngestService([feed], fetcher, store, lambda a: None, metrics, IngestOptions(policy=policy))
    assert again.poll_feed(feed).next_poll_s == pytest.approx(report.next_poll_s, rel=0.01)
    # a feed's own interval is used as written
    fixed = feed.model_copy(update={"poll_interval_s": 42.0})
    assert again.poll_feed(fixed).next_poll_s == 42.0


def test_a_feed_silent_past_its_expected_period_is_stale(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    quiet = _feed(tmp_path, "quiet", _dated_rss(3 * 24 * 60, 4 * 24 * 60)).model_copy(
        update={"expected_period_s": 3600.0}
    )
    lively = _feed(tmp_path, "lively", _dated_rss(10, 20)).model_copy(update={"expected_period_s": 3600.0})
    unknown = _feed(tmp_path, "unknown", _dated_rss(3 * 24 * 60))  # no period set, none learnable
    service = IngestService([quiet, lively, unknown], fetcher, store, lambda a: None, metrics)
    with capture_logs() as logs:
        reports = {r.feed_id: r for r in service.poll_all()}
        service.poll_feed(quiet)  # still stale: warned once, not at every poll
    assert {fid: r.stale for fid, r in reports.items()} == {"quiet": True, "lively": False, "unknown": False}
    stale_events = [e for e in logs if e["event"] == "feed.stale"]
    assert [e["feed"] for e in stale_events] == ["quiet"]
    assert stale_events[0]["log_level"] == "warning"
    sample = metrics.registry.get_sample_value
    assert sample("newsmon_feed_stale", {"feed": "quiet"}) == 1
    assert sample("newsmon_feed_stale", {"feed": "lively"}) == 0
    assert sample("newsmon_feed_expected_period_seconds", {"feed": "quiet"}) == 3600
    last_new = sample("newsmon_feed_last_new_item_timestamp_seconds", {"feed": "lively"})
    assert last_new is not None
    assert abs(last_new - (time.time() - 600)) < 60


def test_after_a_first_dns_failure_the_next_try_is_within_the_interval(
    store: SeenStore, metrics: Metrics
) -> None:
    # A real lookup of a name that cannot exist (RFC 2606): the resolver fails, as when DNS is down.
    feed = FeedConfig(id="nowhere", url="https://newsmon-test.invalid/rss")
    policy = PollPolicy(default_interval_s=300)
    with Fetcher(timeout_s=5, max_bytes=100_000, user_agent="test") as fetcher:
        service = IngestService([feed], fetcher, store, lambda a: None, metrics, IngestOptions(policy=policy))
        reports = [service.poll_feed(feed) for _ in range(5)]
    assert reports[0].error is not None
    assert reports[0].error.kind == "dns", reports[0].error
    first = reports[0].next_poll_s
    assert first is not None
    assert 240 <= first <= 300, "no later than the feed's 300 s interval (was 518-698 s)"
    assert all(r.next_poll_s is not None and r.next_poll_s <= 300 * 2**i for i, r in enumerate(reports))


def test_failures_back_off_and_the_backoff_survives_a_restart(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    missing = FeedConfig(id="missing", url=(tmp_path / "missing.xml").as_uri())
    policy = PollPolicy(default_interval_s=100, min_interval_s=10, max_interval_s=1000, backoff_max_s=10_000)
    service = IngestService([missing], fetcher, store, lambda a: None, metrics, IngestOptions(policy=policy))
    delays = [service.poll_feed(missing).next_poll_s for _ in range(3)]
    assert all(
        lo <= (d or 0) <= hi for d, (lo, hi) in zip(delays, [(80, 100), (160, 200), (320, 400)], strict=True)
    )
    state = store.get_state("missing")
    assert state.failures == 3
    assert state.not_before is not None
    assert state.not_before > time.time() + 300

    # a restarted service does not poll it before the backoff ends
    stop = threading.Event()
    restarted = IngestService(
        [missing], fetcher, store, lambda a: None, metrics, IngestOptions(policy=policy)
    )
    runner = threading.Thread(target=restarted.run, args=(stop,), kwargs={"tick_s": 0.02})
    runner.start()
    time.sleep(0.3)
    stop.set()
    runner.join(5)
    assert store.get_state("missing").failures == 3


def test_prune_keeps_what_active_feeds_still_list(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    feed = _feed(tmp_path, "one", _rss("b", "a"))
    service = IngestService([feed], fetcher, store, lambda a: None, metrics, IngestOptions(retention_s=0.0))
    service.poll_feed(feed)
    assert service.prune() == 0  # both still listed at the last parse
    (tmp_path / "one.xml").write_bytes(_rss("c", "b"))
    os.utime(tmp_path / "one.xml", ns=(1, time.time_ns() + 1_000_000))
    assert service.poll_feed(feed).published == 1
    time.sleep(0.01)
    assert service.prune() == 1  # "a" left the feed: forgotten
    assert metrics.registry.get_sample_value("newsmon_seen_pruned_total") == 1


def test_run_reloads_the_feeds_file_and_forgets_removed_feeds(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    one = _feed(tmp_path, "one", _rss("a"))
    two = _feed(tmp_path, "two", _rss("b"))
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": [{"id": "one", "url": one.url}]}), encoding="utf-8")
    published: list[Article] = []
    options = IngestOptions(reload_check_s=0.02)
    watcher = FeedsWatcher(feeds_file)
    service = IngestService([one], fetcher, store, published.append, metrics, options, watcher=watcher)
    stop = threading.Event()
    runner = threading.Thread(target=service.run, args=(stop,), kwargs={"tick_s": 0.02})
    runner.start()
    try:
        _wait(lambda: [a.title for a in published] == ["a"])
        feeds_file.write_text(yaml.safe_dump({"feeds": [{"id": "two", "url": two.url}]}), encoding="utf-8")
        _wait(lambda: [a.title for a in published] == ["a", "b"])
        _wait(lambda: metrics.registry.get_sample_value("newsmon_feed_stale", {"feed": "one"}) is None)
    finally:
        stop.set()
        runner.join(5)
    assert [f.id for f in service.feeds] == ["two"]
    assert metrics.registry.get_sample_value("newsmon_feeds_reloads_total", {"outcome": "ok"}) == 1


def _wait(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_editing_a_feeds_id_or_url_republishes_nothing(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    feed = _feed(tmp_path, "one", _rss("b", "a"))
    published: list[Article] = []
    service = IngestService([feed], fetcher, store, published.append, metrics)
    assert service.poll_feed(feed).published == 2

    renamed = feed.model_copy(update={"id": "renamed"})
    assert (service.poll_feed(renamed).published, service.poll_feed(renamed).not_modified) == (0, True)

    # The same bytes under another URL, with the same mtime and size, hence the same file "ETag": the old
    # URL's validators must not be sent for the new one, or a 304 would hide a feed never read.
    moved = tmp_path / "moved.xml"
    moved.write_bytes((tmp_path / "one.xml").read_bytes())
    stat = (tmp_path / "one.xml").stat()
    os.utime(moved, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = service.poll_feed(feed.model_copy(update={"url": moved.as_uri()}))
    assert (report.not_modified, report.items, report.duplicates, report.published) == (False, 2, 2, 0)
    assert store.get_state("one").url == moved.as_uri()
    assert len(published) == 2


def _windowed(*items: str) -> bytes:
    """Return an RSS feed of ``items``, each "title" or "title=slug" (the slug makes its link)."""
    xml = "".join(
        f"<item><title>{t}</title><link>https://x.example/{slug or t}</link>"
        f"<description>&lt;p&gt;Text of {t}.&lt;/p&gt;</description></item>"
        for t, _, slug in (i.partition("=") for i in items)
    )
    return f"<rss version='2.0'><channel><title>t</title>{xml}</channel></rss>".encode()


def test_the_prepass_parses_only_new_and_edited_items_and_publishes_the_same(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []

    def spy(feed_id: str, entry: dict[str, str], *args: object) -> tuple[Article, bool]:
        read.append(entry["title"])
        return article_of(feed_id, entry, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(parse_module, "article_of", spy)
    feed = _feed(tmp_path, "win", _windowed("c", "b", "a"))
    published: list[Article] = []
    service = IngestService([feed], fetcher, store, published.append, metrics)
    assert service.poll_feed(feed).published == 3
    assert read == ["c", "b", "a"]
    read.clear()
    (tmp_path / "win.xml").write_bytes(_windowed("d", "c", "b, edited=b", "a"))
    os.utime(tmp_path / "win.xml", ns=(time.time_ns(), time.time_ns() + 1))
    report = service.poll_feed(feed)
    # d is new; the edited item (another title, same link) is parsed and republished; c and a are cut.
    assert read == ["d", "b, edited"]
    assert (report.items, report.published, report.duplicates) == (4, 2, 2)
    assert [a.title for a in published[3:]] == ["b, edited", "d"]
    assert published[3].id == published[1].id, "the edit is republished under the same id"
    assert metrics.registry.get_sample_value("newsmon_feed_items_known_total") == 2
    assert metrics.registry.get_sample_value("newsmon_feed_prepass_total", {"outcome": "reduced"}) == 1


def test_with_the_prepass_off_every_item_is_parsed(
    tmp_path: Path, fetcher: Fetcher, store: SeenStore, metrics: Metrics
) -> None:
    feed = _feed(tmp_path, "off", _windowed("b", "a"))
    service = IngestService([feed], fetcher, store, lambda a: None, metrics, IngestOptions(prepass=False))
    service.poll_feed(feed)
    (tmp_path / "off.xml").write_bytes(_windowed("c", "b", "a"))
    os.utime(tmp_path / "off.xml", ns=(time.time_ns(), time.time_ns() + 1))
    report = service.poll_feed(feed)
    assert (report.items, report.published, report.duplicates) == (3, 1, 2)
    assert metrics.registry.get_sample_value("newsmon_feed_items_known_total") == 0
