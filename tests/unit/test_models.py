"""The wire contracts: stable ids, canonical URLs, schema versions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from monitor.models import Article, Match, article_id, canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.ORG:443/a/b?utm_source=x&id=3#top", "https://example.org/a/b?id=3"),
        ("http://example.org:8080/a?b=2&a=1&fbclid=zz", "http://example.org:8080/a?a=1&b=2"),
        ("https://example.org", "https://example.org/"),
    ],
)
def test_canonical_url_drops_tracking_and_noise(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_article_id_is_stable_across_tracking_variants() -> None:
    a = article_id(None, "https://example.org/story?utm_campaign=nl")
    b = article_id(None, "https://EXAMPLE.org/story#comments")
    assert a == b
    assert article_id("https://example.org/story?xtor=RSS-1", None) == a
    assert article_id("tag:example.org,2025:42", "https://example.org/story") != a


def test_article_id_needs_guid_or_url() -> None:
    with pytest.raises(ValueError, match="GUID or a URL"):
        article_id("  ", None)


def test_messages_refuse_unknown_schema_versions() -> None:
    art = Article(id="x", feed_id="f", url="https://example.org/x", title="t")
    data = art.model_dump(mode="json")
    assert data["schema_version"] == 1
    data["schema_version"] = 2
    with pytest.raises(ValidationError):
        Article.model_validate(data)


def test_match_id_depends_on_rule_and_article_only() -> None:
    assert Match.make_id("r", "a") == Match.make_id("r", "a")
    assert Match.make_id("r", "a") != Match.make_id("r", "b")
    assert Match.make_id("r", "a") != Match.make_id("s", "a")
