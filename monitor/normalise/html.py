"""Turn an HTML fragment, or a plain-text one, into the plain text the rules read.

Shared by the ingest stage (feed items, full-text pages) and ``rules test``/``rules evaluate``, so a
description reads the same whichever way it comes in.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

__all__ = ["html_to_text"]

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


_TAG = re.compile(r"<(?:[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?|/[A-Za-z][A-Za-z0-9-]*\s*|!--.*?--)>", re.DOTALL)


def html_to_text(html: str) -> str:
    """Return the plain text of an HTML fragment: tags dropped, entities decoded, whitespace tidied.

    Paragraph breaks are kept as single newlines, because matching splits sentences and a missing
    break would glue a heading to the next sentence. A fragment with no markup at all is plain text
    (many feeds send their descriptions so): its own line breaks are the paragraph breaks, where in
    HTML they would only be spaces.
    """
    if not _TAG.search(html):
        lines = (" ".join(line.split()) for line in unescape(html).splitlines())
        return "\n".join(line for line in lines if line)
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)
