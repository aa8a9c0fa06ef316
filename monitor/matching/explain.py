"""Say why a watchlist did not fire on an article, in the words an analyst uses to fix a rule.

The engine answers yes or no, fast; this module re-reads the article slowly (every sentence, no
presearch) and names the first obstacle: the rule's filters, the entities it never found, a condition
whose words never occur, conditions that never meet in one sentence, a negation or exclusion cue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.matching.evaluate import CompiledRule
from monitor.matching.text import Sentence
from monitor.models import Article, EntityMention

__all__ = ["Explanation", "explain_rule"]


@dataclass(frozen=True)
class Explanation:
    """Why one rule did not fire: a short kind (for counting) and a sentence for the analyst."""

    kind: str
    detail: str


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def explain_rule(
    rule: CompiledRule,
    article: Article,
    text: str,
    sentences: Sequence[Sentence],
    mentions: Sequence[EntityMention],
    language: str,
    now: datetime,
) -> Explanation:
    """Return why ``rule`` does not fire on ``article``, read as ``sentences`` with ``mentions``."""
    spec = rule.rule
    if not rule.accepts(article, now):
        return Explanation("filtered", "the rule's filters (feeds, tags, max_age) leave this article out")
    note = (
        ""
        if rule.applies_to(language)
        else f" (language {language!r} not listed: all languages' words tried)"
    )
    found = {m.entity_id for m in mentions if m.entity_id}
    for c in spec.conditions:
        if c.entities is not None and c.positive and not c.entities.holds(found):
            named = ", ".join(sorted(found)) or "none"
            return Explanation(
                "entity_not_found",
                f"{c.name}: watched entities found in the article: {named}; the condition needs "
                f"{c.entities.describe()}{note}",
            )
    best: tuple[int, str, str] | None = None
    for sentence in sentences:
        reasons = rule.obstacles(text, sentence, mentions, language)
        if not reasons:
            continue
        kind, detail = reasons[0]
        rank = {"negated": 0, "excluded": 0, "cancelled": 0, "not_related": 1, "too_far": 1}.get(kind, 2)
        score = (rank, len(reasons))
        if best is None or score < (best[0], 99):
            best = (rank, kind, f"{detail} in: “{_short(text[sentence.start : sentence.end])}”")
            if rank < 2:
                break
    if best is not None and best[0] < 2:
        return Explanation(best[1], best[2] + note)
    keywords = [c for c in spec.conditions if c.keywords is not None]
    missing = [c.name for c in keywords if not any(rule.has_words(c.name, s, language) for s in sentences)]
    if missing:
        return Explanation("no_keyword", f"no word of {', '.join(missing)} anywhere in the article{note}")
    parts = [c.name for c in spec.conditions if c.positive and (c.entities is not None or c.keywords)]
    scope = (
        f"within {spec.sentences} consecutive sentences" if spec.scope == "sentences" else "in one sentence"
    )
    return Explanation("not_in_scope", f"{', '.join(parts)} never hold together {scope}{note}")
