"""Matching throughput: spaCy on everything vs the gated engine, and the engine at 10 to 10,000 rules.

Figures (each the median of ``runs`` runs, variants compared in the same process, in turn):

- ``ner_articles_per_s``: the naive baseline, spaCy (French, only the components matching needs: the
  ``senter`` instead of the parser) over every article, batched with ``nlp.pipe``.
- ``matcher_articles_per_s_realistic``: the whole engine (presearch, gated spaCy, rules) with the
  shipped rules, on a stream where 10% of articles mention a watched entity.
- ``match_articles_per_s_<N>_rules``: the engine alone with spaCy's output given (annotations computed
  once beforehand and replayed), for N generated rules over a generated gazetteer of 10,000 entities.
- ``match_articles_per_s_<N>_rules_with_ner``: the same N-rule engines with the real spaCy pipeline
  (gated by the presearch, as in production), on a stream where 10% of articles name an entity that a
  generated rule watches next to one of its keywords, so spaCy runs on their candidate sentences.
- ``rules_cost_ratio_10000_vs_10``: per-article time at 10,000 rules over that at 10.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.corpus import make_corpus
from bench.results import Figure
from monitor.matching.engine import MatchEngine, analysed_text
from monitor.matching.gazetteer import EntitySpec, Gazetteer
from monitor.matching.nlp import Annotation, Pipelines, load_pipeline
from monitor.matching.rules import Rule, RuleSet, load_rule_set
from monitor.matching.syntax import Parse
from monitor.models import Article, EntityMention

__all__ = ["bench_matching", "figures", "generated_rule_set"]

RULES = Path(__file__).resolve().parents[1] / "rules"
MODELS = {"fr": "fr_core_news_sm"}
MENTION_SHARE = 0.1
"""Share of the with-NER stream naming an entity of a generated rule (spaCy runs on those)."""
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ven",
    "dor",
    "sa",
    "tu",
    "bel",
    "gar",
    "no",
    "vi",
    "rek",
    "sol",
    "ma",
    "zen",
]
# Keyword-only watchlists are about a specific event, named by a phrase; entity watchlists pair a name
# with common words, which is fine since the name is what files them in the presearch.
_EVENTS = [
    "coup d'État",
    "loi martiale",
    "état d'urgence",
    "essai nucléaire",
    "tir de missile",
    "prise d'otages",
    "couvre-feu",
    "mandat d'arrêt",
    "motion de censure",
    "état de siège",
    "frappe aérienne",
    "fuite de données",
    "rupture de digue",
    "marée noire",
    "accident nucléaire",
    "crash aérien",
    "naufrage",
    "évasion de prison",
]
_KEYWORDS = [
    "sommet",
    "rencontre",
    "réunion",
    "visite",
    "accord",
    "traité",
    "sanctions",
    "élection",
    "nomination",
    "démission",
    "arrestation",
    "procès",
    "condamnation",
    "enquête",
    "explosion",
    "incendie",
    "séisme",
    "inondation",
    "grève",
    "manifestation",
    "attentat",
    "cyberattaque",
    "faillite",
    "rachat",
    "fusion",
    "licenciement",
    "privatisation",
    "nationalisation",
    "embargo",
    "blocus",
    "cessez-le-feu",
    "offensive",
]


def _name(rng: random.Random) -> str:
    return " ".join(
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize() for _ in range(2)
    )


def generated_rule_set(n_rules: int, *, n_entities: int = 10_000, seed: int = 7) -> RuleSet:
    """Return the shipped rules plus ``n_rules - 2`` generated ones over a gazetteer of ``n_entities``.

    Generated rules watch one to three entities drawn from the whole gazetteer (the three shipped
    leaders included, so some generated rules become candidates on the stream's flagged articles) with
    a keyword condition of common news words; one in ten is keyword-only, on an event phrase ("loi
    martiale"). A rule whose only trigger is a word of most articles would fire on most articles: no
    desk writes one, and no presearch can make it cheap.
    """
    rng = random.Random(seed)
    shipped = load_rule_set(RULES)
    entities: list[EntitySpec] = [shipped.gazetteer.entity(i) for i in sorted(shipped.gazetteer.ids)]
    names: set[str] = set()
    while len(entities) < n_entities:
        name = _name(rng)
        if name not in names:
            names.add(name)
            entities.append(EntitySpec(id=f"e{len(entities)}", name=name, aliases=[name]))
    ids = [e.id for e in entities]
    rules: list[Rule] = list(shipped.rules)
    for i in range(max(0, n_rules - len(rules))):
        keywords = rng.sample(_KEYWORDS, 3)
        conditions: list[dict[str, object]] = []
        if rng.random() < 0.9:
            watched = rng.sample(ids, rng.randint(1, 3))
            conditions.append({"name": "who", "entities": {"at_least": 1, "of": watched}})
            conditions.append({"name": "what", "keywords": {"fr": keywords}})
        else:
            event = rng.choice(_EVENTS)
            conditions.append({"name": "what", "keywords": {"fr": [event, f"{event} {keywords[0]}"]}})
        rules.append(
            Rule.model_validate(
                {"id": f"g{i}", "name": f"Generated {i}", "languages": ["fr"], "conditions": conditions}
            )
        )
    return RuleSet(Gazetteer(entities), rules, {})


class _Replay(Pipelines):
    """Pipelines that compute each annotation and parse once, then replay it: spaCy's output given."""

    def __init__(self, models: dict[str, str]) -> None:
        super().__init__(models)
        self._annotations: dict[tuple[str, str, tuple[tuple[int, int], ...] | None], Annotation] = {}
        self._parses: dict[tuple[str, int, int, str], Parse | None] = {}

    def annotate(
        self,
        text: str,
        language: str,
        known: Sequence[EntityMention] = (),
        segments: Sequence[tuple[int, int]] | None = None,
    ) -> Annotation:
        key = (text, language, tuple(segments) if segments is not None else None)
        if key not in self._annotations:
            self._annotations[key] = super().annotate(text, language, known, segments)
        return self._annotations[key]

    def parse(self, text: str, start: int, end: int, language: str) -> Parse | None:
        key = (text, start, end, language)
        if key not in self._parses:
            self._parses[key] = super().parse(text, start, end, language)
        return self._parses[key]


def _with_mentions(rule_set: RuleSet, n: int, share: float, seed: int) -> list[Article]:
    """Return ``n`` French articles; ``share`` of them name an entity a generated rule watches.

    The inserted sentence names one entity of a generated rule with one of the rule's keywords, so the
    presearch makes the rule a candidate there and spaCy runs on that sentence. The rules come from the
    first generated ones, which every larger set generated with the same seed holds too.
    """
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    for rule in rule_set.rules:
        if not rule.id.startswith("g"):
            continue
        ids = [i for c in rule.conditions if c.entities is not None for i in c.entities.of or []]
        words = [w for c in rule.conditions if c.keywords is not None for w in c.keywords.get("fr", [])]
        pairs += [(rule_set.gazetteer.entity(i).name, w) for i in ids for w in words]
    articles = make_corpus(n, watched_share=0.0, seed=seed)
    flagged = set(rng.sample(range(n), round(n * share)))
    out = []
    for i, article in enumerate(articles):
        if i in flagged:
            name, word = rng.choice(pairs)
            sentences = article.text.split(". ")
            at = rng.randrange(len(sentences))
            sentences.insert(at, f"Selon {name}, {word} reste à l'ordre du jour")
            article = article.model_copy(update={"text": ". ".join(sentences)})
        out.append(article)
    return out


def _rate(articles: Sequence[Article], work: Callable[[Article], object], runs: int) -> float:
    """Return the median articles/s of ``runs`` passes of ``work`` over ``articles``."""
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for article in articles:
            work(article)
        rates.append(len(articles) / (time.perf_counter() - started))
    return statistics.median(rates)


def _ner_rate(articles: Sequence[Article], runs: int) -> float:
    nlp = load_pipeline(MODELS["fr"])
    texts = [analysed_text(a) for a in articles]
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for _doc in nlp.pipe(texts, batch_size=16):
            pass
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates)


def bench_matching(
    runs: int = 3,
    n_ner: int = 40,
    n_stream: int = 1000,
    n_engine: int = 2000,
    n_with_ner: int = 500,
) -> dict[str, float]:
    """Return the matching figures (see the module docstring)."""
    figures: dict[str, float] = {}
    figures["ner_articles_per_s"] = _ner_rate(make_corpus(n_ner, seed=1), runs)

    stream = make_corpus(n_stream, watched_share=0.1, seed=2)
    engine = MatchEngine.load(RULES, MODELS)
    engine.match(stream[0])  # load spaCy outside the timing
    figures["matcher_articles_per_s_realistic"] = _rate(stream, engine.match, runs)

    corpus = make_corpus(n_engine, watched_share=0.1, seed=3)
    engines = {}
    for n in (10, 1000, 10_000):
        replay = _Replay(MODELS)
        engines[n] = MatchEngine.from_rule_set(generated_rule_set(n), replay)
        for article in corpus:  # warm: spaCy runs here, once per segment, outside the timing
            engines[n].match(article)
    rates: dict[int, list[float]] = {n: [] for n in engines}
    for _ in range(runs):  # in turn, so drift on the machine hits every variant alike
        for n, eng in engines.items():
            rates[n].append(_rate(corpus, eng.match, 1))
    for n in engines:
        figures[f"match_articles_per_s_{n}_rules"] = statistics.median(rates[n])

    pipelines = Pipelines(MODELS)  # the real spaCy pipeline, shared as on a reload in production
    with_ner = _with_mentions(generated_rule_set(10), n_with_ner, MENTION_SHARE, seed=4)
    live = {n: MatchEngine.from_rule_set(generated_rule_set(n), pipelines) for n in engines}
    for eng in live.values():
        eng.match(with_ner[0])  # load spaCy outside the timing
    rates = {n: [] for n in live}
    for _ in range(runs):
        for n, eng in live.items():
            rates[n].append(_rate(with_ner, eng.match, 1))
    for n in live:
        figures[f"match_articles_per_s_{n}_rules_with_ner"] = statistics.median(rates[n])
    figures["rules_cost_ratio_10000_vs_10"] = (
        figures["match_articles_per_s_10_rules"] / figures["match_articles_per_s_10000_rules"]
    )
    return figures


def figures(quick: bool = False, runs: int = 3) -> list[Figure]:
    """Run the matching benchmarks and return their figures (see the module docstring)."""
    n_ner, n_stream, n_engine, n_with_ner = (8, 200, 300, 100) if quick else (40, 1000, 2000, 500)
    r = bench_matching(runs, n_ner=n_ner, n_stream=n_stream, n_engine=n_engine, n_with_ner=n_with_ner)
    words = "~600-word French articles"
    out = [
        Figure(
            "ner_articles_per_s",
            r["ner_articles_per_s"],
            "articles/s",
            f"naive baseline: spaCy fr_core_news_sm (senter instead of the parser) on every article,"
            f" nlp.pipe batches of 16, {n_ner} {words}, one process",
        ),
        Figure(
            "matcher_articles_per_s_realistic",
            r["matcher_articles_per_s_realistic"],
            "articles/s",
            f"whole engine (presearch, spaCy gated to candidate sentences, shipped rules), one process,"
            f" {n_stream} {words} of which 10% name watched leaders or a parade (French: the language"
            " spaCy runs on; English articles skip it)",
        ),
    ]
    for n in (10, 1000, 10_000):
        out.append(
            Figure(
                f"match_articles_per_s_{n}_rules",
                r[f"match_articles_per_s_{n}_rules"],
                "articles/s",
                f"engine only, spaCy's output given (replayed): {n:,} rules (the 2 shipped + generated)"
                f" over a 10,000-entity gazetteer, {n_engine} {words}, 10% watched",
            )
        )
    for n in (10, 1000, 10_000):
        out.append(
            Figure(
                f"match_articles_per_s_{n}_rules_with_ner",
                r[f"match_articles_per_s_{n}_rules_with_ner"],
                "articles/s",
                f"whole engine with the real spaCy pipeline (fr_core_news_sm, gated by the presearch to"
                f" candidate sentences): {n:,} rules (the 2 shipped + generated) over a 10,000-entity"
                f" gazetteer, {n_with_ner} {words} of which {MENTION_SHARE:.0%} name an entity watched"
                " by a generated rule next to one of its keywords (spaCy runs on those), one process",
            )
        )
    out.append(
        Figure(
            "rules_cost_ratio_10000_vs_10",
            r["rules_cost_ratio_10000_vs_10"],
            "ratio",
            "per-article engine time at 10,000 rules / at 10 rules; the three rule sets run in turn in"
            " one process, median of the runs",
        )
    )
    return out
