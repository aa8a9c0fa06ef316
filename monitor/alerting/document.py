"""The alert as JSON for machines (the JSONL log, webhooks): schema ``newsmon.alert/2``. Pure.

The schema is documented in ``monitor/alerting/schema/alert-2.schema.json``; bump the version on any
incompatible change. It says what the email says (first line, evidence, sources first reporter
first), and keeps the fields of the first JSONL records (``id``, ``rule``, ``articles``) readers use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.alerting.view import AlertView

__all__ = ["ALERT_SCHEMA", "NOTIFICATION_SCHEMA", "SCHEMA_FILE", "alert_document", "notification_document"]

ALERT_SCHEMA = "newsmon.alert/2"
NOTIFICATION_SCHEMA = "newsmon.notification/2"
#: The JSON Schema of both documents (``$defs.alert`` is one alert).
SCHEMA_FILE = Path(__file__).parent / "schema" / "alert-2.schema.json"


def alert_document(view: AlertView, kind: str, subject: str) -> dict[str, Any]:
    """Return the JSON document of one alert as ``view`` shows it, sent as ``kind``."""
    alert = view.alert
    evidence = view.evidence
    return {
        "schema": ALERT_SCHEMA,
        "id": alert.id,
        "revision": alert.revision,
        "kind": kind,
        "severity": alert.severity,
        "rule": alert.rule,
        "rule_name": alert.rule_name,
        "subject": subject,
        "first_line": view.first_line,
        "what": view.what,
        "who": [{"id": p.id, "name": p.name} for p in view.who],
        "where": view.where,
        "when": view.when.isoformat(),
        "desk_language": view.desk_language,
        "headline": view.headline,
        "summary": alert.summary,
        "evidence": None
        if evidence is None
        else {
            "sentence": evidence.sentence,
            "language": evidence.language,
            "url": evidence.url,
            "outlet": evidence.outlet,
            "article_id": evidence.article_id,
            "conditions": list(evidence.conditions),
            "highlights": [
                {"start": p.start, "end": p.start + len(p.text), "kind": p.kind, "text": p.text}
                for p in evidence.pieces
                if p.kind != "text"
            ],
        },
        "articles": [
            {
                "id": s.id,
                "outlet": s.outlet,
                "feed_id": s.feed_id,
                "title": s.title,
                "url": s.url,
                "language": s.language,
                "published": _iso(s.published),
                "published_local": s.local_time,
            }
            for s in view.sources
        ],
        "entities": list(alert.entities),
        "changes": list(alert.changes),
        "tags": list(alert.tags),
        "receivers": list(alert.receivers),
        "match_ids": list(alert.match_ids),
        "created_at": _iso(alert.created_at),
        "updated_at": _iso(alert.updated_at),
    }


def notification_document(
    views: list[AlertView], kind: str, receiver: str, subject: str, subjects: list[str]
) -> dict[str, Any]:
    """Return the JSON document of one message (a webhook's body): its subject and its alerts."""
    return {
        "schema": NOTIFICATION_SCHEMA,
        "kind": kind,
        "receiver": receiver,
        "subject": subject,
        "alerts": [alert_document(v, kind, s) for v, s in zip(views, subjects, strict=True)],
    }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
