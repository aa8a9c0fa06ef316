"""``newsmon rules check``: exit 0 when all holds, 1 with path:line for a failing example, 2 for bad files."""

from __future__ import annotations

import io
from pathlib import Path

from monitor.matching.check import run_rules_check
from tests.fixtures.rules import ENTITIES, RULE, RULES

EXAMPLES = """\
examples:
  match:
    - Ada Verin et Boris Kalm, rencontre.
  no_match:
    - Ada Verin est seule.
    - Boris Kalm a rencontré Ada Verin.
"""


def _check(rules_dir: Path, models: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    return run_rules_check(rules_dir, models or {}, out), out.getvalue()


def test_the_shipped_rules_pass() -> None:
    code, out = _check(RULES, {"fr": "fr_core_news_sm"})
    assert code == 0
    assert out.startswith(f"{RULES}: 2 watchlist(s), all ")
    assert out.rstrip().endswith("example(s) hold")


def test_a_failing_example_is_named_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "summit.yaml").write_text(RULE + EXAMPLES, encoding="utf-8")
    code, out = _check(tmp_path)
    assert code == 1
    first, summary = out.splitlines()
    assert first.startswith(
        f"{tmp_path / 'summit.yaml'}:15: examples.no_match[1]: summit: should not fire on [fr]"
    )
    assert summary.endswith("1 of 3 example(s) fail")


def test_an_invalid_file_exits_2_with_file_line_field(tmp_path: Path) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "summit.yaml").write_text(
        RULE.replace("languages: [fr]", "languages: [fr]\nseverity: urgent")
    )
    code, out = _check(tmp_path)
    assert code == 2
    assert out.startswith(f"{tmp_path / 'summit.yaml'}:4: severity: ")
