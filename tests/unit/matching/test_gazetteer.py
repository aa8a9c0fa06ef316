"""The gazetteer: aliases in several scripts, folding, and short aliases that need support."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.matching.engine import MatchEngine
from monitor.matching.gazetteer import EntitySpec, Gazetteer
from monitor.models import EntityMention
from tests.fixtures.articles import MakeArticle
from tests.fixtures.rules import RULES


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load(RULES / "entities.yaml")


def _linked(gazetteer: Gazetteer, text: str, ner: list[EntityMention] | None = None) -> list[tuple[str, str]]:
    return [(m.text, m.entity_id or "") for m in gazetteer.resolve(text, gazetteer.scan(text), ner)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Путин встретился с Си Цзиньпином.", [("Путин", "vladimir_putin"), ("Си Цзиньпином", "xi_jinping")]),
        ("普京与习近平会谈。", [("普京", "vladimir_putin"), ("习近平", "xi_jinping")]),
        ("김정은이 푸틴을 만났다", [("김정은", "kim_jong_un"), ("푸틴", "vladimir_putin")]),
        # "国家主席" is a role of Xi's: it names him because the article names him in full too
        (
            "プーチン大統領と習近平国家主席",
            [("プーチン", "vladimir_putin"), ("習近平", "xi_jinping"), ("国家主席", "xi_jinping")],
        ),
        (
            "VLADIMIR POUTINE et kim jong un",
            [("VLADIMIR POUTINE", "vladimir_putin"), ("kim jong un", "kim_jong_un")],
        ),
        ("Kim Jong‑Un (Kim Jong-un)", [("Kim Jong‑Un", "kim_jong_un"), ("Kim Jong-un", "kim_jong_un")]),
    ],
)
def test_aliases_in_several_scripts_and_cases(
    gazetteer: Gazetteer, text: str, expected: list[tuple[str, str]]
) -> None:
    assert _linked(gazetteer, text) == expected


def test_latin_aliases_need_word_boundaries(gazetteer: Gazetteer) -> None:
    assert _linked(gazetteer, "Le poutinisme et Xiaomi; Vladimir Putinov.") == []


def test_longest_alias_wins(gazetteer: Gazetteer) -> None:
    assert _linked(gazetteer, "Vladimir Poutine") == [("Vladimir Poutine", "vladimir_putin")]


def test_short_alias_counts_when_the_article_names_the_entity_in_full(gazetteer: Gazetteer) -> None:
    text = "Kim Jong-un est arrivé. Ensuite Kim a parlé. Le lendemain, la délégation de Xi est repartie."
    assert _linked(gazetteer, text) == [("Kim Jong-un", "kim_jong_un"), ("Kim", "kim_jong_un")]


def test_two_watched_surnames_side_by_side_vouch_for_each_other(gazetteer: Gazetteer) -> None:
    assert _linked(gazetteer, "Poutine et Kim scellent leur alliance.") == [
        ("Poutine", "vladimir_putin"),
        ("Kim", "kim_jong_un"),
    ]
    assert _linked(gazetteer, "Le sommet Kim-Xi.") == [("Kim", "kim_jong_un"), ("Xi", "xi_jinping")]
    # too far apart, or one of them is not written as a name: nobody is vouched for
    assert _linked(gazetteer, "Poutine a parlé longuement de la situation économique avec Kim.") == []
    assert _linked(gazetteer, "Kim Kardashian et Poutine.") == []
    assert _linked(gazetteer, "La poutine de Kim.") == []


def test_a_shared_alias_names_the_entity_the_article_names_in_full() -> None:
    g = Gazetteer(
        [
            EntitySpec(id="kim_jong_un", name="Kim Jong-un", aliases=["Kim Jong-un"], short_aliases=["Kim"]),
            EntitySpec(id="kim_yo_jong", name="Kim Yo-jong", aliases=["Kim Yo-jong"], short_aliases=["Kim"]),
        ]
    )

    def linked(text: str) -> list[str]:
        return [m.entity_id or "" for m in g.resolve(text, g.scan(text))]

    assert linked("Kim Yo-jong a parlé. Ensuite Kim est partie.") == ["kim_yo_jong", "kim_yo_jong"]
    assert linked("Kim Jong-un a parlé. Ensuite Kim est parti.") == ["kim_jong_un", "kim_jong_un"]
    # both named in full: "Kim" alone could be either, so it names nobody
    assert linked("Kim Jong-un et Kim Yo-jong. Ensuite Kim est parti.") == ["kim_jong_un", "kim_yo_jong"]


def test_short_alias_counts_when_ner_tags_exactly_that_span_per(gazetteer: Gazetteer) -> None:
    text = "Poutine a parlé."
    per = EntityMention(text="Poutine", label="PER", start=0, end=7)
    assert _linked(gazetteer, text, [per]) == [("Poutine", "vladimir_putin")]
    assert _linked(gazetteer, text, []) == []
    assert _linked(gazetteer, text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Vladimir Poutine aime la poutine.",  # the dish: lower case
        "Kim Jong-un regarde Kim Kardashian.",  # another Kim: a name follows
        "Kim Jong-un et sa sœur Kim Yo-jong.",
        "Xi Jinping a lu la vie de Louis XI.",  # a Roman numeral
    ],
)
def test_short_alias_inside_another_name_is_not_linked(gazetteer: Gazetteer, text: str) -> None:
    assert len(_linked(gazetteer, text)) == 1


def test_a_longer_ner_name_around_a_short_alias_vetoes_it(gazetteer: Gazetteer) -> None:
    text = "Vladimir Poutine divorça de Ludmila Poutine."
    start = text.index("Ludmila")
    ner = [EntityMention(text="Ludmila Poutine", label="PER", start=start, end=len(text) - 1)]
    assert _linked(gazetteer, text, ner) == [("Vladimir Poutine", "vladimir_putin")]


def test_ner_overreach_around_several_aliases_does_not_veto(gazetteer: Gazetteer) -> None:
    text = "Kim Jong-un, puis Kim, Xi et du président Xi Jinping."
    start = text.index("Xi et")
    ner = [EntityMention(text="Xi et du président", label="MISC", start=start, end=start + 18)]
    assert [e for _, e in _linked(gazetteer, text, ner)] == [
        "kim_jong_un",
        "kim_jong_un",
        "xi_jinping",
        "xi_jinping",
    ]


def test_empty_gazetteer_finds_nothing() -> None:
    assert Gazetteer([]).scan("Vladimir Poutine") == []


def test_constructed_gazetteer() -> None:
    g = Gazetteer(
        [EntitySpec(id="ada_verin", name="Ada Verin", aliases=["Ada Verin"], short_aliases=["Verin"])]
    )
    assert [m.entity_id for m in g.resolve("Ada Verin. Verin.", g.scan("Ada Verin. Verin."))] == [
        "ada_verin"
    ] * 2
    assert g.ids == frozenset({"ada_verin"})


@pytest.mark.parametrize(
    "text",
    [
        "J'ai mangé une poutine à Montréal.",
        "Kim Kardashian a dîné avec Louis XI.",
        "Kim Kardashian a dîné à Paris avec le président Xi Jinping.",
    ],
)
def test_real_ner_does_not_link_lookalikes(engine: MatchEngine, article: MakeArticle, text: str) -> None:
    # The leaders rule must get past its presearch for NER to run: name two leaders' short aliases.
    analysis = engine.analyse(article(text + " Rencontre."))
    linked = {m.text for m in analysis.entities if m.entity_id}
    assert linked <= {"Xi Jinping"}


def test_real_ner_links_a_lone_surname(engine: MatchEngine, article: MakeArticle) -> None:
    # No full name anywhere: "Poutine" counts only because spaCy tags it PER.
    analysis = engine.analyse(article("Poutine a rencontré Xi Jinping à Pékin."))
    assert [m.entity_id for m in analysis.entities if m.entity_id] == ["vladimir_putin", "xi_jinping"]
    assert analysis.nlp_ran


def test_the_shipped_gazetteer_loads(tmp_path: Path) -> None:
    g = Gazetteer.load(RULES / "entities.yaml")
    assert {"kim_jong_un", "xi_jinping", "vladimir_putin"} <= g.ids
    assert g.entity("xi_jinping").type == "PER"
