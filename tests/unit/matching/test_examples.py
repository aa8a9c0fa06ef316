"""Every rule file's examples hold: they are the rule's specification in its author's words."""

from __future__ import annotations

import pytest

from monitor.matching.engine import MatchEngine
from monitor.matching.examples import check_examples
from monitor.matching.rules import Rule, load_rules
from tests.fixtures.rules import RULES

_, _RULES = load_rules(RULES)


@pytest.mark.parametrize("rule", _RULES, ids=lambda r: r.id)
def test_rule_has_examples_both_ways(rule: Rule) -> None:
    examples = rule.examples
    assert len(examples.match) >= 3
    assert len(examples.no_match) >= 3


def test_every_example_holds(engine: MatchEngine) -> None:
    failures = check_examples(engine)
    assert not failures, "\n".join(str(f) for f in failures)
