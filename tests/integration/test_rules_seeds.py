"""The shipped watchlists on the five real seed articles: each fires exactly the watchlists labels.yaml lists.

The seeds live beside the repository (``../shared/seeds``) and are read at test time, never copied.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.matching.rules_test import run_rules_test
from tests.fixtures.seeds import SEEDS

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
MODELS = {"fr": "fr_core_news_sm"}


def _labels() -> dict[str, set[str]]:
    # Fail, never skip: without the seeds this acceptance test would pass by proving nothing.
    assert (SEEDS / "labels.yaml").is_file(), f"seed articles not found in {SEEDS} (../shared/seeds)"
    data = yaml.safe_load((SEEDS / "labels.yaml").read_text(encoding="utf-8"))
    return {name: set(entry["labels"]) for name, entry in data["articles"].items()}


@pytest.fixture(scope="module")
def report() -> tuple[int, dict[str, dict[str, Any]]]:
    """Run ``newsmon rules test --format json`` once over every seed (spaCy loads once)."""
    out = io.StringIO()
    code = run_rules_test(sorted(SEEDS.glob("*.txt")), RULES, MODELS, "json", out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    return code, {Path(r["source"]).name: r for r in records}


def test_every_seed_is_processed(report: tuple[int, dict[str, dict[str, Any]]]) -> None:
    code, records = report
    assert code == 0
    assert set(records) == set(_labels())
    assert all("error" not in r for r in records.values())


@pytest.mark.parametrize("seed", sorted(_labels()))
def test_seed_fires_exactly_its_labels(report: tuple[int, dict[str, dict[str, Any]]], seed: str) -> None:
    record = report[1][seed]
    fired = {m["rule"] for m in record["matches"]}
    assert fired == _labels()[seed], f"{seed}: fired {sorted(fired)}"
    for match in record["matches"]:
        assert match["evidence"], f"{seed}: {match['rule']} fired without evidence"
        for evidence in match["evidence"]:
            assert evidence["sentence"]
            assert evidence["entities"] or evidence["terms"]


def test_seed_dates_are_read_from_the_title_line(report: tuple[int, dict[str, dict[str, Any]]]) -> None:
    record = report[1]["000_11ea47c790b73a1e.txt"]
    assert record["published"] == "2025-09-02T00:00:00+00:00"
    assert not record["title"].startswith("date")
