"""Soak: a busy news day (by default 50,000 articles across 1,000 feeds) through all three stages.

The stages run as an operator runs them: ``newsmon alert``, ``match`` and ``ingest`` as three processes
on the embedded broker, the shipped watchlists and the French spaCy model, feeds served over HTTP on
loopback (``bench.feedserver``). Each feed releases its articles one by one at an offered rate (by
default 50 articles/s in all, so the day takes ~17 minutes); the figures say whether the pipeline kept
up with it, and at what rate it actually drained:

- ``soak_articles_per_s``: articles published by the ingestor and handled all the way to the alerter,
  over the time from the first release to the last match handled (the sustained throughput);
- ``soak_drain_after_last_release_s``: how long the pipeline needed after the last article was released
  (near the polling interval: it kept up; growing with the day: it did not);
- ``soak_latency_p50/p95/p99_s``: ``Article.fetched_at`` to the alert's line in the JSONL alert log;
- ``soak_peak_rss_mib_<stage>``: ``VmHWM`` of each process at the end of the day;
- ``soak_cpu_ms_per_article_<stage>`` and ``soak_cpu_bound_articles_per_s``: CPU time per article, and
  the offered rate at which the stages would use every core (where to look for the highest sustainable
  rate; ``SOAK_OFFERED_PER_S``, ``SOAK_ARTICLES`` and ``SOAK_FEEDS`` change the day to try it);
- counts in = counts out: every released article published once, analysed once, every match handled;
  a mismatch raises instead of reporting figures.

A long benchmark, not a test, and not part of ``make bench``: ``make bench BENCH=soak`` (~20 minutes).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.corpus import feed_corpora
from bench.feedserver import FeedItem, GeneratedFeeds
from bench.readback import AlertLogTail, fetched_at, percentile
from bench.results import Figure
from bench.stages import StageProcess, drain, stage_env
from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.settings import KafkaSettings

__all__ = ["DAY", "QUICK", "Day", "SoakResult", "day_from_env", "figures", "soak"]

_SCRAPE_S = 1.0
# While the day runs the stages are scraped at the interval deploy/prometheus/prometheus.yml ships (15 s);
# scraping each second, as the drain at the end does, would bill the ingestor for a thousand feeds'
# series fifteen times as often as production does.
_DAY_SCRAPE_S = 15.0


@dataclass(frozen=True)
class Day:
    """How much news the soak pushes through, and how fast it is offered."""

    articles: int = 50_000
    feeds: int = 1_000
    offered_per_s: float = 50.0
    watched_share: float = 0.1
    poll_interval_s: float = 30.0
    hosts: int = 8

    @property
    def seconds(self) -> float:
        """Return how long the releases take."""
        return self.articles / self.offered_per_s


DAY = Day()
QUICK = Day(articles=2_000, feeds=100, offered_per_s=40.0, poll_interval_s=2.0)


@dataclass
class SoakResult:
    """What one soak measured."""

    articles: int
    elapsed_s: float
    drain_after_last_s: float
    latencies: list[float]
    rss_mib: dict[str, float]
    counts: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)


def _feeds(day: Day, server: GeneratedFeeds, now: datetime) -> list[dict[str, object]]:
    """Add every feed to ``server``: its share of the day's articles, released at the offered rate."""
    per_feed = day.articles // day.feeds
    corpora = feed_corpora(day.feeds, per_feed, watched_share=day.watched_share, seed=8)
    spacing = day.feeds / day.offered_per_s  # seconds between two releases of one feed
    feeds = []
    for f in range(day.feeds):
        name = f"soak-{f:04d}"
        mine = corpora[f]
        phase = f / day.offered_per_s  # feeds take turns, so the whole releases one article at a time
        items = [
            # Published a week apart: each watched article is an event of its own, as on a real day.
            FeedItem(
                f"https://{name}.bench.invalid/{i}", a.title, a.text, now - timedelta(days=7 * (per_feed - i))
            )
            for i, a in enumerate(mine)
        ]
        offsets = [phase + i * spacing for i in range(len(items))]
        language = mine[0].language or "fr"
        url = server.add_live(name, language, items, offsets, window=20)
        feeds.append({"id": name, "url": url, "language": language, "poll_interval_s": day.poll_interval_s})
    return feeds


