"""The README documents every setting, and the example config file is valid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.settings import load_settings
from tests.fixtures.settings_names import setting_env_names

REPO = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [n for n in sorted(setting_env_names()) if f"`{n}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


def test_readme_shows_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme
    assert "make test" in readme
    assert "make demo" in readme


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("NEWSMON_")]:
        monkeypatch.delenv(var)
    s = load_settings(REPO / "deploy" / "newsmon.example.yaml")
    assert s.embedded_broker
    assert s.kafka.partitions == 3
