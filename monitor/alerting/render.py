"""Render notifications with Jinja2 templates, one per channel: pure functions of the notification.

Templates run in Jinja's sandbox (a user's template file cannot reach Python internals) and HTML
templates are autoescaped, so a headline such as ``<script>`` or ``R&D`` is shown, never run or
mangled. Users override any shipped template by putting a file of the same name in
``alert.templates_dir``; every template is compiled at start-up, so a syntax error stops newsmon
with the file and line instead of failing the first alert.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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

from monitor.alerting.document import alert_document, notification_document
from monitor.alerting.notification import Notification
from monitor.alerting.view import AlertView, Desk, EvidenceView, view_of
from monitor.errors import ConfigError
from monitor.models import Alert, Evidence
from monitor.settings import AlertSettings

__all__ = [
    "CONSOLE_LIMIT",
    "SUBJECT_LIMIT",
    "TEMPLATES",
    "Renderer",
    "mark_entities",
]

#: The templates a renderer needs: subject line, plain text, terminal, HTML email, Telegram HTML.
TEMPLATES = ("subject.txt.j2", "text.txt.j2", "console.txt.j2", "email.html.j2", "telegram.html.j2")
#: Characters of a subject line: past about 150 a mail client cuts it anyway, mid-word.
SUBJECT_LIMIT = 150
#: Characters of one console line: one alert is one line, whatever the terminal.
CONSOLE_LIMIT = 300
#: Sources a message lists in full; the others are counted ("and 4 more").
MAX_SOURCES = 10

_MARK_OPEN = "«"
_MARK_CLOSE = "»"
_SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")


class Renderer:
    """The compiled templates, the shipped ones under any the user overrides, and each receiver's desk."""

    def __init__(
        self,
        templates_dir: Path | None = None,
        desk: Desk | None = None,
        desks: Mapping[str, Desk] | None = None,
    ) -> None:
        self._desk = desk or Desk()
        self._desks = dict(desks or {})
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
        self._env.filters.update(
            when=_when,
            marked=_marked,
            marked_html=_marked_html,
            sources=_sources,
            highlight=_highlight,
            highlight_html=_highlight_html,
            language=_language,
        )
        try:
            self._templates = {name: self._env.get_template(name) for name in TEMPLATES}
        except TemplateSyntaxError as e:
            raise ConfigError(f"{e.filename or e.name}:{e.lineno}: template error: {e.message}") from e

    @classmethod
    def of(cls, settings: AlertSettings) -> Renderer:
        """Return the renderer ``settings`` describe: templates, the desk, each receiver's own desk."""
        desk = Desk(settings.language, ZoneInfo(settings.timezone), dict(settings.outlets))
        desks = {
            name: Desk(
                r.language or desk.language,
                ZoneInfo(r.timezone) if r.timezone else desk.zone,
                desk.outlets,
            )
            for name, r in settings.receivers.items()
        }
        return cls(settings.templates_dir, desk, desks)

    def desk(self, receiver: str) -> Desk:
        """Return the desk of ``receiver``: its language and time zone, else the alerter's."""
        return self._desks.get(receiver, self._desk)

    def views(self, note: Notification) -> list[AlertView]:
        """Return the view of each alert of ``note`` for its receiver's desk."""
        desk = self.desk(note.receiver)
        views = [view_of(alert, desk) for alert in note.alerts]
        if note.kind == "digest":  # the period's alerts in the order they were raised
            views.sort(key=lambda v: (v.alert.created_at, v.alert.id))
        return views

    def subject(self, note: Notification) -> str:
        """Return the one-line subject of ``note``, at most ``SUBJECT_LIMIT`` characters."""
        return _fit(" ".join(self._render("subject.txt.j2", note).split()), SUBJECT_LIMIT)

    def text(self, note: Notification) -> str:
        """Return the plain-text body of ``note``."""
        return self._render("text.txt.j2", note, subject=self.subject(note))

    def console(self, note: Notification) -> str:
        """Return the terminal view of ``note``: one line per alert, each at most ``CONSOLE_LIMIT``."""
        lines = self._render("console.txt.j2", note).splitlines()
        return "\n".join(_fit(" ".join(line.split()), CONSOLE_LIMIT) for line in lines if line.strip())

    def email_html(self, note: Notification) -> str:
        """Return the HTML email body of ``note``."""
        return self._render("email.html.j2", note, subject=self.subject(note))

    def telegram_html(self, note: Notification) -> str:
        """Return the Telegram HTML of ``note``, before any split to the 4,096-character limit."""
        return self._render("telegram.html.j2", note).strip()

    def documents(self, note: Notification) -> list[dict[str, Any]]:
        """Return each alert of ``note`` as its ``newsmon.alert/2`` JSON document (the JSONL log)."""
        views = self.views(note)
        return [
            alert_document(v, note.kind, self.subject(Notification(note.kind, (v.alert,), note.receiver)))
            for v in views
        ]

    def document(self, note: Notification) -> dict[str, Any]:
        """Return ``note`` as one ``newsmon.notification/2`` JSON document (a webhook's body)."""
        views = self.views(note)
        subjects = [self.subject(Notification(note.kind, (v.alert,), note.receiver)) for v in views]
        return notification_document(views, note.kind, note.receiver, self.subject(note), subjects)

    def _render(self, name: str, note: Notification, **extra: object) -> str:
        views = self.views(note)
        severities = [v.severity for v in views] or ["info"]
        context = {
            "kind": note.kind,
            "alerts": note.alerts,
            "views": views,
            "receiver": note.receiver,
            "changes": note.changes,
            "top_severity": max(severities, key=_severity_rank),
            "max_sources": MAX_SOURCES,
            "console_limit": CONSOLE_LIMIT,
            **extra,
        }
        try:
            return self._templates[name].render(context)
        except TemplateError as e:  # a user template using a name it does not have, or the sandbox
            raise ConfigError(f"template {name}: {type(e).__name__}: {e}") from e


def _severity_rank(severity: str) -> int:
    return _SEVERITY_ORDER.index(severity) if severity in _SEVERITY_ORDER else 0


def _fit(line: str, limit: int) -> str:
    """Return ``line`` cut to ``limit`` characters, with an ellipsis where it was cut."""
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _highlight(ev: EvidenceView) -> str:
    """Return the sentence with names in «» and trigger words in [] (plain text, the console)."""
    marks = {"name": (_MARK_OPEN, _MARK_CLOSE), "trigger": ("[", "]"), "text": ("", "")}
    return "".join(marks[p.kind][0] + p.text + marks[p.kind][1] for p in ev.pieces)


def _highlight_html(ev: EvidenceView, name_tag: str = "mark", trigger_tag: str = "u") -> Markup:
    """Return the sentence as HTML, names in ``name_tag`` and trigger words in ``trigger_tag``."""
    for tag in (name_tag, trigger_tag):
        if tag not in _HTML_TAGS:
            raise ValueError(f"highlight_html: tag {tag!r} is not one of {', '.join(_HTML_TAGS)}")
    tags = {"name": name_tag, "trigger": trigger_tag}
    return Markup("").join(
        escape(p.text) if p.kind == "text" else Markup("<%s>%s</%s>") % (tags[p.kind], p.text, tags[p.kind])
        for p in ev.pieces
    )


def _language(code: str | None) -> str:
    return code or "language unknown"


_HTML_TAGS = ("mark", "b", "strong", "i", "u", "em")


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
