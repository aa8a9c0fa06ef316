"""Channels a notification is sent through: the terminal, the JSONL alert log, apprise URLs, Telegram.

Every URL of a receiver is a channel of its own, delivered and retried alone, so a retry never sends
again to a URL that already accepted the message. Every channel raises ``DeliveryError`` when it could
not deliver; the service records that in the outbox and goes on with the other channels.
"""

from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

import apprise
from apprise.apprise import N_MGR
from apprise.result import NotifyResult

from monitor.alerting.notification import Notification
from monitor.alerting.ratelimit import RateLimiter
from monitor.alerting.render import Renderer
from monitor.alerting.telegram import TelegramChannel, parse_tgram
from monitor.alerting.webhook import WEBHOOK_SCHEMES, WebhookChannel
from monitor.errors import ConfigError, DeliveryError
from monitor.logs import get_logger
from monitor.masking import Masker, url_secrets
from monitor.settings import AlertSettings

__all__ = [
    "AppriseChannel",
    "Channel",
    "ConsoleChannel",
    "JsonlLogChannel",
    "Receivers",
    "build_channels",
    "check_receivers",
]

_log = get_logger(__name__)
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://")
_EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})
_TERMINAL_UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# Telegram: about one message a second per chat, twenty a minute per group (its Bot API FAQ).
_TELEGRAM_MIN_INTERVAL_S = 1.0
_TELEGRAM_PER_MINUTE = 20


class Channel(Protocol):
    """Somewhere a notification can be delivered; ``name`` labels metrics and the outbox's rows."""

    name: str

    def send(self, note: Notification) -> None:
        """Deliver ``note``, or raise ``DeliveryError`` saying why not."""
        ...


class ConsoleChannel:
    """Print a compact view of every notification on a text stream (the terminal by default)."""

    name = "console"
    receiver = "console"

    def __init__(self, stream: TextIO, renderer: Renderer | None = None) -> None:
        self._stream = stream
        self._renderer = renderer or Renderer()

    def send(self, note: Notification) -> None:
        """Write ``note`` to the stream, followed by a blank line.

        Control characters are dropped: news text reaching a terminal must not be able to send it
        escape sequences (clear it, retitle it, forge lines).
        """
        try:
            self._stream.write(_TERMINAL_UNSAFE.sub("", self._renderer.console(note)) + "\n\n")
            self._stream.flush()
        except (OSError, ValueError) as e:  # ValueError: the stream was closed
            raise DeliveryError(f"console: cannot write: {e}") from e


class JsonlLogChannel:
    """Append every alert of every notification to a JSONL file: one ``newsmon.alert/2`` line each."""

    name = "log"
    receiver = "log"

    def __init__(self, path: Path, renderer: Renderer | None = None) -> None:
        self.path = path
        self._renderer = renderer or Renderer()
        path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, note: Notification) -> None:
        """Append each alert of ``note`` as one JSON line (schema in ``alerting/schema``)."""
        lines = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in self._renderer.documents(note))
        try:
            # Opened per message so an external logrotate never leaves us writing to a deleted file.
            with self.path.open("a", encoding="utf-8") as f:
                f.write(lines)
        except OSError as e:
            raise DeliveryError(f"alert log {self.path}: cannot append: {e}") from e


