"""Secrets in receiver and feed URLs (an SMTP password, a bot token, ``?token=``) never show anywhere.

A real ``newsmon alert`` process, at DEBUG, is given two receivers that fail: an SMTP server that
refuses the login quoting the credentials back (``535 ... user:password``), and a Bot API server that
answers 500 with an error page echoing the request path (the token is in it). Every place a failure
is reported is then searched for the secrets: the process's log, /metrics, the outbox file,
``newsmon alerts list`` and the dead-letter topic. The desk's commands are run at DEBUG the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.bus.broker import free_port
from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.settings import KafkaSettings, TopicSettings
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.matches import leaders_meeting_match
from tests.fixtures.rig import Rig
from tests.fixtures.smtp import smtp_server
from tests.fixtures.telegram import BotApi

PASSWORD = "Hunter2Secret"
TOKEN = "123456:SeCrEtToKeN987"
SECRETS = (PASSWORD, "SeCrEtToKeN987")


def _deadletters(bus: Bus, unique: str, expected: int) -> list[bytes]:
    consumer = bus.consumer(f"secrets-{unique}", bus.settings.topics.deadletter)
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while len(got) < expected and time.monotonic() < deadline:
            got.extend(r.value for records in consumer.poll(timeout_ms=200).values() for r in records)
    finally:
        consumer.close()
    return got


@pytest.fixture
def echo_smtp() -> Iterator[int]:
    """Run an SMTP server that refuses every login quoting the credentials back; yield its port."""
    with smtp_server(echo_credentials=True) as (_, port):
        yield port


def test_failing_receivers_never_reveal_their_secrets(
    broker: BrokerUnderTest, tmp_path: Path, unique: str, leaky_bot_api: BotApi, echo_smtp: int
) -> None:
    rig = Rig(
        tmp_path, unique, smtp_port=free_port()
    )  # nothing listens on that port: the SMTP server is down
    rig.use_broker(broker)
    receivers = {
        "mail": {
            "urls": [
                f"mailto://newsmon:{PASSWORD}@127.0.0.1:{echo_smtp}/desk@example.org"
                "?from=n@example.org&cto=1&mode=insecure"
            ],
            "min_interval_s": 0,
        },
        "chat": {
            "urls": [f"tgram://{TOKEN}/-1001"],
            "telegram_api_url": leaky_bot_api.url,
            "min_interval_s": 0,
        },
    }
    env = {
        "NEWSMON_ALERT__APPRISE_URLS": "[]",
        "NEWSMON_ALERT__RECEIVERS": json.dumps(receivers),
        "NEWSMON_ALERT__DEFAULT_RECEIVER": "mail",
        "NEWSMON_ALERT__ROUTES": json.dumps([{"receivers": ["mail", "chat"]}]),
        "NEWSMON_ALERT__RETRY_ATTEMPTS": "2",
        "NEWSMON_ALERT__RETRY_INITIAL_S": "0.2",
        "NEWSMON_ALERT__RETRY_MAX_S": "0.5",
        "NEWSMON_ALERT__TICK_S": "0.2",
        "NEWSMON_LOG_LEVEL": "DEBUG",
    }
    topics = TopicSettings(**{t: f"{t}-{unique}" for t in ("articles", "matches", "alerts", "deadletter")})
    bus = Bus(tuple(broker.bootstrap_servers), KafkaSettings(topics=topics), embedded=True)
    bus.ensure_topics()
    producer = bus.producer()
    match = leaders_meeting_match()
    producer.send(topics.matches, key=match.rule.encode(), value=encode(match)).get(timeout=10)
    producer.close()

    alert = rig.start("alert", env=env)
    try:
        given_up = lambda: alert.metric("newsmon_notifications_deadlettered_total") >= 2  # noqa: E731
        rig.wait_for("both receivers to give up", given_up, 60, alert)
        metrics = urllib_get(alert.metrics_url())
        listing = subprocess.run(
            [sys.executable, "-m", "monitor", "alerts", "list", "--format", "json"],
            env=rig.env | env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        codes = rig.stop_all()
    deadletters = b"\n".join(_deadletters(bus, unique, 2))
    outbox = b"".join(p.read_bytes() for p in tmp_path.glob("alerts.sqlite3*"))
    log = alert.log.read_text(errors="replace")

    # The failures were real, reported everywhere they should be...
    assert "alert.delivery_failed" in log
    assert "bad credentials newsmon:***" in log, "apprise's DEBUG line quoting the SMTP reply, masked"
    (stored,) = [json.loads(line) for line in listing.splitlines() if line.strip()]
    assert stored["receivers"] == {"log": "sent", "mail": "failed", "chat": "failed"}, stored
    assert set(stored["errors"]) == {"mail", "chat"}, "each failure is recorded with its reason"
    assert b"delivery_failed" in deadletters
    assert 'newsmon_deliveries_total{channel="chat",outcome="error"}' in metrics
    # ...and not one of those places holds a secret.
    for secret in SECRETS:
        assert secret not in log, f"{secret} in the log"
        assert secret not in metrics, f"{secret} in /metrics"
        assert secret not in listing, f"{secret} in `alerts list`"
        assert secret.encode() not in outbox, f"{secret} in the outbox"
        assert secret.encode() not in deadletters, f"{secret} in the dead-letter topic"
    assert codes == {"alert": 0}


def urllib_get(url: str) -> str:
    """Return the body at ``url``."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
        return text


def _newsmon(tmp_path: Path, *argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``newsmon argv`` in a process of its own (logging configured as in production), at DEBUG."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *argv],
        env=clean | {"NEWSMON_LOG_LEVEL": "DEBUG", "NEWSMON_LOG_FORMAT": "json"} | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_receivers_test_at_debug_masks_credentials_the_smtp_server_quotes_back(tmp_path: Path) -> None:
    with smtp_server(echo_credentials=True) as (inbox, port):
        url = f"mailto://newsmon:{PASSWORD}@127.0.0.1:{port}/desk@example.org?from=n@example.org&cto=2&mode=insecure"
        run = _newsmon(
            tmp_path,
            "receivers",
            "test",
            "mail",
            env={"NEWSMON_ALERT__RECEIVERS": json.dumps({"mail": {"urls": [url]}})},
        )
    assert run.returncode == 1, run.stderr
    assert inbox.messages == []
    assert "535" in run.stderr, "apprise's own DEBUG line about the refusal is logged..."
    assert "newsmon:***" in run.stderr, "...with the password masked"
    assert PASSWORD not in run.stderr
    assert PASSWORD not in run.stdout


def test_rules_test_masks_the_password_of_a_url_it_cannot_fetch(tmp_path: Path) -> None:
    url = f"http://newsmon:{PASSWORD}@127.0.0.1:{free_port()}/article.html"
    run = _newsmon(tmp_path, "rules", "test", url, env={"NEWSMON_MATCH__RULES_DIR": str(_RULES)})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "http://***@127.0.0.1" in run.stdout, run.stdout
    assert PASSWORD not in run.stdout + run.stderr


def test_feeds_check_fetch_masks_token_query_values(tmp_path: Path) -> None:
    # Loopback is refused (ingest.block_private_addresses): the error names the URL, token included.
    url = f"http://127.0.0.1:{free_port()}/f?token={PASSWORD}"
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - id: paywalled\n    url: {url}\n", encoding="utf-8")
    run = _newsmon(tmp_path, "feeds", "check", "--fetch", str(feeds), env={})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "token=***" in run.stdout, run.stdout
    assert PASSWORD not in run.stdout + run.stderr


_RULES = Path(__file__).resolve().parents[2] / "rules"
