"""The matching core: an Article in, its entities and the watchlists it matches out.

Pure by design: no Kafka, no network, and no clock but the one it is given, so the service around it
stays thin and every behaviour can be tested with a plain Article. Cost is kept down in three steps:
the gazetteer and keyword presearch pick the rules that can fire (independently of how many exist);
only the sentences where one of them can fire go through spaCy, in one batch; and a sentence is
parsed only when it already satisfies a rule that asks for the parse.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.matching.evaluate import ANY, CompiledRule, RuleResult
from monitor.matching.explain import Explanation, explain_rule
from monitor.matching.gazetteer import AliasHit, Gazetteer
from monitor.matching.lemmas import inflections
from monitor.matching.nlp import Pipelines
from monitor.matching.presearch import Presearch
from monitor.matching.rules import Rule, RuleSet, load_rule_set
from monitor.matching.syntax import Parse
from monitor.matching.text import Sentence, fold_with_offsets, simple_sentences, simple_tokens, split_lines
from monitor.matching.windows import AnchorIndex, merge_segments, reach, windows
from monitor.models import Article, EntityMention, Evidence, Match, utcnow
from monitor.normalise.language import detect_text_language

__all__ = ["Analysis", "MatchEngine", "analysed_text"]

# NER labels worth showing beside the watched entities; MISC is mostly noise in the small models.
_SHOWN_LABELS = frozenset({"PER", "PERSON", "ORG", "LOC", "GPE"})
#: Labels of places (spaCy's LOC/GPE, a gazetteer entity of type LOC): where an event happened.
_PLACE_LABELS = frozenset({"LOC", "GPE"})


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
    segments: int = 0
    """How many stretches of text were annotated (0: none could change a decision)."""


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


def _shown(ner: Sequence[EntityMention], mentions: Sequence[EntityMention]) -> list[EntityMention]:
    """Return the NER spans worth listing beside the watched entities: capitalised names, no overlap."""
    return [
        n
        for n in ner
        if n.label in _SHOWN_LABELS
        and n.text[:1].isupper()
        and not any(n.start < m.end and m.start < n.end for m in mentions)
    ]


def _with_places(evidence: Evidence, places: Sequence[EntityMention]) -> Evidence:
    """Return ``evidence`` with the places named inside its sentence, each name once, in order."""
    if evidence.start is None or evidence.end is None:
        return evidence
    start, end = evidence.start, evidence.end
    inside = sorted((p for p in places if start <= p.start and p.end <= end), key=lambda p: p.start)
    unique = {p.text: p for p in reversed(inside)}
    found = tuple(sorted(unique.values(), key=lambda p: p.start))
    return evidence.model_copy(update={"places": found}) if found else evidence


class MatchEngine:
    """Match articles against a set of watchlists."""

    def __init__(
        self,
        gazetteer: Gazetteer,
        rules: Sequence[Rule],
        pipelines: Pipelines,
        default_language: str = "fr",
        clock: Callable[[], datetime] = utcnow,
        rule_set: RuleSet | None = None,
    ) -> None:
        self.gazetteer = gazetteer
        self.rules = tuple(rules)
        self.rule_set = rule_set
        self.pipelines = pipelines
        inflect = inflections if pipelines.lookup_lemmas else None
        self._compiled = [CompiledRule(r, inflect) for r in rules]
        self._presearch = Presearch(self._compiled)
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
        lookup_lemmas: bool = True,
    ) -> MatchEngine:
        """Load the gazetteer and watchlists of ``rules_dir``; spaCy models load later, on first use.

        Raises:
            RuleError: a rule or the gazetteer is invalid (``path:line: field: message``).
            ConfigError: a configured spaCy model is not installed.
        """
        pipelines = Pipelines(spacy_models, lookup_lemmas=lookup_lemmas)
        return cls.from_rule_set(load_rule_set(rules_dir), pipelines, default_language, clock=clock)

    @classmethod
    def from_rule_set(
        cls,
        rule_set: RuleSet,
        pipelines: Pipelines,
        default_language: str = "fr",
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> MatchEngine:
        """Return an engine over a loaded rule set; ``pipelines`` may be shared with a previous engine."""
        return cls(rule_set.gazetteer, rule_set.rules, pipelines, default_language, clock, rule_set)

    @property
    def rule_count(self) -> int:
        """Return the number of watchlists loaded."""
        return len(self.rules)

    def language_of(self, article: Article, text: str | None = None) -> str:
        """Return the language the article is analysed in: its own, else the detected one, else the default.

        Detection is the ingest stage's (:mod:`monitor.normalise.language`), so an article read from a
        file by ``rules test`` is analysed exactly as the same text arriving from a feed.
        """
        declared = _language(article.language)
        if declared:
            return declared
        detected = detect_text_language(text if text is not None else analysed_text(article))
        return detected or self._default_language

    def analyse(self, article: Article) -> Analysis:
        """Return the entities of ``article`` and the matches of every watchlist that fires on it."""
        text = analysed_text(article)
        language = self.language_of(article, text)
        folded, offsets = fold_with_offsets(text)
        hits = self.gazetteer.scan(text, (folded, offsets))
        # Every rule reads the article's language with that language's words: its anchors suffice,
        # and every language's (for a caption in another language) are looked for only if needed.
        own = self._presearch.covers(language)
        found = [(offsets[f], key) for f, key in self._presearch.anchors(folded, language if own else ANY)]
        every: list[AnchorIndex] = [] if own else [AnchorIndex(found)]

        def any_index() -> AnchorIndex:
            if not every:
                every.append(AnchorIndex([(offsets[f], key) for f, key in self._presearch.anchors(folded)]))
            return every[0]

        candidate_ids = {e for h in hits for e in h.entity_ids}
        anchors = {key for _, key in found}
        now = self._clock()
        day = (article.published or article.fetched_at).date()
        rules = {
            i: self._compiled[i]
            for i in self._presearch.candidates(candidate_ids, anchors)
            if self._compiled[i].can_fire(candidate_ids, anchors, self._compiled[i].reading(language))
            and self._compiled[i].accepts(article, now)
        }
        if own:  # a caption in another language: the rules whose entities the article names
            rules.update(
                (i, self._compiled[i])
                for i in self._presearch.candidates(candidate_ids, ())
                if i not in rules
                and self._compiled[i].names_entities
                and self._compiled[i].can_fire(candidate_ids, None)  # its entities, before any anchor pass
                and self._compiled[i].can_fire(candidate_ids, any_index().within(0, len(text)))
                and self._compiled[i].accepts(article, now)
            )
        spans = self._spans(text, language, rules, hits, AnchorIndex(found), any_index) if rules else {}
        segments = merge_segments([span for per_rule in spans.values() for span in per_rule], text)
        if not segments:
            return Analysis(self.gazetteer.resolve(text, hits, on=day), [], language, nlp_ran=False)

        known = self.gazetteer.resolve(text, [h for h in hits if not h.short])
        annotation = self.pipelines.annotate(text, language, known, segments)
        mentions = self.gazetteer.resolve(text, hits, annotation.ner, on=day)
        parse = self._parser(text, language, frozenset((s.start, s.end) for s in annotation.sentences))
        sentence_language = self._sentence_languages(text, language)
        starts = [s.start for s in annotation.sentences]
        results = []
        for i, rule_spans in sorted(spans.items()):
            # a rule reads only the sentences where the presearch says it can fire
            # (every annotated sentence overlapping one of them: spaCy may not split where the plain
            # splitter did)
            picked = {
                k
                for s, e in rule_spans
                for k in range(max(0, bisect.bisect_right(starts, s) - 1), bisect.bisect_left(starts, e))
                if annotation.sentences[k].end > s
            }
            sentences = windows(
                annotation.sentences,
                sorted(picked),
                reach(rules[i]),
                self._alone(rules[i], mentions, language),
            )
            results.append(rules[i].evaluate(text, sentences, mentions, language, parse, sentence_language))
        places = [m for m in (*mentions, *(annotation.ner or [])) if m.label in _PLACE_LABELS]
        matches = [
            self._match(article, result, now, language, places) for result in results if result is not None
        ]
        entities = sorted(
            [*mentions, *_shown(annotation.ner or [], mentions)], key=lambda m: (m.start, m.end)
        )
        return Analysis(entities, matches, language, self.pipelines.has(language), len(segments))

    def explain(self, article: Article, fired: set[str]) -> dict[str, Explanation]:
        """Return, for each rule not in ``fired``, why it does not fire on ``article``.

        Slow on purpose (every sentence through the pipeline, no presearch): for analysts only.
        """
        text = analysed_text(article)
        language = self.language_of(article, text)
        hits = self.gazetteer.scan(text)
        day = (article.published or article.fetched_at).date()
        known = self.gazetteer.resolve(text, [h for h in hits if not h.short])
        annotation = self.pipelines.annotate(text, language, known)
        mentions = self.gazetteer.resolve(text, hits, annotation.ner, on=day)
        now = self._clock()
        return {
            rule.rule.id: explain_rule(rule, article, text, annotation.sentences, mentions, language, now)
            for rule in self._compiled
            if rule.rule.id not in fired
        }

    def match(self, article: Article) -> list[Match]:
        """Return the matches of ``article`` (see :meth:`analyse`)."""
        return self.analyse(article).matches

    def _spans(
        self,
        text: str,
        language: str,
        rules: Mapping[int, CompiledRule],
        hits: Sequence[AliasHit],
        found: AnchorIndex,
        any_index: Callable[[], AnchorIndex],
    ) -> dict[int, list[tuple[int, int]]]:
        """Return, per candidate rule, the sentences (plain split) where it can fire on their own.

        A sentence can satisfy a rule only if it holds a candidate of each of the rule's entity
        conditions and an anchor of each keyword condition, in the words the rule reads the article's
        language with (``found``). A sentence that names a rule's entities with another language's
        words (``any_index``, built on first use) is tried too when it is detected as written in that
        language (an English caption in a French article). The rules to try on a sentence come from
        the presearch index too, so the cost follows the rules a sentence can concern, not their number.
        """
        hit_starts = [h.start for h in hits]
        spans: dict[int, list[tuple[int, int]]] = {}
        plain = [
            span
            for line_start, line_end in split_lines(text)
            for span in simple_sentences(text, line_start, line_end)
        ]
        widest = max(reach(r) for r in rules.values())
        ids_of = []
        keys_of = []
        for s, e in plain:
            lo, hi = bisect.bisect_left(hit_starts, s), bisect.bisect_left(hit_starts, e)
            ids_of.append({i for h in hits[lo:hi] for i in h.entity_ids})
            keys_of.append(found.within(s, e))

        def can_fire(k: int, size: int) -> set[int]:
            ids = set().union(*ids_of[k : k + size])
            keys = set().union(*keys_of[k : k + size])
            if not ids and not keys:
                return set()
            s, e = plain[k][0], plain[k + size - 1][1]
            fire = set()
            for i in self._presearch.candidates(ids, keys):
                rule = rules.get(i)
                if rule is None or size > reach(rule):
                    continue
                if rule.can_fire(ids, keys, rule.reading(language)) or (
                    size == 1
                    and rule.names_entities
                    and rule.reading(language) == language
                    and rule.can_fire(ids, any_index().within(s, e))
                    and rule.reading(detect_text_language(text[s:e]) or language) != language
                ):
                    fire.add(i)
            return fire

        candidates = [can_fire(k, 1) for k in range(len(plain))]
        holds: dict[tuple[int, int], bool] = {}

        def holds_alone(k: int, i: int) -> bool:
            # the presearch's anchors only say a sentence *may* hold the rule's words: a window is
            # skipped only for a sentence that holds them, read word by word
            if (k, i) not in holds:
                s, e = plain[k]
                holds[(k, i)] = i in candidates[k] and rules[i].holds_alone(
                    Sentence(s, e, tuple(simple_tokens(text, s, e))), ids_of[k], language
                )
            return holds[(k, i)]

        for k in range(len(plain)):
            for i in candidates[k]:
                spans.setdefault(i, []).append(plain[k])
            for size in range(2, min(widest, len(plain) - k) + 1):
                # a window only for rules no sentence of it holds alone: such a sentence is judged on
                # its own (negation, parse), and a window must not overrule it
                for i in can_fire(k, size):
                    if not any(holds_alone(j, i) for j in range(k, k + size)):
                        # each sentence on its own: annotation never runs a title into its lede
                        spans.setdefault(i, []).extend(plain[k : k + size])
        return spans

    @staticmethod
    def _alone(
        rule: CompiledRule, mentions: Sequence[EntityMention], language: str
    ) -> Callable[[Sentence], bool]:
        """Return whether one sentence by itself names the rule's entities and holds its words."""

        def alone(sentence: Sentence) -> bool:
            ids = {m.entity_id for m in mentions if m.entity_id and sentence.start <= m.start < sentence.end}
            return rule.holds_alone(sentence, ids, language)

        return alone

    @staticmethod
    def _sentence_languages(text: str, language: str) -> Callable[[Sentence], str | None]:
        """Return a function that detects a sentence's language once, however many rules ask.

        It answers only where the sentence is clearly in another language than the article.
        """
        found: dict[tuple[int, int], str | None] = {}

        def detect(sentence: Sentence) -> str | None:
            key = (sentence.start, sentence.end)
            if key not in found:
                own = detect_text_language(text[sentence.start : sentence.end])
                found[key] = own if own != language else None
            return found[key]

        return detect

    def _parser(
        self, text: str, language: str, single: frozenset[tuple[int, int]]
    ) -> Callable[[Sentence], Parse | None]:
        """Return a function that parses a sentence once, however many rules ask.

        A window of several sentences (``scope: sentences``) gets no parse: a dependency tree does not
        cross a sentence, so there the names and the keyword only need to co-occur.
        """
        parsed: dict[tuple[int, int], Parse | None] = {}

        def parse(sentence: Sentence) -> Parse | None:
            key = (sentence.start, sentence.end)
            if key not in single:
                return None
            if key not in parsed:
                parsed[key] = self.pipelines.parse(text, sentence.start, sentence.end, language)
            return parsed[key]

        return parse

    def _match(
        self,
        article: Article,
        result: RuleResult,
        matched_at: datetime,
        language: str,
        places: Sequence[EntityMention],
    ) -> Match:
        """Return the Match of ``result``, with what an alert shows: names per language, places, language."""
        rule = result.rule
        names = {}
        for entity_id in result.entities:
            if entity_id in self.gazetteer.ids:
                spec = self.gazetteer.entity(entity_id)
                names[entity_id] = {"": spec.name, **spec.names}
        return Match(
            id=Match.make_id(rule.id, article.id),
            rule=rule.id,
            rule_name=rule.name,
            severity=rule.severity,
            score=result.score,
            article=article,
            evidence=tuple(_with_places(ev, places) for ev in result.evidence),
            entities=result.entities,
            matched_at=matched_at,
            receivers=tuple(rule.receivers),
            dedup_window_s=rule.dedup_window.total_seconds() if rule.dedup_window is not None else None,
            owner=rule.owner,
            rule_tags=tuple(rule.tags),
            language=language,
            event=dict(rule.event),
            entity_names=names,
        )