class AppriseChannel:
    """Send notifications to one apprise URL: HTML email for mailto://, plain text for the others.

    The URL carries secrets (passwords, tokens), so no message of ours ever contains it: the channel
    is named after its receiver. Apprise spaces two notifications to one service (5.5 s for email),
    sleeping in ``send``; ``min_interval_s`` overrides that, None keeps apprise's.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "apprise",
        receiver: str = "apprise",
        renderer: Renderer | None = None,
        min_interval_s: float | None = None,
        where: str = "alert.apprise_urls[0]",
    ) -> None:
        self.name = name
        self.receiver = receiver
        self._renderer = renderer or Renderer()
        scheme = _check_scheme(url, where)
        self.flavour = "email" if scheme in _EMAIL_SCHEMES else "text"
        self._masker = Masker(url_secrets(url))
        # apprise logs the cause of a failure ("Socket Exception: ... Connection refused") at DEBUG, and
        # a result keeps only the records its logger made: the cause is what `alerts list` shows.
        logging.getLogger("apprise").setLevel(logging.DEBUG)
        self._apprise = apprise.Apprise()
        # What the plugin says while reading the URL is why it cannot load it ("Invalid ~From~ email"),
        # or why every send will fail ("Dropped invalid To email"): said in our error, not beside it.
        loading = _Warnings()
        apprise_log = logging.getLogger("apprise")
        apprise_log.addHandler(loading)
        apprise_log.propagate = False
        try:
            loaded = self._apprise.add(url)
        finally:
            apprise_log.removeHandler(loading)
            apprise_log.propagate = True
        self._load_problems = [self._masker.mask(line.rstrip(". :")) for line in loading.lines]
        if not loaded:
            said = [p for p in self._load_problems if not p.startswith("Could not load")]
            problems = f": {'; '.join(said)}" if said else ""
            raise ConfigError(
                f"{where}: apprise cannot load this {scheme}:// URL{problems}; fix it as "
                "https://github.com/caronc/apprise/wiki describes for its service"
            )
        for problem in self._load_problems:
            _log.warning("alert.receiver_url_suspect", setting=where, problem=problem)
        if min_interval_s is not None:
            for service in self._apprise:
                service.request_rate_per_sec = min_interval_s

    def send(self, note: Notification) -> None:
        """Notify the URL; raise ``DeliveryError`` unless it accepted the message."""
        if self.flavour == "email":
            body, body_format = self._renderer.email_html(note), apprise.NotifyFormat.HTML
        else:
            body, body_format = self._renderer.text(note), apprise.NotifyFormat.TEXT
        try:
            # DEBUG, so the result keeps the cause apprise logs there ("Socket Exception: ...").
            result = self._apprise.notify(
                title=self._renderer.subject(note),
                body=body,
                body_format=body_format,
                log_level=logging.DEBUG,
            )
        except Exception as e:  # apprise wraps most failures in its result; this is the rest
            raise DeliveryError(
                self._masker.mask(f"{self.name}: notify raised {type(e).__name__}: {e}")
            ) from e
        if result:
            return
        failed = [f"{r.name}: {self._reason(r)}" for r in result if not r]
        detail = "; ".join(failed) if failed else f"notify status {_status(result.status)}"
        # A server may quote the credentials back in its refusal; the reason is shown and stored.
        raise DeliveryError(self._masker.mask(f"{self.name}: {detail}"))

    def _reason(self, result: NotifyResult) -> str:
        """Return why ``result`` failed, in apprise's words: its warnings and the exception behind them."""
        said = [*self._load_problems]
        causes: list[str] = []
        for entry in result.logs():
            if entry.level in ("WARNING", "ERROR", "CRITICAL"):
                said.append(entry.message.rstrip("."))
            elif "Exception: " in entry.message:
                causes.append(entry.message.split("Exception: ", 1)[1])
        reason = "; ".join(dict.fromkeys(said)) or _status(result.status)
        return f"{reason} ({'; '.join(dict.fromkeys(causes))})" if causes else reason


