"""Turn a feed's bytes into Articles with feedparser: plain text, absolute links, UTC dates, a language.

Real feeds are often broken; parsing keeps every good item and reports the rest as problems rather than
failing the whole feed, because a single bad item must not hide the news in the others. The one exception
is a feed that declares XML entities: that is an entity-expansion attack or a server to distrust, and it is
refused whole.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from urllib.parse import urljoin

import feedparser

from monitor.ingest.dates import parse_loose_date
from monitor.ingest.feeds import normalise_language
from monitor.models import Article, article_id, utcnow
from monitor.normalise.html import html_to_text

__all__ = ["ParseResult", "declared_charset", "html_to_text", "is_hostile_xml", "parse_feed"]

_TITLE_FALLBACK_CHARS = 120
# Entity declarations live in a DOCTYPE's internal subset: "<!DOCTYPE name [ ... ]>".
_SUBSET_END = re.compile(rb"\]\s*>")
# A date this far past the fetch is a wrong clock or a typo, not news from the future.
_FUTURE_SLACK = timedelta(days=1)
_SINGLE_BYTE_CHARSETS = frozenset({"ascii", "iso8859_1", "cp1252", "iso8859_15"})
_UTF16_STARTS = {
    codecs.BOM_UTF16_LE: "utf-16",
    codecs.BOM_UTF16_BE: "utf-16",
    "<?".encode("utf-16-le"): "utf-16-le",
    "<?".encode("utf-16-be"): "utf-16-be",
}
_HOSTILE = (
    "refused: the feed declares XML entities (<!ENTITY> in its DOCTYPE), as entity-expansion attacks do"
)


@dataclass
class ParseResult:
    """The articles of a feed, in feed order, and what was wrong with it."""

    articles: list[Article]
    problems: list[str] = field(default_factory=list)
    is_feed: bool = True
    """False when the bytes are no RSS/Atom at all (an HTML page, an error page, nothing)."""
    hostile: bool = False
    """True when the feed was refused unread because it declares XML entities."""
    dates: list[datetime] = field(default_factory=list)
    """The dates the items themselves carry (not the fetch-time fallbacks): the feed's observed rhythm."""


def is_hostile_xml(data: bytes) -> bool:
    """Return whether ``data`` declares XML entities in its DOCTYPE (billion laughs, external entities).

    News feeds never need their own entities; refusing the declaration is simpler and safer than trusting
    every parser on the way (feedparser's loose fallback, lxml in the full-text extractor) to cap expansion.
    The whole body is searched, not only its start, so padding before the DOCTYPE hides nothing; UTF-16
    feeds are checked too, once transcoded.
    """
    utf16 = _UTF16_STARTS.get(data[:2]) or _UTF16_STARTS.get(data[:4])
    if utf16:
        data = data.decode(utf16, errors="replace").encode("utf-8")
    # Split on each DOCTYPE rather than one regex over the body: linear even for a body of a million of them.
    for part in data.split(b"<!DOCTYPE")[1:]:
        bracket, close = part.find(b"["), part.find(b">")
        if bracket == -1 or -1 < close < bracket:
            continue  # "<!DOCTYPE rss PUBLIC ...>": no internal subset, nothing declared
        end = _SUBSET_END.search(part, bracket)
        if b"<!ENTITY" in part[bracket : end.start() if end else len(part)]:
            return True
    return False


def declared_charset(content_type: str | None, data: bytes) -> str | None:
    """Return the charset to decode ``data`` with, from the HTTP Content-Type; None to let the XML decide.

    The HTTP charset wins over the XML prolog (RFC 7303), except in the commonest server misconfiguration:
    a default single-byte charset (Apache's ISO-8859-1) announced for a body that is valid, non-ASCII UTF-8.
    Such a body is UTF-8; decoding it as Latin-1 would turn every accent into mojibake.
    """
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    if not isinstance(charset, str) or not charset.strip():
        return None
    try:
        codec = codecs.lookup(charset.strip().strip("'\"")).name
    except LookupError:
        return None  # an unknown charset name is no information; the prolog or BOM decides
    if codec.replace("-", "_") in _SINGLE_BYTE_CHARSETS and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return codec
        return "utf-8"
    return codec


