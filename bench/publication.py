"""Publication to alert, for polled feeds: how long after a site publishes does the alert appear?

A simulated publisher serves generated feeds on loopback: each feed publishes an item every
``period_s`` (at its own phase), keeps its newest 20, and dates them with their real publication time,
so newsmon has to learn the rhythm from the feed itself (no ``poll_interval_s`` in the feeds file;
``min_interval_s`` is lowered to 1 s so a 20 s rhythm is not clamped to the production minimum of a
minute). The three stages run as processes on the embedded broker, as in the soak; a share of the items
mention watched entities. The figure is the time from an item's publication (when the feed server
starts listing it) to the alerter's decision on it: the report stored in its outbox database, whether
it opened an alert (whose line goes to the JSONL log at once, group_wait_s being 0) or joined one (the
same leaders the same day are one event; its follow-up waits for group_interval_s on purpose). Only
items published a period after the pipeline drained the feeds' history windows (the first polls'
backlog) count. The target is half
the period plus 1 s: with two polls per expected item, an item waits half a period at most for the
next poll, then the pipeline's second.

Feeds behind a WebSub hub are not part of it yet (issue 16's other half).
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.corpus import is_watched, make_corpus
from bench.feedserver import FeedItem, GeneratedFeeds
from bench.readback import percentile
from bench.results import Figure
from bench.stages import StageProcess, drain, stage_env
from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.models import article_id
from monitor.settings import KafkaSettings

__all__ = ["FULL", "QUICK", "Publisher", "figures", "publication_to_alert"]

_WINDOW = 20
_SCRAPE_S = 1.0


@dataclass(frozen=True)
class Publisher:
    """How many feeds publish, how often, for how long."""

    feeds: int = 200
    period_s: float = 20.0
    duration_s: float = 180.0
    watched_share: float = 0.3
    hosts: int = 8

    @property
    def target_s(self) -> float:
        """Return the target: half the period plus a second."""
        return self.period_s / 2 + 1.0


FULL = Publisher()
QUICK = replace(FULL, feeds=40, duration_s=60.0)


def _feeds(
    plan: Publisher, server: GeneratedFeeds, start: datetime
) -> tuple[list[dict[str, object]], dict[str, float]]:
    """Add every feed to ``server``; return the feeds file's entries and each watched item's release offset.

    Each feed has a window of history (published before the start, one period apart) and then
    publishes one item per period from its own phase on.
    """
    rng = random.Random(16)
    per_feed = _WINDOW + int(plan.duration_s / plan.period_s) + 1
    corpus = make_corpus(
        plan.feeds * per_feed, watched_share=plan.watched_share, seed=16, languages=("fr", "en")
    )
    entries: list[dict[str, object]] = []
    watched: dict[str, float] = {}
    for f in range(plan.feeds):
        name = f"pub-{f:03d}"
        phase = rng.uniform(0, plan.period_s)
        mine = corpus[f * per_feed : (f + 1) * per_feed]
        offsets = [phase + (i - _WINDOW) * plan.period_s for i in range(per_feed)]
        items = []
        for i, (article, offset) in enumerate(zip(mine, offsets, strict=True)):
            url = f"https://{name}.bench.invalid/{i}"
            items.append(FeedItem(url, article.title, article.text, start + timedelta(seconds=offset)))
            if offset > 0 and is_watched(article):
                watched[article_id(url, url)] = offset
        language = mine[0].language or "fr"
        entries.append(
            {
                "id": name,
                "url": server.add_live(name, language, items, offsets, _WINDOW),
                "language": language,
            }
        )
    return entries, watched


def publication_to_alert(plan: Publisher = FULL, workdir: Path | None = None) -> tuple[list[float], int]:
    """Run the publisher once; return the sorted latencies (s) and how many watched items were published."""
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-publication-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        with EmbeddedBroker() as broker, GeneratedFeeds(plan.hosts) as server:
            Bus(tuple(broker.bootstrap_servers), KafkaSettings(), embedded=True).ensure_topics()
            start = datetime.now(UTC)
            feeds, watched = _feeds(plan, server, start)
            (work / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
            env = stage_env(broker.bootstrap_servers, work) | {
                "NEWSMON_LOG_LEVEL": "WARNING",
                "NEWSMON_INGEST__MIN_INTERVAL_S": "1",
            }
            stages: dict[str, StageProcess] = {}
            try:
                for name in ("alert", "match"):  # consumers first: they must own partitions first
                    stages[name] = StageProcess(name, env, work, work / f"{name}.log")
                stages["alert"].wait_ready("matches")
                stages["match"].wait_ready("articles")
                # The live clock starts with the ingestor, whose first poll sees the history window.
                released_at = server.start_live()
                stages["ingest"] = StageProcess("ingest", env, work, work / "ingest.log")
                stages["ingest"].wait_ready(None)
                # The first polls publish every feed's history window at once: a backlog, not news.
                drained_at, _ = drain(stages, plan.feeds * _WINDOW, 300.0, _SCRAPE_S)
                warm = drained_at - released_at + plan.period_s
                time.sleep(max(0.0, plan.duration_s - (time.time() - released_at)) + plan.period_s)
                drain(stages, 0, 120.0, _SCRAPE_S)
            finally:
                codes = {name: stages[name].stop() for name in ("ingest", "match", "alert") if name in stages}
            stored = _decisions(work / "alerts.sqlite3")
    if any(codes.values()):
        raise RuntimeError(f"a stage failed: exit codes {codes}")
    counted = {a: offset for a, offset in watched.items() if warm < offset < plan.duration_s}
    latencies = sorted(stored[a] - (released_at + offset) for a, offset in counted.items() if a in stored)
    if len(latencies) < 0.9 * len(counted):
        raise RuntimeError(f"only {len(latencies)} of {len(counted)} watched items reached the alerter")
    return latencies, len(counted)


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
    latencies, watched = publication_to_alert(plan)
    what = (
        f"{plan.feeds} feeds on {plan.hosts} loopback hosts, each publishing an item every"
        f" {plan.period_s:g} s"
        f" for {plan.duration_s:g} s ({plan.watched_share:.0%} watched), polled at the rhythm newsmon learned"
        f" (min_interval_s 1); publication to the alerter's decision (report stored), {len(latencies)} of"
        f" {watched} watched items; target half the period + 1 s = {plan.target_s:g} s"
    )
    return [
        Figure("publication_to_alert_p50_s_polled", percentile(latencies, 50), "s", what),
        Figure("publication_to_alert_p95_s_polled", percentile(latencies, 95), "s", what),
    ]


if __name__ == "__main__":
    import os

    from monitor.logs import configure_logging

    configure_logging("WARNING", "console")
    for figure in figures(quick=bool(os.environ.get("PUBLICATION_QUICK"))):
        print(f"{figure.name:40} {figure.value:8.2f} {figure.unit}  {figure.note}")
