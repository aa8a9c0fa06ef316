"""Parsing: feeds in, plain-text Articles out, problems reported instead of raised."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.ingest.parse import declared_charset, html_to_text, is_hostile_xml, parse_feed
from monitor.models import article_id
from tests.fixtures.feed_samples import ATOM, RSS

FETCHED = datetime(2025, 9, 10, 8, 0, tzinfo=UTC)


def test_rss_items_become_plain_text_articles_with_absolute_links() -> None:
    result = parse_feed("ex", RSS, "https://news.example/feeds/rss.xml", tags=("monde",), fetched_at=FETCHED)
    assert [a.title for a in result.articles] == ["Sommet Paris & Berlin", "Sans date", "Date bizarre"]
    first, second, third = result.articles
    assert first.url == "https://news.example/monde/1?utm_source=rss"
    assert first.guid == "urn:news:1"
    assert first.id == article_id("urn:news:1", first.url)
    assert first.summary == "Les dirigeants se sont rencontrés."
    assert first.text == "Titre\nTexte complet ici.\nSecond paragraphe."
    assert first.text_source == "feed"
    assert first.published == datetime(2025, 6, 10, 12, 30, tzinfo=UTC)
    assert first.language == "fr"
    assert first.tags == ("monde",)
    assert first.feed_id == "ex"
    # relative to the feed's own URL, not to the site
    assert second.url == "https://news.example/feeds/monde/2"
    assert second.guid is None
    assert second.id == article_id(None, second.url)
    assert second.text == second.summary == "Court."
    assert second.text_source == "summary"
    assert second.published == FETCHED  # no date: the fetch time stands in
    assert third.published == datetime(2025, 9, 3, tzinfo=UTC)  # "mer., 3 sept. 2025", read by us
    assert result.dates == [first.published, third.published]  # the fallback is no observed date
    assert all(a.fetched_at == FETCHED for a in result.articles)
    assert result.problems == []


def test_link_is_resolved_against_the_feed_link_without_base_url() -> None:
    result = parse_feed("ex", RSS)
    assert result.articles[0].url == "https://news.example/monde/1?utm_source=rss"


def test_atom_entries_with_languages_from_xml_lang() -> None:
    result = parse_feed("atom", ATOM, "https://atom.example/feed.atom", language="de")
    assert result.problems == []
    first, second = result.articles
    assert first.title == "Leaders meet"
    assert first.url == "https://atom.example/e/1"
    assert first.summary == "Short summary."
    assert first.text == "The full text."
    assert first.published == datetime(2025, 1, 2, 8, 0, tzinfo=UTC)  # from <updated>
    assert first.language == "en"
    assert second.language == "fr"
    assert second.text == "Bonjour"
    assert second.published == datetime(2025, 1, 3, 8, 0, tzinfo=UTC)


def test_rss1_rdf_feed() -> None:
    rdf = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://dw.example/"><title>DW</title><link>https://dw.example/</link>
    <dc:language>en</dc:language></channel>
  <item rdf:about="https://dw.example/a"><title>RDF item</title><link>https://dw.example/a</link>
    <dc:date>2025-02-01T12:00:00Z</dc:date></item>
</rdf:RDF>"""
    result = parse_feed("dw", rdf)
    (article,) = result.articles
    assert (article.title, article.url, article.language) == ("RDF item", "https://dw.example/a", "en")
    assert article.published == datetime(2025, 2, 1, 12, tzinfo=UTC)


def test_language_hint_is_the_fallback() -> None:
    rss = b'<rss version="2.0"><channel><title>t</title><item><title>x</title><link>https://a.example/1</link></item></channel></rss>'
    assert parse_feed("a", rss, language="fr-CA").articles[0].language == "fr"
    assert parse_feed("a", rss).articles[0].language is None


def test_bozo_feed_keeps_its_good_items_and_reports_the_problem() -> None:
    broken = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>B</title>
<item><title>Good one</title><link>https://b.example/1</link></item>
<item><title>Bad & unescaped</title><link>https://b.example/2</link></item>
<item><title>Good two</title><link>https://b.example/3</link></item>
</channel>"""
    result = parse_feed("b", broken)
    assert [a.url for a in result.articles] == [
        "https://b.example/1",
        "https://b.example/2",
        "https://b.example/3",
    ]
    assert len(result.problems) == 1
    assert result.problems[0].startswith("malformed feed:")
    assert result.is_feed


def test_items_without_guid_or_link_are_skipped_with_a_problem() -> None:
    rss = b"""<rss version="2.0"><channel><title>t</title>
<item><title>Orphan</title><description>no id at all</description></item>
<item><title>Kept</title><guid>https://g.example/kept?utm_medium=x</guid></item>
</channel></rss>"""
    result = parse_feed("g", rss)
    (kept,) = result.articles
    assert kept.url == "https://g.example/kept?utm_medium=x"  # a permalink GUID stands in for the link
    assert kept.id == article_id(None, "https://g.example/kept")
    assert result.problems == ["item 1: skipped: no GUID and no link, so no stable id"]


def test_duplicate_guids_keep_the_first_item() -> None:
    rss = b"""<rss version="2.0"><channel><title>t</title>
<item><title>One</title><guid>same</guid><link>https://d.example/1</link></item>
<item><title>Two</title><guid>same</guid><link>https://d.example/2</link></item>
</channel></rss>"""
    result = parse_feed("d", rss)
    assert [a.title for a in result.articles] == ["One"]
    assert result.problems[0].startswith("item 2: skipped: duplicate")


def test_missing_title_falls_back_to_the_summary() -> None:
    rss = (
        b"""<rss version="2.0"><channel><title>t</title>
