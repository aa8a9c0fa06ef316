"""The pre-pass: items already published are cut before feedparser, and the rest parses as a full parse would.

The property under test is the one the poller relies on: for any set of items the seen-store knows,
``parse_feed(..., known=...)`` returns exactly the articles of a full parse minus the known ones, with the
same problems, and lists the known ones instead; whatever it cannot cut safely, it parses whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from feedparser.encodings import RE_XML_PI_ENCODING
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.feedserver import FeedItem, item_xml, rss_document
from monitor.ingest import parse as parse_module
from monitor.ingest.parse import ParseResult, parse_feed
from monitor.ingest.prepass import (
    KnownItem,
    PrepassError,
    _declared_encoding,
    prepare,
    reduce_document,
    split_items,
)
from tests.conftest import REPO
from tests.fixtures.feed_samples import ATOM, FEED_PIECES, GOOD_FEED, RSS

FETCHED = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
BASE = "https://wire.example.net/feed.xml"
FEEDS = sorted((REPO / "tests" / "data" / "feeds").glob("*.xml"))


def _parse(data: bytes, known: Mapping[str, KnownItem] | None = None, **kw: object) -> ParseResult:
    asked: list[Sequence[str]] = []

    def lookup(keys: Sequence[str]) -> Mapping[str, KnownItem]:
        asked.append(keys)
        return {k: v for k, v in (known or {}).items() if k in keys}

    return parse_feed("f", data, BASE, "en", ("t",), fetched_at=FETCHED, known=lookup, **kw)  # type: ignore[arg-type]


def _remembered(first: ParseResult, ids: set[str]) -> dict[str, KnownItem]:
    """Return what the seen-store would hold after publishing the articles ``ids`` of ``first``."""
    return {
        first.keys[a.id]: KnownItem(a.id, None if a.id in first.undated else a.published.timestamp())
        for a in first.articles
        if a.id in ids and a.id in first.keys
    }


def _check_equivalent(
    data: bytes, pick: st.DataObject | None = None, content_type: str | None = None
) -> None:
    full = parse_feed("f", data, BASE, "en", ("t",), fetched_at=FETCHED, content_type=content_type)
    first = _parse(data, content_type=content_type)
    # Asked with nothing known, the pre-pass changes nothing but the keys it hands out.
    assert first.articles == full.articles
    assert first.problems == full.problems
    assert (first.is_feed, first.hostile, first.dates) == (full.is_feed, full.hostile, full.dates)
    ids = [a.id for a in first.articles if a.id in first.keys]
    chosen = set(pick.draw(st.lists(st.sampled_from(ids), unique=True))) if pick and ids else set(ids[::2])
    second = _parse(data, _remembered(first, chosen), content_type=content_type)
    assert second.articles == [a for a in full.articles if a.id not in chosen]
    assert {k.article_id for k in second.known} == chosen
    assert second.problems == full.problems
    assert second.is_feed == full.is_feed
    assert sorted(second.dates) == sorted(full.dates)
    if chosen:
        assert second.prepass == "reduced"


@pytest.mark.parametrize("path", FEEDS, ids=[p.name for p in FEEDS])
def test_the_repos_test_feeds_parse_the_same_with_known_items_cut(path: Path) -> None:
    _check_equivalent(path.read_bytes())


@pytest.mark.parametrize("data", [RSS, ATOM, GOOD_FEED], ids=["rss", "atom", "fuzz-good"])
def test_the_parser_tests_feeds_parse_the_same_with_known_items_cut(data: bytes) -> None:
    _check_equivalent(data)


def _bench_feed(items: int = 20) -> bytes:
    now = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    xml = [
        item_xml(FeedItem(f"https://b.example/{i}", f"Titre {i}", "Un. Deux. " * 50, now))
        for i in range(items)
    ]
    return rss_document("b", "fr", xml)


def test_known_items_of_a_soak_feed_are_cut_and_not_parsed() -> None:
    data = _bench_feed()
    first = _parse(data)
    assert first.prepass == "all_new"
    assert len(first.keys) == 20
    known = _remembered(first, {a.id for a in first.articles[1:]})
    second = _parse(data, known)
    assert second.prepass == "reduced"
    assert [a.id for a in second.articles] == [first.articles[0].id]
    assert len(second.known) == 19


def test_an_edited_item_is_parsed_again() -> None:
    data = _bench_feed(3)
    first = _parse(data)
    known = _remembered(first, {a.id for a in first.articles})
    edited = data.replace(b"<title>Titre 1</title>", b"<title>Titre 1 (mis \xc3\xa0 jour)</title>")
    second = _parse(edited, known)
    assert [a.title for a in second.articles] == ["Titre 1 (mis à jour)"]
    assert len(second.known) == 2


def test_a_new_base_url_or_enclosing_attribute_changes_every_key() -> None:
    data = _bench_feed(2)
    keys = {i.key for i in split_items(data, BASE)}
    assert keys.isdisjoint(i.key for i in split_items(data, "https://elsewhere.example/feed"))
    based = data.replace(b"<channel>", b"<channel xml:base='https://cdn.example/'>")
    assert keys.isdisjoint(i.key for i in split_items(based, BASE))


def test_a_duplicate_of_a_known_item_is_still_a_duplicate() -> None:
    item = "<item><title>A</title><guid>g1</guid><description>a</description></item>"
    later = "<item><title>A again</title><guid>g1</guid><description>b</description></item>"
    data = rss_document("d", "en", [item, later])
    full = parse_feed("f", data, BASE, "en", ("t",), fetched_at=FETCHED)
    assert len(full.articles) == 1
    first = _parse(data)
    second = _parse(data, _remembered(first, {full.articles[0].id}))
    assert second.articles == []
    assert second.problems == full.problems
    assert full.problems[0].startswith("item 2: skipped: duplicate of an earlier item")


def test_an_item_declaring_a_namespace_is_never_cut() -> None:
    plain = "<item><title>A</title><guid>g1</guid></item>"
    declaring = "<item xmlns:x='urn:x'><title>B</title><guid>g2</guid><x:y>z</x:y></item>"
    items = split_items(rss_document("n", "en", [plain, declaring]), BASE)
    assert [i.cuttable for i in items] == [True, False]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"<rss><channel><item><title>x</title></channel></rss>", "not well-formed"),
        (b"<rss><channel><item><title>&nbsp;</title></item></channel></rss>", "not well-formed"),
        (b"<rss><channel><item><entry/></item></channel></rss>", "inside an item"),
        (b"<rss><channel><item/></channel></rss>", "empty-element"),
        (b"<!DOCTYPE rss [<!ELEMENT rss ANY>]><rss/>", "DOCTYPE"),
        (b"<feed xmlns:a='urn:a'><a:b/><c:d/></feed>", "not well-formed"),  # unbound prefix
    ],
)
def test_what_cannot_be_cut_safely_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(PrepassError, match=why):
        split_items(data, BASE)


def test_malformed_and_hostile_feeds_fall_back_to_the_full_parse() -> None:
    broken = RSS.replace(b"</channel>", b"<item><title>&nbsp;</title><guid>x</guid></item></channel>")
    result = _parse(broken)
    assert result.prepass == "fallback"
    assert result.articles == parse_feed("f", broken, BASE, "en", ("t",), fetched_at=FETCHED).articles
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><rss>&b;</rss>'
    refused = _parse(bomb)
    assert refused.hostile
    assert refused.prepass == "off", "refused before the pre-pass reads anything"


def test_the_reduced_document_keeps_everything_but_the_cut_items() -> None:
    data = (
        b"<rss><channel><title>t</title><item><a/></item > <!-- c -->"
        b"<item><b>2</b></item><x/></channel></rss>"
    )
    items = split_items(data, None)
    assert [data[i.start : i.end] for i in items] == [b"<item><a/></item >", b"<item><b>2</b></item>"]
    assert (
        reduce_document(data, items, {0})
        == b"<rss><channel><title>t</title> <!-- c --><item><b>2</b></item><x/></channel></rss>"
    )


def test_encoding_is_read_as_feedparser_reads_it() -> None:
    latin = RSS.decode("utf-8").replace('encoding="utf-8"', 'encoding="iso-8859-1"').encode("iso-8859-1")
    prepared = prepare(latin, {"content-type": "application/xml"}, BASE)
    assert "rencontrés".encode() in prepared.data
    _check_equivalent(latin)
    _check_equivalent(RSS, content_type="text/html; charset=iso-8859-1")  # declared Latin-1, really UTF-8


_FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_GOOD_ITEMS = [
    "<item><title>One</title><link>https://wire.example.net/1</link><guid>g1</guid>"
    "<pubDate>Mon, 02 Mar 2026 05:00:00 GMT</pubDate>"
    "<description>&lt;p&gt;Body&lt;/p&gt;</description></item>",
    "<item><title>Two</title><link>/2</link><description><![CDATA[<b>bold</b>]]></description></item>",
    "<item><guid isPermaLink='true'>https://wire.example.net/3</guid>"
    "<description>no title</description></item>",
    "<item><title>Four</title><link>https://wire.example.net/1</link></item>",
    "<item xml:lang='fr'><title>Cinq</title><guid>g5</guid></item>",
]
_items = st.lists(st.sampled_from(FEED_PIECES) | st.text(max_size=15), max_size=12).map(
    lambda parts: "<item>" + "".join(parts) + "</item>"
)


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """Return ``data`` with one span replaced by one of the pieces feeds are made of."""
    return st.tuples(st.integers(0, len(data)), st.integers(0, 40), st.sampled_from(FEED_PIECES)).map(
        lambda t: data[: t[0]] + t[2].encode() + data[t[0] + t[1] :]
    )


@_FUZZ
@given(items=st.lists(st.sampled_from(_GOOD_ITEMS) | _items, max_size=8), pick=st.data())
def test_any_feed_parses_the_same_with_any_known_items_cut(items: list[str], pick: st.DataObject) -> None:
    _check_equivalent(rss_document("z", "en", items), pick)


@_FUZZ
@given(
    data=st.binary(max_size=300) | st.sampled_from([RSS, ATOM, GOOD_FEED]).flatmap(_mutations), pick=st.data()
)
def test_mutated_feeds_parse_the_same_with_any_known_items_cut(data: bytes, pick: st.DataObject) -> None:
    _check_equivalent(data, pick)


@_FUZZ
@given(
    st.lists(
        st.sampled_from(
            ["<?", "<?xml ", "encoding=", "'", '"', "utf-8", "latin-1", "?>", "\n", " ", "x", "<rss>"]
        ),
        max_size=14,
    )
)
def test_the_declared_encoding_is_what_feedparsers_expression_finds(parts: list[str]) -> None:
    data = "".join(parts).encode()
    ours = _declared_encoding(data)
    match = RE_XML_PI_ENCODING.match(data)
    if ours is not None:
        assert ours == (match.group(1) if match else b"")


@pytest.mark.parametrize(
    "bad",
    [b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xff", b"\xe2\x82", b"\xf8\x88\x80\x80\x80"],
    ids=["surrogate", "overlong", "past-10FFFF", "ff", "truncated", "five-bytes"],
)
def test_bytes_that_are_not_utf8_are_refused_by_expat_as_python_refuses_them(bad: bytes) -> None:
    data = b"<rss><channel><item><title>a" + bad + b"</title></item></channel></rss>"
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    with pytest.raises(PrepassError, match="not well-formed"):
        split_items(data, BASE)
    _check_equivalent(data)  # and the feed is read whole, as feedparser reads it


def test_plain_utf8_feeds_skip_the_conversion_and_others_take_it() -> None:
    xml = {"content-type": "application/xml"}
    assert prepare(_bench_feed(2), xml, BASE).headers == xml
    latin = b"<?xml version='1.0' encoding='iso-8859-1'?><rss><channel><item><a/></item></channel></rss>"
    assert prepare(latin, xml, BASE).headers == {"content-type": "application/xml; charset=utf-8"}
    declared = {"content-type": "application/xml; charset=windows-1252"}
    assert prepare(_bench_feed(2), declared, BASE).headers["content-type"].endswith("charset=utf-8")


def test_a_feed_whose_items_are_all_known_is_not_parsed_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _bench_feed(3)
    first = _parse(data)
    known = _remembered(first, {a.id for a in first.articles})
    touched = data.replace(
        b"<title>Bench b</title>", b"<title>Bench b</title><lastBuildDate>now</lastBuildDate>"
    )
    calls: list[bytes] = []
    monkeypatch.setattr(parse_module, "_feedparse", lambda d, h: calls.append(d))
    second = _parse(touched, known)
    assert calls == []
    assert (second.articles, second.problems, second.is_feed, len(second.known)) == ([], [], True, 3)


def test_without_a_base_url_nothing_is_cut() -> None:
    # Relative links would resolve against the channel's <link>, which no item key covers.
    data = _bench_feed(2)
    first = _parse(data)
    known = _remembered(first, {a.id for a in first.articles})
    result = parse_feed("f", data, None, "en", fetched_at=FETCHED, known=lambda keys: known)
    assert result.prepass == "off"
    assert len(result.articles) == 2
