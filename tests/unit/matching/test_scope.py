"""``scope: sentences``: conditions spread over a sentence or two in a row, never overruling one."""

from __future__ import annotations

from pathlib import Path

from monitor.matching.engine import MatchEngine
from tests.fixtures.articles import MakeArticle
from tests.fixtures.rules import ENTITIES


def test_the_title_names_the_leaders_and_the_lede_says_they_met(
    engine: MatchEngine, article: MakeArticle
) -> None:
    text = "Les deux dirigeants se sont rencontrés mardi au Kremlin pendant trois heures."
    assert [m.rule for m in engine.match(article(text, title="Xi Jinping et Vladimir Poutine"))] == [
        "leaders_meeting"
    ]


def test_sentences_further_apart_do_not_combine(engine: MatchEngine, article: MakeArticle) -> None:
    text = "Xi Jinping et Vladimir Poutine. Il pleut sur Moscou. Les dirigeants se sont rencontrés mardi."
    assert engine.match(article(text)) == []


def test_a_window_never_overrules_a_sentence_judged_on_its_own(
    engine: MatchEngine, article: MakeArticle
) -> None:
    # the first sentence names both and a word of meeting, but the parse says they are not its
    # participants; the neighbour must not turn it into a meeting
    text = (
        "Le sommet de l'OTAN a condamné le soutien de Kim Jong-un à Vladimir Poutine. "
        "Les ministres se sont ensuite réunis à huis clos."
    )
    assert engine.match(article(text)) == []


def test_a_parade_and_its_soldiers_in_consecutive_sentences(
    engine: MatchEngine, article: MakeArticle
) -> None:
    text = (
        "Moscou a accueilli le grand défilé annuel du 9 mai. Onze mille soldats ont traversé la place Rouge."
    )
    assert [m.rule for m in engine.match(article(text))] == ["military_parade"]


def test_a_keyword_whose_first_word_stands_in_the_previous_sentence(
    tmp_path: Path, article: MakeArticle
) -> None:
    # the presearch sees "magnitude" in the first sentence, which does not hold "magnitude 6": the
    # window over both sentences must still be read (found by an analyst writing an earthquake rule)
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "quake.yaml").write_text(
        "id: quake\nname: Quake\nlanguages: [en]\nscope: sentences\nsentences: 2\nconditions:\n"
        "  - {name: quake, keywords: {en: [quake]}}\n  - {name: strong, keywords: {en: [magnitude 6]}}\n",
        encoding="utf-8",
    )
    engine = MatchEngine.load(tmp_path, {})
    text = "The magnitude of the quake was uncertain. It reached magnitude 6 in the evening."
    assert [m.rule for m in engine.match(article(text, language="en"))] == ["quake"]
    apart = "The magnitude of the quake was uncertain. It rained. It reached magnitude 6 in the evening."
    assert engine.match(article(apart, language="en")) == []
