"""Publication to alert: how long after a site publishes does the alerter decide on the item?

A simulated publisher serves generated feeds on loopback: each feed publishes an item every
``period_s`` (at its own phase), keeps its newest 20, and dates them with their real publication time.
Most feeds are polled: newsmon has to learn the rhythm from the feed itself (no ``poll_interval_s`` in
the feeds file; ``min_interval_s`` is lowered to 1 s so a 20 s rhythm is not clamped to the production
minimum of a minute). The others name a WebSub hub (a real Flask-WebSub hub on loopback, the one the
tests use) in their ``Link`` header; newsmon discovers it on its first poll and subscribes, and the
publisher tells the hub about each new item the moment it is listed, as a CMS does; the hub fetches the
feed and pushes it to newsmon's callback server.

The three stages run as processes on the embedded broker, as in the soak; a share of the items mention
watched entities. The figure is the time from an item's publication (when the feed server starts
listing it) to the alerter's decision on it: the report stored in its outbox database, whether it
opened an alert (whose line goes to the JSONL log at once, group_wait_s being 0) or joined one (the
same leaders the same day are one event; its follow-up waits for group_interval_s on purpose). Only
items published a period after the pipeline drained the feeds' history windows (the first polls'
backlog) and after every pushed feed was subscribed count. Targets: half the period plus 1 s for
polled feeds (with two polls per expected item, an item waits half a period at most for the next
poll, then the pipeline's second); 5 s for pushed ones.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.corpus import feed_corpora, is_watched
from bench.feedserver import FeedItem, GeneratedFeeds
from bench.readback import percentile
from bench.results import Figure
from bench.stages import StageProcess, drain, stage_env
from monitor.bus.broker import EmbeddedBroker, free_port
from monitor.bus.connection import Bus
from monitor.models import article_id
from monitor.settings import KafkaSettings
from tests.fixtures.websub_hub import LoopbackHub, websub_hub

__all__ = ["FULL", "QUICK", "Latencies", "Publisher", "figures", "publication_to_alert"]

_WINDOW = 20
_SCRAPE_S = 1.0


@dataclass(frozen=True)
class Publisher:
    """How many feeds publish, how often, for how long."""

    feeds: int = 1_000
    pushed: int = 100
    """How many of the feeds are behind the WebSub hub."""
    period_s: float = 20.0
    duration_s: float = 300.0
    watched_share: float = 0.1
    """As in the soak: a tenth of the news names a watched entity (0.3 of 1,000 feeds is 15 matches/s)."""
    hosts: int = 8

    @property
    def target_s(self) -> float:
        """Return the polled feeds' target: half the period plus a second."""
        return self.period_s / 2 + 1.0


FULL = Publisher()
QUICK = replace(FULL, feeds=40, pushed=8, duration_s=90.0)
PUSHED_TARGET_S = 5.0


@dataclass
class Latencies:
    """Publication to decision (s) of the counted watched items, sorted, polled and pushed apart."""

    polled: list[float]
    pushed: list[float]
    counted_polled: int
    counted_pushed: int


@dataclass
class _Releases:
    """When each watched item is published (s after the start), and which feed topics are pushed."""

    watched: dict[str, float] = field(default_factory=dict)
    pushed_articles: set[str] = field(default_factory=set)
    pushed_topics: list[str] = field(default_factory=list)
    hub_schedule: list[tuple[float, str]] = field(default_factory=list)
    """(offset, topic) of every item a pushed feed publishes after the start: when to tell the hub."""


