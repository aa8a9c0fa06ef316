"""Hub discovery: Link headers, Atom <link>, RSS <atom:link>, relative URLs, and what is not a hub."""

from __future__ import annotations

from monitor.ingest.websub.discovery import HubLinks, discover, links_in_header

FEED_URL = "https://news.example.org/feeds/world.xml"

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>World</title>
  <link rel="alternate" href="https://news.example.org/world"/>
  <link href="https://hub.example.net/" rel="hub" />
  <link rel='self' href='https://news.example.org/feeds/world.atom'/>
  <entry><title>One</title><link rel="hub" href="https://item-hub.example.com/"/></entry>
</feed>"""

RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>World</title>
  <link>https://news.example.org/world</link>
  <atom:link rel="hub" href="/websub/hub?a=1&amp;b=2"/>
  <atom:link rel="hub" href="https://second-hub.example.net/"/>
  <atom:link rel="self" type="application/rss+xml" href="https://news.example.org/feeds/world.xml"/>
  <item><title>One</title></item>
</channel>
</rss>"""


def test_atom_links_name_the_hub_and_the_topic_and_items_are_ignored() -> None:
    assert discover(ATOM, None, FEED_URL) == HubLinks(
        ("https://hub.example.net/",), "https://news.example.org/feeds/world.atom"
    )


def test_rss_atom_links_resolve_relative_hubs_and_keep_every_hub_in_order() -> None:
    links = discover(RSS, None, FEED_URL)
    assert links is not None
    assert links.hubs == ("https://news.example.org/websub/hub?a=1&b=2", "https://second-hub.example.net/")
    assert links.hub == "https://news.example.org/websub/hub?a=1&b=2"
    assert links.topic == FEED_URL


def test_link_headers_win_over_the_body() -> None:
    header = '<https://header-hub.example.net/>; rel="hub", </feeds/world.xml?canonical>; rel="self"'
    assert discover(ATOM, header, FEED_URL) == HubLinks(
        ("https://header-hub.example.net/",), "https://news.example.org/feeds/world.xml?canonical"
    )


def test_a_link_header_with_several_rels_and_no_hub_falls_back_to_the_body() -> None:
    assert links_in_header('<https://h.example/>; rel="hub self"', FEED_URL) == [
        ("hub", "https://h.example/"),
        ("self", "https://h.example/"),
    ]
    header = '<https://news.example.org/world>; rel="alternate"'
    assert discover(ATOM, header, FEED_URL) == discover(ATOM, None, FEED_URL)


def test_a_hub_without_self_is_subscribed_under_the_fetched_url() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><link rel="hub" href="https://hub.example.net/"/></feed>'
    )
    assert discover(body, None, FEED_URL) == HubLinks(("https://hub.example.net/",), FEED_URL)


def test_no_hub_no_push() -> None:
    plain = b"<rss><channel><title>t</title><link>https://x.example/</link><item/></channel></rss>"
    assert discover(plain, None, FEED_URL) is None
    assert discover(None, None, FEED_URL) is None
    # A hub only inside an item is an article's business, not the feed's.
    assert (
        discover(
            b"<rss><channel><item><atom:link rel='hub' href='https://h.example/'/></item></channel></rss>",
            None,
            FEED_URL,
        )
        is None
    )
    # Only http(s) hubs: a javascript: or file: hub is no hub.
    hostile = b'<feed><link rel="hub" href="file:///etc/passwd"/><link rel="hub" href="javascript:x"/></feed>'
    assert discover(hostile, None, FEED_URL) is None


def test_garbage_does_not_raise() -> None:
    assert discover(b"\xff\xfe<<<link rel=hub href=>>>\x00" * 1000, "<<>>;;rel=", FEED_URL) is None