def parse_feed(
    feed_id: str,
    data: bytes,
    base_url: str | None = None,
    language: str | None = None,
    tags: tuple[str, ...] = (),
    *,
    content_type: str | None = None,
    fetched_at: datetime | None = None,
) -> ParseResult:
    """Parse the RSS/Atom ``data`` of feed ``feed_id`` into Articles; never raises on bad input.

    ``base_url`` (where the bytes came from) resolves relative links; ``language`` is the fallback
    when neither the item nor the feed declares one; ``content_type`` is the HTTP header, whose charset
    wins over the XML prolog; an item without a readable date is dated ``fetched_at`` (default: now).
    """
    fetched_at = fetched_at or utcnow()
    if is_hostile_xml(data):
        return ParseResult([], [_HOSTILE], is_feed=False, hostile=True)
    headers = {"content-location": base_url} if base_url else {}
    charset = declared_charset(content_type, data)
    # The media type is dropped on purpose: servers label feeds text/html or text/plain, and feedparser
    # would flag every such feed as bozo. Without a charset, the XML prolog or the BOM picks the encoding.
    media = f"application/xml; charset={charset}" if charset else "application/xml"
    # sanitize_html and resolve_relative_uris are off because every text is reduced to plain text below
    # (no markup survives to be sanitised, no link inside a body is kept): that saves a third of the time.
    try:
        parsed: Any = feedparser.parse(
            _valid_charrefs(data),
            response_headers={**headers, "content-type": media},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (UnicodeError, ValueError, OverflowError) as e:
        # feedparser's loose parser fails on some malformed input instead of flagging it as bozo.
        problem = f"malformed feed: the parser failed on it ({type(e).__name__}: {e})"
        return ParseResult([], [problem, "not an RSS or Atom feed"], is_feed=False)
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
    # The outlet's name as it gives it, one line (alerts show it beside each source).
    feed_title = " ".join(_plain(parsed.feed.get("title"), parsed.feed.get("title_detail")).split())[:120]
    result = ParseResult([], problems)
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        try:
            article, dated = _article(feed_id, entry, base, fallback_language, tags, fetched_at)
        except ValueError as e:
            problems.append(f"item {n}: skipped: {e}")
            continue
        if article.id in seen:
            problems.append(
                f"item {n}: skipped: duplicate of an earlier item (guid/link {article.guid or article.url})"
            )
            continue
        seen.add(article.id)
        if feed_title:
            article = article.model_copy(update={"feed_title": feed_title})
        result.articles.append(article)
        if dated:
            result.dates.append(article.published or fetched_at)
    return result


_CHARREF = re.compile(rb"&#([xX][0-9a-fA-F]{1,16}|[0-9]{1,16});")


def _valid_charrefs(data: bytes) -> bytes:
    """Return ``data`` with character references to code points XML forbids replaced by U+FFFD.

    ``&#xD800;`` (a surrogate), ``&#0;`` or ``&#x110000;`` make feedparser's loose parser build a
    character it then cannot encode: the whole feed was lost for one bad item.
    """

    def fix(m: re.Match[bytes]) -> bytes:
        ref = m.group(1)
        code = int(ref[1:], 16) if ref[:1] in (b"x", b"X") else int(ref)
        return m.group(0) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else b"&#xFFFD;"

    return _CHARREF.sub(fix, data)


def _article(
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
    summary = _plain(entry.get("summary"), entry.get("summary_detail"))
    contents = entry.get("content") or []
    text = _plain(contents[0].get("value"), contents[0]) if contents else ""
    title = _plain(entry.get("title"), entry.get("title_detail")) or _shorten(summary or text) or link
    title = " ".join(title.split())  # one line: a line break in a headline could forge a console line
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


def _plain(value: str | None, detail: Any) -> str:
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
