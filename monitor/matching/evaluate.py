"""Evaluate one rule on an annotated article: which sentences satisfy all its conditions, and why.

A rule is compiled once (term indexes per language), then asked two questions per article: *can* it
fire, from the cheap presearch (entity candidates and keyword anchors), and *does* it fire, sentence
by sentence, with negation and "talked about" mentions taken into account.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.matching.rules import Condition, Rule, Terms
from monitor.matching.terms import Term, TermHit, TermIndex, anchor
from monitor.matching.text import Sentence, Token
from monitor.models import EntityMention, Evidence

__all__ = ["CompiledRule", "RuleResult"]

_SKIP_WINDOW = 2
"""Words allowed between a skip_after cue and the entity it discounts ("parlé de Kim")."""
_MAX_EVIDENCE_SENTENCES = 5


@dataclass(frozen=True)
class RuleResult:
    """A rule that fired: its score (satisfying sentences) and the evidence of the first few."""

    rule: Rule
    score: float
    evidence: tuple[Evidence, ...]
    entities: tuple[str, ...]


def _index(terms: Terms | None, language: str) -> TermIndex:
    return TermIndex(Term.parse(t) for t in (terms or {}).get(language, []))


@dataclass(frozen=True)
class _Compiled:
    spec: Condition
    terms: TermIndex
    skip: TermIndex


def _within(tokens: Sequence[Token], cue_end: int, target: int, window: int) -> bool:
    """Return whether a cue ending at ``cue_end`` stands at most ``window`` words before ``target``.

    Punctuation in between ends the clause, so "Xi, qui ne cache pas sa joie, a rencontré Kim" is not
    a negated meeting.
    """
    if not 0 <= target - cue_end <= window:
        return False
    return all(t.is_word for t in tokens[cue_end:target])


class CompiledRule:
    """A rule with its terms compiled for each of its languages."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self._conditions = {
            language: [
                _Compiled(
                    c,
                    _index(c.keywords if c.keywords is not None else c.no_keywords, language),
                    _index(c.skip_after, language),
                )
                for c in rule.conditions
            ]
            for language in rule.languages
        }
        self._before = {language: _index(rule.negation.before, language) for language in rule.languages}
        self._sentence = {language: _index(rule.negation.sentence, language) for language in rule.languages}

    def applies_to(self, language: str) -> bool:
        """Return whether the rule watches articles in ``language``."""
        return language in self._conditions

    def anchors(self, language: str) -> set[str]:
        """Return the presearch keys of the positive keyword conditions in ``language``."""
        return {
            anchor(t) for c in self._conditions.get(language, []) if c.spec.keywords for t in c.terms.terms
        }

    def can_fire(self, language: str, entity_ids: set[str], anchors: set[str]) -> bool:
        """Return whether the article might satisfy the rule, judging by the presearch alone.

        ``entity_ids`` are candidates (short aliases not yet confirmed) and ``anchors`` the keyword
        anchors present, so a ``False`` here is final and a ``True`` needs the full evaluation.
        """
        for c in self._conditions.get(language, []):
            if c.spec.entities is not None and c.spec.positive and not c.spec.entities.holds(entity_ids):
                return False
            if c.spec.keywords is not None and not {anchor(t) for t in c.terms.terms} & anchors:
                return False
        return language in self._conditions

    def evaluate(
        self, text: str, sentences: Sequence[Sentence], mentions: Sequence[EntityMention], language: str
    ) -> RuleResult | None:
        """Return the result of the rule on an annotated article, or None when it does not fire."""
        if language not in self._conditions:
            return None
        starts = [m.start for m in mentions]
        satisfied: list[list[Evidence]] = []
        for sentence in sentences:
            lo, hi = bisect.bisect_left(starts, sentence.start), bisect.bisect_left(starts, sentence.end)
            evidence = self._sentence_evidence(text, sentence, mentions[lo:hi], language)
            if evidence is not None:
                satisfied.append(evidence)
        score = float(len(satisfied))
        if not satisfied or score < self.rule.threshold:
            return None
        shown = tuple(e for sentence in satisfied[:_MAX_EVIDENCE_SENTENCES] for e in sentence)
        ids = sorted({m.entity_id for e in shown for m in e.entities if m.entity_id})
        return RuleResult(self.rule, score, shown, tuple(ids))

    def _sentence_evidence(
        self, text: str, sentence: Sentence, mentions: Sequence[EntityMention], language: str
    ) -> list[Evidence] | None:
        """Return the evidence if ``sentence`` satisfies every condition, else None."""
        tokens = sentence.tokens
        shown = " ".join(text[sentence.start : sentence.end].split())
        negators = self._before[language].find(tokens) if self._before[language] else []
        cancelled = bool(self._sentence[language]) and bool(self._sentence[language].find(tokens))
        evidence: list[Evidence] = []
        for c in self._conditions[language]:
            if c.spec.entities is not None:
                counted = self._participants(c, tokens, mentions)
                if not c.spec.entities.holds({m.entity_id for m in counted if m.entity_id}):
                    return None
                if c.spec.positive:
                    evidence.append(Evidence(condition=c.spec.name, sentence=shown, entities=tuple(counted)))
            elif c.spec.keywords is not None:
                hits = c.terms.find(tokens)
                if not hits or cancelled or any(self._negated(h, negators, tokens) for h in hits):
                    # one negated keyword voids the sentence: "X ne rencontrera pas Y lors du sommet"
                    return None
                terms = tuple(
                    dict.fromkeys(text[tokens[h.first].start : tokens[h.end - 1].end] for h in hits)
                )
                evidence.append(Evidence(condition=c.spec.name, sentence=shown, terms=terms))
            elif c.terms.find(tokens):
                return None
        return evidence

    def _negated(self, hit: TermHit, negators: Sequence[TermHit], tokens: Sequence[Token]) -> bool:
        window = self.rule.negation.window
        return any(_within(tokens, n.end, hit.first, window) for n in negators if n.end <= hit.first)

    def _participants(
        self, c: _Compiled, tokens: Sequence[Token], mentions: Sequence[EntityMention]
    ) -> list[EntityMention]:
        """Return the mentions of the condition's entities, less those introduced by a skip_after cue."""
        assert c.spec.entities is not None
        ids = set(c.spec.entities.ids)
        cues = c.skip.find(tokens) if c.skip else []
        token_starts = [t.start for t in tokens]
        kept: list[EntityMention] = []
        for m in mentions:
            if m.entity_id not in ids:
                continue
            at = bisect.bisect_left(token_starts, m.start)
            if any(_within(tokens, cue.end, at, _SKIP_WINDOW) for cue in cues if cue.end <= at):
                continue
            kept.append(m)
        return kept
