"""Settings: defaults, YAML file, environment overrides, and errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.settings import load_settings


def test_defaults_use_the_embedded_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSMON_CONFIG", raising=False)
    s = load_settings()
    assert s.embedded_broker
    assert s.kafka.topics.articles == "articles"
    assert s.metrics.port == 9464


def test_env_overrides_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "newsmon.yaml"
    cfg.write_text("kafka:\n  partitions: 6\n  bootstrap_servers: ['k1:9092']\nalert:\n  console: false\n")
    monkeypatch.setenv("NEWSMON_KAFKA__PARTITIONS", "12")
    monkeypatch.setenv("NEWSMON_ALERT__APPRISE_URLS", '["mailto://user:secret@example.org"]')
    s = load_settings(cfg)
    assert s.kafka.partitions == 12
    assert s.kafka.bootstrap_servers == ["k1:9092"]
    assert not s.embedded_broker
    assert s.alert.console is False
    assert s.alert.apprise_urls[0].get_secret_value() == "mailto://user:secret@example.org"
    assert "secret" not in repr(s)


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("log_level: DEBUG\n")
    monkeypatch.setenv("NEWSMON_CONFIG", str(cfg))
    assert load_settings().log_level == "DEBUG"


def test_unknown_field_is_named_with_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("kafka:\n  partitionz: 3\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    assert str(e.value).startswith(f"{cfg}:2: kafka.partitionz: unknown key 'partitionz'; valid keys are [")
    assert "'partitions'" in str(e.value)
    assert "NEWSMON_" not in str(e.value), "no env-variable hint for an error in a file"


def test_bad_json_in_a_variable_names_the_variable_and_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_ALERT__RECEIVERS", '{"desk": {"urls": [}')
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert str(e.value).startswith("NEWSMON_ALERT__RECEIVERS: invalid JSON: Expecting value at character 20;")
    assert "EnvSettingsSource" not in str(e.value)


def test_a_misspelled_section_is_refused_with_the_valid_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_ALERTS__CONSOLE", "false")
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert str(e.value).startswith(
        "NEWSMON_ALERTS__CONSOLE: unknown section or setting 'alerts'; valid names are ["
    )
    assert "'alert'" in str(e.value)


def test_an_error_from_a_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_KAFKA__PARTITIONS", "many")
    monkeypatch.setenv("NEWSMON_ALERT__RECEIVERS", '{"desk": {"url": ["mailto://x"]}}')
    with pytest.raises(ConfigError) as e:
        load_settings()
    lines = str(e.value).splitlines()
    assert "NEWSMON_KAFKA__PARTITIONS: kafka.partitions: Input should be a valid integer" in str(e.value)
    assert any(
        line.startswith(
            "NEWSMON_ALERT__RECEIVERS: alert.receivers.desk.url: unknown key 'url'; valid keys are"
        )
        for line in lines
    ), lines


def test_invalid_value_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("metrics:\n  port: 99999\n")
    with pytest.raises(ConfigError, match=r"metrics\.port"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("kafka: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_settings(cfg)
