"""The whole pipeline: three ``newsmon`` processes on the embedded broker, fed by generated feeds on loopback.

Each run starts a fresh broker, a feed server (bench/feedserver.py) and ``newsmon alert``, ``match`` and
``ingest`` as separate processes, configured through the environment as an operator would, then:

1. *latency*: two live feeds (French, English) publish 5 articles/s between them; a quarter name
   watched leaders or a parade. Each such article is published three days after the previous one
   (more than any shipped watchlist's dedup window), so each is an event, hence an alert, of its own.
   Latency is ``Article.fetched_at`` (set by the ingestor right after the HTTP fetch) to the moment the
   alert's line appears in the JSONL alert log, the only channel (console off, no apprise URL), which
   a thread here polls every 5 ms. ``alert.group_wait_s`` is 0: its default of 10 s would hold every
   first alert 10 s on purpose.
2. *throughput*: burst feeds that were empty (polled every 2 s) list 80 articles each at once (half
   French, half English, 10% watched); the rate is the articles over the time from the first burst
   feed served to the alerter having handled every match the matcher produced.
3. peak RSS (``VmHWM``) of each stage process, read before it is stopped.

Fetch times come from the ``articles`` topic itself, read back after the run (the wire contract).
A separate, unmeasured pass repeats the burst under py-spy for the profile summary.

``python -m bench pipeline_kafka`` runs the same passes on the 3-broker Apache Kafka cluster of
`make kafka` (bench/targets.py: topics and groups of each run's own, replication factor 3,
``min.insync.replicas`` 2; the group timeouts are Kafka's usual ones), with no profile pass. It is not
part of the default run, which needs no Java.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.corpus import is_watched, make_corpus
from bench.feedserver import FeedItem, GeneratedFeeds
from bench.profile import Sampler, py_spy, summarise
from bench.readback import AlertLogTail, fetched_at, percentile
from bench.results import Figure
from bench.stages import StageProcess, drain, stage_env
from bench.targets import BusTarget, embedded_target, kafka_cluster, kafka_target

__all__ = ["FULL", "QUICK", "Plan", "bench_pipeline", "figures", "kafka_figures"]

_LANGUAGES = ("fr", "en")
# Longer than every shipped watchlist's dedup window (36 h, 48 h): each watched live article is its own event.
_SPACING = timedelta(days=3)
_SCRAPE_S = 0.25


@dataclass(frozen=True)
class Plan:
    """How much each run does."""

    live_articles: int = 200
    live_rate: float = 5.0
    live_watched_share: float = 0.25
    live_window: int = 20
    burst_feeds: int = 50
    burst_items: int = 80
    burst_watched_share: float = 0.1
    hosts: int = 8

    @property
    def burst_articles(self) -> int:
        """Return the number of articles of the burst."""
        return self.burst_feeds * self.burst_items


FULL = Plan()
QUICK = Plan(live_articles=50, burst_feeds=8, burst_items=50)


@dataclass
class RunResult:
    """What one run measured."""

    burst_s: float
    burst_articles: int
    latencies: list[float]
    watched_live: int
    rss_mib: dict[str, float]
    counts: dict[str, float] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)
    load_1m: float = 0.0  # the machine's 1-minute load average at the end of the burst: is it shared?

    @property
    def articles_per_s(self) -> float:
        """Return the burst's throughput."""
        return self.burst_articles / self.burst_s


def _live_items(plan: Plan, now: datetime) -> dict[str, tuple[list[FeedItem], list[float], int]]:
    """Return, per live feed, its items, their release offsets (s) and how many are watched."""
    corpus = make_corpus(
        plan.live_articles, watched_share=plan.live_watched_share, seed=11, languages=_LANGUAGES
    )
    base = now - _SPACING * (plan.live_articles + 1)
    feeds: dict[str, tuple[list[FeedItem], list[float], int]] = {
        f"live-{lang}": ([], [], 0) for lang in _LANGUAGES
    }
    for k, article in enumerate(corpus):
        name = f"live-{article.language}"
        items, offsets, watched = feeds[name]
        items.append(
            FeedItem(f"https://{name}.bench.invalid/{k}", article.title, article.text, base + _SPACING * k)
        )
        offsets.append(k / plan.live_rate)
        feeds[name] = (items, offsets, watched + is_watched(article))
    return feeds


def _burst_items(plan: Plan, now: datetime) -> dict[str, tuple[str, list[FeedItem]]]:
    """Return, per burst feed, its language and items (dated over the last few hours, oldest first)."""
    out = {}
    for f in range(plan.burst_feeds):
        language = _LANGUAGES[f % len(_LANGUAGES)]
        name = f"burst-{f:03d}"
        corpus = make_corpus(
            plan.burst_items, watched_share=plan.burst_watched_share, seed=1000 + f, languages=(language,)
        )
        out[name] = (
            language,
            [
                FeedItem(
                    f"https://{name}.bench.invalid/{i}",
                    a.title,
                    a.text,
                    now - timedelta(minutes=5 * (plan.burst_items - i)),
                )
                for i, a in enumerate(corpus)
            ],
        )
    return out


