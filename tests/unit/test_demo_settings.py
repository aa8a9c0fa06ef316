"""`newsmon demo` keeps to itself: its own files and its own embedded broker, whatever is configured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.demo import isolated_settings
from monitor.settings import load_settings


def test_the_demo_never_uses_a_configured_kafka_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in [v for v in os.environ if v.startswith("NEWSMON_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("NEWSMON_KAFKA__BOOTSTRAP_SERVERS", '["127.0.0.1:19092"]')
    monkeypatch.setenv("NEWSMON_KAFKA__GROUP_PREFIX", "prod")
    monkeypatch.setenv("NEWSMON_KAFKA__TANSU_BIN", "/opt/tansu/bin/tansu")
    configured = load_settings()
    assert not configured.embedded_broker

    demo = isolated_settings(configured, tmp_path, tmp_path / "feeds.yaml")

    # Its own broker, hence none of the cluster's topics, groups or alert-state changelog.
    assert demo.embedded_broker
    assert demo.kafka.group_prefix == "newsmon"
    assert demo.kafka.tansu_bin == Path("/opt/tansu/bin/tansu")
    assert demo.ingest.state_db == tmp_path / "ingest.sqlite3"
    assert demo.alert.outbox_db.parent == tmp_path
    assert configured.kafka.bootstrap_servers == ["127.0.0.1:19092"]  # the caller's settings are unchanged