def _feeds(
    plan: Publisher, server: GeneratedFeeds, start: datetime, hub: str
) -> tuple[list[dict[str, object]], _Releases]:
    """Add every feed to ``server``; return the feeds file's entries and when each item is published.

    Each feed has a window of history (published before the start, one period apart) and then
    publishes one item per period from its own phase on. ``pushed`` feeds drawn at random name
    ``hub``, so they are spread over the hosts, languages and phases like the others (every tenth feed
    was on even hosts only, and all French, since languages alternate).
    """
    rng = random.Random(16)
    behind_hub = set(random.Random(17).sample(range(plan.feeds), plan.pushed))
    per_feed = _WINDOW + int(plan.duration_s / plan.period_s) + 1
    corpora = feed_corpora(plan.feeds, per_feed, watched_share=plan.watched_share, seed=16)
    entries: list[dict[str, object]] = []
    releases = _Releases()
    for f in range(plan.feeds):
        name = f"pub-{f:04d}"
        pushed = f in behind_hub
        phase = rng.uniform(0, plan.period_s)
        mine = corpora[f]
        offsets = [phase + (i - _WINDOW) * plan.period_s for i in range(per_feed)]
        links = [f"https://{name}.bench.invalid/{i}" for i in range(per_feed)]
        items = [
            FeedItem(link, article.title, article.text, start + timedelta(seconds=offset))
            for link, article, offset in zip(links, mine, offsets, strict=True)
        ]
        language = mine[0].language or "fr"
        url = server.add_live(name, language, items, offsets, _WINDOW, hub=hub if pushed else None)
        for link, article, offset in zip(links, mine, offsets, strict=True):
            if offset <= 0:
                continue
            if pushed:
                releases.hub_schedule.append((offset, url))
            if is_watched(article):
                watched = article_id(link, link)
                releases.watched[watched] = offset
                if pushed:
                    releases.pushed_articles.add(watched)
        if pushed:
            releases.pushed_topics.append(url)
        entries.append({"id": name, "url": url, "language": language})
    releases.hub_schedule.sort()
    return entries, releases