def run_once(
    plan: Plan, workdir: Path, profile_dir: Path | None = None, target: BusTarget | None = None
) -> RunResult:
    """Run the pipeline once as the module docstring says; with ``profile_dir``, sample the burst.

    ``target``: the broker and topics to run on (default: an embedded broker of the run's own).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    live = _live_items(plan, now)
    burst = _burst_items(plan, now)
    with contextlib.ExitStack() as resources:
        if target is None:
            target = resources.enter_context(embedded_target())
        server = resources.enter_context(GeneratedFeeds(plan.hosts))
        bus = target.bus()
        bus.ensure_topics()
        topics = target.settings.topics
        feeds = []
        for name, (items, offsets, _) in live.items():
            url = server.add_live(name, name.removeprefix("live-"), items, offsets, plan.live_window)
            feeds.append(
                {"id": name, "url": url, "language": name.removeprefix("live-"), "poll_interval_s": 1.0}
            )
        for name, (language, items) in burst.items():
            url = server.add_burst(name, language, items)
            feeds.append({"id": name, "url": url, "language": language, "poll_interval_s": 2.0})
        (workdir / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
        env = stage_env(list(target.bootstrap), workdir, target=target)
        stages: dict[str, StageProcess] = {}
        tail = AlertLogTail(workdir / "alerts.jsonl", set(live))
        samplers: list[Sampler] = []
        clock = time.monotonic()
        phases: dict[str, float] = {}

        def lap(phase: str) -> None:
            nonlocal clock
            phases[phase] = time.monotonic() - clock
            clock = time.monotonic()

        try:
            for name in ("alert", "match", "ingest"):  # consumers first: they must own partitions first
                stages[name] = StageProcess(name, env, workdir, workdir / f"{name}.log")
            stages["alert"].wait_ready(topics.matches)
            stages["match"].wait_ready(topics.articles)
            stages["ingest"].wait_ready(None)
            lap("start")
            tail.start()
            live_total = plan.live_articles
            if live_total:
                server.start_live()
                while not server.live_done():
                    for stage in stages.values():
                        stage.check_alive()
                    time.sleep(_SCRAPE_S)
                drain(stages, live_total, timeout_s=120, scrape_s=_SCRAPE_S, topics=topics)
                time.sleep(0.2)  # the tail's last look
                lap("latency")
            if profile_dir is not None:
                samplers = [Sampler(s.pid, profile_dir / f"pyspy-{n}.raw") for n, s in stages.items()]
            server.start_burst()
            ended, counts = drain(
                stages, live_total + plan.burst_articles, timeout_s=300, scrape_s=_SCRAPE_S, topics=topics
            )
            rss = {name: s.peak_rss_mib() for name, s in stages.items()}
            load_1m = os.getloadavg()[0]
            lap("burst")
        finally:
            for sampler in samplers:
                sampler.stop()
            tail.stop()
            codes = {name: stages[name].stop() for name in ("ingest", "match", "alert") if name in stages}
            lap("stop")
        started = server.burst_first_served
        fetched = fetched_at(target.bootstrap, int(counts.published), bus=bus)
        lap("readback")
    if started is None:
        raise RuntimeError("no burst feed was ever served")
    latencies = [seen - fetched[a] for seen, a in tail.first.values() if a in fetched]
    return RunResult(
        burst_s=ended - started,
        burst_articles=plan.burst_articles,
        latencies=sorted(latencies),
        watched_live=sum(w for _, _, w in live.values()),
        rss_mib=rss,
        counts={**vars(counts), **{f"exit_{n}": float(c) for n, c in codes.items()}},
        phases_s=phases,
        load_1m=load_1m,
    )


def _profile(plan: Plan, workdir: Path, out: Path) -> None:
    """Run the burst once more under py-spy and write the summary to ``out``."""
    if py_spy() is None:
        print("pipeline: py-spy is not installed (pip install -e '.[dev]'): no profile written", flush=True)
        return
    raw = workdir / "profile"
    raw.mkdir(parents=True, exist_ok=True)
    result = run_once(replace(plan, live_articles=0), workdir / "run-profile", profile_dir=raw)
    load = os.getloadavg()
    header = [
        "newsmon pipeline profile (py-spy --nonblocking, 100 samples/s per process, working threads only)",
        f"taken {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, load average"
        f" {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} after the pass",
        f"workload: the throughput burst of `python -m bench pipeline`, {result.burst_articles:,} articles"
        f" (~600 words, fr/en, {plan.burst_watched_share:.0%} watched) in {plan.burst_feeds} feeds;"
        f" {result.articles_per_s:.1f} articles/s under the profiler (measured runs are without it)",
        f"peak RSS MiB: {', '.join(f'{n} {v:,.0f}' for n, v in result.rss_mib.items())}",
        "",
    ]
    body = [summarise(raw / f"pyspy-{n}.raw", f"newsmon {n}") for n in ("ingest", "match", "alert")]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(header + body), encoding="utf-8")
    print(f"pipeline: profile summary written to {out}", flush=True)


def _report(run: int, runs: int, result: RunResult, kind: str) -> None:
    p = result.latencies
    print(
        f"pipeline ({kind}) run {run + 1}/{runs}: {result.articles_per_s:.1f} articles/s,"
        f" latency p50 {percentile(p, 50):.2f} s p95 {percentile(p, 95):.2f} s ({len(p)} alerts),"
        f" RSS MiB {', '.join(f'{n} {v:,.0f}' for n, v in result.rss_mib.items())};"
        f" phases s {', '.join(f'{n} {v:.1f}' for n, v in result.phases_s.items())};"
        f" load average {result.load_1m:.1f}",
        flush=True,
    )


def bench_pipeline(
    plan: Plan = FULL, runs: int = 3, profile_to: Path | None = None, kafka: bool = False
) -> list[RunResult]:
    """Run the pipeline ``runs`` times (and a profiled pass if ``profile_to``); return each run's result.

    ``kafka``: on the Apache Kafka cluster of `make kafka` (started and stopped here if it is not
    running), each run on topics and groups of its own; else each run on an embedded broker of its own.
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-pipeline-") as tmp:
        if kafka:
            with kafka_cluster() as bootstrap:
                for run in range(runs):
                    target = kafka_target(bootstrap, f"pipeline{run}")
                    results.append(run_once(plan, Path(tmp) / f"run{run}", target=target))
                    _report(run, runs, results[-1], "kafka")
        else:
            for run in range(runs):
                results.append(run_once(plan, Path(tmp) / f"run{run}"))
                _report(run, runs, results[-1], "tansu")
        if profile_to is not None:
            _profile(plan, Path(tmp), profile_to)
    return results


