"""Evaluate one rule on an annotated article: which sentences satisfy all its conditions, and why.

A rule is compiled once (term indexes per language), then asked three questions per article: does it
*look at* the article at all (filters: feed, tags, age), *can* it fire, from the cheap presearch
(entity candidates and keyword anchors), and *does* it fire, sentence by sentence, with negation, the
"talked about" mentions, proximity and, where asked, the parse that ties the names to the keyword.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.matching.negation import Negation, is_negated, within
from monitor.matching.relations import CompiledCondition, narrow_to_window, tie_to_keywords
from monitor.matching.rules import Rule, Terms
from monitor.matching.syntax import Parse
from monitor.matching.terms import Term, TermHit, TermIndex, anchor
from monitor.matching.text import Sentence, Token
from monitor.models import Article, EntityMention, Evidence

__all__ = ["ANY", "CompiledRule", "ParseFn", "RuleResult", "SentenceLanguageFn", "entity_key"]

_SKIP_WINDOW = 2
"""Words allowed between a skip_after cue and the entity it discounts ("parlé de Kim")."""
_MAX_EVIDENCE_SENTENCES = 5

ParseFn = Callable[[Sentence], Parse | None]
"""Return the dependency parse of a sentence, or None where the language has no parser."""
SentenceLanguageFn = Callable[[Sentence], str | None]
"""Return the language of one sentence, or None where it cannot be told apart from the article's."""


def entity_key(entity_id: str) -> str:
    """Return the presearch key of an entity (anchors are folded words, so ``@`` cannot clash)."""
    return "@" + entity_id


@dataclass(frozen=True)
class RuleResult:
    """A rule that fired: its score (satisfying sentences) and the evidence of the first few."""

    rule: Rule
    score: float
    evidence: tuple[Evidence, ...]
    entities: tuple[str, ...]


ANY = "*"
"""The pseudo-language of every language's words together."""


def _index(terms: Terms | None, language: str) -> TermIndex:
    """Return the index of ``language``'s terms; for :data:`ANY`, of every language's (each term once)."""
    terms = terms or {}
    if language != ANY:
        return TermIndex(Term.parse(t) for t in terms.get(language, []))
    sources = dict.fromkeys(t for words in terms.values() for t in words)
    return TermIndex(Term.parse(t) for t in sources)


