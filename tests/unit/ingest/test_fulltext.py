"""Full-text extraction: when it replaces the summary, and every way it declines without losing the item."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from monitor.ingest.fetch import Fetcher
from monitor.ingest.fulltext import FULLTEXT_OUTCOMES, FullText
from monitor.models import Article

PARAGRAPHS = "".join(
    f"<p>Point {n} : les ministres des affaires étrangères se sont retrouvés mardi à Bruxelles pour un long"
    " conseil.</p>"
    for n in range(12)
)
PAGE = (
    "<html><head><title>Sommet</title></head><body>"
    "<nav><a href='/'>Accueil</a><a href='/monde'>Monde</a></nav>"
    f"<article><h1>Sommet à Bruxelles</h1>{PARAGRAPHS}</article><footer>© Exemple</footer></body></html>"
)


def _article(url: str = "https://news.example/a", summary: str = "Un conseil à Bruxelles.") -> Article:
    return Article(id="a", feed_id="f", url=url, title="Sommet", summary=summary, text=summary)


def _full_text(handler: Callable[[httpx.Request], httpx.Response], **kwargs: int) -> FullText:
    fetcher = Fetcher(timeout_s=2, max_bytes=1000, user_agent="t", transport=httpx.MockTransport(handler))
    return FullText(fetcher, **kwargs)


def test_a_teaser_is_replaced_by_the_pages_main_text() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, text=PAGE, headers={"Content-Type": "text/html; charset=utf-8"})

    full = _full_text(handler)
    article = _article()
    assert full.wanted(article)
    result = full.extract(article)
    assert result.outcome == "ok"
    assert result.article.text_source == "page"
    assert result.article.text.startswith("Sommet à Bruxelles")
    assert "Accueil" not in result.article.text
    assert "©" not in result.article.text
    assert result.article.summary == article.summary  # the feed's summary is kept as it was
    assert "text/html" in requests[0].headers["Accept"]


def test_long_bodies_and_non_http_links_are_not_fetched() -> None:
    full = _full_text(lambda r: httpx.Response(500), min_chars=50)
    assert not full.wanted(_article(summary="x" * 50))
    assert not full.wanted(_article(url="file:///etc/passwd"))
    refused = full.extract(_article(url="file:///etc/passwd"))
    assert (refused.outcome, refused.article.text_source) == ("fetch_error", "summary")
    assert "not http(s)" in refused.detail


@pytest.mark.parametrize(
    ("status", "body", "outcome", "detail"),
    [
        (404, "", "fetch_error", "HTTP 404"),
        (200, "x" * 300_000, "fetch_error", "too_large"),
        (200, "<html><body></body></html>", "no_text", "no main text"),
        (200, "<p>" + "<b>" * 50_001 + "</p>", "no_text", "tags"),
        (200, "<!DOCTYPE x [<!ENTITY a 'b'>]><html></html>", "no_text", "hostile"),
        (200, "<html><body><article><p>Un conseil.</p></article></body></html>", "shorter", "no more"),
    ],
)
def test_every_failure_keeps_the_feeds_text(status: int, body: str, outcome: str, detail: str) -> None:
    full = _full_text(lambda r: httpx.Response(status, text=body), max_bytes=200_000)
    article = _article()
    result = full.extract(article)
    assert (result.outcome, result.article) == (outcome, article)
    assert detail in result.detail
    assert outcome in FULLTEXT_OUTCOMES


def test_extracted_text_is_cut_at_max_chars() -> None:
    full = _full_text(lambda r: httpx.Response(200, text=PAGE), max_bytes=100_000, max_chars=200)
    result = full.extract(_article())
    assert result.outcome == "ok"
    assert len(result.article.text) == 200
