"""The alerter killed between storing alerts and sending them: after a restart each arrives exactly once.

Runs ``newsmon alert`` as a real process on the real broker, kills it with SIGKILL (no clean-up runs),
starts it again, and counts what a real SMTP server received.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from monitor.alerting.build import alert_from_match
from monitor.alerting.outbox import Outbox
from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.settings import KafkaSettings, TopicSettings
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.matches import match_about, subject_of
from tests.fixtures.smtp import Inbox

N = 4


def _env(
    broker: BrokerUnderTest, tmp_path: Path, unique: str, port: int, group_wait_s: float
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return (
        env
        | broker.env()
        | {
            "NEWSMON_KAFKA__GROUP_PREFIX": f"restart-{unique}",
            **{
                f"NEWSMON_KAFKA__TOPICS__{t.upper()}": f"{t}-{unique}"
                for t in ("articles", "matches", "alerts", "deadletter")
            },
            "NEWSMON_ALERT__APPRISE_URLS": json.dumps(
                [f"mailto://127.0.0.1:{port}/desk@example.org?from=newsmon@example.org&cto=5"]
            ),
            "NEWSMON_ALERT__APPRISE_MIN_INTERVAL_S": "0",
            "NEWSMON_ALERT__CONSOLE": "false",
            "NEWSMON_ALERT__ALERT_LOG": str(tmp_path / "alerts.jsonl"),
            "NEWSMON_ALERT__OUTBOX_DB": str(tmp_path / "alerts.sqlite3"),
            "NEWSMON_ALERT__GROUP_WAIT_S": str(group_wait_s),
            "NEWSMON_METRICS__PORT": "0",
            "NEWSMON_LOG_FORMAT": "json",
        }
    )


def _stored(path: Path) -> int:
    if not path.is_file():
        return 0
    with Outbox(path) as outbox:
        return len(outbox.list_alerts())


def test_killed_between_store_and_send_each_alert_arrives_once(
    broker: BrokerUnderTest, smtp: tuple[Inbox, int], tmp_path: Path, unique: str
) -> None:
    inbox, port = smtp
    topics = TopicSettings(**{t: f"{t}-{unique}" for t in ("articles", "matches", "alerts", "deadletter")})
    bus = Bus(tuple(broker.bootstrap_servers), KafkaSettings(topics=topics), embedded=True)
    bus.ensure_topics()
    producer = bus.producer()
    for n in range(N):
        match = match_about(n)
        producer.send(topics.matches, key=match.rule.encode(), value=encode(match))
    producer.flush()
    producer.close()
    log = tmp_path / "alert.log"
    outbox = tmp_path / "alerts.sqlite3"

    # First life: a group_wait keeps every alert stored and unsent; then SIGKILL. The due times stored
    # with the messages hold in the second life, whatever its own group_wait.
    with log.open("wb") as out:
        first = subprocess.Popen(
            [sys.executable, "-m", "monitor", "alert"],
            env=_env(broker, tmp_path, unique, port, 15),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while _stored(outbox) < N and time.monotonic() < deadline:
            assert first.poll() is None, log.read_text()
            time.sleep(0.2)
        assert _stored(outbox) == N, log.read_text()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert inbox.messages == []

    # Second life: once the group gives it the partitions, it sends what was stored when it is due;
    # matches delivered again are duplicates.
    with log.open("ab") as out:
        second = subprocess.Popen(
            [sys.executable, "-m", "monitor", "alert"],
            env=_env(broker, tmp_path, unique, port, 0),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while len(inbox.messages) < N and time.monotonic() < deadline:
            assert second.poll() is None, log.read_text()
            time.sleep(0.2)
        time.sleep(3)  # long enough for a second copy to show up
    finally:
        second.send_signal(signal.SIGINT)
        code = second.wait(timeout=30)
    subjects = sorted(str(m["Subject"]) for m in inbox.messages)
    assert subjects == sorted(subject_of(alert_from_match(match_about(n))) for n in range(N)), (
        log.read_text()[-3000:]
    )
    assert code == 0
    assert _stored(outbox) == N
