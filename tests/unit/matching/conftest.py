"""Fixtures of the matching unit tests: the shipped rules' engines, loaded once per session."""

from __future__ import annotations

import pytest

from monitor.matching.engine import MatchEngine
from tests.fixtures.articles import FIXED_NOW
from tests.fixtures.rules import RULES


@pytest.fixture(scope="session")
def engine() -> MatchEngine:
    """The shipped rules with the real French spaCy model (loaded once: ~4 s)."""
    return MatchEngine.load(RULES, {"fr": "fr_core_news_sm"}, clock=lambda: FIXED_NOW)


@pytest.fixture(scope="session")
def plain_engine() -> MatchEngine:
    """The shipped rules without any spaCy model: gazetteer and plain keywords only."""
    return MatchEngine.load(RULES, {}, clock=lambda: FIXED_NOW)
