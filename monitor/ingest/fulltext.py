"""Full text: when a feed gives only a teaser, fetch the article page and extract its main text.

Matching on a two-line summary misses what the third paragraph says; many outlets only put a teaser in
their feed. Extraction is trafilatura's (maintained, the best-scoring open extractor in its class), bounded
in bytes read, tags parsed, characters kept and seconds waited, so one huge or slow page costs at most
a bounded delay of its feed's poll and never the article itself: on any failure the summary is published.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.errors import FeedError
from monitor.ingest.fetch import Fetcher
from monitor.ingest.parse import declared_charset, is_hostile_xml
from monitor.models import Article

__all__ = ["FULLTEXT_OUTCOMES", "FullText", "FullTextResult"]

# The outcome label of newsmon_fulltext_fetches_total; a small fixed set.
FULLTEXT_OUTCOMES = ("ok", "fetch_error", "no_text", "shorter")
# A page with more tags than this is not extracted. trafilatura has no timeout and its time grows with
# the markup (its own MAX_TREE_SIZE is checked only after the costly part); measured here, 50,000 tags of
# the worst kind take ~1 s, while real article pages have 2,000-20,000.
_MAX_TAGS = 50_000


@dataclass(frozen=True)
class FullTextResult:
    """The article (with the page's text when extraction helped) and how extraction went."""

    article: Article
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class FullText:
    """Fetch and extract article pages for items whose body is shorter than ``min_chars``."""

    fetcher: Fetcher
    min_chars: int = 400
    max_bytes: int = 2_000_000
    max_chars: int = 50_000
    timeout_s: float = 10.0

    def wanted(self, article: Article) -> bool:
        """Return whether the article's body is only a teaser worth replacing by the page's text."""
        return len(article.body) < self.min_chars and article.url.startswith(("http://", "https://"))

    def extract(self, article: Article) -> FullTextResult:
        """Return ``article`` with the main text of its page, or unchanged with why not; never raises."""
        try:
            page = self.fetcher.fetch_page(article.feed_id, article.url, self.max_bytes, self.timeout_s)
        except FeedError as e:
            return FullTextResult(article, "fetch_error", f"{e.kind}: {e.detail}")
        if not page.content or is_hostile_xml(page.content):
            return FullTextResult(article, "no_text", "empty or hostile page")
        if page.content.count(b"<") > _MAX_TAGS:
            return FullTextResult(article, "no_text", f"page has more than {_MAX_TAGS} tags; not extracted")
        charset = declared_charset(page.content_type, page.content)
        html: str | bytes = page.content.decode(charset, errors="replace") if charset else page.content
        # Imported here: trafilatura and lxml add ~0.2 s to every `newsmon` command, and most never extract.
        import trafilatura

        try:
            text = trafilatura.extract(
                html,
                url=page.url or article.url,
                fast=True,
                include_comments=False,
                include_tables=False,
                deduplicate=False,
            )
        except Exception as e:  # the extractor's bug must cost the article its full text, not its publication
            return FullTextResult(article, "no_text", f"extractor failed: {type(e).__name__}: {e}")
        text = (text or "").strip()[: self.max_chars]
        if not text:
            return FullTextResult(article, "no_text", "no main text found on the page")
        if len(text) <= len(article.body):
            return FullTextResult(article, "shorter", "the page says no more than the feed")
        return FullTextResult(article.model_copy(update={"text": text, "text_source": "page"}), "ok")
