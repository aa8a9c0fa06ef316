"""Rule features beyond the basics: double negation, proximity, parse relations, filters, metadata."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.matching.engine import MatchEngine
from monitor.matching.rules import load_rules
from tests.fixtures.articles import FIXED_NOW, MakeArticle
from tests.fixtures.rules import ENTITIES, SUMMIT, engine_for, rule_fires


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("Xi Jinping n'a pas refusé de rencontrer Vladimir Poutine.", True),  # pas + refuser: two negations
        ("Xi Jinping n'a jamais rencontré Vladimir Poutine.", False),  # ne … jamais: one negation
        ("Kim Jong-un est reparti sans jamais rencontrer Xi Jinping.", False),  # sans jamais: one
        ("La rencontre entre Xi Jinping et Vladimir Poutine n'a pas été annulée.", True),  # negated cancel
        ("La rencontre entre Xi Jinping et Vladimir Poutine a été annulée.", False),
    ],
)
def test_double_negation(engine: MatchEngine, article: MakeArticle, text: str, fires: bool) -> None:
    assert ("leaders_meeting" in [m.rule for m in engine.match(article(text))]) is fires


def test_double_negation_in_english_without_a_model(plain_engine: MatchEngine, article: MakeArticle) -> None:
    assert rule_fires(
        plain_engine, article, "Xi Jinping did not refuse to meet Vladimir Putin.", language="en"
    )
    assert not rule_fires(plain_engine, article, "Xi Jinping did not meet Vladimir Putin.", language="en")


@pytest.mark.parametrize(
    "text",
    [
        "Le sommet de l'OTAN a condamné le soutien de Kim Jong-un à Vladimir Poutine.",
        "Lors du sommet, les ministres ont dénoncé l'alliance entre Xi Jinping et Vladimir Poutine.",
    ],
)
def test_co_occurrence_is_not_a_meeting(engine: MatchEngine, article: MakeArticle, text: str) -> None:
    # the same sentence with a model that has no parser would fire: the parse makes the difference
    assert engine.match(article(text)) == []


def test_the_parse_keeps_the_participants(engine: MatchEngine, article: MakeArticle) -> None:
    [match] = engine.match(article("Le sommet de Pékin a réuni Xi Jinping et Kim Jong-un mardi."))
    [leaders] = [e for e in match.evidence if e.condition == "leaders"]
    assert [m.entity_id for m in leaders.entities] == ["xi_jinping", "kim_jong_un"]


def test_proximity_within_n_tokens(tmp_path: Path, article: MakeArticle) -> None:
    engine = engine_for(tmp_path, SUMMIT.replace("languages: [fr, en]", "languages: [fr, en]\nwithin: 8"))
    assert rule_fires(engine, article, "Ada Verin et Boris Kalm se sont rencontrés.")
    far = "Ada Verin, arrivée hier soir par un vol très retardé depuis Lisbonne, a rencontré Boris Kalm."
    assert not rule_fires(engine, article, far)
    [match] = engine.match(article("Rencontre: Ada Verin et Boris Kalm. Plus tard, une autre rencontre."))
    assert match.evidence[1].terms == ("Rencontre",)


def test_filters_feed_tags_and_age(tmp_path: Path, article: MakeArticle) -> None:
    rule = SUMMIT + "filters:\n  feeds: [wire]\n  tags: [Asia]\n  exclude_tags: [opinion]\n  max_age: 2d\n"
    engine = engine_for(tmp_path, rule)
    text = "Ada Verin a rencontré Boris Kalm."
    good = article(text).model_copy(update={"feed_id": "wire", "tags": ("asia",), "published": FIXED_NOW})
    assert engine.match(good)
    assert not engine.match(good.model_copy(update={"feed_id": "blog"}))
    assert not engine.match(good.model_copy(update={"tags": ("europe",)}))
    assert not engine.match(good.model_copy(update={"tags": ("asia", "Opinion")}))
    old = good.model_copy(update={"published": FIXED_NOW - timedelta(days=3)})
    assert not engine.match(old)


def test_metadata_rides_on_the_match(tmp_path: Path, article: MakeArticle) -> None:
    rule = (
        SUMMIT
        + "severity: high\nowner: asia-desk\nreceivers: [asia, oncall]\ndedup_window: 6h\ntags: [diplo]\n"
    )
    [match] = engine_for(tmp_path, rule).match(article("Ada Verin a rencontré Boris Kalm."))
    assert (match.severity, match.owner, match.receivers, match.dedup_window_s, match.rule_tags) == (
        "high",
        "asia-desk",
        ("asia", "oncall"),
        21600.0,
        ("diplo",),
    )


def test_entity_modes_all_any_none(tmp_path: Path, article: MakeArticle) -> None:
    rule = SUMMIT.replace("{at_least: 2, of: [ada_verin, boris_kalm]}", "{any: [ada_verin]}") + (
        "  - name: not_boris\n    entities: {none: [boris_kalm]}\n"
    )
    engine = engine_for(tmp_path, rule)
    assert rule_fires(engine, article, "Ada Verin a rencontré des élèves.")
    assert not rule_fires(engine, article, "Ada Verin a rencontré Boris Kalm.")
    both = engine_for(tmp_path, SUMMIT.replace("at_least: 2, of:", "all:"))
    assert not rule_fires(both, article, "Ada Verin a rencontré des élèves.")
    assert rule_fires(both, article, "Ada Verin a rencontré Boris Kalm.")


@pytest.mark.parametrize(
    ("text", "language", "rules"),
    [
        ("习近平在北京会见了金正恩。", "zh", ["leaders_meeting"]),
        ("普京与习近平通电话。", "zh", []),
        ("北京举行盛大阅兵式。", "zh", ["military_parade"]),
        ("Путин встретился с Си Цзиньпином в Пекине.", "ru", ["leaders_meeting"]),
        ("Wladimir Putin traf Xi Jinping in Moskau.", "de", ["leaders_meeting"]),
        ("Vladimir Putin held talks with Xi Jinping.", "en", ["leaders_meeting"]),
    ],
)
def test_languages_without_a_model(
    engine: MatchEngine, article: MakeArticle, text: str, language: str, rules: list[str]
) -> None:
    analysis = engine.analyse(article(text, language=language))
    assert [m.rule for m in analysis.matches] == rules
    assert not analysis.nlp_ran


def test_lookup_lemmas_find_irregular_forms(tmp_path: Path, article: MakeArticle) -> None:
    rule = SUMMIT.replace('en: ["meet*", met]', "en: [hold talks]")
    with_lemmas = engine_for(tmp_path, rule)
    text = "Ada Verin held talks with Boris Kalm."
    assert rule_fires(with_lemmas, article, text, language="en")
    without = MatchEngine.load(tmp_path, {}, lookup_lemmas=False)
    assert not rule_fires(without, article, text, language="en")


def test_spacy_runs_only_on_the_sentences_that_can_fire(engine: MatchEngine, article: MakeArticle) -> None:
    filler = "Le Parlement européen a voté le budget de Bruxelles. Emmanuel Macron était à Berlin. "
    text = filler * 5 + "Xi Jinping a rencontré Vladimir Poutine à Moscou. " + filler * 5
    analysis = engine.analyse(article(text))
    assert [m.rule for m in analysis.matches] == ["leaders_meeting"]
    assert analysis.segments == 1
    # NER never saw the filler: no Macron, no Berlin among the entities
    assert [m.text for m in analysis.entities] == ["Xi Jinping", "Vladimir Poutine", "Moscou"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    entities: {at_least", "    related_to: talks\n    entities: {at_least"),
            "summit.yaml:6: conditions[0].related_to: 'talks' is not a keywords condition",
        ),
        (
            ("languages: [fr, en]", "languages: [fr, en]\ndedup_window: soon"),
            "summit.yaml:4: dedup_window: duration 'soon'",
        ),
        (("languages: [fr, en]", "languages: [fr, en]\nwithin: 0"), "summit.yaml:4: within: "),
        (
            ("languages: [fr, en]", "languages: [fr, en]\nfilters: {max_age: -1}"),
            "summit.yaml:4: filters.max_age: duration -1 must be positive",
        ),
        (("languages: [fr, en]", "languages: [fr, en]\nreceivers: ['a b']"), "summit.yaml:4: receivers[0]: "),
        (
            ("languages: [fr, en]", "languages: [fr, en]\nnegation: {windows: {de: 4}}"),
            "summit.yaml:4: negation.windows.de: language 'de' is not in languages",
        ),
    ],
)
def test_new_fields_fail_with_file_line_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "summit.yaml").write_text(SUMMIT.replace(*change), encoding="utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path)
    assert expected in str(info.value)
