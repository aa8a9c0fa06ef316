"""The shipped watchlists on a multilingual test set: precision and recall of at least 0.95 each.

The set (``data/multilingual.yaml``) holds short articles written for newsmon in six languages, with
hard negatives: lookalike names, leaders talking about each other, phone calls, cancelled meetings,
Pride marches, carnivals, fashion shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.matching.engine import MatchEngine
from monitor.models import Article

SET = Path(__file__).parent / "data" / "multilingual.yaml"
WATCHLISTS = ("leaders_meeting", "military_parade")
_ITEMS: list[dict[str, Any]] = yaml.safe_load(SET.read_text(encoding="utf-8"))["articles"]


@pytest.fixture(scope="module")
def fired(engine: MatchEngine) -> dict[str, set[str]]:
    """Run every article of the set once."""
    out: dict[str, set[str]] = {}
    for item in _ITEMS:
        article = Article(
            id=item["id"],
            feed_id="testset",
            url=f"https://news.example.org/{item['id']}",
            title=item["title"],
            text=item["text"],
            language=item["language"],
        )
        out[item["id"]] = {m.rule for m in engine.match(article)}
    return out


def test_the_set_is_big_and_varied_enough() -> None:
    assert len(_ITEMS) >= 60
    assert len({i["language"] for i in _ITEMS}) >= 6
    assert len({i["id"] for i in _ITEMS}) == len(_ITEMS)
    for watchlist in WATCHLISTS:
        positives = [i for i in _ITEMS if watchlist in i["labels"]]
        assert len(positives) >= 10
        assert len(_ITEMS) - len(positives) >= 30


@pytest.mark.parametrize("watchlist", WATCHLISTS)
def test_precision_and_recall(fired: dict[str, set[str]], watchlist: str) -> None:
    tp = sum(1 for i in _ITEMS if watchlist in i["labels"] and watchlist in fired[i["id"]])
    fp = [i["id"] for i in _ITEMS if watchlist not in i["labels"] and watchlist in fired[i["id"]]]
    fn = [i["id"] for i in _ITEMS if watchlist in i["labels"] and watchlist not in fired[i["id"]]]
    precision = tp / (tp + len(fp)) if tp + len(fp) else 0.0
    recall = tp / (tp + len(fn)) if tp + len(fn) else 0.0
    assert precision >= 0.95, f"{watchlist}: precision {precision:.2f}; false positives {fp}"
    assert recall >= 0.95, f"{watchlist}: recall {recall:.2f}; missed {fn}"
