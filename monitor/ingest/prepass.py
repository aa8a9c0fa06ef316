"""Find a feed's items as byte ranges, so the items already published need not be parsed again.

A news feed lists its newest 20-50 items and changes by one or two at a time, yet feedparser and the
HTML-to-text pass cost the same for every item at every poll: most of the ingestor's CPU went to items
it had already published. Expat (the XML parser feedparser's strict mode itself uses) walks the document
once without building anything and reports where each ``<item>``/``<entry>`` starts and ends; an item
whose bytes, in the same context, were already turned into a published article is cut out, and
feedparser parses what is left: the feed's header and the new or changed items. feedparser stays the
parser of record; this module only decides which bytes it needs to see.

The key of an item is a hash of its exact bytes and of everything around it that can change how
feedparser reads them (the base URL, the enclosing elements with their attributes and namespace
declarations), so equal keys mean equal articles. An item that declares a namespace is never cut:
feedparser tracks namespace prefixes across the whole document, so such an item could change how a
later one is read. Anything unexpected (not well-formed XML, a DOCTYPE or entity declaration, nested
items, an ``<item/>``) raises PrepassError, and the caller parses the whole feed as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.parsers import expat

from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype

__all__ = [
    "ItemSlice",
    "KnownItem",
    "KnownLookup",
    "Plan",
    "Prepared",
    "PrepassError",
    "PrepassOutcome",
    "plan_cuts",
    "prepare",
    "reduce_document",
    "split_items",
]

# The namespaces in which feedparser reads <item> and <entry> as entries (its supported_namespaces
# mapped to the default prefix); an item in any other namespace is not an entry for it, nor here.
_ENTRY_NAMESPACES = frozenset(
    {
        "",
        "http://backend.userland.com/rss",
        "http://blogs.law.harvard.edu/tech/rss",
        "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://example.com/newformat#",
        "http://example.com/necho",
        "http://purl.org/echo/",
        "uri/of/echo/namespace#",
        "http://purl.org/pie/",
        "http://purl.org/atom/ns#",
        "http://www.w3.org/2005/Atom",
        "http://purl.org/rss/1.0/modules/rss091#",
    }
)
_ENTRY_NAMES = frozenset({"item", "entry"})
_SEP = " "  # expat's namespace separator: names arrive as "uri local", or "local" without a namespace


class PrepassError(ValueError):
    """The document is not one the pre-pass can cut safely; parse it whole."""


@dataclass(frozen=True)
class ItemSlice:
    """Where one item lies in the document, and the key its article is remembered by."""

    start: int
    end: int
    key: str
    cuttable: bool
    """False when the item declares a namespace: it is always parsed, even if known."""


@dataclass(frozen=True)
class KnownItem:
    """What the seen-store remembers of an item already published, found by its key."""

    article_id: str
    published: float | None
    """The item's own date (Unix seconds); None when it had none and the fetch time stood in."""


KnownLookup = Callable[[Sequence[str]], Mapping[str, KnownItem]]
"""Given item keys, return those whose article was already published from that very item (SeenStore)."""
PrepassOutcome = Literal["off", "reduced", "all_new", "fallback"]
"""How the pre-pass went: not asked for; known items cut; nothing to cut; it failed (full parse)."""


@dataclass(frozen=True)
class Plan:
    """What the pre-pass found: the items, which of them are known, and the document without those."""

    outcome: PrepassOutcome = "off"
    detail: str = ""
    """Why the pre-pass fell back, when it did."""
    items: list[ItemSlice] = field(default_factory=list)
    drop: dict[int, KnownItem] = field(default_factory=dict)
    """The known items to cut, by their index in ``items``."""
    reduced: bytes = b""
    reduced_headers: dict[str, str] = field(default_factory=dict)
    encoding_problem: str | None = None


