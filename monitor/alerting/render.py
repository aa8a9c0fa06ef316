"""Render an Alert as text for people: pure functions of the alert, no clock, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from monitor.models import Alert, Evidence

__all__ = ["mark_entities", "render_console", "render_subject", "render_text"]

_MARK_OPEN = "«"
_MARK_CLOSE = "»"


def render_subject(alert: Alert) -> str:
    """Return the one-line subject of ``alert`` (email subject, notification title)."""
    return " ".join(alert.title.split())


def render_text(alert: Alert) -> str:
    """Return the plain-text body of ``alert``: watchlist, articles, then evidence with entities marked."""
    lines = [
        f"Watchlist: {alert.rule_name} ({alert.rule})",
        f"Severity: {alert.severity}",
    ]
    for ref in alert.articles:
        lines += [
            "",
            f"Article: {ref.title}",
            f"Source: {ref.feed_id}",
            f"Published: {_when(ref.published)}",
            f"Link: {ref.url}",
        ]
    if alert.evidence:
        lines += ["", "Evidence:"]
        lines += [f"- {_evidence_line(ev)}" for ev in alert.evidence]
    if alert.entities:
        lines += ["", f"Watched entities: {', '.join(alert.entities)}"]
    lines += ["", f"Alert id: {alert.id}"]
    return "\n".join(lines) + "\n"


def render_console(alert: Alert) -> str:
    """Return a compact, few-line view of ``alert`` for the terminal."""
    lines = [f"ALERT {alert.severity.upper()} {render_subject(alert)}"]
    for ref in alert.articles:
        lines.append(f"  {ref.feed_id} · {_when(ref.published)} · {ref.url}")
    if alert.evidence:
        lines.append(f"  {_evidence_line(alert.evidence[0], with_condition=False)}")
    return "\n".join(lines)


def mark_entities(sentence: str, names: Iterable[str]) -> str:
    """Return ``sentence`` with every whole-word occurrence of ``names`` wrapped in «».

    Longer names win over the names they contain ("Xi Jinping" over "Xi"), and the marks never nest.
    """
    unique = sorted({n for n in names if n.strip()}, key=len, reverse=True)
    if not unique:
        return sentence
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in unique) + r")(?!\w)")
    return pattern.sub(lambda m: f"{_MARK_OPEN}{m.group(0)}{_MARK_CLOSE}", sentence)


def _evidence_line(ev: Evidence, *, with_condition: bool = True) -> str:
    text = mark_entities(" ".join(ev.sentence.split()), (e.text for e in ev.entities))
    return f"[{ev.condition}] {text}" if with_condition else text


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "unknown"
    if moment.tzinfo is None:  # read a naive time as UTC, never as the host's zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
