"""Turn Matches into Alerts and fold later Matches of the same event into them: pure, no clock, no I/O.

Every time comes from the Match (``matched_at``), so a replayed Match yields the same Alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from monitor.models import Alert, ArticleRef, Evidence, Match

__all__ = [
    "MAX_EVIDENCE",
    "SUMMARY_MAX_CHARS",
    "absorb",
    "alert_from_match",
    "alert_id",
    "attach",
    "escalate",
]

SUMMARY_MAX_CHARS = 280
#: Evidence sentences an alert keeps across its articles: enough to judge, short enough to read.
MAX_EVIDENCE = 8


def alert_id(rule: str, key: str) -> str:
    """Return the id of the alert of ``rule`` about ``key``: the id of the article that opened the event.

    The id is the outbox's key: the same (rule, key) must always give the same id.
    """
    return hashlib.sha256(f"alert\x00{rule}\x00{key}".encode()).hexdigest()[:24]


def alert_from_match(match: Match, receivers: Iterable[str] = ()) -> Alert:
    """Return the alert that ``match`` opens: a new event of its watchlist."""
    article = match.article
    return Alert(
        id=alert_id(match.rule, article.id),
        rule=match.rule,
        rule_name=match.rule_name,
        severity=match.severity,
        title=f"[{match.rule}] {article.title}",
        summary=_summary(match),
        articles=(ArticleRef.of(article, match.language),),
        evidence=_from(match),
        entities=match.entities,
        match_ids=(match.id,),
        created_at=match.matched_at,
        tags=_unique((*article.tags, *match.rule_tags)),
        receivers=tuple(receivers),
        event=dict(match.event),
        entity_names=dict(match.entity_names),
    )


def attach(alert: Alert, match: Match) -> Alert:
    """Return ``alert`` with the article of ``match`` added as one more source of its event."""
    article = match.article
    if match.id in alert.match_ids:
        return alert
    articles = alert.articles
    if all(ref.id != article.id for ref in articles):
        articles = (*articles, ArticleRef.of(article, match.language))
    return alert.model_copy(
        update={
            "articles": articles,
            "evidence": _evidence(alert.evidence, _from(match)),
            "event": alert.event or dict(match.event),
            "entity_names": {**match.entity_names, **alert.entity_names},
            "entities": _unique((*alert.entities, *match.entities)),
            "match_ids": (*alert.match_ids, match.id),
            "tags": _unique((*alert.tags, *article.tags, *match.rule_tags)),
            "revision": alert.revision + 1,
            "updated_at": match.matched_at,
        }
    )


def absorb(alert: Alert, other: Alert) -> Alert:
    """Return ``alert`` with the sources of ``other``, an alert found later to be about the same event."""
    known = {ref.id for ref in alert.articles}
    times = [t for t in (alert.updated_at, other.updated_at, other.created_at) if t is not None]
    return alert.model_copy(
        update={
            "articles": (*alert.articles, *(ref for ref in other.articles if ref.id not in known)),
            "evidence": _evidence(alert.evidence, other.evidence),
            "entities": _unique((*alert.entities, *other.entities)),
            "match_ids": _unique((*alert.match_ids, *other.match_ids)),
            "tags": _unique((*alert.tags, *other.tags)),
            "receivers": _unique((*alert.receivers, *other.receivers)),
            "event": alert.event or other.event,
            "entity_names": {**other.entity_names, **alert.entity_names},
            "revision": alert.revision + 1,
            "updated_at": max(times),
        }
    )


def escalate(alert: Alert, change: str) -> Alert:
    """Return ``alert`` with ``change`` recorded as a material change of its event."""
    if change in alert.changes:
        return alert
    return alert.model_copy(update={"changes": (*alert.changes, change), "revision": alert.revision + 1})


def _from(match: Match) -> tuple[Evidence, ...]:
    """Return the evidence of ``match``, each sentence tagged with the article it is from."""
    return tuple(ev.model_copy(update={"article_id": match.article.id}) for ev in match.evidence)


def _evidence(kept: tuple[Evidence, ...], new: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    seen = {(ev.condition, ev.sentence) for ev in kept}
    extra = [ev for ev in new if (ev.condition, ev.sentence) not in seen]
    return (*kept, *extra)[: max(MAX_EVIDENCE, len(kept))]


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _summary(match: Match) -> str:
    """Return the first evidence sentence, else the start of the article, on one line."""
    text = match.evidence[0].sentence if match.evidence else match.article.body
    text = " ".join(text.split())
    if len(text) <= SUMMARY_MAX_CHARS:
        return text
    return text[: SUMMARY_MAX_CHARS - 1].rstrip() + "…"