<item><link>https://t.example/1</link><description>"""
        + b"word " * 60
        + b"""</description></item>
</channel></rss>"""
    )
    (article,) = parse_feed("t", rss).articles
    assert article.title.startswith("word word")
    assert article.title.endswith("…")
    assert len(article.title) <= 120


@pytest.mark.parametrize("data", [b"", b"<html><body><p>Not a feed</p></body></html>", b"\x00\xff garbage"])
def test_non_feeds_yield_nothing_and_say_so(data: bytes) -> None:
    result = parse_feed("x", data)
    assert result.articles == []
    assert not result.is_feed
    assert "not an RSS or Atom feed" in result.problems


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title><link>https://h.example/1</link></item>
</channel></rss>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>x&xxe;</title><link>https://h.example/1</link></item>
</channel></rss>"""


PADDED = XXE.replace(b"<!DOCTYPE", b"<!-- " + b"pad " * 50_000 + b"-->\n<!DOCTYPE")


@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, XXE, XXE.decode().encode("utf-16"), PADDED],
    ids=["laughs", "xxe", "utf16", "padded"],
)
def test_feeds_declaring_entities_are_refused_unread(data: bytes) -> None:
    result = parse_feed("h", data)
    assert result.articles == []
    assert (result.is_feed, result.hostile) == (False, True)
    assert "declares XML entities" in result.problems[0]


def test_a_plain_doctype_is_not_hostile() -> None:
    rss091 = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>t</title><link>https://n.example/</link><description>d</description>
<language>en-us</language>
<item><title>Old school</title><link>https://n.example/1</link><description>It works.</description></item>
</channel></rss>"""
    assert not is_hostile_xml(rss091)
    (article,) = parse_feed("n", rss091).articles
    assert (article.title, article.language) == ("Old school", "en")


@pytest.mark.parametrize(
    ("html", "text"),
    [
        # plain text (no markup): its line breaks are paragraph breaks, so a heading stays a sentence
        ("plain   text\n here", "plain text\nhere"),
        ("Sommet à Pékin\nXi Jinping a reçu Kim Jong-un.", "Sommet à Pékin\nXi Jinping a reçu Kim Jong-un."),
        ("In <b>HTML</b> a\nline break is a space", "In HTML a line break is a space"),
        ("<p>One</p><p>Two<br>Three</p>", "One\nTwo\nThree"),
        ("A &amp; B &eacute;t&#233; <b>bold</b>", "A & B été bold"),
        ("<style>p{}</style><p>kept</p><script>x()</script>", "kept"),
        ("R&D < 5%", "R&D < 5%"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_plain_text_keeps_its_paragraphs() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id>
<entry><title>x</title><id>urn:1</id><summary type="text">First  paragraph.

Second paragraph.</summary></entry></feed>"""
    (article,) = parse_feed("p", atom).articles
    assert article.summary == "First paragraph.\nSecond paragraph."


def _bare_rss(title: str, declaration: str = "") -> str:
    return (
        f"{declaration}<rss version='2.0'><channel><title>t</title>"
        f"<item><title>{title}</title><link>https://c.example/1</link></item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("content_type", "data", "title"),
    [
        # the HTTP charset is the only one given
        ("text/xml; charset=windows-1251", _bare_rss("Привет, мир").encode("cp1251"), "Привет, мир"),
        (
            "application/rss+xml; charset=ISO-8859-1",
            _bare_rss("Été à Zürich").encode("latin-1"),
            "Été à Zürich",
        ),
        # Apache's default charset announced for a UTF-8 body: the body wins
        (
            "text/html; charset=iso-8859-1",
            _bare_rss("Été", "<?xml version='1.0' encoding='utf-8'?>").encode(),
            "Été",
        ),
        # no charset anywhere, and not UTF-8: a fallback that keeps the accents
        ("text/xml", _bare_rss("Été à Zürich").encode("cp1252"), "Été à Zürich"),
        # an unknown charset name is ignored, the prolog decides
        (
            "text/xml; charset=x-klingon",
            _bare_rss("Été", "<?xml version='1.0' encoding='utf-8'?>").encode(),
            "Été",
        ),
    ],
)
def test_encoding_from_http_header_prolog_or_fallback(content_type: str, data: bytes, title: str) -> None:
    (article,) = parse_feed("c", data, content_type=content_type).articles
    assert article.title == title


@pytest.mark.parametrize(
    ("content_type", "data", "expected"),
    [
        (None, b"<rss/>", None),
        ("text/xml", b"<rss/>", None),
        ("text/xml; charset=UTF-8", b"<rss/>", "utf-8"),
        ('text/xml; charset="windows-1251"', "Привет".encode("cp1251"), "cp1251"),
        ("text/xml; charset=iso-8859-1", "Été".encode(), "utf-8"),
        ("text/xml; charset=iso-8859-1", "Été".encode("latin-1"), "iso8859-1"),
        ("text/xml; charset=nope", b"<rss/>", None),
    ],
)
def test_declared_charset(content_type: str | None, data: bytes, expected: str | None) -> None:
    assert declared_charset(content_type, data) == expected


def test_dates_in_the_future_fall_back_to_the_fetch_time() -> None:
    rss = _bare_rss("x").replace("<link>", "<pubDate>Tue, 10 Jun 2031 12:00:00 GMT</pubDate><link>")
    result = parse_feed("f", rss.encode(), fetched_at=FETCHED)
    assert result.articles[0].published == FETCHED
    assert result.dates == []
