"""Turn one feedparser entry into an Article: plain text, an absolute link, a UTC date, a language.

Kept apart from the document-level parse (parse.py) because it is the per-item work: what the pre-pass
saves for every item already published.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from monitor.ingest.dates import parse_loose_date
from monitor.ingest.feeds import normalise_language
from monitor.models import Article, article_id
from monitor.normalise.html import html_to_text

__all__ = ["article_of", "detail_language"]

_TITLE_FALLBACK_CHARS = 120
# A date this far past the fetch is a wrong clock or a typo, not news from the future.
_FUTURE_SLACK = timedelta(days=1)


def article_of(
    feed_id: str,
    entry: Any,
    base: str | None,
    language: str | None,
    tags: tuple[str, ...],
    fetched_at: datetime,
) -> tuple[Article, bool]:
    """Return the Article of one entry, and whether its date is the item's own (not the fetch time)."""
    guid = (entry.get("id") or "").strip() or None
    link = (entry.get("link") or "").strip()
    if link and base:
        link = urljoin(base, link)
    if not link.lower().startswith(("http://", "https://")):
        link = ""  # javascript:, data:, file: links would be clickable in every alert that cites them
    if not link and guid and guid.startswith(("http://", "https://")):
        link = guid
    if not guid and not link:
        raise ValueError("no GUID and no link, so no stable id")
    summary = plain_text(entry.get("summary"), entry.get("summary_detail"))
    contents = entry.get("content") or []
    text = plain_text(contents[0].get("value"), contents[0]) if contents else ""
    title = plain_text(entry.get("title"), entry.get("title_detail")) or _shorten(summary or text) or link
    title = " ".join(title.split())  # one line: a line break in a headline could forge a console line
    item_language = next(
        (
            code
            for code in (
                normalise_language(entry.get("language")),
                detail_language(entry, "title"),
                normalise_language(contents[0].get("language")) if contents else None,
                detail_language(entry, "summary"),
            )
            if code
        ),
        None,
    )
    published = _published(entry, fetched_at)
    return (
        Article(
            id=article_id(guid, link),
            feed_id=feed_id,
            url=link,
            guid=guid,
            title=title,
            summary=summary,
            text=text or summary,
            # Full content only if it says more than the summary: many feeds repeat the teaser in both.
            text_source="feed" if text and len(text) > len(summary) else "summary",
            language=item_language or language,
            published=published or fetched_at,
            fetched_at=fetched_at,
            tags=tags,
        ),
        published is not None,
    )


def _published(entry: Any, fetched_at: datetime) -> datetime | None:
    """Return the item's own date: feedparser's reading, else ours of the raw text; None if odd or absent.

    A date more than a day past the fetch is treated as absent: a wrong clock must not push an item
    to the top of every "newest first" list for months.
    """
    # dict.get: feedparser's own get() maps a missing 'updated' to 'published' with a DeprecationWarning.
    for parsed_key, raw_key in (("published_parsed", "published"), ("updated_parsed", "updated")):
        when = _date(dict.get(entry, parsed_key))
        if when is None and dict.get(entry, raw_key):
            when = parse_loose_date(str(dict.get(entry, raw_key)), fetched_at)
        if when is not None:
            return when if when <= fetched_at + _FUTURE_SLACK else None
    return None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def plain_text(value: str | None, detail: Any) -> str:
    """Return ``value`` as plain text; HTML unless feedparser says it is plain text.

    Control characters go: an ESC in a headline would reach the terminal of ``newsmon run`` as an
    escape sequence (clear the screen, retitle the window, forge lines) through the console channel.
    """
    if not value:
        return ""
    value = _CONTROL.sub("", value)
    if (detail or {}).get("type") == "text/plain" and "<" not in value:
        # Line breaks carry meaning in plain text (paragraphs); only runs of spaces are noise.
        lines = (" ".join(line.split()) for line in value.splitlines())
        return "\n".join(line for line in lines if line)
    return html_to_text(value)


def detail_language(node: Any, key: str) -> str | None:
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