def plan_cuts(data: bytes, headers: Mapping[str, str], base_url: str | None, known: KnownLookup) -> Plan:
    """Return which items of ``data`` need no parsing; a plan without cuts when that cannot be told.

    Of several items known as the same article only the first is cut: the others are parsed, so the
    full parse's "duplicate of an earlier item" is still reported for them.
    """
    try:
        prepared = prepare(data, headers, base_url)
        keys = [item.key for item in prepared.items if item.cuttable]
        found = known(keys) if keys else {}
    except PrepassError as e:
        return Plan("fallback", str(e))
    except Exception as e:  # the pre-pass is an optimisation: any failure of it costs only the time
        return Plan("fallback", f"{type(e).__name__}: {e}")
    drop: dict[int, KnownItem] = {}
    cut: set[str] = set()
    for i, item in enumerate(prepared.items):
        hit = found.get(item.key) if item.cuttable else None
        if hit is not None and hit.article_id not in cut:
            drop[i] = hit
            cut.add(hit.article_id)
    if not drop:
        return Plan("all_new", items=prepared.items)
    return Plan(
        "reduced",
        items=prepared.items,
        drop=drop,
        reduced=reduce_document(prepared.data, prepared.items, drop),
        reduced_headers=prepared.headers,
        encoding_problem=prepared.encoding_problem,
    )


@dataclass(frozen=True)
class Prepared:
    """A feed as feedparser's strict parser would read it, cut into items."""

    data: bytes
    """UTF-8 without a DOCTYPE: the bytes feedparser hands to expat after its own preparation."""
    items: list[ItemSlice]
    encoding_problem: str | None
    """What feedparser reports about the encoding (declared one thing, parsed as another), if anything."""
    headers: dict[str, str]
    """The headers to hand feedparser with a reduced ``data``."""


def prepare(data: bytes, headers: Mapping[str, str], base_url: str | None) -> Prepared:
    """Return ``data`` as feedparser's strict parser would read it (same functions, same headers), cut.

    Running feedparser's own encoding detection and DOCTYPE replacement first means the expat pass
    reads exactly the bytes feedparser's strict parser would: if expat accepts them here, feedparser
    parses them strictly too, and a reduced document stays in that mode. For the common feed, UTF-8
    from end to end with no DOCTYPE, that conversion would only re-encode the same text, so it is
    skipped: expat checks the UTF-8 itself (a byte sequence that is not UTF-8 is not well-formed), and
    feedparser converts the reduced document with the same headers as it would have the whole.

    Raises:
        PrepassError: see split_items; also when feedparser finds no encoding that decodes the bytes.
    """
    if _plainly_utf8(data, headers):
        return Prepared(data, split_items(data, base_url), None, dict(headers))
    result: dict[str, Any] = {}
    utf8 = convert_to_utf8(dict(headers), data, result)
    if not result.get("encoding"):
        raise PrepassError("no encoding decodes the document")
    _, utf8, _ = replace_doctype(utf8)
    problem = result.get("bozo_exception")
    return Prepared(
        utf8,
        split_items(utf8, base_url),
        str(problem) if problem is not None else None,
        {**headers, "content-type": "application/xml; charset=utf-8"},
    )


def _plainly_utf8(data: bytes, headers: Mapping[str, str]) -> bool:
    """Return whether feedparser would read ``data`` as UTF-8 without complaint, if it is UTF-8 at all.

    That is: an XML media type with no charset or UTF-8, no byte order mark nor UTF-16/32 start, and
    no other encoding in what feedparser takes for the XML declaration (see _declared_encoding). A
    DOCTYPE anywhere sends the feed the long way, where feedparser's replacement of it is applied.
    """
    media, _, charset = headers.get("content-type", "").partition(";")
    charset = charset.strip().lower()
    if media.strip() != "application/xml" or charset not in ("", "charset=utf-8"):
        return False
    if data[:1] != b"<" or data[1:2] == b"\x00" or b"<!DOCTYPE" in data:
        return False
    declared = _declared_encoding(data)
    return declared is not None and declared.lower() in (b"", b"utf-8", b"utf8")


def _declared_encoding(data: bytes) -> bytes | None:
    """Return what feedparser's RE_XML_PI_ENCODING would find in ``data``: b"" for nothing; None: unsure.

    The regular expression (``^<\\?.*encoding=['"](.*?)['"].*\\?>``) scans the whole first line, which
    in a feed without line breaks is the whole feed, twice over. With one ``encoding=`` on that line
    its result is computed here directly; with several, None sends the feed the long way.
    """
    if not data.startswith(b"<?"):
        return b""
    newline = data.find(b"\n")
    line = data if newline == -1 else data[:newline]
    count = line.count(b"encoding=")
    if count != 1:
        return b"" if count == 0 else None
    at = line.index(b"encoding=") + len(b"encoding=")
    if line[at : at + 1] not in (b"'", b'"'):
        return b""
    close = min((i for i in (line.find(b"'", at + 1), line.find(b'"', at + 1)) if i != -1), default=-1)
    if close == -1 or b"?>" not in line[close + 1 :]:
        return b""
    return line[at + 1 : close]