def publication_to_alert(plan: Publisher = FULL, workdir: Path | None = None) -> Latencies:
    """Run the publisher once; return the latencies of the counted watched items, polled and pushed."""
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-publication-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        with (
            EmbeddedBroker() as broker,
            GeneratedFeeds(plan.hosts) as server,
            websub_hub(work, min_lease_s=60) as hub,
        ):
            Bus(tuple(broker.bootstrap_servers), KafkaSettings(), embedded=True).ensure_topics()
            start = datetime.now(UTC)
            feeds, releases = _feeds(plan, server, start, hub.url)
            (work / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
            callback_port = free_port()
            env = stage_env(broker.bootstrap_servers, work) | {
                "NEWSMON_LOG_LEVEL": "WARNING",
                "NEWSMON_INGEST__MIN_INTERVAL_S": "1",
                "NEWSMON_INGEST__WEBSUB__CALLBACK_URL": f"http://127.0.0.1:{callback_port}/websub",
                "NEWSMON_INGEST__WEBSUB__LISTEN_PORT": str(callback_port),
                "NEWSMON_INGEST__WEBSUB__STATE_DB": str(work / "websub.sqlite3"),
            }
            stages: dict[str, StageProcess] = {}
            publisher = _HubPublisher(hub, releases.hub_schedule)
            try:
                for name in ("alert", "match"):  # consumers first: they must own partitions first
                    stages[name] = StageProcess(name, env, work, work / f"{name}.log")
                stages["alert"].wait_ready("matches")
                stages["match"].wait_ready("articles")
                # The live clock starts with the ingestor, whose first poll sees the history window.
                released_at = server.start_live()
                publisher.start(released_at)
                stages["ingest"] = StageProcess("ingest", env, work, work / "ingest.log")
                stages["ingest"].wait_ready(None)
                # The first polls publish every feed's history window at once: a backlog, not news.
                drained_at, _ = drain(stages, plan.feeds * _WINDOW, 300.0, _SCRAPE_S)
                subscribed_at = _wait_for_subscriptions(hub, releases.pushed_topics, 120.0)
                warm = max(drained_at, subscribed_at) - released_at + plan.period_s
                time.sleep(max(0.0, plan.duration_s - (time.time() - released_at)) + plan.period_s)
                drain(stages, 0, 120.0, _SCRAPE_S)
            finally:
                publisher.stop()
                codes = {name: stages[name].stop() for name in ("ingest", "match", "alert") if name in stages}
            stored = _decisions(work / "alerts.sqlite3")
    if any(codes.values()):
        raise RuntimeError(f"a stage failed: exit codes {codes}")
    if publisher.failures:
        raise RuntimeError(f"the hub refused {publisher.failures} of {publisher.sent} publications")
    counted = {a: offset for a, offset in releases.watched.items() if warm < offset < plan.duration_s}
    latency = {a: stored[a] - (released_at + offset) for a, offset in counted.items() if a in stored}
    if len(latency) < 0.9 * len(counted):
        raise RuntimeError(f"only {len(latency)} of {len(counted)} watched items reached the alerter")
    pushed = releases.pushed_articles
    return Latencies(
        polled=sorted(v for a, v in latency.items() if a not in pushed),
        pushed=sorted(v for a, v in latency.items() if a in pushed),
        counted_polled=sum(1 for a in counted if a not in pushed),
        counted_pushed=sum(1 for a in counted if a in pushed),
    )


class _HubPublisher:
    """Tell the hub about each pushed feed's new item the moment the feed lists it, as a CMS does."""

    def __init__(self, hub: LoopbackHub, schedule: list[tuple[float, str]]) -> None:
        self._hub = hub
        self._schedule = schedule
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(8, thread_name_prefix="bench-hub-publish")
        self._thread: threading.Thread | None = None
        self._count = threading.Lock()  # failures are counted from the pool's threads
        self.sent = 0
        self.failures = 0

    def start(self, released_at: float) -> None:
        """Start publishing on the feeds' clock, which started at ``released_at``."""
        self._thread = threading.Thread(target=self._run, args=(released_at,), daemon=True)
        self._thread.start()

    def _run(self, released_at: float) -> None:
        for offset, topic in self._schedule:
            if self._stop.wait(max(0.0, released_at + offset - time.time())):
                return
            self.sent += 1
            self._pool.submit(self._publish, topic)

    def _publish(self, topic: str) -> None:
        try:
            ok = self._hub.publish(topic) < 300
        except Exception:  # a refused or timed-out publication is counted and fails the run
            ok = False
        if not ok:
            with self._count:
                self.failures += 1

    def stop(self) -> None:
        """Stop publishing and wait for publications under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _wait_for_subscriptions(hub: LoopbackHub, topics: list[str], timeout_s: float) -> float:
    """Return when every pushed topic has newsmon's subscription at the hub (it subscribes after a poll)."""
    deadline = time.monotonic() + timeout_s
    for topic in topics:
        hub.wait_for_subscriber(topic, timeout_s=max(0.1, deadline - time.monotonic()))
    return time.time()


def _decisions(outbox: Path) -> dict[str, float]:
    """Return when the alerter stored its first report of each article (Unix time), from its outbox."""
    db = sqlite3.connect(outbox)
    try:
        rows = db.execute("SELECT article_id, MIN(stored_at) FROM reports GROUP BY article_id").fetchall()
    finally:
        db.close()
    return {a: datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for a, t in rows}


def figures(quick: bool = False, runs: int = 1) -> list[Figure]:
    """Run the publisher once (every item is a sample) and return the latency figures."""
    plan = QUICK if quick else FULL
    found = publication_to_alert(plan)
    setting = (
        f"{plan.feeds} feeds on {plan.hosts} loopback hosts, {plan.pushed} of them behind a WebSub hub,"
        f" each publishing an item every {plan.period_s:g} s for {plan.duration_s:g} s"
        f" ({plan.watched_share:.0%} watched); publication to the alerter's decision (report stored)"
    )
    polled = (
        f"{setting}; polled feeds at the rhythm newsmon learned (min_interval_s 1): {len(found.polled)} of"
        f" {found.counted_polled} watched items; target half the period + 1 s = {plan.target_s:g} s"
    )
    pushed = (
        f"{setting}; pushed feeds (hub told at publication): {len(found.pushed)} of {found.counted_pushed}"
        f" watched items; target {PUSHED_TARGET_S:g} s"
    )
    return [
        Figure("publication_to_alert_p50_s_polled", percentile(found.polled, 50), "s", polled),
        Figure("publication_to_alert_p95_s_polled", percentile(found.polled, 95), "s", polled),
        Figure("publication_to_alert_p50_s_websub", percentile(found.pushed, 50), "s", pushed),
        Figure("publication_to_alert_p95_s_websub", percentile(found.pushed, 95), "s", pushed),
    ]


if __name__ == "__main__":
    import os

    from monitor.logs import configure_logging

    configure_logging("WARNING", "console")
    for figure in figures(quick=bool(os.environ.get("PUBLICATION_QUICK"))):
        print(f"{figure.name:40} {figure.value:8.2f} {figure.unit}  {figure.note}")
