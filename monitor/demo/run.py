"""Run the pipeline once over the bundled sample feed and report what came out."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

import yaml
from prometheus_client import CollectorRegistry

from monitor.app.runner import run_stages
from monitor.commands import demo_outbox
from monitor.demo.serve import LocalFeedServer
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.metrics_read import counter_total
from monitor.settings import KafkaSettings, Settings

__all__ = ["DemoResult", "isolated_settings", "run_demo"]

_log = get_logger(__name__)
_FEED_NAME = "sample_feed.xml"


@dataclass(frozen=True)
class DemoResult:
    """What went through the demo pipeline."""

    exit_code: int
    articles: int
    matches: int
    alerts: int
    alert_log: Path
    timed_out: bool


def _sample_items(feed: bytes) -> int:
    return feed.count(b"<item>")


def isolated_settings(settings: Settings, workdir: Path, feeds_file: Path) -> Settings:
    """Return ``settings`` for the demo: its own files in ``workdir``, its own embedded broker.

    The demo never uses a configured Kafka cluster: there its articles would land in the real
    ``articles`` topic, its consumers would join the real groups (taking partitions from running
    stages), and its alerts' state would go to the real changelog, where a real alerter would restore
    it and take the next real article on the same story for one already sent.
    """
    return settings.model_copy(
        update={
            "kafka": KafkaSettings(tansu_bin=settings.kafka.tansu_bin),
            "ingest": settings.ingest.model_copy(
                # The demo's own feed is on loopback, which the SSRF guard refuses for user feeds.
                update={
                    "feeds_file": feeds_file,
                    "state_db": workdir / "ingest.sqlite3",
                    "block_private_addresses": False,
                    # The sample items are dated 2025 on purpose; no "feed stale" warning for them.
                    "stale_min_s": 10 * 365 * 86400.0,
                }
            ),
            "alert": settings.alert.model_copy(
                # Send at once: grouping would hold the alerts past the end of a seconds-long demo.
                update={
                    "alert_log": workdir / "alerts.jsonl",
                    "outbox_db": demo_outbox(workdir),
                    "group_wait_s": 0.0,
                    "tick_s": 0.1,
                }
            ),
            "metrics": settings.metrics.model_copy(update={"port": 0}),
        }
    )


def run_demo(
    settings: Settings, workdir: Path, out: TextIO = sys.stdout, timeout_s: float = 120.0
) -> DemoResult:
    """Serve the sample feed locally, run ingest (once), match and alert on it, and print a summary.

    Everything the demo writes goes under ``workdir``, emptied first, so each run shows every alert again.
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    site = workdir / "site"
    site.mkdir(parents=True)
    feed = resources.files("monitor.demo").joinpath(_FEED_NAME).read_bytes()
    (site / _FEED_NAME).write_bytes(feed)
    expected = _sample_items(feed)

    with LocalFeedServer(site) as server:
        feeds_file = workdir / "feeds.yaml"
        feeds_file.write_text(
            yaml.safe_dump({"feeds": [{"id": "demo", "url": server.url(_FEED_NAME), "language": "fr"}]}),
            encoding="utf-8",
        )
        demo_settings = isolated_settings(settings, workdir, feeds_file)
        metrics = Metrics(CollectorRegistry())
        started = time.monotonic()
        timed_out = threading.Event()

        def drained(m: Metrics) -> bool:
            reg = m.registry
            published = counter_total(reg, "newsmon_articles_published")
            analysed = counter_total(reg, "newsmon_articles_analysed") + counter_total(
                reg, "newsmon_messages_deadlettered", topic=demo_settings.kafka.topics.articles
            )
            matches = counter_total(reg, "newsmon_matches")
            handled = counter_total(
                reg, "newsmon_messages_consumed", topic=demo_settings.kafka.topics.matches
            ) + counter_total(reg, "newsmon_messages_deadlettered", topic=demo_settings.kafka.topics.matches)
            if time.monotonic() - started > timeout_s:
                timed_out.set()
                return True
            undelivered = reg.get_sample_value("newsmon_outbox_pending_alerts") or 0.0
            return published >= expected and analysed >= published and handled >= matches and not undelivered

        code = run_stages(demo_settings, once=True, done=drained, console=out, metrics=metrics)

    reg = metrics.registry
    result = DemoResult(
        exit_code=1 if timed_out.is_set() else code,
        articles=int(counter_total(reg, "newsmon_articles_published")),
        matches=int(counter_total(reg, "newsmon_matches")),
        alerts=int(counter_total(reg, "newsmon_alerts")),
        alert_log=demo_settings.alert.alert_log,
        timed_out=timed_out.is_set(),
    )
    elapsed = time.monotonic() - started
    outbox = demo_outbox(workdir)
    out.write(
        f"\nnewsmon demo: {result.articles} articles -> {result.matches} matches -> {result.alerts} alerts "
        f"in {elapsed:.1f} s\n"
        f"  alert log: {result.alert_log}\n"
        f"  outbox:    {outbox} (see it: NEWSMON_ALERT__OUTBOX_DB={outbox} newsmon alerts list)\n"
    )
    if result.timed_out:
        out.write(f"  the pipeline did not drain within {timeout_s:.0f} s; see the log above\n")
    out.flush()
    return result
