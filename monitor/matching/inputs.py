"""Read the inputs of ``newsmon rules test``: plain text, JSON articles, RSS/Atom feeds, or URLs.

A rule author tries a rule on whatever is at hand: an article pasted into a text file, a message
copied off the ``articles`` topic, a saved feed. Each file becomes a list of Articles, or a ValueError
that names what is wrong with it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from monitor.errors import NewsmonError
from monitor.models import Article, article_id

if TYPE_CHECKING:
    from monitor.ingest.fetch import Fetcher

__all__ = ["INPUT_SUFFIXES", "is_url", "read_articles", "read_url"]

INPUT_SUFFIXES = frozenset({".txt", ".text", ".json", ".jsonl", ".xml", ".rss", ".atom"})
_FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom"})
_TEXT_SUFFIXES = frozenset({".txt", ".text"})
_DATE_LINE = re.compile(r"\s*date\s+(\d{4}-\d{2}-\d{2})\b\s*(.*)")


def read_articles(path: Path) -> list[Article]:
    """Return the articles in ``path``, whose kind is told by its suffix, else by its first character.

    A ``.txt`` file is always text, whatever its first character ("[Reuters] Putin meets Xi"); a file
    of another suffix that starts like JSON but is not JSON is read as text too.

    Raises:
        ValueError: the file cannot be read or parsed; the message says why.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read: {e.strerror or e}") from e
    suffix = path.suffix.lower()
    if suffix in _TEXT_SUFFIXES:
        return [_text_article(path, data)]
    if suffix in (".json", ".jsonl"):
        return _json_articles(path, data)
    if suffix in _FEED_SUFFIXES:
        return _feed_articles(path, data)
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"["):
        try:
            return _json_articles(path, data)
        except ValueError:
            return [_text_article(path, data)]
    if head == b"<":
        return _feed_articles(path, data)
    return [_text_article(path, data)]


def _text_article(path: Path, data: bytes) -> Article:
    """Return the article of a text file: the first non-empty line is the title, the rest the body.

    A title line "date YYYY-MM-DD Title" carries the publication date.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text: {e}") from e
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ValueError("empty file")
    title = lines[first].strip()
    published = None
    m = _DATE_LINE.fullmatch(lines[first])
    if m:
        try:
            published = datetime.strptime(m.group(1), "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError as e:
            raise ValueError(f"line {first + 1}: bad date {m.group(1)!r}: {e}") from e
        title = m.group(2).strip()
    url = path.resolve().as_uri()
    return Article(
        id=article_id(None, url),
        feed_id="file",
        url=url,
        title=title,
        text="\n".join(lines[first + 1 :]).strip(),
        published=published,
    )


def _json_articles(path: Path, data: bytes) -> list[Article]:
    """Return the articles of a JSON file: one Article object, a list of them, or one per line (.jsonl)."""
    try:
        text = data.decode("utf-8-sig")
        items: list[Any]
        if path.suffix == ".jsonl":
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            loaded = json.loads(text)
            items = loaded if isinstance(loaded, list) else [loaded]
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"invalid JSON: {e}") from e
    articles: list[Article] = []
    for n, item in enumerate(items, start=1):
        try:
            articles.append(Article.model_validate(item))
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'article'}: {err['msg']}"
                for err in e.errors(include_url=False)
            )
            raise ValueError(f"article {n}: {problems}") from e
    return articles


def _feed_articles(path: Path, data: bytes) -> list[Article]:
    """Return the articles of an RSS/Atom file, parsed exactly as the ingestor parses feeds."""
    from monitor.ingest.parse import parse_feed  # the ingest stage is only needed for feed files

    result = parse_feed(path.stem, data, None)
    if not getattr(result, "is_feed", True):
        problems = "; ".join(getattr(result, "problems", [])) or "not an RSS or Atom feed"
        raise ValueError(problems)
    return list(result.articles)


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def is_url(source: str) -> bool:
    """Return whether a command-line input names an http(s) URL rather than a file."""
    return source.lower().startswith(("http://", "https://"))


def read_url(
    url: str, fetcher: Fetcher, max_bytes: int = 5_000_000, timeout_s: float = 20.0
) -> list[Article]:
    """Return the articles at ``url``: each item of an RSS/Atom feed, else the page (or text) itself.

    A page's title is its ``<title>``, its body the text of its markup; fetching is the ingestor's
    (size cap, timeout, and the same guard against private addresses).

    Raises:
        ValueError: the URL cannot be fetched, or holds nothing to read.
    """
    from monitor.ingest.parse import declared_charset, parse_feed
    from monitor.normalise.html import html_to_text

    try:
        page = fetcher.fetch_page("url", url, max_bytes, timeout_s)
    except NewsmonError as e:
        raise ValueError(f"cannot fetch: {e}") from e
    data = page.content or b""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:200].lower()
    kind = (page.content_type or "").lower()
    if head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")) or "rss" in kind or "atom" in kind:
        result = parse_feed("url", data, page.url or url, content_type=page.content_type)
        if result.articles:
            return list(result.articles)
    charset = declared_charset(page.content_type, data) or "utf-8"
    text = data.decode(charset, errors="replace")
    if "html" in kind or head.startswith((b"<!doctype html", b"<html")):
        m = _TITLE_RE.search(text)
        title = html_to_text(m.group(1)) if m else ""
        body = html_to_text(_TITLE_RE.sub("", text, count=1))
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        title, body = (lines[0], "\n".join(lines[1:])) if lines else ("", "")
    if not (title or body):
        raise ValueError("nothing to read at this URL")
    final = page.url or url
    return [Article(id=article_id(None, final), feed_id="url", url=final, title=title, text=body)]
