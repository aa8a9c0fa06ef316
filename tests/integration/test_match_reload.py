"""The match stage on the real broker: articles in, matches out, and the rules reloaded while it runs.

A good edit of a watchlist changes what the running stage matches; a bad edit is rejected, counted, and
the stage goes on matching with the last good rules. Nothing is restarted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer

from monitor.app.stages import build_match_stage
from monitor.bus.connection import Bus
from monitor.bus.serde import decode, encode
from monitor.metrics import Metrics
from monitor.models import Article, Match
from monitor.settings import KafkaSettings, MatchSettings, Settings, TopicSettings
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.rules import ENTITIES, RULE, rewrite

_TIMEOUT_S = 30.0


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _article(n: int) -> Article:
    return Article(
        id=f"reload-{n}",
        feed_id="wire",
        url=f"https://news.example.org/{n}",
        title=f"Dépêche {n}",
        text="Ada Verin et Boris Kalm se sont retrouvés pour un sommet.",
        language="fr",
    )


def test_rules_reload_while_the_stage_runs(
    broker: BrokerUnderTest, tmp_path: Path, unique: str, metrics: Metrics
) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    rule_file = tmp_path / "summit.yaml"
    rule_file.write_text(RULE, encoding="utf-8")
    topics = TopicSettings(
        articles=f"articles-{unique}",
        matches=f"matches-{unique}",
        alerts=f"alerts-{unique}",
        deadletter=f"deadletter-{unique}",
    )
    kafka = KafkaSettings(topics=topics, group_prefix=f"reload-{unique}")
    settings = Settings(
        kafka=kafka, match=MatchSettings(rules_dir=tmp_path, spacy_models={}, reload_check_s=0.1)
    )
    bus = Bus(tuple(broker.bootstrap_servers), kafka, embedded=True)
    bus.ensure_topics()
    stage = build_match_stage(settings, bus, metrics)
    stop = threading.Event()
    runner = threading.Thread(target=stage.run, args=(stop,), daemon=True)
    runner.start()
    producer = bus.producer()
    matches = KafkaConsumer(
        topics.matches,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    seen: list[Match] = []

    def got(n: int) -> bool:
        for records in matches.poll(timeout_ms=200).values():
            seen.extend(decode(r.value, Match) for r in records)
        return len(seen) >= n

    def reloads(outcome: str) -> float:
        return metrics.registry.get_sample_value("newsmon_rules_reloads_total", {"outcome": outcome}) or 0.0

    try:
        producer.send(topics.articles, key=b"1", value=encode(_article(1))).get(timeout=10)
        _wait(lambda: got(1), "the first match")
        assert seen[0].rule == "summit"

        rewrite(rule_file, RULE.replace("id: summit", "id: summit_v2"))
        _wait(lambda: reloads("ok") == 1, "the reload of a good edit")
        producer.send(topics.articles, key=b"2", value=encode(_article(2))).get(timeout=10)
        _wait(lambda: got(2), "a match under the new rules")
        assert seen[1].rule == "summit_v2"

        rewrite(rule_file, RULE.replace("at_least: 2", "at_least: two"))
        _wait(lambda: reloads("error") == 1, "the rejection of a bad edit")
        assert metrics.registry.get_sample_value("newsmon_rules_last_reload_successful") == 0
        producer.send(topics.articles, key=b"3", value=encode(_article(3))).get(timeout=10)
        _wait(lambda: got(3), "a match under the last good rules")
        assert seen[2].rule == "summit_v2"
        assert runner.is_alive()
    finally:
        stop.set()
        runner.join(timeout=15)
        producer.close(timeout=5)
        matches.close()
    assert not runner.is_alive()
