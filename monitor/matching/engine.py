"""The matching core: an Article in, its entities and the watchlists it matches out.

Pure by design: no Kafka, no network, and no clock but the one it is given, so the service around it
stays thin and every behaviour can be tested with a plain Article. The cost is kept down by running
the gazetteer and keyword presearch first and spaCy only when some rule can still fire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.matching.evaluate import CompiledRule, RuleResult
from monitor.matching.gazetteer import Gazetteer
from monitor.matching.nlp import Pipelines
from monitor.matching.presearch import Presearch
from monitor.matching.rules import Rule, load_rules
from monitor.matching.text import fold_with_offsets
from monitor.models import Article, EntityMention, Match, utcnow

__all__ = ["Analysis", "MatchEngine", "analysed_text"]


@dataclass(frozen=True)
class Analysis:
    """What the engine found in one article.

    Offsets of ``entities`` and of the entities in evidence refer to :func:`analysed_text`.
    """

    entities: list[EntityMention]
    matches: list[Match]
    language: str = ""
    nlp_ran: bool = False
    """Whether a spaCy pipeline ran; False when the presearch ruled out every rule or no model exists."""


def analysed_text(article: Article) -> str:
    """Return the text the rules read: the title, a blank line, then the body.

    The blank line keeps the title a sentence of its own, so it can be evidence but never merges with
    the first sentence of the body.
    """
    return "\n\n".join(part for part in (article.title.strip(), article.body.strip()) if part)


def _language(code: str | None) -> str | None:
    """Return the primary subtag of ``code`` in lower case ("fr-FR" → "fr"), or None."""
    if not code or not code.strip():
        return None
    return code.strip().replace("_", "-").split("-")[0].lower()


class MatchEngine:
    """Match articles against a set of watchlists."""

    def __init__(
        self,
        gazetteer: Gazetteer,
        rules: Sequence[Rule],
        pipelines: Pipelines,
        default_language: str = "fr",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.gazetteer = gazetteer
        self.rules = tuple(rules)
        self._compiled = [CompiledRule(r) for r in rules]
        self._presearch = Presearch(self._compiled)
        self._pipelines = pipelines
        self._default_language = _language(default_language) or "fr"
        self._clock = clock

    @classmethod
    def load(
        cls,
        rules_dir: Path,
        spacy_models: Mapping[str, str],
        default_language: str = "fr",
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> MatchEngine:
        """Load the gazetteer and watchlists of ``rules_dir``; spaCy models load later, on first use.

        Raises:
            RuleError: a rule or the gazetteer is invalid (``path:line: field: message``).
            ConfigError: a configured spaCy model is not installed.
        """
        gazetteer, rules = load_rules(rules_dir)
        return cls(gazetteer, rules, Pipelines(spacy_models), default_language, clock)

    @property
    def rule_count(self) -> int:
        """Return the number of watchlists loaded."""
        return len(self.rules)

    def language_of(self, article: Article) -> str:
        """Return the language the article is analysed in: its own, else the default."""
        return _language(article.language) or self._default_language

    def analyse(self, article: Article) -> Analysis:
        """Return the entities of ``article`` and the matches of every watchlist that fires on it."""
        text = analysed_text(article)
        language = self.language_of(article)
        folded = fold_with_offsets(text)
        hits = self.gazetteer.scan(text, folded)
        anchors = self._presearch.anchors(folded[0], language)
        candidate_ids = {h.entity_id for h in hits}
        rules = [r for r in self._compiled if r.can_fire(language, candidate_ids, anchors)]
        if not rules:
            return Analysis(self.gazetteer.resolve(text, hits), [], language, nlp_ran=False)

        known = self.gazetteer.resolve(text, [h for h in hits if not h.short])
        annotation = self._pipelines.annotate(text, language, known)
        mentions = self.gazetteer.resolve(text, hits, annotation.ner)
        results = [r.evaluate(text, annotation.sentences, mentions, language) for r in rules]
        matched_at = self._clock()
        matches = [self._match(article, result, matched_at) for result in results if result is not None]
        others = [
            n for n in annotation.ner or [] if not any(n.start < m.end and m.start < n.end for m in mentions)
        ]
        entities = sorted([*mentions, *others], key=lambda m: (m.start, m.end))
        return Analysis(entities, matches, language, nlp_ran=self._pipelines.has(language))

    def match(self, article: Article) -> list[Match]:
        """Return the matches of ``article`` (see :meth:`analyse`)."""
        return self.analyse(article).matches

    @staticmethod
    def _match(article: Article, result: RuleResult, matched_at: datetime) -> Match:
        rule = result.rule
        return Match(
            id=Match.make_id(rule.id, article.id),
            rule=rule.id,
            rule_name=rule.name,
            severity=rule.severity,
            score=result.score,
            article=article,
            evidence=result.evidence,
            entities=result.entities,
            matched_at=matched_at,
        )
