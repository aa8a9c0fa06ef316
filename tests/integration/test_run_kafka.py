"""`newsmon run` on Apache Kafka, configured with the README's own lines, alerts reach a real SMTP server.

Only in the Apache Kafka run (``--broker=kafka``, `make test-kafka`). The test reads the ``export`` lines
of the README's "Running on Apache Kafka" block and starts ``python -m monitor run`` with them, as a
user following it would. It adds only what a test must: topics and a group prefix of its own (the
cluster keeps every earlier run's topics, offsets and alert-state changelog), files in its own folder,
the bundled sample feed served on loopback, and an apprise URL for a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from monitor.demo.serve import LocalFeedServer
from tests.fixtures.processes import newsmon
from tests.fixtures.rig import Proc
from tests.fixtures.smtp import Inbox, mailto
from tests.kafka_cluster import MIN_INSYNC, REPLICATION, KafkaCluster

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = "NEWSMON_KAFKA__BOOTSTRAP_SERVERS"
# The links of the sample feed's three stories that the shipped watchlists alert on (see test_demo.py).
ALERTED = tuple(
    f"https://demo.newsmon.invalid/2025/10/{slug}"
    for slug in ("sommet-vladivostok", "defile-pyongyang", "rencontre-pekin")
)
SAMPLE_ITEMS = 7


def readme_kafka_env() -> dict[str, str]:
    """Return the variables the README's "Running on Apache Kafka" block exports."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    _, found, section = text.partition("### Running on Apache Kafka\n")
    assert found, "README.md has no 'Running on Apache Kafka' section"
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    env: dict[str, str] = {}
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            env |= dict(word.split("=", 1) for word in words[1:])
    return env


def _bodies(inbox: Inbox) -> list[str]:
    """Return each email's body, plain text if it has one."""
    bodies = []
    for message in list(inbox.messages):
        part = message.get_body(preferencelist=("plain", "html"))
        assert part is not None, message
        bodies.append(part.get_content())
    return bodies


def _wait(what: str, ready: Callable[[], bool], proc: Proc, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.alive(), f"newsmon run died while waiting for {what}:\n{proc.tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{proc.tail()}"
        time.sleep(0.2)


# The matcher loads spaCy and the shipped gazetteer (12 languages) first: over a minute on a busy machine.
@pytest.mark.timeout(600)
def test_newsmon_run_on_apache_kafka_as_the_readme_says_delivers_alerts_by_email(
    kafka_cluster: KafkaCluster, tmp_path: Path, unique: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, smtp_port = smtp
    readme = readme_kafka_env()
    assert set(readme) == {
        BOOTSTRAP,
        "NEWSMON_KAFKA__REPLICATION_FACTOR",
        "NEWSMON_KAFKA__MIN_INSYNC_REPLICAS",
    }
    if "NEWSMON_KAFKA_BASE_PORT" not in os.environ:  # the cluster was not moved: the README names it
        assert json.loads(readme[BOOTSTRAP]) == kafka_cluster.bootstrap_servers
    site = tmp_path / "site"
    site.mkdir()
    (site / "feed.xml").write_bytes(resources.files("monitor.demo").joinpath("sample_feed.xml").read_bytes())
    topics = {
        f"NEWSMON_KAFKA__TOPICS__{t.upper()}": f"{t}-{unique}" for t in ("articles", "matches", "alerts")
    }
    with LocalFeedServer(site) as server:
        feeds = {"feeds": [{"id": "sample", "url": server.url("feed.xml"), "language": "fr"}]}
        (tmp_path / "feeds.yaml").write_text(json.dumps(feeds), encoding="utf-8")
        env = (
            {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
            | readme
            | {BOOTSTRAP: json.dumps(kafka_cluster.bootstrap_servers)}
            | topics
            | {
                "NEWSMON_KAFKA__TOPICS__DEADLETTER": f"deadletter-{unique}",
                "NEWSMON_KAFKA__GROUP_PREFIX": f"run-{unique}",
                "NEWSMON_INGEST__FEEDS_FILE": str(tmp_path / "feeds.yaml"),
                "NEWSMON_INGEST__STATE_DB": str(tmp_path / "ingest.sqlite3"),
                "NEWSMON_INGEST__BLOCK_PRIVATE_ADDRESSES": "false",  # the feed is on loopback
                "NEWSMON_MATCH__RULES_DIR": str(REPO / "rules"),
                "NEWSMON_ALERT__OUTBOX_DB": str(tmp_path / "alerts.sqlite3"),
                "NEWSMON_ALERT__ALERT_LOG": str(tmp_path / "alerts.jsonl"),
                "NEWSMON_ALERT__APPRISE_URLS": json.dumps([mailto(smtp_port)]),
                "NEWSMON_METRICS__PORT": "0",
                "NEWSMON_LOG_FORMAT": "json",
            }
        )
        log = tmp_path / "run.log"
        proc = Proc("run", newsmon(["run"], env, tmp_path, log), log)
        try:
            _wait("three emails", lambda: len(inbox.messages) >= len(ALERTED), proc, 420)
            _wait(
                "every match handled",
                lambda: (
                    proc.metric("newsmon_messages_consumed_total", {"topic": f"matches-{unique}"})
                    >= len(ALERTED)
                ),
                proc,
                60,
            )
            published = proc.metric("newsmon_articles_published_total")
            analysed = proc.metric("newsmon_articles_analysed_total")
            matches = proc.metric("newsmon_matches_total")
            time.sleep(2)  # room for a duplicate email to show up
        finally:
            proc.signal(signal.SIGINT)  # Ctrl-C
        code = proc.wait(60)

    context = proc.tail()
    assert code == 0, context
    assert (published, analysed, matches) == (SAMPLE_ITEMS, SAMPLE_ITEMS, len(ALERTED)), context
    # One email per alert (each its own event), no duplicate, each with its story's link.
    bodies = _bodies(inbox)
    assert len(bodies) == len(ALERTED), inbox.snapshot()
    for link in ALERTED:
        assert sum(link in body for body in bodies) == 1, (link, inbox.snapshot())
    events = [
        json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("{")
    ]
    running = [e for e in events if e["event"] == "pipeline.running"]
    assert [e["bootstrap"] for e in running] == [",".join(kafka_cluster.bootstrap_servers)], context
    assert not [e for e in events if e["event"].startswith("broker.")], "an embedded broker was started"
    # newsmon created its topics as the README's settings say: a replica on each of the three brokers.
    partitions = kafka_cluster.partitions([f"articles-{unique}", f"matches-{unique}"])
    assert len(partitions) == 2 * 3, partitions  # kafka.partitions: 3 by default
    assert all(len(isr) == REPLICATION for _, isr in partitions.values()), partitions
    admin = kafka_cluster.admin()
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, f"articles-{unique}")])
    finally:
        admin.close()
    assert configs["topic"][f"articles-{unique}"]["min.insync.replicas"]["value"] == str(MIN_INSYNC), configs
    # What `newsmon alerts list` shows: the three alerts, each sent to every receiver.
    listed = subprocess.run(
        [sys.executable, "-m", "monitor", "alerts", "list", "--format", "json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    alerts = [json.loads(line) for line in listed.splitlines()]
    assert sorted(a["articles"][0]["url"] for a in alerts) == sorted(ALERTED), listed
    assert all(a["state"] == "sent" and set(a["receivers"].values()) == {"sent"} for a in alerts), listed
