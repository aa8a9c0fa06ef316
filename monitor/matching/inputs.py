"""Read the inputs of ``newsmon rules test``: plain text, JSON articles, or RSS/Atom feeds.

A rule author tries a rule on whatever is at hand: an article pasted into a text file, a message
copied off the ``articles`` topic, a saved feed. Each file becomes a list of Articles, or a ValueError
that names what is wrong with it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.models import Article, article_id

__all__ = ["INPUT_SUFFIXES", "read_articles"]

INPUT_SUFFIXES = frozenset({".txt", ".text", ".json", ".jsonl", ".xml", ".rss", ".atom"})
_FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom"})
_DATE_LINE = re.compile(r"\s*date\s+(\d{4}-\d{2}-\d{2})\b\s*(.*)")


def read_articles(path: Path) -> list[Article]:
    """Return the articles in ``path``, whose kind is told by its suffix, else by its first character.

    Raises:
        ValueError: the file cannot be read or parsed; the message says why.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read: {e.strerror or e}") from e
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if path.suffix in (".json", ".jsonl") or head in (b"{", b"["):
        return _json_articles(path, data)
    if path.suffix in _FEED_SUFFIXES or head == b"<":
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