def split_items(data: bytes, base_url: str | None) -> list[ItemSlice]:
    """Return the items of the UTF-8 feed ``data`` (as feedparser prepares it), in document order.

    Raises:
        PrepassError: the document is not well-formed, declares a DOCTYPE or entities, or holds
            items the pre-pass cannot cut cleanly.
    """
    return _Splitter(data, base_url or "").run()


def reduce_document(data: bytes, items: list[ItemSlice], drop: Collection[int]) -> bytes:
    """Return ``data`` without the items at the indexes in ``drop``; the rest stays byte for byte."""
    parts: list[bytes] = []
    at = 0
    for index in sorted(drop):
        item = items[index]
        parts.append(data[at : item.start])
        at = item.end
    parts.append(data[at:])
    return b"".join(parts)


class _Splitter:
    """One expat pass over a document, recording the byte range and context of each item."""

    def __init__(self, data: bytes, base_url: str) -> None:
        self._data = data
        self._base = base_url
        self._parser = expat.ParserCreate(namespace_separator=_SEP)
        self._ancestors: list[str] = []  # a description of each open element outside items
        self._pending_ns: list[tuple[str, str]] = []  # declared on the element about to start
        self._inside = 0  # open elements within the current item, itself included; 0: not in one
        self._start = 0
        self._context = ""
        self._declares = False
        self._children = 0
        self._items: list[ItemSlice] = []

    def run(self) -> list[ItemSlice]:
        p = self._parser
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartElementHandler = self._start_element
        p.EndElementHandler = self._end_element
        p.StartNamespaceDeclHandler = self._namespace
        p.StartDoctypeDeclHandler = self._refuse_doctype
        p.EntityDeclHandler = self._refuse_entity
        try:
            p.Parse(self._data, True)
        except expat.ExpatError as e:
            raise PrepassError(f"not well-formed XML: {e}") from e
        return self._items

    def _namespace(self, prefix: str | None, uri: str | None) -> None:
        if self._inside:
            self._declares = True
        else:
            self._pending_ns.append((prefix or "", uri or ""))

    def _start_element(self, name: str, attrs: dict[str, str]) -> None:
        namespace, _, local = name.rpartition(_SEP)
        is_entry = local in _ENTRY_NAMES and namespace in _ENTRY_NAMESPACES
        if self._inside:
            if is_entry:
                raise PrepassError("an item inside an item")
            self._inside += 1
            self._children += 1
            return
        if is_entry:
            self._inside = 1
            self._start = self._parser.CurrentByteIndex
            self._context = "\x1f".join(self._ancestors)
            self._declares = bool(self._pending_ns)
            self._pending_ns = []
            self._children = 0
            return
        self._ancestors.append(repr((name, sorted(attrs.items()), self._pending_ns)))
        self._pending_ns = []

    def _end_element(self, name: str) -> None:
        if not self._inside:
            self._ancestors.pop()
            return
        self._inside -= 1
        if self._inside:
            return
        # Expat says where an end tag starts, but for <item/> it says where the tag ends instead: an item
        # with a child element cannot be an empty-element tag, so only those are cut (real ones all are).
        at = self._parser.CurrentByteIndex
        if not self._children or not self._data.startswith(b"</", at):
            raise PrepassError("an item without child elements (such as an empty-element <item/>)")
        close = self._data.find(b">", at)
        end = close + 1
        digest = hashlib.sha256(self._base.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e" + self._context.encode("utf-8", "surrogatepass") + b"\x1e")
        digest.update(self._data[self._start : end])
        self._items.append(ItemSlice(self._start, end, digest.hexdigest()[:32], not self._declares))

    def _refuse_doctype(self, *args: object) -> None:
        raise PrepassError("the document has a DOCTYPE")

    def _refuse_entity(self, *args: object) -> None:
        raise PrepassError("the document declares entities")
