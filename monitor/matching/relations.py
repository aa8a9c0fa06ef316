"""How a sentence's mentions relate to its keywords: tied by the parse, or near them.

``related_to`` keeps the mentions the dependency parse ties to a keyword; ``within: N`` keeps the
mentions and keywords that fit in a window of N tokens. Both narrow the evidence to what counts.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.matching.rules import Condition
from monitor.matching.syntax import Parse
from monitor.matching.terms import TermHit, TermIndex
from monitor.matching.text import Token
from monitor.models import EntityMention

__all__ = ["CompiledCondition", "narrow_to_window", "tie_to_keywords"]


@dataclass(frozen=True)
class CompiledCondition:
    """One condition of a rule in one reading: its terms, skip cues and presearch anchors."""

    spec: Condition
    terms: TermIndex
    skip: TermIndex
    anchors: frozenset[str]


def tie_to_keywords(
    conditions: Sequence[CompiledCondition],
    tree: Parse,
    tokens: Sequence[Token],
    keyword_hits: dict[str, list[TermHit]],
    counted: dict[str, list[EntityMention]],
) -> bool:
    """Keep, for each ``related_to`` condition, the mentions the parse ties to its keywords."""
    for c in conditions:
        target = c.spec.related_to
        if target is None or c.spec.entities is None:
            continue
        spans = [(tokens[h.first].start, tokens[h.end - 1].end) for h in keyword_hits[target]]
        tied = [m for m in counted[c.spec.name] if any(tree.related((m.start, m.end), k) for k in spans)]
        if not c.spec.entities.holds({m.entity_id for m in tied if m.entity_id}):
            return False
        counted[c.spec.name] = tied
    return True


def narrow_to_window(
    window: int,
    conditions: Sequence[CompiledCondition],
    tokens: Sequence[Token],
    keyword_hits: dict[str, list[TermHit]],
    counted: dict[str, list[EntityMention]],
) -> bool:
    """Find a window of ``within`` tokens holding every positive condition; keep only its evidence."""
    token_starts = [t.start for t in tokens]
    position = {id(m): bisect.bisect_left(token_starts, m.start) for ms in counted.values() for m in ms}
    starts = sorted({h.first for hs in keyword_hits.values() for h in hs} | set(position.values()))
    for s in starts:
        end = s + window
        hits = {name: [h for h in hs if s <= h.first and h.end <= end] for name, hs in keyword_hits.items()}
        inside = {name: [m for m in ms if s <= position[id(m)] < end] for name, ms in counted.items()}
        if all(hits.values()) and all(
            c.spec.entities.holds({m.entity_id for m in inside[c.spec.name] if m.entity_id})
            for c in conditions
            if c.spec.entities is not None and c.spec.positive
        ):
            keyword_hits.update(hits)
            for c in conditions:
                if c.spec.entities is not None and c.spec.positive:
                    counted[c.spec.name] = inside[c.spec.name]
            return True
    return False
