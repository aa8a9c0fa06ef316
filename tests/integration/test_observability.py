"""Ops see the pipeline: a real Prometheus scrapes `newsmon run` on the real broker while the seed feed
goes through, then every Grafana panel query and every alerting-rule expression runs against it.

Test-only conditions make the failure alerts fire for real: a feed that answers 404, a feed that
gains an item (its others are then skipped as seen), an apprise receiver nobody listens on (its URL
carries a password that must never reach a log), a message that is not JSON on the articles topic,
a re-delivered match, and a scrape target that is down.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from monitor.bus.broker import free_port
from monitor.demo.serve import LocalFeedServer
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.seeds import Seed, load_seeds, seeds_as_rss
from tests.unit.deploy.promtools import PROMETHEUS_DIR, REPO, find_tool
from tests.unit.deploy.queries import PanelQuery, grouping_labels, panel_queries, rules

_SECRET = "S3cret-never-logged"
# Written for this test: an item no watchlist cares about, added to the feed once the seeds went through.
_UNRELATED = Seed(
    "weather.txt", "Un printemps doux", None, "Le printemps sera doux et sec cette année.", frozenset()
)
_SCRAPE_S = 1
# What Grafana would put in the queries for a dashboard showing the test's run.
_RATE_INTERVAL = "15s"


@dataclass
class _Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Return the instant vector of ``expr``; fail the test on any query error."""
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        assert body["data"]["resultType"] == "vector", expr
        return result

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        """Return the matrix of ``expr`` over ``[start, end]`` at the scrape interval."""
        params = {"query": expr, "start": start, "end": end, "step": _SCRAPE_S}
        body = httpx.get(f"{self.url}/api/v1/query_range", params=params, timeout=10).json()
        assert body["status"] == "success", f"{expr}: {body}"
        assert body["data"]["resultType"] == "matrix", expr
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def total(self, expr: str) -> float:
        """Return the single value of ``expr`` (0 when it has no series yet)."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0


@dataclass
class _Run:
    prometheus: _Prometheus
    metrics_url: str
    started: float
    log: Path
    topics: dict[str, str]
    bootstrap: list[str]


def _wait(what: str, check: Callable[[], bool], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; newsmon's log ends with:\n{log.read_text()[-4000:]}")


def _start_prometheus(tmp_path: Path, newsmon_port: int) -> tuple[subprocess.Popen[bytes], _Prometheus, Path]:
    """Start Prometheus with the shipped rules, scraping ``newsmon run`` and a target that is down."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": f"{_SCRAPE_S}s", "evaluation_interval": f"{_SCRAPE_S}s"}
    config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
    config["scrape_configs"] = [
        {"job_name": "newsmon-run", "static_configs": [{"targets": [f"127.0.0.1:{newsmon_port}"]}]},
        # Nothing listens there: NewsmonTargetDown must see it.
        {"job_name": "newsmon-down", "static_configs": [{"targets": [f"127.0.0.1:{free_port()}"]}]},
    ]
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                str(find_tool("prometheus")),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    prometheus = _Prometheus(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        assert proc.poll() is None, f"prometheus exited:\n{log.read_text()[-3000:]}"
        try:
            return httpx.get(f"{prometheus.url}/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    _wait("prometheus to be ready", ready, log, timeout_s=60)
    return proc, prometheus, log


@pytest.fixture(scope="module")
def run(broker: BrokerUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Run]:
    """Run the pipeline on the seed feed under a real Prometheus, with every test-only failure driven."""
    tmp_path = tmp_path_factory.mktemp("observability")
    unique = os.urandom(5).hex()
    seeds = load_seeds()
    site = tmp_path / "site"
    site.mkdir()
    (site / "seeds.xml").write_bytes(seeds_as_rss(seeds))
    topics = {t: f"{t}-{unique}" for t in ("articles", "matches", "alerts", "deadletter")}

    with LocalFeedServer(site) as server:
        # Polled every 2 s: repeated polls give the 304 responses and fetch counts the panels show.
        feeds = [
            {"id": "seeds", "url": server.url("seeds.xml"), "language": "fr", "poll_interval_s": 2},
            {"id": "missing", "url": server.url("missing.xml"), "language": "fr", "poll_interval_s": 2},
        ]
        (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
        metrics_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env |= {
            "NEWSMON_KAFKA__BOOTSTRAP_SERVERS": json.dumps(broker.bootstrap_servers),
            "NEWSMON_KAFKA__GROUP_PREFIX": f"obs-{unique}",
            **{f"NEWSMON_KAFKA__TOPICS__{t.upper()}": name for t, name in topics.items()},
            "NEWSMON_INGEST__FEEDS_FILE": str(tmp_path / "feeds.yaml"),
            "NEWSMON_INGEST__STATE_DB": str(tmp_path / "ingest.sqlite3"),
            "NEWSMON_INGEST__BLOCK_PRIVATE_ADDRESSES": "false",
            "NEWSMON_MATCH__RULES_DIR": str(REPO / "rules"),
            # A receiver nobody listens on: every apprise delivery fails, fast (connection refused).
            "NEWSMON_ALERT__APPRISE_URLS": json.dumps(
                [
                    f"mailto://newsmon:{_SECRET}@127.0.0.1:{free_port()}/desk@example.org?from=newsmon@example.org&cto=2"
                ]
            ),
            "NEWSMON_ALERT__APPRISE_MIN_INTERVAL_S": "0",
            "NEWSMON_ALERT__GROUP_WAIT_S": "0",  # send at once: the test has no 10 s to spare per group
            "NEWSMON_ALERT__CONSOLE": "false",
            "NEWSMON_ALERT__ALERT_LOG": str(tmp_path / "alerts.jsonl"),
            "NEWSMON_ALERT__OUTBOX_DB": str(tmp_path / "alerts.sqlite3"),
            "NEWSMON_METRICS__PORT": str(metrics_port),
            "NEWSMON_LOG_FORMAT": "json",
        }
        log = tmp_path / "newsmon.log"
        prom_proc, prometheus, prom_log = _start_prometheus(tmp_path, metrics_port)
        started = time.time()
        with log.open("wb") as output:
            newsmon = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run"],
                env=env,
                cwd=tmp_path,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:

            def alive(check: Callable[[], bool]) -> Callable[[], bool]:
                def checked() -> bool:
                    assert newsmon.poll() is None, f"newsmon run died:\n{log.read_text()[-4000:]}"
                    return check()

                return checked

            # Through Prometheus, so the scrape itself is proven: every seed analysed, every match handled.
            _wait(
                "the seed articles to be analysed",
                alive(lambda: prometheus.total("sum(newsmon_articles_analysed_total)") >= len(seeds)),
                log,
            )
            handled = f'sum(newsmon_messages_consumed_total{{topic="{topics["matches"]}"}})'
            _wait(
                "the seed alerts to go through",
                alive(
                    lambda: (
                        prometheus.total("sum(newsmon_alerts_total)") > 0
                        and prometheus.total(handled) >= prometheus.total("sum(newsmon_matches_total)")
                    )
                ),
                log,
            )
            _redeliver_a_match_and_publish_garbage(broker.bootstrap_servers, topics)
            (site / "seeds.xml").write_bytes(seeds_as_rss([*seeds, _UNRELATED]))
            _wait(
                "the re-delivered match, garbage, seen items and deliveries to be counted",
                alive(
                    lambda: (
                        prometheus.total("sum(newsmon_alerts_duplicate_total)") >= 1
                        and prometheus.total("sum(newsmon_messages_deadlettered_total)") >= 1
                        and prometheus.total("sum(newsmon_articles_duplicate_total)") >= len(seeds)
                        and prometheus.total('sum(newsmon_deliveries_total{outcome="ok"})') >= 1
                        and prometheus.total('sum(newsmon_deliveries_total{outcome="error"})') >= 1
                    )
                ),
                log,
            )
            time.sleep(5 * _SCRAPE_S)  # a few more scrapes after the last event: rates over it have points
            yield _Run(
                prometheus,
                f"http://127.0.0.1:{metrics_port}",
                started,
                log,
                topics,
                broker.bootstrap_servers,
            )
        finally:
            newsmon.send_signal(signal.SIGINT)
            try:
                newsmon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                newsmon.kill()
                newsmon.wait()
            prom_proc.terminate()
            prom_proc.wait(timeout=30)
            del prom_log


def _redeliver_a_match_and_publish_garbage(bootstrap: list[str], topics: dict[str, str]) -> None:
    """Send one match again, as a consumer restart would, and a message that is not JSON."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topics["matches"], p) for p in consumer.partitions_for_topic(topics["matches"])
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records = [r for batch in consumer.poll(timeout_ms=5000).values() for r in batch]
    finally:
        consumer.close()
    assert records, "no match on the matches topic"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topics["matches"], key=records[0].key, value=records[0].value).get(timeout=30)
        producer.send(topics["articles"], key=b"garbage", value=b"{not json").get(timeout=30)
    finally:
        producer.close(timeout=10)


def _substitute(expr: str, range_s: int) -> str:
    return (
        expr.replace("$__rate_interval", _RATE_INTERVAL)
        .replace("$__range", f"{range_s}s")
        .replace("$__interval", f"{_SCRAPE_S}s")
    )


def _finite(value: str) -> bool:
    return not math.isnan(float(value)) and not math.isinf(float(value))


@pytest.mark.parametrize("query", panel_queries(), ids=lambda q: q.name)
def test_every_panel_query_returns_data_of_its_shape(run: _Run, query: PanelQuery) -> None:
    now = time.time()
    expr = _substitute(query.expr, int(now - run.started) + 5)
    if query.instant:
        series = run.prometheus.query(expr)
        values = [s["value"][1] for s in series]
    else:
        series = run.prometheus.query_range(expr, run.started, now)
        values = [v for s in series for _, v in s["values"]]
    assert series, f"{query.name}: no data for {expr}"
    assert any(_finite(v) for v in values), f"{query.name}: only NaN/Inf for {expr}"
    for labels in (s["metric"] for s in series):
        missing = grouping_labels(expr) - set(labels)
        assert not missing, f"{query.name}: series {labels} lacks {missing}"
    if query.panel_type == "heatmap":
        buckets = {s["metric"].get("le") for s in series}
        assert None not in buckets, f"{query.name}: a heatmap needs one series per bucket"
        assert "+Inf" in buckets, query.name
    if query.panel_type in ("stat", "bargauge", "table"):
        assert query.instant, f"{query.name}: a {query.panel_type} shows the last value"


# What each alert expression must return against this run: the healthy ones nothing, the ones whose
# failure the fixture drives the labels that name the culprit.
_EXPECTED_ALERTS: dict[str, dict[str, str] | None] = {
    "NewsmonTargetDown": {"job": "newsmon-down"},
    "NewsmonFeedStale": None,
    "NewsmonFeedNotFetched": None,
    "NewsmonFeedFailing": {"feed": "missing"},
    "NewsmonConsumerLagGrowing": None,
    "NewsmonDeliveryFailing": {"channel": "apprise"},
    "NewsmonNotificationsGivenUp": None,  # 8 attempts over hours: not within the test
    "NewsmonOutboxBacklog": {},
    "NewsmonDeadLetterGrowing": {"reason": "invalid_message"},
    "NewsmonRulesReloadFailing": None,
}


def test_every_alert_expression_evaluates_and_fires_exactly_on_the_driven_failures(run: _Run) -> None:
    alerts = {r["alert"]: r["expr"] for r in rules() if "alert" in r}
    assert set(alerts) == set(_EXPECTED_ALERTS), "a rule was added: say here what it returns in this run"
    for name, expr in alerts.items():
        series = run.prometheus.query(expr)
        expected = _EXPECTED_ALERTS[name]
        if expected is None:
            assert series == [], f"{name} fires on a healthy pipeline: {series}"
        else:
            assert series, f"{name} did not fire on its driven failure"
            assert any(expected.items() <= s["metric"].items() for s in series), (name, series)


def test_every_recording_rule_has_data(run: _Run) -> None:
    for rule in (r for r in rules() if "record" in r):
        series = run.prometheus.query(rule["expr"])
        assert series, rule["record"]
        topics = {s["metric"]["topic"] for s in series}
        assert topics == {run.topics["articles"], run.topics["matches"]}


def test_prometheus_evaluates_every_rule_without_error(run: _Run) -> None:
    def evaluated() -> list[dict[str, Any]]:
        groups = httpx.get(f"{run.prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return [r for g in groups for r in g["rules"]]

    _wait(
        "every rule to be evaluated",
        lambda: all(r.get("evaluationTime", 0) > 0 for r in evaluated()),
        run.log,
    )
    loaded = evaluated()
    assert len(loaded) == len(rules())
    for rule in loaded:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
    firing = httpx.get(f"{run.prometheus.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    # No `for:` on dead letters: it is firing already, not only pending.
    assert any(
        a["labels"]["alertname"] == "NewsmonDeadLetterGrowing" and a["state"] == "firing" for a in firing
    )


def test_healthz_names_every_running_stage(run: _Run) -> None:
    response = httpx.get(f"{run.metrics_url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "stages": {"ingest": "running", "match": "running", "alert": "running"},
    }


def test_consumer_lag_is_reported_per_partition(run: _Run) -> None:
    series = run.prometheus.query("newsmon_consumer_lag_messages")
    partitions = {(s["metric"]["topic"], s["metric"]["partition"]) for s in series}
    assert partitions == {(run.topics[t], str(p)) for t in ("articles", "matches") for p in range(3)}
    assert all(float(s["value"][1]) >= 0 for s in series)


# The alerter's events about itself, not about one alert: they carry no alert's ids.
_ALERTER_EVENTS = frozenset(
    {
        "alert.retried_pending",
        "alert.handed_over",
        "alert.tick_failed",
        "alert.receiver_url_suspect",
        "alert.leases_released",
        "alert.state_restored",
        "alert.state_restore_failed",
        "alert.state_restore_close_failed",
        "alert.state_record_skipped",
        "alert.state_write_failed",
    }
)


def test_logs_are_json_carry_the_ids_and_never_the_secret(run: _Run) -> None:
    text = run.log.read_text(encoding="utf-8")
    assert _SECRET not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    events = {line["event"] for line in lines}
    about_alerts = [
        line
        for line in lines
        if str(line["event"]).startswith("alert.") and line["event"] not in _ALERTER_EVENTS
    ]
    assert about_alerts, events
    for line in about_alerts:
        # alert_id from the alerter; article_id and match_id bound by the consumer loop while it handles.
        assert {"alert_id", "article_id", "match_id", "rule"} <= set(line), line
    found = [line for line in lines if line["event"] == "match.found"]
    assert found
    assert all("article_id" in line for line in found)
    dead = [line for line in lines if line["event"] == "message.deadlettered"]
    assert any(line["key"] == "garbage" for line in dead), dead
