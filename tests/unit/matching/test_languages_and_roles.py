"""Traditional Chinese, role descriptors with their dates, and sentences in another language."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.matching.engine import MatchEngine
from monitor.matching.text import fold
from tests.fixtures.articles import MakeArticle
from tests.fixtures.rules import SUMMIT, engine_for, rule_fires


def test_traditional_and_simplified_chinese_fold_alike() -> None:
    assert fold("習近平會見普丁，閱兵") == fold("习近平会见普丁，阅兵")


def test_traditional_chinese_fires_with_the_simplified_words(
    engine: MatchEngine, article: MakeArticle
) -> None:
    rules = {m.rule for m in engine.match(article("習近平在北京會見金正恩。", language="zh"))}
    assert rules == {"leaders_meeting"}
    assert {m.rule for m in engine.match(article("北京舉行盛大閱兵式。", language="zh"))} == {
        "military_parade"
    }


def test_a_role_names_the_entity_when_the_article_names_it_in_full(
    engine: MatchEngine, article: MakeArticle
) -> None:
    text = (
        "Kim Jong-un est arrivé en train, Xi Jinping était à Shanghai. "
        "Le président chinois a reçu le dirigeant nord-coréen mardi."
    )
    assert [m.rule for m in engine.match(article(text))] == ["leaders_meeting"]
    # without the full names, a role is no one in particular
    alone = "Le président chinois a reçu le dirigeant nord-coréen mardi."
    assert engine.match(article(alone)) == []


def test_a_role_counts_only_on_the_days_its_holder_held_it(engine: MatchEngine, article: MakeArticle) -> None:
    text = "Xi Jinping et Kim Jong-un. Le président russe a reçu Kim Jong-un mardi."
    now = article(text).model_copy(update={"published": datetime(2025, 9, 3, tzinfo=UTC)})
    before = now.model_copy(update={"published": datetime(2005, 9, 3, tzinfo=UTC)})
    assert [m.rule for m in engine.match(now)] == []  # Putin not named in full: the role is nobody
    with_putin = "Vladimir Poutine. " + text
    dated = now.model_copy(update={"text": with_putin, "summary": with_putin})
    assert [m.rule for m in engine.match(dated)] == ["leaders_meeting"]
    old = before.model_copy(update={"text": "Vladimir Poutine. Le président russe a reçu Kim Jong-un mardi."})
    assert engine.match(old) == []  # in 2005 Kim Jong-un was not yet the leader; the role names nobody


def test_an_english_caption_in_a_french_article_is_read_with_english_words(
    engine: MatchEngine, article: MakeArticle
) -> None:
    text = (
        "Le dirigeant a quitté la capitale hier soir.\nVladimir Putin meets Xi Jinping in Moscow on Tuesday."
    )
    assert [m.rule for m in engine.match(article(text))] == ["leaders_meeting"]


def test_the_french_riposte_is_not_an_english_parade(engine: MatchEngine, article: MakeArticle) -> None:
    assert engine.match(article("L'armée cherche encore la parade contre les drones.")) == []


def test_languages_without_a_spacy_table_get_lemmas_from_simplemma(
    tmp_path: Path, article: MakeArticle
) -> None:
    from monitor.matching.lemmas import lookup

    table = lookup("uk")
    assert table is not None
    assert table.get("зустрівся") == "зустрітися"
    rule = SUMMIT.replace("languages: [fr, en]", "languages: [fr, en, uk]").replace(
        '      en: ["meet*", met]\n', '      en: ["meet*", met]\n      uk: [зустрітися]\n'
    )
    engine = engine_for(tmp_path, rule)
    assert rule_fires(engine, article, "Ada Verin зустрівся з Boris Kalm у Києві.", language="uk")
