"""The ingest service: poll every feed on its own rhythm, politely, and never let one feed stall the rest.

Feeds are polled concurrently by a pool of threads, at most ``max_per_host`` at once per host and
``host_requests_per_minute`` a minute (a host that answers 429 or 503 with Retry-After is paused whole),
each when its learned interval or backoff says (see schedule.py and rhythm.py). The feeds file is
re-read when edited, and the seen-store is pruned of items no feed lists any more. What one poll does
is poll.py's business.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from monitor.errors import ConfigError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher, FetchResult, HTTPStatusError
from monitor.ingest.fulltext import FullText
from monitor.ingest.gate import Gate
from monitor.ingest.hosts import FILE_HOST, HostBudget, host_of, map_per_host
from monitor.ingest.poll import FeedPoller, FeedReport
from monitor.ingest.push import PushSource
from monitor.ingest.reload import FeedsWatcher
from monitor.ingest.schedule import PollPolicy
from monitor.ingest.seen import SeenStore
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Article
from monitor.settings import IngestSettings

__all__ = ["FeedReport", "IngestOptions", "IngestService"]

_log = get_logger(__name__)
# Pruning is a maintenance chore: at start-up, then a few times a day is plenty.
_PRUNE_EVERY_S = 6 * 3600.0
_DAY_S = 86400.0


@dataclass(frozen=True)
class IngestOptions:
    """How the service polls: the schedule policy, concurrency, enrichment and housekeeping."""

    policy: PollPolicy = field(default_factory=PollPolicy)
    workers: int = 16
    max_per_host: int = 2
    host_requests_per_minute: float = 60.0
    """Feed requests a minute to one host, at most (a burst of a minute's worth, then this pace)."""
    detect_language: bool = True
    prepass: bool = True
    """Cut the items already published before parsing (see prepass.py)."""
    full_text: FullText | None = None
    """The extractor; None never fetches article pages, whatever the feeds say."""
    full_text_default: bool = False
    retention_s: float | None = None
    """Forget items unlisted for this long; None never prunes."""
    reload_check_s: float = 5.0
    drain_timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, cfg: IngestSettings, fetcher: Fetcher) -> IngestOptions:
        """Return the options the settings describe; full-text pages are fetched with ``fetcher``.

        Raises:
            ConfigError: the interval bounds contradict each other.
        """
        try:
            policy = PollPolicy(
                default_interval_s=cfg.poll_interval_s,
                min_interval_s=cfg.min_interval_s,
                max_interval_s=cfg.max_interval_s,
                backoff_max_s=cfg.backoff_max_s,
                stale_after_periods=cfg.stale_after_periods,
                stale_min_s=cfg.stale_min_s,
            )
        except ValueError as e:
            raise ConfigError(f"ingest settings: {e} (ingest.min_interval_s, ingest.max_interval_s)") from e
        full_text = FullText(
            fetcher,
            min_chars=cfg.full_text_min_chars,
            max_bytes=cfg.full_text_max_bytes,
            max_chars=cfg.full_text_max_chars,
            timeout_s=cfg.full_text_timeout_s,
        )
        return cls(
            policy=policy,
            workers=cfg.workers,
            max_per_host=cfg.max_per_host,
            host_requests_per_minute=cfg.host_requests_per_minute,
            detect_language=cfg.detect_language,
            prepass=cfg.prepass,
            full_text=full_text,
            full_text_default=cfg.full_text,
            retention_s=cfg.seen_retention_days * _DAY_S,
            reload_check_s=cfg.reload_check_s,
        )


