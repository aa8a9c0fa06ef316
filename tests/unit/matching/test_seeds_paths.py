"""The seeds give exactly labels.yaml whichever way they come in: .txt without a language, or a feed
without <language> whose descriptions are HTML or plain text with line breaks (what you preview is
what alerts)."""

from __future__ import annotations

import pytest

from monitor.ingest.parse import parse_feed
from monitor.matching.engine import MatchEngine
from monitor.matching.inputs import read_articles
from monitor.normalise import with_language
from tests.fixtures.seeds import SEEDS, load_seeds, seeds_as_rss

SEED_LABELS = {s.name: s.labels for s in load_seeds()}


def test_seed_text_files_without_a_language_fire_exactly_their_labels(engine: MatchEngine) -> None:
    for name, labels in SEED_LABELS.items():
        (article,) = read_articles(SEEDS / name)
        assert article.language is None
        analysis = engine.analyse(article)
        assert analysis.language == "fr", name
        assert {m.rule for m in analysis.matches} == labels, name


@pytest.mark.parametrize("plain", [False, True], ids=["html", "plain-text"])
def test_seeds_through_the_feed_path_fire_exactly_their_labels(engine: MatchEngine, plain: bool) -> None:
    rss = seeds_as_rss(load_seeds(), plain=plain, language=False)
    result = parse_feed("seeds", rss)
    assert len(result.articles) == len(SEED_LABELS)
    for article, name in zip(result.articles, SEED_LABELS, strict=True):
        detected, source = with_language(article)  # what the ingest stage does to a feed without one
        assert (detected.language, source) == ("fr", "detected")
        assert {m.rule for m in engine.match(detected)} == SEED_LABELS[name], name
