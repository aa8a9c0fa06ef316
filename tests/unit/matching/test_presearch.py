"""The presearch files rules by trigger, so an article only meets the rules that can concern it."""

from __future__ import annotations

from monitor.matching.evaluate import CompiledRule
from monitor.matching.presearch import Presearch
from monitor.matching.rules import Rule
from monitor.matching.text import fold


def _rule(n: int, condition: dict[str, object]) -> Rule:
    return Rule.model_validate(
        {
            "id": f"r{n}",
            "name": f"R{n}",
            "languages": ["fr"],
            "conditions": [condition, {"name": "what", "keywords": {"fr": ["sommet", "accord"]}}],
        }
    )


def test_candidates_follow_the_keys_present_not_the_number_of_rules() -> None:
    rules = [_rule(n, {"name": "who", "entities": {"any": [f"e{n}", f"e{n + 1}"]}}) for n in range(5000)]
    rules.append(_rule(5000, {"name": "what2", "keywords": {"fr": ["loi martiale"]}}))
    presearch = Presearch([CompiledRule(r) for r in rules])
    # common words are not triggers of entity rules: e41 files exactly the two rules that name it
    anchors = {key for _, key in presearch.anchors(fold("Un sommet et un accord."))}
    assert anchors == {"somm", "acco"}
    assert presearch.candidates({"e41"}, anchors) == [40, 41]
    assert presearch.candidates(set(), anchors) == []
    martial = {key for _, key in presearch.anchors(fold("La loi martiale."))}
    assert presearch.candidates(set(), martial) == [5000]


def test_anchors_need_a_word_start_except_in_cjk() -> None:
    rules = [
        Rule.model_validate(
            {
                "id": "r",
                "name": "R",
                "languages": ["fr", "zh"],
                "conditions": [{"name": "what", "keywords": {"fr": ["sommet"], "zh": ["峰会"]}}],
            }
        )
    ]
    presearch = Presearch([CompiledRule(r) for r in rules])
    assert presearch.anchors(fold("les sommets")) == [(4, "somm")]
    assert presearch.anchors(fold("consommation")) == []
    assert presearch.anchors(fold("举行峰会")) == [(2, "峰会")]
