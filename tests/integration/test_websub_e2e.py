"""WebSub end to end: publish -> a real hub on loopback -> three newsmon processes -> a real SMTP server.

The feed is polled once, at start-up, and then not for an hour (its ``poll_interval_s``, and the safety
interval while pushed): the alert can only have come through the hub's push.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import yaml

from monitor.bus.broker import free_port
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.processes import newsmon
from tests.fixtures.seeds import load_seeds, seeds_as_rss
from tests.fixtures.smtp import Inbox
from tests.fixtures.websub_hub import serve_topic, websub_hub

REPO = Path(__file__).resolve().parents[2]
SEED = "003_ef743cc3833b6adb.txt"  # labelled leaders_meeting only: one watchlist, one alert


def test_an_item_published_through_the_hub_reaches_smtp_without_a_poll(
    broker: BrokerUnderTest, smtp: tuple[Inbox, int], tmp_path: Path, unique: str
) -> None:
    [seed] = [s for s in load_seeds() if s.name == SEED]
    inbox, smtp_port = smtp
    callback_port = free_port()
    with websub_hub(tmp_path) as hub, serve_topic(hub.url, seeds_as_rss([])) as topic:
        (tmp_path / "feeds.yaml").write_text(
            yaml.safe_dump(
                {"feeds": [{"id": "pushed", "url": topic.url, "language": "fr", "poll_interval_s": 3600}]}
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env |= broker.env()
        env |= {
            "NEWSMON_KAFKA__GROUP_PREFIX": f"websub-{unique}",
            **{
                f"NEWSMON_KAFKA__TOPICS__{t.upper()}": f"{t}-{unique}"
                for t in ("articles", "matches", "alerts", "deadletter")
            },
            "NEWSMON_INGEST__FEEDS_FILE": str(tmp_path / "feeds.yaml"),
            "NEWSMON_INGEST__STATE_DB": str(tmp_path / "ingest.sqlite3"),
            "NEWSMON_INGEST__BLOCK_PRIVATE_ADDRESSES": "false",
            "NEWSMON_INGEST__WEBSUB__CALLBACK_URL": f"http://127.0.0.1:{callback_port}/websub",
            "NEWSMON_INGEST__WEBSUB__LISTEN_PORT": str(callback_port),
            "NEWSMON_INGEST__WEBSUB__STATE_DB": str(tmp_path / "websub.sqlite3"),
            "NEWSMON_MATCH__RULES_DIR": str(REPO / "rules"),
            "NEWSMON_ALERT__APPRISE_URLS": json.dumps(
                [f"mailto://127.0.0.1:{smtp_port}/desk@example.org?from=newsmon@example.org&cto=5"]
            ),
            "NEWSMON_ALERT__APPRISE_MIN_INTERVAL_S": "0",
            "NEWSMON_ALERT__GROUP_WAIT_S": "0",  # the figure printed is then the pipeline's own latency
            "NEWSMON_ALERT__ALERT_LOG": str(tmp_path / "alerts.jsonl"),
            "NEWSMON_ALERT__OUTBOX_DB": str(tmp_path / "alerts.sqlite3"),
            "NEWSMON_METRICS__PORT": "0",
            "NEWSMON_LOG_FORMAT": "json",
        }
        logs = {name: tmp_path / f"{name}.log" for name in ("alert", "match", "ingest")}
        services = {name: newsmon([name], env, tmp_path, logs[name]) for name in logs}

        def diagnostics() -> str:
            return "\n".join(f"--- {n}\n{p.read_text()[-4000:]}" for n, p in logs.items())

        try:
            callback, _ = hub.wait_for_subscriber(topic.url, timeout_s=90)
            assert callback.startswith(f"http://127.0.0.1:{callback_port}/websub/"), callback
            # Publish once the matcher runs (spaCy loads for seconds), so the latency is the pipeline's.
            ready_by = time.monotonic() + 180
            while '"event": "match.ready"' not in logs["match"].read_text() and time.monotonic() < ready_by:
                assert services["match"].poll() is None, f"match died:\n{diagnostics()}"
                time.sleep(0.2)
            topic.body = seeds_as_rss([seed])
            published_at = time.monotonic()
            assert hub.publish(topic.url) == 202
            deadline = time.monotonic() + 120
            while not inbox.messages and time.monotonic() < deadline:
                for name, proc in services.items():
                    assert proc.poll() is None, f"{name} died:\n{diagnostics()}"
                time.sleep(0.2)
            assert inbox.messages, f"no email within 120 s of the publication\n{diagnostics()}"
            latency_s = time.monotonic() - published_at
            time.sleep(3)  # a duplicate email would show up in this margin
        finally:
            for proc in services.values():
                proc.send_signal(signal.SIGINT)
            codes = {name: proc.wait(timeout=30) for name, proc in services.items()}

    assert codes == {"alert": 0, "match": 0, "ingest": 0}, diagnostics()
    assert len(inbox.messages) == 1, "one alert, one email"
    part = inbox.messages[0].get_body(preferencelist=("plain", "html"))
    assert part is not None
    assert f"https://seeds.example.org/{SEED.removesuffix('.txt')}" in part.get_content()
    newsmon_gets = [ua for ua in topic.gets if ua.startswith("newsmon/")]
    assert len(newsmon_gets) == 1, f"newsmon polled the feed once, at start-up: {topic.gets}"
    ingest_log = logs["ingest"].read_text()
    assert '"event": "websub.verified"' in ingest_log
    assert '"event": "websub.notification_received"' in ingest_log
    print(f"publication to email through the hub: {latency_s:.2f} s")
