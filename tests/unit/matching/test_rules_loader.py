"""The rule loader: every mistake fails the load with path:line: field: message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.matching.engine import MatchEngine
from monitor.matching.rules import load_rules
from tests.fixtures.rules import ENTITIES, RULE, RULES


def _rules_dir(tmp_path: Path, rule: str = RULE, entities: str = ENTITIES, name: str = "summit.yaml") -> Path:
    (tmp_path / "entities.yaml").write_text(entities, encoding="utf-8")
    (tmp_path / name).write_text(rule, encoding="utf-8")
    return tmp_path


def _error(tmp_path: Path, **files: str) -> str:
    with pytest.raises(RuleError) as info:
        load_rules(_rules_dir(tmp_path, **files))
    return str(info.value)


def test_the_shipped_rules_load() -> None:
    gazetteer, rules = load_rules(RULES)
    assert {r.id for r in rules} == {"leaders_meeting", "military_parade"}
    assert MatchEngine.load(RULES, {}).rule_count == 2
    assert "vladimir_putin" in gazetteer.ids


def test_a_minimal_rule_loads(tmp_path: Path) -> None:
    _, rules = load_rules(_rules_dir(tmp_path))
    rule = rules[0]
    assert (rule.id, rule.threshold, rule.scope, rule.severity) == ("summit", 1.0, "sentence", "info")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    message = _error(
        tmp_path, rule=RULE.replace("      fr: [rencontre, sommet]", "      fr: [rencontre, sommet")
    )
    assert re.match(rf"{re.escape(str(tmp_path / 'summit.yaml'))}:\d+: invalid YAML", message)


def test_unknown_key_lists_the_valid_ones(tmp_path: Path) -> None:
    message = _error(tmp_path, rule=RULE.replace("languages: [fr]", "languages: [fr]\ntreshold: 2"))
    assert message.startswith(f"{tmp_path / 'summit.yaml'}:4: treshold: unknown key; valid keys are [")
    assert "threshold" in message
    assert "conditions" in message


def test_unknown_nested_key_names_its_path_and_line(tmp_path: Path) -> None:
    message = _error(tmp_path, rule=RULE.replace("    keywords:", "    keyword:"))
    assert message.startswith(f"{tmp_path / 'summit.yaml'}:8: conditions[1].keyword: unknown key;")
    assert "keywords" in message
    assert "no_keywords" in message


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    message = _error(tmp_path, rule=RULE.replace("languages: [fr]", "languages: [fr]\nthreshold: often"))
    assert message.startswith(f"{tmp_path / 'summit.yaml'}:4: threshold: ")
    assert "number" in message


def test_yaml_booleans_get_a_hint(tmp_path: Path) -> None:
    message = _error(tmp_path, rule=RULE.replace("[rencontre, sommet]", "[rencontre, no]"))
    assert ":9: conditions[1].keywords.fr[1]: " in message
    assert "quote" in message


def test_unknown_entity_lists_the_valid_ones(tmp_path: Path) -> None:
    message = _error(
        tmp_path, rule=RULE.replace("of: [ada_verin, boris_kalm]", "of: [ada_verin, boris_calm]")
    )
    assert message.startswith(f"{tmp_path / 'summit.yaml'}:6: conditions[0].entities.of[1]: unknown entity")
    assert "[ada_verin, boris_kalm]" in message


def test_keywords_are_needed_for_every_language(tmp_path: Path) -> None:
    message = _error(tmp_path, rule=RULE.replace("languages: [fr]", "languages: [fr, en]"))
    assert f"{tmp_path / 'summit.yaml'}:8: conditions[1].keywords: no terms for language 'en'" == message


def test_a_condition_has_exactly_one_kind(tmp_path: Path) -> None:
    rule = RULE.replace("  - name: meeting\n", "  - name: meeting\n    entities: {any: [ada_verin]}\n")
    message = _error(tmp_path, rule=rule)
    assert f"{tmp_path / 'summit.yaml'}:7: conditions[1]: give exactly one of" in message


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, rule=RULE + "name: Again\n")
    assert message == f"{tmp_path / 'summit.yaml'}:10: name: duplicate key"


def test_bad_terms_are_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, rule=RULE.replace("[rencontre, sommet]", "[rencontre, '*']"))
    assert message.startswith(f"{tmp_path / 'summit.yaml'}:9: conditions[1].keywords.fr[1]: term '*'")


def test_duplicate_rule_ids_are_refused(tmp_path: Path) -> None:
    _rules_dir(tmp_path)
    (tmp_path / "other.yaml").write_text(RULE, encoding="utf-8")
    with pytest.raises(
        RuleError, match=r"summit\.yaml:1: id: rule id 'summit' is already used by .*other\.yaml"
    ):
        load_rules(tmp_path)


def test_gazetteer_errors_name_the_line(tmp_path: Path) -> None:
    entities = ENTITIES.replace("aliases: [Boris Kalm]", "aliases: [Boris Kalm, BORIS KALM]")
    message = _error(tmp_path, entities=entities)
    assert message.startswith(f"{tmp_path / 'entities.yaml'}:8: entities[1].aliases[1]: alias 'BORIS KALM'")
    assert "repeats 'Boris Kalm'" in message


def test_two_entities_may_share_an_alias(tmp_path: Path) -> None:
    entities = ENTITIES.replace("aliases: [Boris Kalm]", "aliases: [Boris Kalm]\n    short_aliases: [Verin]")
    gazetteer, _ = load_rules(_rules_dir(tmp_path, entities=entities))
    [hit] = gazetteer.scan("Verin")
    assert hit.entity_ids == ("ada_verin", "boris_kalm")


def test_gazetteer_unknown_key(tmp_path: Path) -> None:
    message = _error(tmp_path, entities=ENTITIES.replace("    short_aliases:", "    short_alias:"))
    assert message.startswith(
        f"{tmp_path / 'entities.yaml'}:5: entities[0].short_alias: unknown key; valid keys"
    )
    assert "short_aliases" in message


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing_dir", "rules folder not found"),
        ("no_entities", "gazetteer file not found"),
        ("no_rules", "no watchlist files"),
    ],
)
def test_missing_pieces(tmp_path: Path, setup: str, expected: str) -> None:
    if setup == "no_entities":
        (tmp_path / "summit.yaml").write_text(RULE, encoding="utf-8")
    elif setup == "no_rules":
        (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    target = tmp_path / "absent" if setup == "missing_dir" else tmp_path
    with pytest.raises(RuleError, match=expected):
        load_rules(target)