class CompiledRule:
    """A rule with its terms compiled for each of its languages."""

    def __init__(self, rule: Rule, inflect: Callable[[str, str], Iterable[str]] | None = None) -> None:
        """Compile ``rule``; ``inflect(language, lemma)`` gives forms whose first letters differ.

        Their anchors join the keyword's, so the presearch finds "held" for "hold talks".
        """
        self.rule = rule
        self._languages = frozenset(rule.languages)
        # Per language its own words; under ANY every language's words together, for a sentence in a
        # language the rule does not list (a detection can err, the article can be in another one).
        self._conditions: dict[str, list[CompiledCondition]] = {}
        self._negation: dict[str, Negation] = {}
        for language in (*rule.languages, ANY):
            compiled = []
            for c in rule.conditions:
                terms = _index(c.keywords if c.keywords is not None else c.no_keywords, language)
                anchors: frozenset[str] = frozenset()
                if c.keywords:
                    anchors = frozenset(anchor(t) for t in terms.terms)
                    if inflect is not None:
                        forms = (
                            f
                            for own, words in c.keywords.items()
                            if language in (own, ANY)
                            for w in words
                            for f in inflect(own, Term.parse(w).words[0])
                        )
                        anchors |= {anchor(Term(f, (f,))) for f in forms}
                compiled.append(CompiledCondition(c, terms, _index(c.skip_after, language), anchors))
            self._conditions[language] = compiled
            n = rule.negation
            self._negation[language] = Negation(
                _index(n.before, language), _index(n.particles, language), _index(n.sentence, language)
            )
        self._feeds = frozenset(rule.filters.feeds) if rule.filters.feeds is not None else None
        self._tags = (
            frozenset(t.casefold() for t in rule.filters.tags) if rule.filters.tags is not None else None
        )
        self._exclude_tags = frozenset(t.casefold() for t in rule.filters.exclude_tags)

    def applies_to(self, language: str) -> bool:
        """Return whether the rule lists words of ``language`` (its words are tried on every article)."""
        return language in self._languages

    def accepts(self, article: Article, now: datetime) -> bool:
        """Return whether the rule's filters (feeds, tags, age) let it look at ``article``."""
        if self._feeds is not None and article.feed_id not in self._feeds:
            return False
        if self._tags is not None or self._exclude_tags:
            tags = {t.casefold() for t in article.tags}
            if self._tags is not None and not tags & self._tags:
                return False
            if tags & self._exclude_tags:
                return False
        max_age = self.rule.filters.max_age
        return max_age is None or now - (article.published or article.fetched_at) <= max_age

    def anchors(self, reading: str = ANY) -> set[str]:
        """Return the presearch keys of the positive keyword conditions of ``reading`` (default: all)."""
        return {a for c in self._conditions[reading] for a in c.anchors}

    def triggers(self) -> frozenset[str]:
        """Return presearch keys one of which every article the rule can fire on contains.

        An entity condition is the most selective (a watched name is rarer than a word), so it is
        preferred; ``all`` needs each of its entities, so its first one is enough. Without one, the
        keyword condition with the fewest anchors.
        """
        conditions = self._conditions[ANY]
        for c in conditions:
            entities = c.spec.entities
            if entities is not None and c.spec.positive:
                ids = entities.ids[:1] if entities.mode == "all" else entities.ids
                return frozenset(entity_key(i) for i in ids)
        keyword = [c.anchors for c in conditions if c.spec.keywords is not None]
        return min(keyword, key=len) if keyword else frozenset()

    @property
    def names_entities(self) -> bool:
        """Return whether a positive condition asks for watched entities (a selective rule)."""
        return any(c.entities is not None and c.positive for c in self.rule.conditions)

    def can_fire(self, entity_ids: set[str], anchors: set[str] | None, reading: str = ANY) -> bool:
        """Return whether a text might satisfy the rule read with ``reading``'s words, by the presearch alone.

        ``entity_ids`` are candidates (short aliases not yet confirmed) and ``anchors`` the keyword
        anchors present (None: judge the entities only), so a ``False`` here is final and a ``True``
        needs the full evaluation.
        """
        for c in self._conditions[reading]:
            if c.spec.entities is not None and c.spec.positive and not c.spec.entities.holds(entity_ids):
                return False
            if anchors is not None and c.spec.keywords is not None and not c.anchors & anchors:
                return False
        return True

    def reading(self, language: str) -> str:
        """Return whose words read text in ``language``: its own if the rule lists it, else all (ANY).

        Each listed language reads with its own words only, because a word of one language can be a
        different word in another: the English "parade" is a riposte in French.
        """
        return language if language in self._languages else ANY

    def holds_alone(self, sentence: Sentence, entity_ids: set[str], language: str) -> bool:
        """Return whether ``sentence`` names the rule's entities and holds a word of each keyword condition.

        Such a sentence is judged by itself: joining it to a neighbour (``scope: sentences``) must not
        overrule what its negation or parse decided.
        """
        for c in self._conditions[self.reading(language)]:
            if c.spec.entities is not None and c.spec.positive and not c.spec.entities.holds(entity_ids):
                return False
            if c.spec.keywords is not None and not c.terms.find(sentence.tokens):
                return False
        return True

    def needs_parse(self) -> bool:
        """Return whether some condition asks for the dependency parse (``related_to``)."""
        return any(c.related_to is not None for c in self.rule.conditions)

    def evaluate(
        self,
        text: str,
        sentences: Sequence[Sentence],
        mentions: Sequence[EntityMention],
        language: str,
        parse: ParseFn | None = None,
        sentence_language: SentenceLanguageFn | None = None,
    ) -> RuleResult | None:
        """Return the result of the rule on an annotated article, or None when it does not fire.

        ``language`` is the article's: it sets the negation windows, counted in tokens (one per CJK
        character). ``sentence_language`` tells the language of one sentence where it differs (an
        English caption in a French article): that sentence is read with its own language's words.
        """
        starts = [m.start for m in mentions]
        satisfied: list[list[Evidence]] = []
        done: list[tuple[int, int]] = []
        for sentence in sentences:
            if any(sentence.start <= s and e <= sentence.end for s, e in done):
                continue  # a window around a sentence that already satisfies the rule adds nothing
            lo, hi = bisect.bisect_left(starts, sentence.start), bisect.bisect_left(starts, sentence.end)
            evidence = self._sentence_evidence(
                text, sentence, mentions[lo:hi], language, parse, sentence_language
            )
            if evidence is not None:
                satisfied.append(evidence)
                done.append((sentence.start, sentence.end))
        score = float(len(satisfied))
        if not satisfied or score < self.rule.threshold:
            return None
        shown = tuple(e for sentence in satisfied[:_MAX_EVIDENCE_SENTENCES] for e in sentence)
        ids = sorted({m.entity_id for e in shown for m in e.entities if m.entity_id})
        return RuleResult(self.rule, score, shown, tuple(ids))

    def _sentence_evidence(
        self,
        text: str,
        sentence: Sentence,
        mentions: Sequence[EntityMention],
        language: str,
        parse: ParseFn | None,
        sentence_language: SentenceLanguageFn | None = None,
    ) -> list[Evidence] | None:
        """Return the evidence if ``sentence`` satisfies every condition, else None.

        A sentence is read with the article language's words first; where that fails and the sentence
        is detected as another language (an English caption in a French article), with that one's.
        """
        reading = self.reading(language)
        checked = self._check(text, sentence, mentions, language, parse, reading)
        if isinstance(checked, list):
            return checked
        if sentence_language is None or reading == ANY:
            return None
        # detecting a sentence's language costs more than reading it: only where some language's
        # words would do
        if not isinstance(self._check(text, sentence, mentions, language, None, ANY), list):
            return None
        own = sentence_language(sentence)
        if own is None or self.reading(own) == reading:
            return None
        checked = self._check(text, sentence, mentions, language, parse, self.reading(own))
        return checked if isinstance(checked, list) else None

    def obstacles(
        self, text: str, sentence: Sentence, mentions: Sequence[EntityMention], language: str
    ) -> list[tuple[str, str]]:
        """Return why ``sentence`` does not satisfy the rule: ``(kind, detail)``; empty when it does.

        For ``rules test --explain``: the same checks as matching, in the same order.
        """
        starts = [m.start for m in mentions]
        lo, hi = bisect.bisect_left(starts, sentence.start), bisect.bisect_left(starts, sentence.end)
        checked = self._check(text, sentence, mentions[lo:hi], language, None, self.reading(language))
        return [] if isinstance(checked, list) else [checked]

    def has_words(self, condition: str, sentence: Sentence, language: str) -> bool:
        """Return whether ``sentence`` holds a word of the keyword condition named ``condition``."""
        own = self.reading(language)
        return any(c.terms.find(sentence.tokens) for c in self._conditions[own] if c.spec.name == condition)

    def _check(
        self,
        text: str,
        sentence: Sentence,
        mentions: Sequence[EntityMention],
        language: str,
        parse: ParseFn | None,
        own: str,
    ) -> list[Evidence] | tuple[str, str]:
        """Return the evidence if ``sentence`` satisfies every condition, else ``(kind, why)``.

        ``own`` names whose words read it (a language, or ANY). Cheap tests first: keywords and
        negation, then the entities on the surface; the parse runs only for a sentence that passed all
        of them.
        """
        tokens = sentence.tokens
        negation = self._negation[own]
        befores = negation.before.find(tokens) if negation.before else []
        particles = negation.particles.find(tokens) if negation.particles else []
        cancel = [
            h
            for h in (negation.sentence.find(tokens) if negation.sentence else [])
            if not self._negated(h.first, befores, particles, tokens, language)
        ]
        conditions = self._conditions[own]
        keyword_hits: dict[str, list[TermHit]] = {}
        for c in conditions:
            if c.spec.keywords is not None:
                hits = c.terms.find(tokens)
                if not hits:
                    return "no_keyword", f"no word of {c.spec.name}"
                if cancel:
                    return "cancelled", f"cancellation cue {_surface(text, tokens, cancel[0])!r}"
                # one negated keyword voids the sentence: "X ne rencontrera pas Y lors du sommet"
                negated = [h for h in hits if self._negated(h.first, befores, particles, tokens, language)]
                if negated:
                    return "negated", f"negated {c.spec.name} word {_surface(text, tokens, negated[0])!r}"
                keyword_hits[c.spec.name] = hits
            elif c.spec.no_keywords is not None:
                excluded = c.terms.find(tokens)
                if excluded:
                    return "excluded", f"{c.spec.name} excludes {_surface(text, tokens, excluded[0])!r}"
        counted: dict[str, list[EntityMention]] = {}
        for c in conditions:
            if c.spec.entities is not None:
                kept = self._participants(c, tokens, mentions, language)
                if not c.spec.entities.holds({m.entity_id for m in kept if m.entity_id}):
                    named = sorted({m.entity_id for m in kept if m.entity_id})
                    return "entity_not_found", f"{c.spec.name}: only {named or 'no watched entity'}"
                counted[c.spec.name] = kept
        if parse is not None and self.needs_parse():
            tree = parse(sentence)
            if tree is not None and not tie_to_keywords(conditions, tree, tokens, keyword_hits, counted):
                return "not_related", "the parse does not tie the entities to the keyword"
        if self.rule.within is not None and not narrow_to_window(
            self.rule.within, conditions, tokens, keyword_hits, counted
        ):
            return "too_far", f"conditions not within {self.rule.within} tokens"
        shown = " ".join(text[sentence.start : sentence.end].split())
        evidence: list[Evidence] = []
        for c in conditions:
            if not c.spec.positive:
                continue
            if c.spec.entities is not None:
                evidence.append(
                    Evidence(
                        condition=c.spec.name,
                        sentence=shown,
                        entities=tuple(counted[c.spec.name]),
                        start=sentence.start,
                        end=sentence.end,
                    )
                )
            else:
                hits = keyword_hits[c.spec.name]
                terms = tuple(
                    dict.fromkeys(text[tokens[h.first].start : tokens[h.end - 1].end] for h in hits)
                )
                evidence.append(
                    Evidence(
                        condition=c.spec.name,
                        sentence=shown,
                        terms=terms,
                        start=sentence.start,
                        end=sentence.end,
                    )
                )
        return evidence

    def _negated(
        self,
        at: int,
        befores: Sequence[TermHit],
        particles: Sequence[TermHit],
        tokens: Sequence[Token],
        language: str,
    ) -> bool:
        """Return whether the word at token ``at`` is negated, in ``language``'s negation window."""
        window = self.rule.negation.windows.get(language, self.rule.negation.window)
        return is_negated(at, befores, particles, tokens, window)

    def _participants(
        self, c: CompiledCondition, tokens: Sequence[Token], mentions: Sequence[EntityMention], language: str
    ) -> list[EntityMention]:
        """Return the mentions of the condition's entities, less those introduced by a skip_after cue."""
        assert c.spec.entities is not None
        window = max(_SKIP_WINDOW, self.rule.negation.windows.get(language, 0) - 1)
        ids = set(c.spec.entities.ids)
        cues = c.skip.find(tokens) if c.skip else []
        token_starts = [t.start for t in tokens]
        kept: list[EntityMention] = []
        for m in mentions:
            if m.entity_id not in ids:
                continue
            at = bisect.bisect_left(token_starts, m.start)
            if any(within(tokens, cue.end, at, window) for cue in cues if cue.end <= at):
                continue
            kept.append(m)
        return kept


def _surface(text: str, tokens: Sequence[Token], hit: TermHit) -> str:
    """Return the words of ``hit`` as written in the text."""
    return text[tokens[hit.first].start : tokens[hit.end - 1].end]
