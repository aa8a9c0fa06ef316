"""Channels an alert is sent through: the terminal, the JSONL alert log, and apprise's receivers.

Every channel raises ``DeliveryError`` when it could not deliver; the service records that in the
outbox and goes on with the other channels.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol, TextIO

import apprise
from apprise.apprise import N_MGR

from monitor.alerting.render import render_console, render_subject, render_text
from monitor.errors import ConfigError, DeliveryError
from monitor.models import Alert

__all__ = ["AppriseChannel", "Channel", "ConsoleChannel", "JsonlLogChannel"]

_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://")


class Channel(Protocol):
    """Somewhere an alert can be delivered; ``name`` labels metrics and the outbox's delivery rows."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``, or raise ``DeliveryError`` saying why not."""
        ...


class ConsoleChannel:
    """Print a compact view of every alert on a text stream (the terminal by default)."""

    name = "console"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def send(self, alert: Alert) -> None:
        """Write ``alert`` to the stream, followed by a blank line."""
        try:
            self._stream.write(render_console(alert) + "\n\n")
            self._stream.flush()
        except (OSError, ValueError) as e:  # ValueError: the stream was closed
            raise DeliveryError(f"console: cannot write: {e}") from e


class JsonlLogChannel:
    """Append every alert, as its JSON message, to a JSONL file: one line per alert."""

    name = "log"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, alert: Alert) -> None:
        """Append ``alert`` as one JSON line."""
        line = alert.model_dump_json() + "\n"
        try:
            # Opened per alert so an external logrotate never leaves us writing to a deleted file.
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
        except OSError as e:
            raise DeliveryError(f"alert log {self.path}: cannot append: {e}") from e


class AppriseChannel:
    """Send every alert to a list of apprise URLs (mailto://, tgram://, ...) in one notify call.

    The URLs carry secrets (passwords, bot tokens), so no message of ours ever contains one: receivers
    are named by their position in the list and apprise's service name.

    Apprise spaces two notifications to the same service by a per-service interval (5.5 s for email),
    sleeping in ``send``. ``min_interval_s`` overrides it for every receiver; None keeps apprise's.
    """

    name = "apprise"

    def __init__(self, urls: list[str], min_interval_s: float | None = None) -> None:
        if not urls:
            raise ConfigError("apprise channel: no URL configured")
        self._apprise = apprise.Apprise()
        for i, url in enumerate(urls):
            where = f"alert.apprise_urls[{i}]"
            scheme = _SCHEME.match(url)
            # Checked before add(): apprise logs an unknown-scheme URL verbatim, secrets included.
            if scheme is None or scheme.group(1).lower() not in N_MGR:
                shown = f"{scheme.group(1)}://" if scheme else "a URL without scheme"
                raise ConfigError(f"{where}: apprise has no plugin for {shown} (mailto://, tgram://, ...)")
            if not self._apprise.add(url):
                raise ConfigError(
                    f"{where}: apprise cannot load this {scheme.group(1)}:// URL "
                    "(see https://github.com/caronc/apprise/wiki for its form)"
                )
        if min_interval_s is not None:
            for service in self._apprise:
                service.request_rate_per_sec = min_interval_s
        self.receivers = len(urls)

    def send(self, alert: Alert) -> None:
        """Notify every receiver; raise ``DeliveryError`` unless all of them accepted the alert."""
        try:
            result = self._apprise.notify(
                title=render_subject(alert),
                body=render_text(alert),
                body_format=apprise.NotifyFormat.TEXT,
            )
        except Exception as e:  # apprise wraps most failures in its result; this is the rest
            raise DeliveryError(f"apprise: notify raised {type(e).__name__}") from e
        if result:
            return
        failed = [f"{r.name}: {_status(r.status)}" for r in result if not r]
        if failed:
            detail = f"{len(failed)} of {self.receivers} receivers failed ({'; '.join(failed)})"
        else:
            detail = f"notify status {_status(result.status)}"
        raise DeliveryError(f"apprise: {detail}")


def _status(status: object) -> str:
    name = getattr(status, "name", None)
    return str(name).lower() if name else str(status)
