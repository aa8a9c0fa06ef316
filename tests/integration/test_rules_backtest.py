"""``newsmon rules backtest`` on the real broker: the rules over the retained articles, nothing produced."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.matching.backtest import run_backtest
from monitor.models import Article, utcnow
from monitor.settings import KafkaSettings, TopicSettings
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.rules import ENTITIES, RULE


def _article(n: int, text: str) -> Article:
    return Article(
        id=f"bt-{n}",
        feed_id="wire",
        url=f"https://news.example.org/{n}",
        title=f"Titre {n}",
        text=text,
        language="fr",
    )


def test_backtest_counts_hits_per_rule(broker: BrokerUnderTest, tmp_path: Path, unique: str) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "summit.yaml").write_text(RULE, encoding="utf-8")
    topics = TopicSettings(
        articles=f"articles-{unique}",
        matches=f"matches-{unique}",
        alerts=f"alerts-{unique}",
        deadletter=f"deadletter-{unique}",
    )
    bus = Bus(tuple(broker.bootstrap_servers), KafkaSettings(topics=topics), embedded=True)
    bus.ensure_topics()
    producer = bus.producer()
    texts = ["Ada Verin et Boris Kalm: sommet."] * 4 + ["Ada Verin seule."] * 3
    for n, text in enumerate(texts):
        producer.send(topics.articles, key=str(n).encode(), value=encode(_article(n, text)))
    producer.send(topics.articles, key=b"bad", value=b"{not json")
    producer.flush(timeout=10)
    producer.close(timeout=5)

    out = io.StringIO()
    assert run_backtest(bus, timedelta(hours=1), tmp_path, {}, out, fmt="json") == 0
    report = json.loads(out.getvalue())
    assert (report["articles"], report["undecodable"]) == (7, 1)
    [summit] = report["rules"]
    assert summit["rule"] == "summit"
    assert summit["hits"] == 4
    assert len(summit["samples"]) == 3
    assert set(summit["samples"]) <= {"Titre 0", "Titre 1", "Titre 2", "Titre 3"}  # partitions interleave

    text = io.StringIO()
    assert run_backtest(bus, timedelta(hours=1), tmp_path, {}, text) == 0
    assert "  summit: 4 hit(s)\n    - Titre " in text.getvalue()

    # nothing was written since the future: a window that starts after the last article reads none
    later = io.StringIO()
    in_an_hour = utcnow() + timedelta(hours=1)
    assert (
        run_backtest(bus, timedelta(seconds=1), tmp_path, {}, later, fmt="json", now=lambda: in_an_hour) == 0
    )
    assert json.loads(later.getvalue())["articles"] == 0


def test_backtest_reports_a_missing_topic(broker: BrokerUnderTest, tmp_path: Path, unique: str) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "summit.yaml").write_text(RULE, encoding="utf-8")
    kafka = KafkaSettings(topics=TopicSettings(articles=f"absent-{unique}"))
    out = io.StringIO()
    assert (
        run_backtest(
            Bus(tuple(broker.bootstrap_servers), kafka, embedded=True), timedelta(days=1), tmp_path, {}, out
        )
        == 3
    )
    assert f"topic 'absent-{unique}' not found" in out.getvalue()
