"""WebSub settings: off by default, and mistakes that say what to give."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.errors import ConfigError
from monitor.ingest.websub.source import build_websub
from monitor.metrics import Metrics
from monitor.settings import IngestSettings, WebSubSettings, load_settings


def test_contradicting_retry_settings_are_a_config_error_naming_them(tmp_path: Path) -> None:
    websub = WebSubSettings(
        callback_url="https://newsmon.example.org/websub",
        retry_min_s=600,
        retry_max_s=60,
        state_db=tmp_path / "w",
    )
    with pytest.raises(ConfigError, match=r"ingest\.websub\.retry_min_s"):
        build_websub(IngestSettings(websub=websub), Metrics(CollectorRegistry()))
    assert build_websub(IngestSettings(), Metrics(CollectorRegistry())) is None, "off by default"


def test_a_callback_url_that_is_no_url_says_what_to_give(monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.delenv("NEWSMON_CONFIG", raising=False)
    monkeypatch.setenv("NEWSMON_INGEST__WEBSUB__CALLBACK_URL", "newsmon.example.org")
    with pytest.raises(
        ConfigError, match=r"NEWSMON_INGEST__WEBSUB__CALLBACK_URL: .*https://newsmon\.example\.org/websub"
    ):
        load_settings()
