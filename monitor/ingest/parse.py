"""Turn a feed's bytes into Articles with feedparser: plain text, absolute links, UTC dates, a language.

Real feeds are often broken; parsing keeps every good item and reports the rest as problems rather than
failing the whole feed, because a single bad item must not hide the news in the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser

from monitor.ingest.feeds import normalise_language
from monitor.models import Article, article_id

__all__ = ["ParseResult", "html_to_text", "parse_feed"]

_TITLE_FALLBACK_CHARS = 120


@dataclass
class ParseResult:
    """The articles of a feed, in feed order, and what was wrong with it."""

    articles: list[Article]
    problems: list[str] = field(default_factory=list)
    is_feed: bool = True
    """False when the bytes are no RSS/Atom at all (an HTML page, an error page, nothing)."""


def parse_feed(
    feed_id: str,
    data: bytes,
    base_url: str | None = None,
    language: str | None = None,
    tags: tuple[str, ...] = (),
) -> ParseResult:
    """Parse the RSS/Atom ``data`` of feed ``feed_id`` into Articles; never raises on bad input.

    ``base_url`` (where the bytes came from) resolves relative links; ``language`` is the fallback
    when neither the item nor the feed declares one.
    """
    headers = {"content-location": base_url} if base_url else {}
    # Without a content-type feedparser flags every feed as bozo; XML lets the prolog pick the encoding.
    parsed: Any = feedparser.parse(data, response_headers={**headers, "content-type": "application/xml"})
    problems: list[str] = []
    if parsed.get("bozo"):
        problems.append(f"malformed feed: {parsed.get('bozo_exception')}")
    entries = parsed.get("entries") or []
    if not entries and not parsed.get("version"):
        problems.append("not an RSS or Atom feed")
        return ParseResult([], problems, is_feed=False)

    feed_language = normalise_language(parsed.feed.get("language")) or _detail_language(parsed.feed, "title")
    fallback_language = feed_language or normalise_language(language)
    base = base_url or parsed.feed.get("link")
    articles: list[Article] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        try:
            article = _article(feed_id, entry, base, fallback_language, tags)
        except ValueError as e:
            problems.append(f"item {n}: skipped: {e}")
            continue
        if article.id in seen:
            problems.append(
                f"item {n}: skipped: duplicate of an earlier item (guid/link {article.guid or article.url})"
            )
            continue
        seen.add(article.id)
        articles.append(article)
    return ParseResult(articles, problems)


def _article(
    feed_id: str, entry: Any, base: str | None, language: str | None, tags: tuple[str, ...]
) -> Article:
    guid = (entry.get("id") or "").strip() or None
    link = (entry.get("link") or "").strip()
    if link and base:
        link = urljoin(base, link)
    if not link and guid and guid.startswith(("http://", "https://")):
        link = guid
    if not guid and not link:
        raise ValueError("no GUID and no link, so no stable id")
    summary = _plain(entry.get("summary"), entry.get("summary_detail"))
    contents = entry.get("content") or []
    text = _plain(contents[0].get("value"), contents[0]) if contents else ""
    title = _plain(entry.get("title"), entry.get("title_detail")) or _shorten(summary or text) or link
    item_language = next(
        (
            code
            for code in (
                normalise_language(entry.get("language")),
                _detail_language(entry, "title"),
                normalise_language(contents[0].get("language")) if contents else None,
                _detail_language(entry, "summary"),
            )
            if code
        ),
        None,
    )
    return Article(
        id=article_id(guid, link),
        feed_id=feed_id,
        url=link,
        guid=guid,
        title=title,
        summary=summary,
        text=text or summary,
        language=item_language or language,
        # dict.get: feedparser's own get() maps a missing 'updated' to 'published' with a DeprecationWarning.
        published=_date(dict.get(entry, "published_parsed")) or _date(dict.get(entry, "updated_parsed")),
        tags=tags,
    )


def _plain(value: str | None, detail: Any) -> str:
    """Return ``value`` as plain text; HTML unless feedparser says it is plain text."""
    if not value:
        return ""
    if (detail or {}).get("type") == "text/plain" and "<" not in value:
        # Line breaks carry meaning in plain text (paragraphs); only runs of spaces are noise.
        lines = (" ".join(line.split()) for line in value.splitlines())
        return "\n".join(line for line in lines if line)
    return html_to_text(value)


def _detail_language(node: Any, key: str) -> str | None:
    """Return the xml:lang feedparser recorded on ``node[key + '_detail']``."""
    detail = node.get(f"{key}_detail") or {}
    return normalise_language(detail.get("language"))


def _date(value: Any) -> datetime | None:
    """Return feedparser's UTC struct_time as an aware datetime, or None when it is absent or odd."""
    if value is None:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _shorten(text: str) -> str:
    if len(text) <= _TITLE_FALLBACK_CHARS:
        return text
    return text[: _TITLE_FALLBACK_CHARS - 1].rsplit(" ", 1)[0] + "…"


# Tags after which the text continues on a new line or at least a new word.
_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
     "section", "article", "figure", "figcaption", "hr", "pre", "table", "header", "footer"}
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript"})
_SPACES = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            # In HTML a line break in text is just a space; only block elements break lines.
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Return the plain text of an HTML fragment: tags dropped, entities decoded, whitespace tidied.

    Paragraph breaks are kept as single newlines, because matching splits sentences and a missing
    break would glue a heading to the next sentence.
    """
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)