class _Warnings(logging.Handler):
    """Keep the messages of the warnings logged while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Receivers:
    """The configured channels by name, which receiver each belongs to, and the pace of each."""

    channels: list[Channel]
    receiver_of: dict[str, str]
    limiters: dict[str, RateLimiter]

    def of(self, receiver: str) -> list[Channel]:
        """Return the channels of ``receiver``."""
        return [c for c in self.channels if self.receiver_of[c.name] == receiver]

    @property
    def names(self) -> list[str]:
        """Return the receiver names, in configuration order."""
        return list(dict.fromkeys(self.receiver_of.values()))


def build_channels(settings: AlertSettings, renderer: Renderer, console: TextIO) -> Receivers:
    """Return the channels ``settings`` describe: console if enabled, the JSONL log, then each receiver's.

    Raises:
        ConfigError: a URL no plugin reads (the message names its place in the settings, never the URL).
    """
    channels: list[Channel] = []
    receiver_of: dict[str, str] = {}
    limiters: dict[str, RateLimiter] = {}
    if settings.console:
        channels.append(ConsoleChannel(console, renderer))
    channels.append(JsonlLogChannel(settings.alert_log, renderer))
    named: list[tuple[str, str, list[str], float | None, int | None, str]] = []
    if settings.apprise_urls:
        urls = [u.get_secret_value() for u in settings.apprise_urls]
        named.append(("apprise", "alert.apprise_urls", urls, settings.apprise_min_interval_s, None, ""))
    for name, receiver in settings.receivers.items():
        urls = [u.get_secret_value() for u in receiver.urls]
        where = f"alert.receivers.{name}.urls"
        named.append(
            (name, where, urls, receiver.min_interval_s, receiver.max_per_minute, receiver.telegram_api_url)
        )
    for name, where, urls, min_interval, per_minute, api_url in named:
        built: list[tuple[Channel, RateLimiter]] = []
        for i, url in enumerate(urls):
            place = f"{where}[{i}]"
            if _webhook(url):
                hook = WebhookChannel(url, name=name, receiver=name, renderer=renderer, where=place)
                built.append((hook, RateLimiter(min_interval, per_minute)))
            elif _check_scheme(url, place) == "tgram":
                for target in parse_tgram(url, place):
                    telegram = TelegramChannel(
                        name,
                        name,
                        target,
                        renderer,
                        api_url=api_url or "https://api.telegram.org",
                        max_messages=settings.telegram_max_messages,
                    )
                    pace = RateLimiter(
                        _TELEGRAM_MIN_INTERVAL_S if min_interval is None else min_interval,
                        per_minute or _TELEGRAM_PER_MINUTE,
                    )
                    built.append((telegram, pace))
            else:
                app = AppriseChannel(
                    url, name=name, receiver=name, renderer=renderer, min_interval_s=min_interval, where=place
                )
                built.append((app, RateLimiter(None, per_minute)))
        for j, (channel, pace) in enumerate(built, start=1):
            if len(built) > 1:  # one name per URL (and chat), so each is delivered and retried alone
                channel.name = f"{name}.{j}"
            channels.append(channel)
            limiters[channel.name] = pace
    for channel in channels:
        receiver_of[channel.name] = getattr(channel, "receiver", channel.name)
    return Receivers(channels, receiver_of, limiters)


def check_receivers(settings: AlertSettings) -> None:
    """Build every channel once and drop them, so an unusable receiver URL fails at start.

    Raises:
        ConfigError: naming the setting of the URL (``alert.receivers.desk.urls[0]``), never the URL.
    """
    build_channels(settings.model_copy(update={"console": False}), Renderer.of(settings), io.StringIO())


def _webhook(url: str) -> bool:
    scheme = _SCHEME.match(url)
    return scheme is not None and scheme.group(1).lower() in WEBHOOK_SCHEMES


def _check_scheme(url: str, where: str) -> str:
    scheme = _SCHEME.match(url)
    # Checked before apprise sees it: apprise logs an unknown-scheme URL verbatim, secrets included.
    if scheme is None or scheme.group(1).lower() not in N_MGR:
        shown = f"{scheme.group(1)}://" if scheme else "a URL without scheme"
        raise ConfigError(
            f"{where}: apprise has no plugin for {shown} (mailto://, tgram://, webhook://, ...)"
        )
    return scheme.group(1).lower()


def _status(status: object) -> str:
    name = getattr(status, "name", None)
    return str(name).lower() if name else str(status)
