"""The engine: matches with evidence, negation, presearch, languages, and purity."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.matching.engine import MatchEngine, analysed_text
from monitor.models import Match
from tests.fixtures.articles import FIXED_NOW, MakeArticle
from tests.fixtures.rules import ENTITIES, RULE


def _fired(engine: MatchEngine, article: MakeArticle, text: str, **kw: str | None) -> list[str]:
    return [m.rule for m in engine.match(article(text, **kw))]


def test_match_carries_id_time_score_and_evidence(engine: MatchEngine, article: MakeArticle) -> None:
    a = article("Vladimir Poutine a reçu Kim Jong-un au Kremlin. Le sommet a duré deux heures.")
    analysis = engine.analyse(a)
    [match] = analysis.matches
    assert match.id == Match.make_id("leaders_meeting", a.id)
    assert (match.rule, match.severity, match.score, match.matched_at) == (
        "leaders_meeting",
        "high",
        1.0,
        FIXED_NOW,
    )
    assert match.entities == ("kim_jong_un", "vladimir_putin")
    assert [e.condition for e in match.evidence] == ["leaders", "meeting"]
    leaders, meeting = match.evidence
    assert leaders.sentence == "Vladimir Poutine a reçu Kim Jong-un au Kremlin."
    assert [m.entity_id for m in leaders.entities] == ["vladimir_putin", "kim_jong_un"]
    assert meeting.terms == ("reçu",)
    text = analysed_text(a)
    assert all(text[m.start : m.end] == m.text for m in analysis.entities)


def test_the_engine_is_deterministic(engine: MatchEngine, article: MakeArticle) -> None:
    a = article("Xi Jinping et Vladimir Poutine se sont rencontrés à Moscou.")
    assert engine.analyse(a) == engine.analyse(a)


def test_title_is_a_sentence_of_its_own(engine: MatchEngine, article: MakeArticle) -> None:
    a = article("Le texte ne parle que de météo.", title="Xi Jinping a rencontré Vladimir Poutine")
    [match] = engine.match(a)
    assert match.evidence[0].sentence == "Xi Jinping a rencontré Vladimir Poutine"


def test_conditions_must_hold_in_the_same_sentence(engine: MatchEngine, article: MakeArticle) -> None:
    text = "Xi Jinping est à Pékin. Vladimir Poutine est à Moscou. Une rencontre est prévue."
    assert _fired(engine, article, text) == []


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("Xi Jinping n'a jamais rencontré Kim Jong-un.", False),
        ("Xi Jinping refuse de rencontrer Kim Jong-un.", False),
        ("Kim Jong-un a quitté Pékin sans rencontrer Xi Jinping.", False),
        ("Xi Jinping, qui ne cachait pas sa joie, a rencontré Kim Jong-un.", True),
        ("La rencontre entre Xi Jinping et Vladimir Poutine a été annulée.", False),
    ],
)
def test_negation(engine: MatchEngine, article: MakeArticle, text: str, fires: bool) -> None:
    assert ("leaders_meeting" in _fired(engine, article, text)) is fires


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("Vladimir Poutine a critiqué Xi Jinping lors d'un sommet à Moscou.", False),
        ("Vladimir Poutine a évoqué sa rencontre avec Xi Jinping.", True),
    ],
)
def test_talking_about_is_not_meeting(
    engine: MatchEngine, article: MakeArticle, text: str, fires: bool
) -> None:
    assert ("leaders_meeting" in _fired(engine, article, text)) is fires


def test_presearch_skips_spacy_when_no_rule_can_fire(engine: MatchEngine, article: MakeArticle) -> None:
    quiet = engine.analyse(article("Vladimir Poutine a inauguré un pont en Sibérie."))
    assert not quiet.nlp_ran
    assert quiet.matches == []
    assert [m.entity_id for m in quiet.entities] == ["vladimir_putin"]
    assert engine.analyse(article("Vladimir Poutine a rencontré Xi Jinping.")).nlp_ran


def test_languages(engine: MatchEngine, article: MakeArticle) -> None:
    text = "Xi Jinping a rencontré Vladimir Poutine."
    assert engine.analyse(article(text, language=None)).language == "fr"
    assert _fired(engine, article, text, language="fr-FR") == ["leaders_meeting"]
    italian = engine.analyse(article("Xi Jinping ha incontrato Vladimir Putin a Mosca.", language="it"))
    assert [m.rule for m in italian.matches] == ["leaders_meeting"]
    # no shipped watchlist lists Dutch words: every language's words are tried, none is Dutch, so the
    # names are still found, nothing fires and spaCy never runs
    dutch = engine.analyse(article("Xi Jinping ontving gisteren de delegatie in Peking.", language="nl"))
    assert dutch.matches == []
    assert not dutch.nlp_ran
    assert [m.entity_id for m in dutch.entities] == ["xi_jinping"]


def test_a_language_without_model_matches_on_plain_words(
    plain_engine: MatchEngine, article: MakeArticle
) -> None:
    english = article(
        "Xi Jinping and Vladimir Putin met in Moscow. Tanks joined the military parade.", language="en"
    )
    analysis = plain_engine.analyse(english)
    assert [m.rule for m in analysis.matches] == ["leaders_meeting", "military_parade"]
    assert not analysis.nlp_ran


def test_parade_rule(engine: MatchEngine, article: MakeArticle) -> None:
    assert _fired(engine, article, "Un défilé militaire se tiendra à Pyongyang le mois prochain.") == [
        "military_parade"
    ]
    assert _fired(engine, article, "Le défilé de la Pride a traversé Paris.") == []


def test_threshold_and_evidence_cap(tmp_path: Path, article: MakeArticle) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "summit.yaml").write_text(RULE.replace("languages: [fr]", "languages: [fr]\nthreshold: 2"))
    engine = MatchEngine.load(tmp_path, {})
    once = "Ada Verin et Boris Kalm: rencontre."
    assert engine.match(article(once)) == []
    [match] = engine.match(article("\n".join([once] * 7)))
    assert match.score == 7.0
    assert len({e.sentence for e in match.evidence}) == 1
    assert len(match.evidence) == 5 * 2
