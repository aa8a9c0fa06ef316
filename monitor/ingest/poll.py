"""Poll one feed once: fetch, parse, enrich, publish what is new, and decide when to poll it next.

Every problem of a feed ends in its report, its log line and its metrics, never in an exception: the
service polls thousands of feeds, and one feed's trouble must not cost the others anything.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from structlog.stdlib import BoundLogger

from monitor.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher, FetchResult, HTTPStatusError
from monitor.ingest.fulltext import FullText
from monitor.ingest.gate import Gate, StoppedError
from monitor.ingest.parse import ParseResult, parse_feed
from monitor.ingest.rhythm import HISTORY_S, estimate_rhythm
from monitor.ingest.schedule import (
    PollPolicy,
    backoff_s,
    is_stale,
    learned_period_s,
    polite_delay_s,
    poll_interval_s,
)
from monitor.ingest.seen import FeedState, RememberedItem, SeenStore, body_hash, content_hash
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Article
from monitor.normalise.article import with_language

__all__ = ["FeedPoller", "FeedReport", "StoppedError"]


@dataclass(frozen=True)
class FeedReport:
    """The outcome of one poll of one feed: what the feeds table and the tests look at."""

    feed_id: str
    url: str
    status: int | None = None
    not_modified: bool = False
    unchanged: bool = False
    """The server sent the very bytes already published (it ignores conditional GET): nothing parsed."""
    items: int = 0
    published: int = 0
    duplicates: int = 0
    newest: datetime | None = None
    problems: tuple[str, ...] = ()
    error: FeedError | None = None
    duration_s: float = 0.0
    stopped: bool = False
    """The service stopped before the poll finished; nothing after that point was done."""
    next_poll_s: float | None = None
    """Seconds until the feed should be polled again: its interval, or a backoff after an error."""
    stale: bool = False

    @property
    def ok(self) -> bool:
        """Return whether the poll succeeded (items with problems still count as a success)."""
        return self.error is None and not self.stopped


@dataclass
class FeedPoller:
    """Poll single feeds; shared by the service's threads (its collaborators are thread-safe)."""

    fetcher: Fetcher
    store: SeenStore
    publish: Callable[[Article], None]
    """Send one Article to the bus, returning only once it is acknowledged."""
    metrics: Metrics
    policy: PollPolicy
    detect_language: bool = True
    full_text: FullText | None = None
    full_text_default: bool = False
    """Whether feeds that do not say (``full_text`` unset in the feeds file) get their pages extracted."""
    rng: random.Random | None = None
    gate: Gate | None = None
    observe: Callable[[FeedConfig, FetchResult], None] | None = None
    """Shown every successful fetch (WebSub discovers hubs there); must be quick and never raise."""
    prepass: bool = True
    """Cut the items already published before parsing (prepass.py); False parses every item every time."""

    def __post_init__(self) -> None:
        self._rng = self.rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._gate = self.gate or Gate()
        self._stale: set[str] = set()
        self._stale_lock = threading.Lock()
        # A poll and a push of one feed must not both find an item new and both publish it.
        self._feed_locks: dict[str, threading.Lock] = {}
        self._feed_locks_lock = threading.Lock()

    def _feed_lock(self, feed_id: str) -> threading.Lock:
        with self._feed_locks_lock:
            return self._feed_locks.setdefault(feed_id, threading.Lock())

    def receive(self, feed: FeedConfig, result: FetchResult) -> FeedReport:
        """Handle a body a hub pushed for ``feed`` exactly as a poll's: same parse, seen-store, publish.

        The feed's HTTP validators stay those of its last poll: a push says nothing about them.
        """
        started = time.monotonic()
        base = FeedReport(feed.id, feed.display_url)
        log = get_logger(__name__).bind(feed=feed.id, url=feed.display_url, via="websub")
        try:
            with self._gate, self._feed_lock(feed.id):
                state = self.store.get_state(feed.id)
                pushed = replace(result, etag=state.etag, last_modified=state.last_modified)
                report = self._handle(feed, state, base, pushed, started, log)
                if report.error is not None and report.error.kind != "publish":
                    # A hub's bad body says nothing of the feed's server: its polls must not back off.
                    self.store.put_state(feed.id, state)
                return report
        except StoppedError:
            return replace(base, stopped=True, duration_s=time.monotonic() - started)

    def poll(self, feed: FeedConfig) -> FeedReport:
        """Poll ``feed`` once: fetch, parse, publish what is new; report problems instead of raising."""
        started = time.monotonic()
        base = FeedReport(feed.id, feed.display_url)
        # A fresh logger per poll: the module-level one freezes its processors on first use once logging
        # is configured, and then structlog.testing.capture_logs() no longer sees the feed's events.
        log = get_logger(__name__).bind(feed=feed.id, url=feed.display_url)
        try:
            with self._gate:
                state = self.store.get_state(feed.id)
            if state.url != feed.url:
                # The feed's URL was edited: the old validators and body hash describe another document.
                state = replace(state, url=feed.url, etag=None, last_modified=None, body_hash=None)
            try:
                result = self.fetcher.fetch(feed, state.etag, state.last_modified)
            except FeedError as e:
                self.metrics.feed_fetch_duration.observe(time.monotonic() - started)
                if isinstance(e, HTTPStatusError):
                    self.metrics.feed_http_responses.labels(code=str(e.status)).inc()
                with self._gate:
                    return self._failed(feed, state, base, e, started, log)
            except Exception:
                if self._gate.closed:  # the owner closed the fetcher under us while stopping
                    raise StoppedError from None
                raise
            if urlsplit(feed.url).scheme.lower() != "file":
                self.metrics.feed_http_responses.labels(code=str(result.status)).inc()
            if self.observe is not None:
                self.observe(feed, result)
            with self._gate, self._feed_lock(feed.id):
                return self._handle(feed, state, base, result, started, log)
        except StoppedError:
            return replace(base, stopped=True, duration_s=time.monotonic() - started)

    def _handle(
        self,
        feed: FeedConfig,
        state: FeedState,
        base: FeedReport,
        result: FetchResult,
        started: float,
        log: BoundLogger,
    ) -> FeedReport:
        m = self.metrics
        now = time.time()
        digest = body_hash(result.content) if result.content is not None else None
        if result.not_modified or result.content is None or digest == state.body_hash:
            outcome = "not_modified" if result.not_modified or result.content is None else "unchanged"
            m.feed_fetch_duration.observe(time.monotonic() - started)
            m.feed_fetches.labels(feed=feed.id, outcome=outcome).inc()
            m.feed_last_success.labels(feed=feed.id).set(now)
            state = replace(
                state,
                etag=result.etag,
                last_modified=result.last_modified,
                last_success=now,
                failures=0,
                not_before=None,
            )
            self.store.put_state(feed.id, state)
            log.debug("feed.not_modified", status=result.status, outcome=outcome)
            report = replace(
                base,
                status=result.status,
                not_modified=outcome == "not_modified",
                unchanged=outcome == "unchanged",
                duration_s=time.monotonic() - started,
            )
            return self._scheduled(feed, state, report, now, max_age_s=result.max_age_s)

        fetched_at = datetime.fromtimestamp(now, UTC)
        try:
            parsed = parse_feed(
                feed.id,
                result.content,
                result.url or feed.url,
                feed.language,
                feed.tags,
                content_type=result.content_type,
                fetched_at=fetched_at,
                known=(lambda keys: self.store.known_items(feed.id, keys)) if self.prepass else None,
            )
        except Exception as e:  # parse_feed promises not to raise; a bug there must not stop the others
            log.exception("feed.parser_crashed")
            parsed = ParseResult([], [f"parser crashed: {type(e).__name__}: {e}"], is_feed=False)
        m.feed_fetch_duration.observe(time.monotonic() - started)
        report = replace(
            base,
            status=result.status,
            problems=tuple(parsed.problems),
            newest=max(parsed.dates, default=None),
        )
        if not parsed.is_feed:
            kind = "hostile" if parsed.hostile else "parse"
            error = FeedError(feed.id, kind, "; ".join(parsed.problems) or "not a feed")
            return self._failed(feed, state, report, error, started, log)
        items = len(parsed.articles) + len(parsed.known)
        report = replace(report, items=items)
        m.feed_items_fetched.labels(feed=feed.id).inc(items)
        if parsed.prepass != "off":
            m.feed_prepass.labels(outcome=parsed.prepass).inc()
            m.feed_items_known.inc(len(parsed.known))
            if parsed.prepass == "fallback":
                log.debug("feed.prepass_fallback", why=parsed.prepass_detail)
        if parsed.problems:
            m.feed_errors.labels(feed=feed.id, kind="parse").inc()
            log.warning("feed.parse_problems", problems=parsed.problems, items=items)
        # Items still listed are still "seen": pruning must not forget them (see SeenStore.prune).
        self.store.touch([*(a.id for a in parsed.articles), *(k.article_id for k in parsed.known)], now)

        published = duplicates = 0
        remembered: list[RememberedItem] = []
        arrivals: list[float] = []
        # Feeds list newest first; publishing oldest first keeps the topic in the order news happened.
        for article in reversed(parsed.articles):
            if self._gate.closed:
                raise StoppedError
            # The hash of what the feed says, before enrichment: the page's text must not make the same
            # item look edited at every poll.
            digest_item = content_hash(article)
            previous = self.store.content_of(article.id)
            if previous != digest_item:
                enriched = self._enrich(feed, article, log)
                try:
                    self.publish(enriched)
                except Exception as e:
                    self.store.remember_items(feed.id, remembered)
                    report = replace(report, published=published, duplicates=duplicates)
                    error = FeedError(feed.id, "publish", f"{type(e).__name__}: {e}")
                    log.error("feed.publish_failed", article_id=article.id, error=str(e), retry="next poll")
                    return self._failed(feed, state, report, error, started, log, logged=True)
                self.store.mark_published(article.id, digest_item, feed.id)
                published += 1
                m.articles_published.labels(feed=feed.id).inc()
                if previous is None:  # news, not an edit: part of the feed's rhythm
                    own = article.published if article.id not in parsed.undated else None
                    arrivals.append(own.timestamp() if own else now)
            else:
                duplicates += 1
            key = parsed.keys.get(article.id)
            if key is not None:
                # From now on these bytes need no parsing: the next poll cuts them (see prepass.py).
                when = (
                    None if article.id in parsed.undated or article.published is None else article.published
                )
                remembered.append(
                    RememberedItem(key, article.id, digest_item, when.timestamp() if when else None)
                )
        duplicates += len(parsed.known)

        newest = max(parsed.dates, default=None)
        new_marks = [
            state.last_new,
            newest.timestamp() if newest else None,
            now if published and not parsed.dates else None,  # new items without dates: now is the news
        ]
        # Saved only now: had a publish failed, a 304 next time would hide the unpublished items.
        state = replace(
            state,
            etag=result.etag,
            last_modified=result.last_modified,
            body_hash=digest,
            parsed_at=now,
            period_s=learned_period_s(parsed.dates, fetched_at) or state.period_s,
            last_new=max((t for t in new_marks if t is not None), default=None),
            last_success=now,
            failures=0,
            not_before=None,
        )
        with self.store.batch():  # the poll's closing writes: one commit
            self.store.remember_items(feed.id, remembered)
            self.store.record_arrivals(feed.id, arrivals, forget_before=now - HISTORY_S)
            self.store.put_state(feed.id, state)
        if duplicates:
            m.articles_duplicate.labels(feed=feed.id).inc(duplicates)
        m.feed_fetches.labels(feed=feed.id, outcome="ok").inc()
        m.feed_last_success.labels(feed=feed.id).set(now)
        # Info only when something happened: thousands of quiet polls would drown the log.
        (log.info if published else log.debug)(
            "feed.polled",
            status=result.status,
            items=len(parsed.articles),
            published=published,
            duplicates=duplicates,
        )
        report = replace(
            report, published=published, duplicates=duplicates, duration_s=time.monotonic() - started
        )
        return self._scheduled(feed, state, report, now, max_age_s=result.max_age_s)

    def _enrich(self, feed: FeedConfig, article: Article, log: BoundLogger) -> Article:
        """Return the article with its full text and language when they can be had; never raises."""
        wants_full_text = self.full_text_default if feed.full_text is None else feed.full_text
        if wants_full_text and self.full_text is not None and self.full_text.wanted(article):
            extracted = self.full_text.extract(article)
            self.metrics.fulltext_fetches.labels(outcome=extracted.outcome).inc()
            if extracted.outcome != "ok":
                log.info(
                    "feed.full_text_skipped",
                    article_id=article.id,
                    outcome=extracted.outcome,
                    why=extracted.detail,
                )
            article = extracted.article
        article, source = with_language(article, detect=self.detect_language)
        self.metrics.articles_language.labels(source=source).inc()
        return article

    def _failed(
        self,
        feed: FeedConfig,
        state: FeedState,
        report: FeedReport,
        error: FeedError,
        started: float,
        log: BoundLogger,
        *,
        logged: bool = False,
    ) -> FeedReport:
        self.metrics.feed_fetches.labels(feed=report.feed_id, outcome="error").inc()
        self.metrics.feed_errors.labels(feed=report.feed_id, kind=error.kind).inc()
        now = time.time()
        interval = poll_interval_s(self.policy, feed.poll_interval_s, state.period_s, _silent_s(state, now))
        if error.kind == "publish":
            # The bus failed, not the feed: retry on the usual rhythm, without backing off from the feed.
            delay = interval
        else:
            retry_after = error.retry_after_s if isinstance(error, HTTPStatusError) else None
            failures = state.failures + 1
            delay = backoff_s(self.policy, interval, failures, retry_after, self._rng)
            # Validators and body hash stay: they describe the last body whose items were all published.
            state = replace(state, failures=failures, not_before=now + delay)
            self.store.put_state(feed.id, state)
        if not logged:
            log.warning("feed.fetch_failed", kind=error.kind, error=error.detail, retry_in_s=round(delay, 1))
        report = replace(report, error=error, duration_s=time.monotonic() - started)
        return self._scheduled(feed, state, report, now, delay)

    def _scheduled(
        self,
        feed: FeedConfig,
        state: FeedState,
        report: FeedReport,
        now: float,
        delay: float | None = None,
        max_age_s: float | None = None,
    ) -> FeedReport:
        """Return the report with when to poll next and whether the feed is stale; update their gauges.

        ``delay`` (a backoff) stands as given; otherwise the feed's interval, learned from its rhythm,
        and never shorter than the server's ``max_age_s`` (up to the maximum interval).
        """
        m = self.metrics
        silent = _silent_s(state, now)
        if delay is None:
            rhythm = None
            if feed.poll_interval_s is None:  # a fixed interval needs no estimate: spare the query
                rhythm = estimate_rhythm(self.store.arrivals(feed.id, now - HISTORY_S), now)
            delay = poll_interval_s(self.policy, feed.poll_interval_s, state.period_s, silent, rhythm)
            delay = polite_delay_s(self.policy, delay, max_age_s)
        expected = feed.expected_period_s or state.period_s
        stale = is_stale(self.policy, silent, expected)
        m.feed_next_poll.labels(feed=feed.id).set(delay)
        m.feed_stale.labels(feed=feed.id).set(1 if stale else 0)
        if expected is not None:
            m.feed_expected_period.labels(feed=feed.id).set(expected)
        if state.last_new is not None:
            m.feed_last_new_item.labels(feed=feed.id).set(state.last_new)
        with self._stale_lock:
            was_stale = feed.id in self._stale
            (self._stale.add if stale else self._stale.discard)(feed.id)
        if stale and not was_stale:
            get_logger(__name__).warning(
                "feed.stale",
                feed=feed.id,
                url=feed.display_url,
                silent_s=round(silent or 0),
                expected_period_s=round(expected or 0),
            )
        return replace(report, next_poll_s=delay, stale=stale)


def _silent_s(state: FeedState, now: float) -> float | None:
    """Return the seconds since the feed last had something new, or None if it never had."""
    return max(0.0, now - state.last_new) if state.last_new is not None else None
