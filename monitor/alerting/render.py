"""Render notifications with Jinja2 templates, one per channel: pure functions of the notification.

Templates run in Jinja's sandbox (a user's template file cannot reach Python internals) and HTML
templates are autoescaped, so a headline such as ``<script>`` or ``R&D`` is shown, never run or
mangled. Users override any shipped template by putting a file of the same name in
``alert.templates_dir``; every template is compiled at start-up, so a syntax error stops newsmon
with the file and line instead of failing the first alert.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from monitor.alerting.notification import Notification
from monitor.errors import ConfigError
from monitor.models import Alert, Evidence

__all__ = ["TEMPLATES", "Renderer", "mark_entities"]

#: The templates a renderer needs: subject line, plain text, terminal, HTML email, Telegram HTML.
TEMPLATES = ("subject.txt.j2", "text.txt.j2", "console.txt.j2", "email.html.j2", "telegram.html.j2")

_MARK_OPEN = "«"
_MARK_CLOSE = "»"


class Renderer:
    """The compiled templates, the shipped ones under any the user overrides."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        loaders: list[Any] = []
        if templates_dir is not None:
            if not templates_dir.is_dir():
                raise ConfigError(f"alert.templates_dir: {templates_dir} is not a folder")
            loaders.append(FileSystemLoader(str(templates_dir)))
        loaders.append(PackageLoader("monitor.alerting", "templates"))
        self._env = SandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters.update(when=_when, marked=_marked, marked_html=_marked_html, sources=_sources)
        try:
            self._templates = {name: self._env.get_template(name) for name in TEMPLATES}
        except TemplateSyntaxError as e:
            raise ConfigError(f"{e.filename or e.name}:{e.lineno}: template error: {e.message}") from e

    def subject(self, note: Notification) -> str:
        """Return the one-line subject of ``note``."""
        return " ".join(self._render("subject.txt.j2", note).split())

    def text(self, note: Notification) -> str:
        """Return the plain-text body of ``note``."""
        return self._render("text.txt.j2", note, subject=self.subject(note))

    def console(self, note: Notification) -> str:
        """Return the few-line terminal view of ``note``."""
        return self._render("console.txt.j2", note).rstrip("\n")

    def email_html(self, note: Notification) -> str:
        """Return the HTML email body of ``note``."""
        return self._render("email.html.j2", note, subject=self.subject(note))

    def telegram_html(self, note: Notification) -> str:
        """Return the Telegram HTML of ``note``, before any split to the 4,096-character limit."""
        return self._render("telegram.html.j2", note).strip()

    def _render(self, name: str, note: Notification, **extra: object) -> str:
        context = {
            "kind": note.kind,
            "alerts": note.alerts,
            "receiver": note.receiver,
            "changes": note.changes,
            **extra,
        }
        try:
            return self._templates[name].render(context)
        except TemplateError as e:  # a user template using a name it does not have, or the sandbox
            raise ConfigError(f"template {name}: {type(e).__name__}: {e}") from e


def mark_entities(sentence: str, names: Iterable[str]) -> str:
    """Return ``sentence`` with every whole-word occurrence of ``names`` wrapped in «».

    Longer names win over the names they contain ("Xi Jinping" over "Xi"), and the marks never nest.
    """
    return "".join(
        f"{_MARK_OPEN}{text}{_MARK_CLOSE}" if marked else text for text, marked in _pieces(sentence, names)
    )


def _pieces(sentence: str, names: Iterable[str]) -> list[tuple[str, bool]]:
    sentence = " ".join(sentence.split())
    unique = sorted({n for n in names if n.strip()}, key=len, reverse=True)
    if not unique:
        return [(sentence, False)]
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in unique) + r")(?!\w)")
    pieces: list[tuple[str, bool]] = []
    last = 0
    for m in pattern.finditer(sentence):
        pieces += [(sentence[last : m.start()], False), (m.group(0), True)]
        last = m.end()
    pieces.append((sentence[last:], False))
    return [p for p in pieces if p[0]]


def _marked(ev: Evidence) -> str:
    return mark_entities(ev.sentence, (e.text for e in ev.entities))


def _marked_html(ev: Evidence, tag: str = "mark") -> Markup:
    if tag not in ("mark", "b", "strong", "i", "u"):
        raise ValueError(f"marked_html: tag {tag!r} is not one of mark, b, strong, i, u")
    parts = (
        Markup("<%s>%s</%s>") % (tag, text, tag) if marked else escape(text)
        for text, marked in _pieces(ev.sentence, (e.text for e in ev.entities))
    )
    return Markup("").join(parts)


def _sources(alert: Alert) -> int:
    return len(alert.articles)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "unknown"
    if moment.tzinfo is None:  # read a naive time as UTC, never as the host's zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