def _flow_figures(plan: Plan, results: list[RunResult], suffix: str, broker: str) -> list[Figure]:
    """Return the throughput and latency figures of ``results``, named with ``suffix``."""
    median = statistics.median
    samples = [len(r.latencies) for r in results]
    loads = [round(r.load_1m, 1) for r in results]
    load = f"1-min load average at each run's end {loads} on {os.cpu_count()} cores"
    stack = (
        f"newsmon ingest, match and alert as three processes + {broker}, same machine;"
        " console off, no apprise URL (JSONL alert log only), NEWSMON_ALERT__GROUP_WAIT_S=0"
    )
    out = [
        Figure(
            f"pipeline_articles_per_s{suffix}",
            median(r.articles_per_s for r in results),
            "articles/s",
            f"ingest -> articles -> match -> matches -> alert on a backlog of {plan.burst_articles:,}"
            f" generated ~600-word articles (fr/en, {plan.burst_watched_share:.0%} watched) appearing at"
            f" once in {plan.burst_feeds} feeds ({plan.burst_items} items each, polled every 2 s) on"
            f" {plan.hosts} loopback hosts: first feed served to the"
            f" last match handled by the alerter (metrics read every {_SCRAPE_S} s); {stack};"
            f" median of {len(results)} runs; {load}",
        )
    ]
    for q in (50, 95, 99):
        out.append(
            Figure(
                f"e2e_latency_p{q}_s{suffix}",
                median(percentile(r.latencies, q) for r in results),
                "s",
                "Article.fetched_at (ingestor, after the HTTP fetch) -> the alert's line in the JSONL"
                f" alert log (the only channel; polled every 5 ms), at {plan.live_rate:g} articles/s:"
                f" {plan.live_articles} articles in two live feeds (fr, en; newest {plan.live_window} listed)"
                " polled every 1 s,"
                f" {plan.live_watched_share:.0%} watched, each its own event; {stack} (its 10 s default"
                f" holds every first alert on purpose); alerts per run {samples}, median of the runs' p{q};"
                f" {load}",
            )
        )
    return out


def figures(quick: bool = False, runs: int = 3, profile_to: Path | None = None) -> list[Figure]:
    """Run the pipeline benchmark and return its figures."""
    plan = QUICK if quick else FULL
    results = bench_pipeline(plan, runs, profile_to)
    out = _flow_figures(plan, results, "", "embedded tansu")
    for stage in ("ingest", "match", "alert"):
        out.append(
            Figure(
                f"peak_rss_mib_{stage}",
                statistics.median(r.rss_mib[stage] for r in results),
                "MiB",
                f"VmHWM of the `newsmon {stage}` process after the latency and throughput phases"
                f" (/proc/<pid>/status), median of {len(results)} runs",
            )
        )
    return out


def kafka_figures(quick: bool = False, runs: int = 3) -> list[Figure]:
    """Run the pipeline benchmark on the Apache Kafka cluster of `make kafka` and return its figures."""
    plan = QUICK if quick else FULL
    results = bench_pipeline(plan, runs, kafka=True)
    broker = (
        "Apache Kafka (3 brokers on this machine, replication factor 3, min.insync.replicas 2, acks=all;"
        " kafka-python's usual group timeouts)"
    )
    return _flow_figures(plan, results, "_kafka", broker)