def soak(day: Day = DAY, workdir: Path | None = None) -> SoakResult:
    """Push ``day`` through the three stages once; raise if any article is lost or counted twice."""
    expected = day.articles // day.feeds * day.feeds  # every feed gets the same share
    with tempfile.TemporaryDirectory(prefix="newsmon-soak-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        with EmbeddedBroker() as broker, GeneratedFeeds(day.hosts) as server:
            bootstrap = tuple(broker.bootstrap_servers)
            Bus(bootstrap, KafkaSettings(), embedded=True).ensure_topics()
            feeds = _feeds(day, server, datetime.now(UTC))
            (work / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
            env = stage_env(broker.bootstrap_servers, work) | {"NEWSMON_LOG_LEVEL": "WARNING"}
            stages: dict[str, StageProcess] = {}
            tail = AlertLogTail(work / "alerts.jsonl")
            try:
                for name in ("alert", "match", "ingest"):  # consumers first: they must own partitions first
                    stages[name] = StageProcess(name, env, work, work / f"{name}.log")
                stages["alert"].wait_ready("matches")
                stages["match"].wait_ready("articles")
                stages["ingest"].wait_ready(None)
                tail.start()
                cpu_before = {name: s.cpu_seconds() for name, s in stages.items()}
                started = server.start_live()
                last_release = started + day.seconds
                deadline = last_release + max(600.0, day.seconds)  # a pipeline twice too slow still ends
                while time.time() < last_release - _DAY_SCRAPE_S:
                    drain(stages, 0, 60.0, _SCRAPE_S)  # one scrape, as Prometheus's; a dead stage raises
                    time.sleep(_DAY_SCRAPE_S)
                ended, counts = drain(stages, expected, deadline - time.time(), _SCRAPE_S)
                rss = {name: s.peak_rss_mib() for name, s in stages.items()}
                cpu = {name: s.cpu_seconds() - cpu_before[name] for name, s in stages.items()}
            finally:
                tail.stop()
                codes = {name: stages[name].stop() for name in ("ingest", "match", "alert") if name in stages}
            fetched = fetched_at(bootstrap, int(counts.published), timeout_s=300)
    lost = {
        "published": counts.published != expected,
        "analysed": counts.analysed + counts.articles_deadlettered != counts.published,
        "alerted": counts.matches_handled + counts.matches_deadlettered != counts.matches,
        "read back": len(fetched) != expected,
        "exit codes": any(codes.values()),
    }
    if any(lost.values()):
        raise RuntimeError(f"counts in != counts out ({[k for k, v in lost.items() if v]}): {counts} {codes}")
    latencies = sorted(seen - fetched[a] for seen, a in tail.first.values() if a in fetched)
    return SoakResult(
        expected, ended - started, max(0.0, ended - last_release), latencies, rss, asdict(counts), cpu
    )


def day_from_env(quick: bool) -> Day:
    """Return the day to push: ``DAY`` (or ``QUICK``), with ``SOAK_ARTICLES``, ``SOAK_FEEDS`` and
    ``SOAK_OFFERED_PER_S`` from the environment replacing its sizes (to look for the highest rate the
    machine sustains without editing the code)."""
    day = QUICK if quick else DAY
    env = os.environ
    return replace(
        day,
        articles=int(env.get("SOAK_ARTICLES", day.articles)),
        feeds=int(env.get("SOAK_FEEDS", day.feeds)),
        offered_per_s=float(env.get("SOAK_OFFERED_PER_S", day.offered_per_s)),
    )


def figures(quick: bool = False) -> list[Figure]:
    """Run the soak once (it is long enough to average itself) and return its figures."""
    day = day_from_env(quick)
    r = soak(day)
    what = (
        f"{day.articles:,} generated ~600-word articles (fr/en, {day.watched_share:.0%} watched) across"
        f" {day.feeds:,} feeds on {day.hosts} loopback hosts, offered at {day.offered_per_s:g}/s"
        f" (feeds polled every {day.poll_interval_s:g} s); newsmon ingest, match (shipped rules, spaCy fr)"
        " and alert as three processes on the embedded broker; JSONL alert log only"
    )
    out = [
        Figure(
            "soak_articles_per_s",
            r.articles / r.elapsed_s,
            "articles/s",
            f"first release to last match handled; {what}",
        ),
        Figure(
            "soak_drain_after_last_release_s", r.drain_after_last_s, "s", f"last release to drained; {what}"
        ),
    ]
    for q in (50, 95, 99):
        out.append(
            Figure(
                f"soak_latency_p{q}_s",
                percentile(r.latencies, q),
                "s",
                f"Article.fetched_at to the alert's line in the JSONL log, {len(r.latencies)} alerts; {what}",
            )
        )
    for stage, mib in r.rss_mib.items():
        out.append(Figure(f"soak_peak_rss_mib_{stage}", mib, "MiB", f"VmHWM at the end of the day; {what}"))
    for stage, cpu in r.cpu_s.items():
        out.append(
            Figure(
                f"soak_cpu_ms_per_article_{stage}",
                1000 * cpu / r.articles,
                "ms",
                f"CPU time (user + system) of the process over the day / articles; {what}",
            )
        )
    cores = os.cpu_count() or 1
    per_article_s = sum(r.cpu_s.values()) / r.articles
    out.append(
        Figure(
            "soak_cpu_bound_articles_per_s",
            cores / per_article_s if per_article_s else float("nan"),
            "articles/s",
            f"{cores} cores / the three stages' CPU time per article: the rate at which they would use"
            " every core (an upper bound: ingest CPU grows with the number of polls, not articles);"
            f" {what}",
        )
    )
    out.append(
        Figure(
            "soak_alerts",
            r.counts["alerts"],
            "alerts",
            f"alerts created; every article published, analysed and every match handled exactly once; {what}",
        )
    )
    return out


if __name__ == "__main__":
    for figure in figures(quick=bool(os.environ.get("SOAK_QUICK"))):
        print(f"{figure.name:36} {figure.value:12.3f} {figure.unit:12} {figure.note}")
