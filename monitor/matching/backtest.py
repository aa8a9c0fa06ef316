"""``newsmon rules backtest``: re-run a rule set over the articles the ``articles`` topic still retains.

Before a new watchlist goes live, its author wants to know how often it would have fired last week and
on what. The articles are read straight from Kafka, from the first offset at or after ``now - since``
(by broker timestamp), by a consumer without a group: nothing is committed, no running stage is
disturbed, and no match or alert is produced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from monitor.bus.connection import Bus
from monitor.bus.serde import decode
from monitor.errors import BrokerError, MessageError, NewsmonError
from monitor.matching.engine import MatchEngine
from monitor.models import Article, utcnow

__all__ = ["BacktestReport", "backtest", "read_since", "run_backtest"]

_SAMPLES = 3
_IDLE_S = 2.0
"""A partition is drained once a poll has returned nothing for this long: tansu reports the high
watermark low (the start of the last batch), so the end offsets alone would miss the last records."""


@dataclass
class BacktestReport:
    """Hits per rule over the articles read, with a few sample titles each."""

    articles: int = 0
    undecodable: int = 0
    hits: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {
            "articles": self.articles,
            "undecodable": self.undecodable,
            "rules": [
                {"rule": rule, "hits": n, "samples": self.samples.get(rule, [])}
                for rule, n in sorted(self.hits.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        }


def read_since(bus: Bus, since: datetime, *, timeout_s: float = 120.0) -> Iterator[bytes | None]:
    """Yield the value of every record of the articles topic written at or after ``since``.

    Raises:
        BrokerError: the broker cannot be reached or the topic does not exist.
    """
    topic = bus.settings.topics.articles
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=list(bus.bootstrap),
            client_id=f"{bus.settings.client_id}-backtest",
            group_id=None,
            enable_auto_commit=False,
        )
    except KafkaError as e:
        raise BrokerError(f"no Kafka broker reachable at {','.join(bus.bootstrap)}") from e
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise BrokerError(f"topic {topic!r} not found on {','.join(bus.bootstrap)}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        since_ms = int(since.timestamp() * 1000)
        starts = consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        for tp in tps:
            found = starts.get(tp)
            if found is None:
                consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, found.offset)
        deadline = time.monotonic() + timeout_s
        idle_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - idle_since < _IDLE_S:
            batches = consumer.poll(timeout_ms=300)
            if batches:
                idle_since = time.monotonic()
            for records in batches.values():
                for record in records:
                    if record.timestamp >= since_ms:  # seek_to_end on tansu lands on the last batch's start
                        yield record.value
    except KafkaError as e:
        raise BrokerError(f"cannot read {topic!r}: {e}") from e
    finally:
        consumer.close()


def backtest(engine: MatchEngine, values: Iterator[bytes | None]) -> BacktestReport:
    """Match every decodable article of ``values`` and count the hits per rule."""
    report = BacktestReport(hits={r.id: 0 for r in engine.rules})
    for value in values:
        try:
            article = decode(value, Article)
        except MessageError:
            report.undecodable += 1
            continue
        report.articles += 1
        for match in engine.match(article):
            report.hits[match.rule] = report.hits.get(match.rule, 0) + 1
            shown = report.samples.setdefault(match.rule, [])
            if len(shown) < _SAMPLES:
                shown.append(article.title or article.url)
    return report


def run_backtest(
    bus: Bus,
    since: timedelta,
    rules_dir: Path,
    spacy_models: Mapping[str, str],
    out: TextIO,
    *,
    fmt: str = "text",
    default_language: str = "fr",
    now: Callable[[], datetime] = utcnow,
) -> int:
    """Backtest ``rules_dir`` over the last ``since`` of the articles topic; return the exit code.

    Exit codes: 0 done, 2 the rule set is invalid, 3 the broker or topic cannot be read.
    """
    try:
        engine = MatchEngine.load(rules_dir, spacy_models, default_language)
    except NewsmonError as e:
        out.write(f"invalid rule set:\n{e}\n")
        return 2
    start = now() - since
    try:
        report = backtest(engine, read_since(bus, start))
    except BrokerError as e:
        out.write(f"error: {e}\n")
        return 3
    if fmt == "json":
        out.write(json.dumps({"since": start.isoformat(), **report.as_json()}, ensure_ascii=False) + "\n")
        return 0
    out.write(f"{report.articles} article(s) since {start.isoformat(timespec='seconds')}")
    out.write(f" ({report.undecodable} undecodable)\n" if report.undecodable else "\n")
    for entry in report.as_json()["rules"]:
        out.write(f"  {entry['rule']}: {entry['hits']} hit(s)\n")
        for title in entry["samples"]:
            out.write(f"    - {title}\n")
    return 0
