"""The walking skeleton end to end: seed articles as an RSS feed over HTTP → three newsmon processes on
a real broker (tansu, or Apache Kafka) → alerts at a real SMTP server, through apprise's mailto://."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.serve import LocalFeedServer
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.processes import newsmon
from tests.fixtures.seeds import SEEDS, load_seeds, seeds_as_rss
from tests.fixtures.smtp import Inbox

REPO = Path(__file__).resolve().parents[2]


def _seed_of(url: str) -> str:
    return url.rsplit("/", 1)[-1] + ".txt"


def test_seed_feed_reaches_smtp_as_one_alert_per_watchlist_and_event(
    broker: BrokerUnderTest, smtp: tuple[Inbox, int], tmp_path: Path, unique: str
) -> None:
    seeds = load_seeds()
    labels = yaml.safe_load((SEEDS / "labels.yaml").read_text(encoding="utf-8"))
    expected = {(rule, seed.name) for seed in seeds for rule in seed.labels}
    site = tmp_path / "site"
    site.mkdir()
    (site / "seeds.xml").write_bytes(seeds_as_rss(seeds))
    inbox, smtp_port = smtp

    with LocalFeedServer(site) as server:
        (tmp_path / "feeds.yaml").write_text(
            yaml.safe_dump({"feeds": [{"id": "seeds", "url": server.url("seeds.xml"), "language": "fr"}]})
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        # The broker's address and group timeouts (on tansu the ones `newsmon broker` tells users to set).
        env |= broker.env()
        env |= {
            "NEWSMON_KAFKA__GROUP_PREFIX": f"e2e-{unique}",
            **{
                f"NEWSMON_KAFKA__TOPICS__{t.upper()}": f"{t}-{unique}"
                for t in ("articles", "matches", "alerts", "deadletter")
            },
            "NEWSMON_INGEST__FEEDS_FILE": str(tmp_path / "feeds.yaml"),
            "NEWSMON_INGEST__STATE_DB": str(tmp_path / "ingest.sqlite3"),
            "NEWSMON_INGEST__BLOCK_PRIVATE_ADDRESSES": "false",
            "NEWSMON_MATCH__RULES_DIR": str(REPO / "rules"),
            "NEWSMON_ALERT__APPRISE_URLS": json.dumps(
                [f"mailto://127.0.0.1:{smtp_port}/desk@example.org?from=newsmon@example.org&cto=5"]
            ),
            "NEWSMON_ALERT__APPRISE_MIN_INTERVAL_S": "0",
            "NEWSMON_ALERT__ALERT_LOG": str(tmp_path / "alerts.jsonl"),
            "NEWSMON_ALERT__OUTBOX_DB": str(tmp_path / "alerts.sqlite3"),
            "NEWSMON_METRICS__PORT": "0",
            "NEWSMON_LOG_FORMAT": "json",
        }
        logs = {name: tmp_path / f"{name}.log" for name in ("match", "alert", "ingest")}
        services = {
            "alert": newsmon(["alert"], env, tmp_path, logs["alert"]),
            "match": newsmon(["match"], env, tmp_path, logs["match"]),
        }

        def stored_alerts() -> list[dict[str, Any]]:
            listing = subprocess.run(
                [sys.executable, "-m", "monitor", "alerts", "list", "--format", "json"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                check=True,
            )
            return [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]

        def covered() -> set[tuple[str, str]]:
            return {(a["rule"], _seed_of(r["url"])) for a in stored_alerts() for r in a["articles"]}

        try:
            ingest = newsmon(["ingest", "--once"], env, tmp_path, logs["ingest"])
            assert ingest.wait(timeout=60) == 0, logs["ingest"].read_text()
            assert '"published": 5' in logs["ingest"].read_text(), logs["ingest"].read_text()
            deadline = time.monotonic() + 120
            while covered() != expected and time.monotonic() < deadline:
                for name, proc in services.items():
                    assert proc.poll() is None, f"{name} died:\n{logs[name].read_text()}"
                time.sleep(0.5)
            # Grouped alerts go out after group_wait: wait until every alert was sent, plus a margin in
            # which a spurious extra email would show up.
            while any(a["state"] != "sent" for a in stored_alerts()) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)
            alerts = stored_alerts()
        finally:
            for proc in services.values():
                proc.send_signal(signal.SIGINT)
            codes = {name: proc.wait(timeout=30) for name, proc in services.items()}

    diagnostics = "\n".join(f"--- {n}\n{p.read_text()[-3000:]}" for n, p in logs.items())
    assert codes == {"alert": 0, "match": 0}, diagnostics
    assert all(a["state"] == "sent" for a in alerts), alerts
    events = [(a["rule"], frozenset(_seed_of(r["url"]) for r in a["articles"])) for a in alerts]
    # Exactly the labelled watchlists fire on each seed, and each (watchlist, seed) is in one alert only.
    pairs = [(rule, seed) for rule, members in events for seed in members]
    assert sorted(pairs) == sorted(expected), diagnostics
    # labels.yaml's event facts: the same event shares one alert, different events never do.
    for rule, facts in labels["dedup"].items():
        for a, b in facts.get("same_alert", []):
            assert any(rule == r and {a, b} <= members for r, members in events), (rule, a, b, events)
        for a, b in facts.get("different_alert", []):
            assert not any(rule == r and {a, b} <= members for r, members in events), (rule, a, b, events)
    # Every alert reached the SMTP server, and its email links every source it covers.
    bodies = []
    for message in inbox.messages:
        part = message.get_body(preferencelist=("plain", "html"))
        assert part is not None
        bodies.append(part.get_content())
    for rule, members in events:
        links = {f"https://seeds.example.org/{m.removesuffix('.txt')}" for m in members}
        assert any(all(link in body for link in links) for body in bodies), (rule, members)
    assert len(inbox.messages) == len(events), "one email per alert: no duplicate, no stray follow-up"
