"""The ingest service: poll every feed on its interval, publish new or updated items, never stall.

Feeds are polled concurrently, so one slow or dead feed never delays the others, and a feed's problems
end in its report, its log line and its metrics, never in an exception that stops the loop.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType

from structlog.stdlib import BoundLogger

from monitor.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher, FetchResult
from monitor.ingest.parse import ParseResult, parse_feed
from monitor.ingest.seen import SeenStore, content_hash
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Article

__all__ = ["FeedReport", "IngestService"]

_log = get_logger(__name__)


@dataclass(frozen=True)
class FeedReport:
    """The outcome of one poll of one feed: what the feeds table and the tests look at."""

    feed_id: str
    url: str
    status: int | None = None
    not_modified: bool = False
    items: int = 0
    published: int = 0
    duplicates: int = 0
    newest: datetime | None = None
    problems: tuple[str, ...] = ()
    error: FeedError | None = None
    duration_s: float = 0.0
    stopped: bool = False
    """The service stopped before the poll finished; nothing after that point was done."""

    @property
    def ok(self) -> bool:
        """Return whether the poll succeeded (items with problems still count as a success)."""
        return self.error is None and not self.stopped


class _StoppedError(Exception):
    """The service is stopping: a poll must not touch the store or publish any more."""


class _Gate:
    """Let store and publish work start only while the service runs, and wait for the work that started.

    Fetches are not gated: they cannot be interrupted, touch nothing shared, and their result is dropped
    once the service stops, so stopping never waits for a hung server.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = 0
        self.closed = False

    def open(self) -> None:
        with self._cond:
            self.closed = False

    def __enter__(self) -> None:
        with self._cond:
            if self.closed:
                raise _StoppedError
            self._busy += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def close_and_drain(self, timeout_s: float) -> bool:
        """Refuse new work and wait for the current work; return False if it outlived ``timeout_s``."""
        with self._cond:
            self.closed = True
            return self._cond.wait_for(lambda: self._busy == 0, timeout_s)


