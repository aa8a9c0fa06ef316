"""Find a feed's WebSub hub and topic: ``rel="hub"`` and ``rel="self"`` links in its headers and body.

W3C WebSub §4: a publisher advertises its hubs and the feed's canonical URL (the topic) in HTTP ``Link``
headers, or in the feed itself (Atom ``<link>``, RSS ``<atom:link>``). Headers win, as the spec says.
The body is scanned with a regular expression over the feed's head (up to its first item), not parsed:
this runs on every changed poll, must not cost a second feedparser pass, and must survive broken feeds.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from requests.utils import parse_header_links

__all__ = ["HubLinks", "discover", "links_in_body", "links_in_header"]

# The feed-level links come before the first item; an item's own links are the articles', never a hub.
_FIRST_ITEM = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>/]")
_LINK_TAG = re.compile(r"<(?:[\w.-]+:)?link\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# A hub's feed head is a few KiB; a megabyte of channel metadata is not worth scanning.
_HEAD_LIMIT = 256 * 1024


@dataclass(frozen=True)
class HubLinks:
    """The hubs a feed names (in its order) and the topic URL to subscribe to."""

    hubs: tuple[str, ...]
    topic: str

    @property
    def hub(self) -> str:
        """Return the hub to subscribe with: the first named (§5.1 lets a subscriber pick any)."""
        return self.hubs[0]


def links_in_header(value: str | None, base: str) -> list[tuple[str, str]]:
    """Return the ``(rel, absolute URL)`` pairs of an HTTP ``Link`` header (RFC 8288), one per rel."""
    if not value:
        return []
    pairs: list[tuple[str, str]] = []
    for link in parse_header_links(value):
        url = link.get("url", "").strip()
        for rel in link.get("rel", "").lower().split():
            if url:
                pairs.append((rel, urljoin(base, url)))
    return pairs


def links_in_body(data: bytes, base: str) -> list[tuple[str, str]]:
    """Return the ``(rel, absolute URL)`` pairs of the feed-level ``<link rel=... href=...>`` elements."""
    head = data[:_HEAD_LIMIT]
    first_item = _FIRST_ITEM.search(head)
    if first_item:
        head = head[: first_item.start()]
    pairs: list[tuple[str, str]] = []
    for tag in _LINK_TAG.finditer(head.decode("utf-8", errors="replace")):
        attributes = {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _ATTRIBUTE.finditer(tag[1])}
        href = html.unescape(attributes.get("href", "")).strip()
        for rel in attributes.get("rel", "").lower().split():
            if href:
                pairs.append((rel, urljoin(base, href)))
    return pairs


def discover(data: bytes | None, link_header: str | None, fetched_url: str) -> HubLinks | None:
    """Return the feed's hubs and topic, or None when it names no usable hub.

    Only http(s) hubs count. The topic is the ``rel="self"`` URL; a feed naming a hub but no self link
    is subscribed under the URL it was fetched from (what such hubs key their topics by in practice).
    """
    pairs = links_in_header(link_header, fetched_url)
    if not any(rel == "hub" for rel, _ in pairs) and data:
        pairs = links_in_body(data, fetched_url)
    hubs = tuple(dict.fromkeys(url for rel, url in pairs if rel == "hub" and _is_http(url)))
    if not hubs:
        return None
    topic = next((url for rel, url in pairs if rel == "self" and _is_http(url)), fetched_url)
    return HubLinks(hubs, topic)


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