class IngestService:
    """Poll feeds, parse them, and publish each new or changed item exactly once per content.

    ``publish`` sends one Article to the bus and returns only once it is acknowledged; if it raises,
    the item stays unseen and the feed's validators are not saved, so the next poll retries it.
    ``watcher`` (optional) reloads the feeds file while ``run`` goes on. ``push`` (optional, WebSub)
    brings new items between polls, through the same parse, seen-store and publish path; while it does,
    it also sets how rarely a feed is polled.
    """

    def __init__(
        self,
        feeds: Iterable[FeedConfig],
        fetcher: Fetcher,
        store: SeenStore,
        publish: Callable[[Article], None],
        metrics: Metrics,
        options: IngestOptions | None = None,
        *,
        watcher: FeedsWatcher | None = None,
        rng: random.Random | None = None,
        push: PushSource | None = None,
    ) -> None:
        self.feeds = list(feeds)
        duplicates = sorted(i for i, n in Counter(feed.id for feed in self.feeds).items() if n > 1)
        if duplicates:
            raise ValueError(f"duplicate feed ids: {duplicates}")
        self.options = options or IngestOptions()
        self._store = store
        self._metrics = metrics
        self._watcher = watcher
        self._push = push
        self._gate = Gate()
        self._wake = threading.Event()  # set when a poll ends or a feed asks to be polled now
        self._soon: set[str] = set()
        self._soon_lock = threading.Lock()
        self._poller = FeedPoller(
            fetcher,
            store,
            publish,
            metrics,
            self.options.policy,
            detect_language=self.options.detect_language,
            full_text=self.options.full_text,
            full_text_default=self.options.full_text_default,
            rng=rng,
            gate=self._gate,
            observe=push.observe if push is not None else None,
            prepass=self.options.prepass,
        )

    def poll_feed(self, feed: FeedConfig) -> FeedReport:
        """Poll ``feed`` once, now, whatever its schedule; report problems instead of raising."""
        return self._poller.poll(feed)

    def receive(self, feed_id: str, result: FetchResult) -> FeedReport | None:
        """Handle a pushed body of feed ``feed_id`` as a poll would; None if no such feed is configured."""
        feed = next((f for f in self.feeds if f.id == feed_id), None)
        return None if feed is None else self._poller.receive(feed, result)

    def poll_soon(self, feed_id: str) -> None:
        """Make ``run`` poll the feed at its next turn (its push broke down); safe from any thread."""
        with self._soon_lock:
            self._soon.add(feed_id)
        self._wake.set()

    def poll_all(self) -> list[FeedReport]:
        """Poll every feed once, concurrently within the host limits; return reports in feed order."""
        if not self.feeds:
            return []
        reports = map_per_host(self.poll_feed, self.feeds, self.options.workers, self.options.max_per_host)
        failed = [r.feed_id for r in reports if r.error is not None]
        _log.info("ingest.polled", feeds=len(reports), failed=len(failed), failed_feeds=failed or None)
        return reports

    def run(self, stop: threading.Event, tick_s: float = 1.0) -> None:
        """Poll each feed when it is due until ``stop`` is set; notice ``stop`` within ``tick_s``.

        A feed is never polled twice at once, nor more than ``max_per_host`` feeds of one host. A feed
        that failed waits out its backoff, even across a restart. On stop, queued polls are cancelled,
        polls that are publishing finish their current item, and polls still waiting on a server are
        abandoned (their result is dropped).
        """
        self._gate.open()
        _log.info("ingest.started", feeds=len(self.feeds), workers=self.options.workers)
        if not self.feeds:
            _log.warning("ingest.no_feeds", hint="check the feeds file (ingest.feeds_file)")
        start = time.monotonic()
        due = {feed.id: start + self._wait_s(feed) for feed in self.feeds}
        running: dict[str, tuple[Future[FeedReport], str]] = {}
        busy: Counter[str] = Counter()
        wake = self._wake  # set when a poll ends, so a short interval is not held up by a long one
        if self._push is not None:
            self._push.start(self, self.feeds)
        pool = ThreadPoolExecutor(self.options.workers, thread_name_prefix="ingest")
        budget = HostBudget(self.options.host_requests_per_minute)
        next_reload = start + self.options.reload_check_s
        next_prune = start
        hosts: dict[str, str] = {}
        hosts_of: list[FeedConfig] | None = None  # the feed list ``hosts`` was computed for
        try:
            while not stop.is_set():
                wake.clear()  # before the scan: a poll ending during the scan still cuts the wait short
                now = time.monotonic()
                if self._watcher is not None and now >= next_reload:
                    self._reload(due, now)
                    next_reload = now + self.options.reload_check_s
                if self.options.retention_s is not None and now >= next_prune:
                    self.prune()
                    next_prune = now + _PRUNE_EVERY_S
                for feed_id, (future, host) in list(running.items()):
                    if future.done():
                        del running[feed_id]
                        busy[host] -= 1
                        report = _report(feed_id, future)
                        if feed_id in due and report is not None and report.next_poll_s is not None:
                            due[feed_id] = now + self._next_poll_s(feed_id, report.next_poll_s)
                        _pause_if_asked(budget, host, report, now)
                with self._soon_lock:
                    soon, self._soon = self._soon, set()
                for feed_id in soon:
                    if feed_id in due and feed_id not in running:
                        due[feed_id] = now
                # Hosts are parsed once per feed list: 1,000 URLs at every wake-up would cost real CPU.
                if hosts_of is not self.feeds:
                    hosts, hosts_of = {f.id: host_of(f) for f in self.feeds}, self.feeds
                waits: list[float] = []
                ready: list[FeedConfig] = []
                for feed in self.feeds:
                    if feed.id in running:
                        continue
                    if due[feed.id] > now:
                        waits.append(due[feed.id])
                    else:
                        ready.append(feed)
                # Most overdue first: when polls cannot keep up, a free host slot goes to the feed that
                # has waited longest, not to whichever comes first in the feeds file (which starved the
                # end of a long file, and lost the items that scrolled out of those feeds meanwhile).
                ready.sort(key=lambda f: due[f.id])
                for feed in ready:
                    host = hosts[feed.id]
                    if busy[host] >= self.options.max_per_host:
                        continue  # a poll ending frees the slot and sets wake
                    if host != FILE_HOST and not budget.take(host, now):
                        waits.append(budget.ready_at(host, now))
                        continue
                    future = pool.submit(self.poll_feed, feed)
                    running[feed.id] = (future, host)
                    busy[host] += 1
                    # Until the poll says when it wants to run again, assume the default interval.
                    due[feed.id] = now + self.options.policy.default_interval_s
                    future.add_done_callback(lambda _: wake.set())
                wake.wait(min(tick_s, max(min(waits, default=now + tick_s) - time.monotonic(), 0.01)))
        finally:
            if self._push is not None:
                self._push.stop()
            pool.shutdown(wait=False, cancel_futures=True)
            if not self._gate.close_and_drain(self.options.drain_timeout_s):
                _log.warning("ingest.stopped_while_publishing", timeout_s=self.options.drain_timeout_s)
            _log.info("ingest.stopped")

    def prune(self) -> int:
        """Forget the seen items no feed has listed for the retention period; return how many."""
        if self.options.retention_s is None:
            return 0
        try:
            pruned = self._store.prune(time.time() - self.options.retention_s, [f.id for f in self.feeds])
        except Exception:  # housekeeping must not stop the polling; the next prune tries again
            _log.exception("seen.prune_failed")
            return 0
        self._metrics.seen_pruned.inc(pruned)
        if pruned:
            _log.info("seen.pruned", forgotten=pruned, retention_days=self.options.retention_s / _DAY_S)
        return pruned

    def _next_poll_s(self, feed_id: str, interval_s: float) -> float:
        """Return the wait before the next poll: the push source stretches it while it pushes the feed."""
        if self._push is None:
            return interval_s
        try:
            wait = self._push.next_poll_s(feed_id, interval_s)
        except Exception:  # a broken subscriptions store must not stop the polling
            _log.exception("websub.schedule_failed", feed=feed_id)
            return interval_s
        if wait != interval_s:
            self._metrics.feed_next_poll.labels(feed=feed_id).set(wait)
        return wait

    def _wait_s(self, feed: FeedConfig) -> float:
        """Return how long a feed must wait at start-up: what is left of a backoff or Retry-After."""
        not_before = self._store.get_state(feed.id).not_before
        return max(0.0, not_before - time.time()) if not_before else 0.0

    def _reload(self, due: dict[str, float], now: float) -> None:
        """Apply an edit of the feeds file: new and changed feeds are due now, removed ones are dropped."""
        assert self._watcher is not None
        reload = self._watcher.check()
        if reload is None:
            return
        self._metrics.feeds_reloads.labels(outcome="ok" if reload.feeds is not None else "error").inc()
        if reload.feeds is None:
            return
        old = {feed.id: feed for feed in self.feeds}
        new = {feed.id: feed for feed in reload.feeds}
        removed = sorted(set(old) - set(new))
        changed = sorted(i for i in new if old.get(i) != new[i])
        for feed_id in removed:
            due.pop(feed_id, None)
            self._forget_gauges(feed_id)
        for feed_id in changed:
            due[feed_id] = now
        self.feeds = list(reload.feeds)
        if self._push is not None:
            self._push.feeds_changed(self.feeds)
        _log.info("feeds.updated", added_or_changed=changed or None, removed=removed or None)

    def _forget_gauges(self, feed_id: str) -> None:
        """Drop a removed feed's gauges, so it does not look stale or alive on a dashboard forever."""
        m = self._metrics
        gauges = (
            m.feed_last_success,
            m.feed_stale,
            m.feed_last_new_item,
            m.feed_expected_period,
            m.feed_next_poll,
        )
        for gauge in gauges:
            with contextlib.suppress(KeyError):
                gauge.remove(feed_id)


def _pause_if_asked(budget: HostBudget, host: str, report: FeedReport | None, now: float) -> None:
    """Pause the whole host when it answered 429 or 503 with a Retry-After: it says it is overloaded."""
    error = report.error if report is not None else None
    if isinstance(error, HTTPStatusError) and error.status in (429, 503) and error.retry_after_s:
        budget.block(host, now + error.retry_after_s)
        _log.info("host.paused", host=host, status=error.status, retry_after_s=round(error.retry_after_s))


def _report(feed_id: str, future: Future[FeedReport]) -> FeedReport | None:
    """Return a finished poll's report; log a poll that raised (a bug or a broken store) and return None."""
    if future.cancelled():
        return None
    error = future.exception()
    if error is not None:
        _log.error("feed.poll_crashed", feed=feed_id, exc_info=error)
        return None
    return future.result()