class IngestService:
    """Poll feeds, parse them, and publish each new or changed item exactly once per content.

    ``publish`` sends one Article to the bus and returns only once it is acknowledged; if it raises,
    the item stays unseen and the feed's validators are not saved, so the next poll retries it.
    """

    def __init__(
        self,
        feeds: list[FeedConfig],
        fetcher: Fetcher,
        store: SeenStore,
        publish: Callable[[Article], None],
        metrics: Metrics,
        default_interval_s: float,
        *,
        max_workers: int = 16,
        drain_timeout_s: float = 30.0,
    ) -> None:
        duplicates = sorted(i for i, n in Counter(feed.id for feed in feeds).items() if n > 1)
        if duplicates:
            raise ValueError(f"duplicate feed ids: {duplicates}")
        self.feeds = list(feeds)
        self._fetcher = fetcher
        self._store = store
        self._publish = publish
        self._metrics = metrics
        self.default_interval_s = default_interval_s
        self._max_workers = max_workers
        self._drain_timeout_s = drain_timeout_s
        self._gate = _Gate()

    def interval_s(self, feed: FeedConfig) -> float:
        """Return the seconds between two polls of ``feed``."""
        return feed.poll_interval_s or self.default_interval_s

    def poll_feed(self, feed: FeedConfig) -> FeedReport:
        """Poll ``feed`` once: fetch, parse, publish what is new; report problems instead of raising."""
        started = time.monotonic()
        base = FeedReport(feed.id, feed.display_url)
        # A fresh logger per poll: the module-level one freezes its processors on first use once logging
        # is configured, and then structlog.testing.capture_logs() no longer sees the feed's events.
        log = get_logger(__name__).bind(feed=feed.id, url=feed.display_url)
        try:
            with self._gate:
                etag, last_modified = self._store.get_feed_state(feed.id)
            try:
                result = self._fetcher.fetch(feed, etag, last_modified)
            except FeedError as e:
                self._metrics.feed_fetch_duration.observe(time.monotonic() - started)
                return self._failed(base, e, started, log)
            except Exception:
                if self._gate.closed:  # the owner closed the fetcher under us while stopping
                    raise _StoppedError from None
                raise
            with self._gate:
                return self._handle(feed, base, result, started, log)
        except _StoppedError:
            return replace(base, stopped=True, duration_s=time.monotonic() - started)

    def poll_all(self) -> list[FeedReport]:
        """Poll every feed once, concurrently, and return their reports in the order of the feeds."""
        if not self.feeds:
            return []
        workers = min(len(self.feeds), self._max_workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="ingest") as pool:
            reports = list(pool.map(self.poll_feed, self.feeds))
        failed = [r.feed_id for r in reports if r.error is not None]
        _log.info("feeds polled", feeds=len(reports), failed=len(failed), failed_feeds=failed or None)
        return reports

    def run(self, stop: threading.Event, tick_s: float = 1.0) -> None:
        """Poll each feed on its interval until ``stop`` is set; notice ``stop`` within ``tick_s``.

        A feed is never polled twice at once: if a poll outlives the interval, the next one starts when
        it ends. On stop, queued polls are cancelled, polls that are publishing finish their current item,
        and polls still waiting on a server are abandoned (their result is dropped).
        """
        self._gate.open()
        _log.info("ingest started", feeds=len(self.feeds), default_interval_s=self.default_interval_s)
        if not self.feeds:
            _log.warning("no feeds to poll; check the feeds file")
        due = dict.fromkeys((feed.id for feed in self.feeds), time.monotonic())
        running: dict[str, Future[FeedReport]] = {}
        wake = threading.Event()  # set when a poll ends, so a short interval is not held up by a long one
        pool = ThreadPoolExecutor(
            max(1, min(len(self.feeds), self._max_workers)), thread_name_prefix="ingest"
        )
        try:
            while not stop.is_set():
                wake.clear()  # before the scan: a poll ending during the scan still cuts the wait short
                now = time.monotonic()
                for feed in self.feeds:
                    future = running.get(feed.id)
                    if future is not None:
                        if not future.done():
                            continue
                        del running[feed.id]
                        _check(feed, future)
                    if due[feed.id] <= now:
                        running[feed.id] = pool.submit(self.poll_feed, feed)
                        running[feed.id].add_done_callback(lambda _: wake.set())
                        due[feed.id] = now + self.interval_s(feed)
                idle = (due[feed.id] for feed in self.feeds if feed.id not in running)
                wait = min(idle, default=math.inf) - time.monotonic()
                wake.wait(min(tick_s, max(wait, 0.01)))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            if not self._gate.close_and_drain(self._drain_timeout_s):
                _log.warning("ingest stopped while publishing", timeout_s=self._drain_timeout_s)
            _log.info("ingest stopped")

    def _handle(
        self, feed: FeedConfig, base: FeedReport, result: FetchResult, started: float, log: BoundLogger
    ) -> FeedReport:
        m = self._metrics
        if result.not_modified or result.content is None:
            m.feed_fetch_duration.observe(time.monotonic() - started)
            m.feed_fetches.labels(feed=feed.id, outcome="not_modified").inc()
            m.feed_last_success.labels(feed=feed.id).set_to_current_time()
            self._store.set_feed_state(feed.id, result.etag, result.last_modified)
            log.debug("feed not modified", status=result.status)
            return replace(
                base, status=result.status, not_modified=True, duration_s=time.monotonic() - started
            )

        try:
            parsed = parse_feed(feed.id, result.content, result.url or feed.url, feed.language, feed.tags)
        except Exception as e:  # parse_feed promises not to raise; a bug there must not stop the others
            log.exception("feed parser crashed")
            parsed = ParseResult([], [f"parser crashed: {type(e).__name__}: {e}"], is_feed=False)
        m.feed_fetch_duration.observe(time.monotonic() - started)
        report = replace(
            base,
            status=result.status,
            items=len(parsed.articles),
            problems=tuple(parsed.problems),
            newest=max((a.published for a in parsed.articles if a.published), default=None),
        )
        if not parsed.is_feed:
            error = FeedError(feed.id, "parse", "; ".join(parsed.problems) or "not a feed")
            return self._failed(report, error, started, log)
        if parsed.problems:
            m.feed_errors.labels(feed=feed.id, kind="parse").inc()
            log.warning("feed has problems", problems=parsed.problems, items=len(parsed.articles))

        published = duplicates = 0
        # Feeds list newest first; publishing oldest first keeps the topic in the order news happened.
        for article in reversed(parsed.articles):
            if self._gate.closed:
                raise _StoppedError
            digest = content_hash(article)
            if not self._store.is_new(article.id, digest):
                duplicates += 1
                continue
            try:
                self._publish(article)
            except Exception as e:
                report = replace(report, published=published, duplicates=duplicates)
                error = FeedError(feed.id, "publish", f"{type(e).__name__}: {e}")
                log.error(
                    "publish failed; the item will be retried next poll", article=article.id, error=str(e)
                )
                return self._failed(report, error, started, log, logged=True)
            self._store.mark_published(article.id, digest, feed.id)
            published += 1
            m.articles_published.labels(feed=feed.id).inc()

        # Saved only now: had a publish failed, a 304 next time would hide the unpublished items.
        self._store.set_feed_state(feed.id, result.etag, result.last_modified)
        if duplicates:
            m.articles_duplicate.labels(feed=feed.id).inc(duplicates)
        m.feed_fetches.labels(feed=feed.id, outcome="ok").inc()
        m.feed_last_success.labels(feed=feed.id).set_to_current_time()
        # Info only when something happened: thousands of quiet polls would drown the log.
        (log.info if published else log.debug)(
            "feed polled",
            status=result.status,
            items=len(parsed.articles),
            published=published,
            duplicates=duplicates,
        )
        return replace(
            report, published=published, duplicates=duplicates, duration_s=time.monotonic() - started
        )

    def _failed(
        self, report: FeedReport, error: FeedError, started: float, log: BoundLogger, *, logged: bool = False
    ) -> FeedReport:
        self._metrics.feed_fetches.labels(feed=report.feed_id, outcome="error").inc()
        self._metrics.feed_errors.labels(feed=report.feed_id, kind=error.kind).inc()
        if not logged:
            log.warning("feed failed", kind=error.kind, error=error.detail)
        return replace(report, error=error, duration_s=time.monotonic() - started)


def _check(feed: FeedConfig, future: Future[FeedReport]) -> None:
    """Log a poll that raised: poll_feed reports feed problems, so this is a bug or a broken store."""
    error = future.exception()
    if error is not None:
        _log.error("feed poll crashed", feed=feed.id, url=feed.display_url, exc_info=error)
