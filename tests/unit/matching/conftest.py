"""Fixtures of the matching unit tests: engines loaded once per session, articles written here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.matching.engine import MatchEngine
from monitor.models import Article

RULES = Path(__file__).resolve().parents[3] / "rules"
FIXED_NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

MakeArticle = Callable[..., Article]


@pytest.fixture(scope="session")
def engine() -> MatchEngine:
    """The shipped rules with the real French spaCy model (loaded once: ~4 s)."""
    return MatchEngine.load(RULES, {"fr": "fr_core_news_sm"}, clock=lambda: FIXED_NOW)


@pytest.fixture(scope="session")
def plain_engine() -> MatchEngine:
    """The shipped rules without any spaCy model: gazetteer and plain keywords only."""
    return MatchEngine.load(RULES, {}, clock=lambda: FIXED_NOW)


def _article(text: str, *, title: str = "", language: str | None = "fr", id: str = "a1") -> Article:
    return Article(
        id=id,
        feed_id="test",
        url=f"https://news.example.org/{id}",
        title=title,
        text=text,
        language=language,
        fetched_at=FIXED_NOW,
    )


@pytest.fixture
def article() -> MakeArticle:
    """Build an Article from a body text (and optional title and language)."""
    return _article
