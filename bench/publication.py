"""Publication to alert, for polled feeds: how long after a site publishes does the alert appear?

A simulated publisher serves generated feeds on loopback: each feed publishes an item every
``period_s`` (at its own phase), keeps its newest 20, and dates them with their real publication time,
so newsmon has to learn the rhythm from the feed itself (no ``poll_interval_s`` in the feeds file;
``min_interval_s`` is lowered to 1 s so a 20 s rhythm is not clamped to the production minimum of a
minute). The three stages run as processes on the embedded broker, as in the soak; a share of the items
mention watched entities, and each alerts on its own (dedup's window is 1 s here: reports of the same
watched entities a second or more apart are other events). The figure is the time from an item's
publication (when the feed server starts listing it) to its alert's line in the JSONL alert log, for
the items published once the ingestor was running, past a warm-up of one period. The target is half
the period plus 1 s: with two polls per expected item, an item waits half a period at most for the
next poll, then the pipeline's second.

Feeds behind a WebSub hub are not part of it yet (issue 16's other half).
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.corpus import is_watched, make_corpus
from bench.feedserver import FeedItem, GeneratedFeeds
from bench.readback import AlertLogTail, percentile
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
                "NEWSMON_ALERT__DEDUP__WINDOW_S": "1",
                "NEWSMON_ALERT__DEDUP__LATENESS_S": "0",
            }
            stages: dict[str, StageProcess] = {}
            tail = AlertLogTail(work / "alerts.jsonl")
            try:
                for name in ("alert", "match"):  # consumers first: they must own partitions first
                    stages[name] = StageProcess(name, env, work, work / f"{name}.log")
                stages["alert"].wait_ready("matches")
                stages["match"].wait_ready("articles")
                tail.start()
                # The live clock starts with the ingestor, whose first poll sees the history window.
                released_at = server.start_live()
                stages["ingest"] = StageProcess("ingest", env, work, work / "ingest.log")
                stages["ingest"].wait_ready(None)
                ready = time.time() - released_at
                time.sleep(max(0.0, plan.duration_s - ready) + plan.period_s)
                drain(stages, 0, 120.0, _SCRAPE_S)
            finally:
                tail.stop()
                codes = {name: stages[name].stop() for name in ("ingest", "match", "alert") if name in stages}
    if any(codes.values()):
        raise RuntimeError(f"a stage failed: exit codes {codes}")
    warm = ready + plan.period_s
    counted = {a: offset for a, offset in watched.items() if warm < offset < plan.duration_s}
    # An alert's first article is a sample; a watched item published within a second of another report
    # of the same participants folds into its alert (one event), and has no alert line of its own.
    latencies = sorted(seen - (released_at + counted[a]) for seen, a in tail.first.values() if a in counted)
    if len(latencies) < min(20, len(counted)):
        raise RuntimeError(f"only {len(latencies)} alerts for {len(counted)} watched items")
    return latencies, len(counted)


def figures(quick: bool = False, runs: int = 1) -> list[Figure]:
    """Run the publisher once (every item is a sample) and return the latency figures."""
    plan = QUICK if quick else FULL
    latencies, watched = publication_to_alert(plan)
    what = (
        f"{plan.feeds} feeds on {plan.hosts} loopback hosts, each publishing an item every"
        f" {plan.period_s:g} s"
        f" for {plan.duration_s:g} s ({plan.watched_share:.0%} watched), polled at the rhythm newsmon learned"
        f" (min_interval_s 1); publication to the alert's line in the JSONL log, {len(latencies)} of"
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
