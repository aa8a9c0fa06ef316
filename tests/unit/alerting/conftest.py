"""Fixtures of the alerting unit tests: matches written here, never copied from the seeds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from monitor.models import Article, EntityMention, Evidence, Match, article_id

MakeMatch = Callable[..., Match]

_URL = "https://news.example.org/world/2026/03/04/summit-geneva"
_SENTENCE = "Ada Verin and Boris Kalm met in Geneva on Tuesday to sign a water-sharing accord."


def _evidence(sentence: str = _SENTENCE) -> Evidence:
    return Evidence(
        condition="two_leaders_meet",
        sentence=sentence,
        entities=(
            EntityMention(
                text="Ada Verin", label="PER", start=0, end=9, entity_id="ada_verin", source="gazetteer"
            ),
            EntityMention(text="Boris Kalm", label="PER", start=14, end=24, entity_id="boris_kalm"),
            EntityMention(text="Geneva", label="LOC", start=32, end=38),
        ),
        terms=("met",),
    )


@pytest.fixture
def make_match() -> MakeMatch:
    """Return a factory of Matches; keyword arguments override the article or the match fields."""

    def make(
        *,
        rule: str = "leaders_meeting",
        url: str = _URL,
        title: str = "Verin and Kalm sign a water accord in Geneva",
        evidence: tuple[Evidence, ...] | None = None,
        published: datetime | None = datetime(2026, 3, 4, 9, 30, tzinfo=UTC),
        matched_at: datetime = datetime(2026, 3, 4, 9, 35, tzinfo=UTC),
        text: str = _SENTENCE + " The accord covers the upper river basin.",
    ) -> Match:
        article = Article(
            id=article_id(None, url),
            feed_id="example-world",
            url=url,
            title=title,
            text=text,
            language="en",
            published=published,
            fetched_at=matched_at,
        )
        return Match(
            id=Match.make_id(rule, article.id),
            rule=rule,
            rule_name=rule.replace("_", " ").capitalize(),
            severity="high",
            score=2.0,
            article=article,
            evidence=(_evidence(),) if evidence is None else evidence,
            entities=("ada_verin", "boris_kalm"),
            matched_at=matched_at,
        )

    return make
