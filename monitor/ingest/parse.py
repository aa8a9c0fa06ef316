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
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import feedparser

from monitor.ingest.entry import article_of, detail_language, plain_text
from monitor.ingest.feeds import normalise_language
from monitor.ingest.prepass import KnownItem, KnownLookup, Plan, PrepassOutcome, plan_cuts
from monitor.models import Article, utcnow
from monitor.normalise.html import html_to_text

__all__ = [
    "ParseResult",
    "declared_charset",
    "html_to_text",
    "is_hostile_xml",
    "parse_feed",
]

# Entity declarations live in a DOCTYPE's internal subset: "<!DOCTYPE name [ ... ]>".
_SUBSET_END = re.compile(rb"\]\s*>")
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
    known: list[KnownItem] = field(default_factory=list)
    """Items not parsed because their article was already published from these very bytes."""
    keys: dict[str, str] = field(default_factory=dict)
    """The pre-pass key of each article's item, by article id: what to remember once it is published."""
    undated: set[str] = field(default_factory=set)
    """Ids of the articles dated by the fetch time, for want of a date of their own."""
    prepass: PrepassOutcome = "off"
    prepass_detail: str = ""
    """Why the pre-pass fell back to a full parse."""


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
    known: KnownLookup | None = None,
) -> ParseResult:
    """Parse the RSS/Atom ``data`` of feed ``feed_id`` into Articles; never raises on bad input.

    ``base_url`` (where the bytes came from) resolves relative links; ``language`` is the fallback
    when neither the item nor the feed declares one; ``content_type`` is the HTTP header, whose charset
    wins over the XML prolog; an item without a readable date is dated ``fetched_at`` (default: now).
    With ``known``, items already published as they stand are not parsed again (see prepass.py): they
    are listed in ``ParseResult.known`` instead of ``articles``, and every other article is what a full
    parse would give.
    """
    fetched_at = fetched_at or utcnow()
    if is_hostile_xml(data):
        return ParseResult([], [_HOSTILE], is_feed=False, hostile=True)
    headers = {"content-location": base_url} if base_url else {}
    charset = declared_charset(content_type, data)
    # The media type is dropped on purpose: servers label feeds text/html or text/plain, and feedparser
    # would flag every such feed as bozo. Without a charset, the XML prolog or the BOM picks the encoding.
    media = f"application/xml; charset={charset}" if charset else "application/xml"
    data = _valid_charrefs(data)
    feed = _Feed(feed_id, base_url, language, tags, fetched_at)
    full_headers = {**headers, "content-type": media}
    # Without a base URL, relative links resolve against the channel's <link>, which is outside the items
    # (and their keys): no cuts then. The poller always has one, the URL it fetched.
    plan = plan_cuts(data, full_headers, base_url, known) if known is not None and base_url else Plan()
    if plan.drop:
        reduced = _read(feed, plan.reduced, plan.reduced_headers, plan)
        if reduced is not None:
            return reduced
        plan = Plan("fallback", "the reduced document did not read as its items promised")
    result = _read(feed, data, full_headers, plan)
    assert result is not None, "a full read always has a result"
    return result


@dataclass(frozen=True)
class _Feed:
    """What parse_feed was told about the feed, handed down to its helpers."""

    id: str
    base_url: str | None
    language: str | None
    tags: tuple[str, ...]
    fetched_at: datetime


def _read(feed: _Feed, data: bytes, headers: dict[str, str], plan: Plan) -> ParseResult | None:
    """Return the articles of ``data``; with cuts in ``plan``, None when the cuts did not hold.

    The cuts hold when feedparser reads the reduced document strictly, finds one entry per item left,
    and no known item repeats the id of an item before it (the full parse would report that duplicate).
    """
    reduced = bool(plan.drop)
    if reduced and len(plan.drop) == len(plan.items):
        # Every item is known: the channel alone would tell nothing the result needs (no article to
        # date or give a language), and a well-formed document has no problem but its encoding's.
        parsed: Any = feedparser.FeedParserDict(entries=[], feed=feedparser.FeedParserDict(), bozo=False)
    else:
        parsed = _feedparse(data, headers)
    if isinstance(parsed, Exception):
        if reduced:
            return None
        problem = f"malformed feed: the parser failed on it ({type(parsed).__name__}: {parsed})"
        return ParseResult([], [problem, "not an RSS or Atom feed"], is_feed=False, prepass=plan.outcome)
    entries = parsed.get("entries") or []
    if reduced and (parsed.get("bozo") or len(entries) != len(plan.items) - len(plan.drop)):
        return None
    if plan.items and not reduced and len(plan.items) != len(entries):
        plan = Plan("fallback", f"{len(plan.items)} items found, feedparser read {len(entries)}")
    problems: list[str] = []
    if reduced and plan.encoding_problem:
        problems.append(f"malformed feed: {plan.encoding_problem}")
    elif parsed.get("bozo"):
        problems.append(f"malformed feed: {parsed.get('bozo_exception')}")
    if not entries and not reduced and not parsed.get("version"):
        problems.append("not an RSS or Atom feed")
        return ParseResult([], problems, is_feed=False, prepass=plan.outcome, prepass_detail=plan.detail)

    feed_language = normalise_language(parsed.feed.get("language")) or detail_language(parsed.feed, "title")
    language = feed_language or normalise_language(feed.language)
    base = feed.base_url or parsed.feed.get("link")
    # The outlet's name as it gives it, one line (alerts show it beside each source).
    feed_title = " ".join(plain_text(parsed.feed.get("title"), parsed.feed.get("title_detail")).split())[:120]
    result = ParseResult([], problems, prepass=plan.outcome, prepass_detail=plan.detail)
    seen: set[str] = set()
    parsed_entries = iter(entries)
    for n in range(1, max(len(plan.items), len(entries)) + 1):
        # Positions are the full document's: a cut item still counts, so "item n" means the same.
        known_item = plan.drop.get(n - 1)
        if known_item is not None:
            if known_item.article_id in seen:
                return None
            seen.add(known_item.article_id)
            result.known.append(known_item)
            if known_item.published is not None:
                result.dates.append(datetime.fromtimestamp(known_item.published, UTC))
            continue
        try:
            article, dated = article_of(
                feed.id, next(parsed_entries), base, language, feed.tags, feed.fetched_at
            )
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
        if plan.outcome != "fallback" and n <= len(plan.items) and plan.items[n - 1].cuttable:
            result.keys[article.id] = plan.items[n - 1].key
        if dated:
            result.dates.append(article.published or feed.fetched_at)
        else:
            result.undated.add(article.id)
    return result


def _feedparse(data: bytes, headers: dict[str, str]) -> Any:
    """Return feedparser's reading of ``data``, or the exception its loose parser raised on it."""
    # sanitize_html and resolve_relative_uris are off because every text is reduced to plain text below
    # (no markup survives to be sanitised, no link inside a body is kept): that saves a third of the time.
    try:
        return feedparser.parse(
            data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except (UnicodeError, ValueError, OverflowError) as e:
        # feedparser's loose parser fails on some malformed input instead of flagging it as bozo.
        return e


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
