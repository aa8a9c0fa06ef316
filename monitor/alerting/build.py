"""Turn a Match into an Alert: pure, no clock, no I/O, so a replayed Match yields the same Alert."""

from __future__ import annotations

import hashlib

from monitor.models import Alert, ArticleRef, Match

__all__ = ["SUMMARY_MAX_CHARS", "alert_from_match", "alert_id"]

SUMMARY_MAX_CHARS = 280


def alert_id(rule: str, key: str) -> str:
    """Return the id of the alert of ``rule`` about ``key`` (an article id, later an event key).

    The id is the dedup key of the outbox: the same (rule, key) must always give the same id.
    """
    return hashlib.sha256(f"alert\x00{rule}\x00{key}".encode()).hexdigest()[:24]


def alert_from_match(match: Match) -> Alert:
    """Return the alert that ``match`` raises: one per (watchlist, article) in the skeleton."""
    article = match.article
    return Alert(
        id=alert_id(match.rule, article.id),
        rule=match.rule,
        rule_name=match.rule_name,
        severity=match.severity,
        title=f"[{match.rule}] {article.title}",
        summary=_summary(match),
        articles=(ArticleRef.of(article),),
        evidence=match.evidence,
        entities=match.entities,
        match_ids=(match.id,),
        created_at=match.matched_at,
    )


def _summary(match: Match) -> str:
    """Return the first evidence sentence, else the start of the article, on one line."""
    text = match.evidence[0].sentence if match.evidence else match.article.body
    text = " ".join(text.split())
    if len(text) <= SUMMARY_MAX_CHARS:
        return text
    return text[: SUMMARY_MAX_CHARS - 1].rstrip() + "…"
