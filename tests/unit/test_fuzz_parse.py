"""Fuzz the feed parser: whatever a server sends, ``parse_feed`` returns (never raises) and says why not.

The poller treats an exception from the parser as a bug (it logs `feed.parser_crashed`); a feed is the
most hostile input newsmon reads, so the parser's own promise is checked here on junk, on feeds built
from the pieces real feeds are made of, and on mutations of a good feed. Runs are bounded and
derandomised: fast in CI, and a failure replays.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.ingest.parse import ParseResult, parse_feed
from tests.fixtures.feed_samples import FEED_PIECES, GOOD_FEED

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FETCHED = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
_SLOW_S = 5.0  # one feed parses in ~0.1 s; many seconds would be a hang in disguise
# What a terminal would take as the start of an escape sequence or a control (ESC, BEL, C1, ...).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


_built = st.lists(st.sampled_from(FEED_PIECES) | st.text(max_size=20), max_size=60).map(
    lambda parts: "".join(parts)
)
_encodings = st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"])
_content_types = st.none() | st.sampled_from(
    [
        "application/rss+xml",
        "text/html; charset=utf-8",
        "text/xml; charset=iso-8859-1",
        "application/octet-stream",
        "image/png",
        "text/plain; charset=bogus",
        "application/atom+xml; charset=utf-16",
    ]
)


def _check(data: bytes, content_type: str | None = None) -> ParseResult:
    started = time.monotonic()
    result = parse_feed(
        "fuzz",
        data,
        "https://wire.example.net/feed.xml",
        "en",
        ("t",),
        content_type=content_type,
        fetched_at=FETCHED,
    )
    assert time.monotonic() - started < _SLOW_S, f"{len(data)} bytes took {time.monotonic() - started:.1f} s"
    assert isinstance(result, ParseResult)
    if not result.is_feed:
        assert result.articles == []
        assert result.problems, "a refusal says why"
    assert all(isinstance(p, str) and p for p in result.problems)
    ids = [a.id for a in result.articles]
    assert len(ids) == len(set(ids)), "one article per item id"
    for article in result.articles:
        assert article.feed_id == "fuzz"
        assert article.url == "" or article.url.startswith(("http://", "https://")), article.url
        assert article.fetched_at == FETCHED
        assert "\n" not in article.title, "a headline is one line"
        for text in (article.title, article.summary, article.text):
            assert not _CONTROL.search(text), f"control character in {text!r}"
    return result


@FUZZ
@given(st.binary(max_size=5000), _content_types)
def test_any_bytes_are_parsed_or_refused_never_raised(data: bytes, content_type: str | None) -> None:
    _check(data, content_type)


@FUZZ
@given(_built, _encodings, _content_types)
def test_feeds_built_from_real_pieces_are_parsed_or_refused(
    text: str, encoding: str, content_type: str | None
) -> None:
    _check(text.encode(encoding, "replace"), content_type)


@FUZZ
@given(st.data())
def test_mutations_of_a_good_feed_are_parsed_or_refused(data: st.DataObject) -> None:
    raw = bytearray(GOOD_FEED)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["insert", "delete", "flip"]))
        if action == "insert":
            raw[at:at] = data.draw(st.sampled_from(FEED_PIECES)).encode()
        elif action == "delete":
            del raw[at : at + data.draw(st.integers(1, 40))]
        elif at < len(raw):
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
    _check(bytes(raw))


def test_the_good_feed_itself_parses() -> None:
    result = _check(GOOD_FEED)
    assert result.is_feed
    assert [a.title for a in result.articles] == ["One", "Two"]
    assert result.articles[1].url == "https://wire.example.net/2"
    assert "<b>" not in result.articles[1].text


def test_a_charref_to_a_surrogate_costs_one_character_not_the_feed() -> None:
    # Found by the fuzzer: feedparser built "\ud800" from it, failed to encode it and lost every item.
    broken = GOOD_FEED.replace(b"<title>One</title>", b"<title>One &#xD800; &#0; &#x110000;</title>").replace(
        b"</channel>", b"<unclosed></channel>"
    )
    result = _check(broken)
    assert [a.title for a in result.articles] == ["One \ufffd \ufffd \ufffd", "Two"]


def test_links_other_than_http_are_dropped() -> None:
    # Found by the fuzzer: a javascript: link became the article's URL, clickable in every alert.
    hostile = GOOD_FEED.replace(b"<link>/2</link>", b"<link>javascript:alert(1)</link><guid>g2</guid>")
    result = _check(hostile)
    assert [a.title for a in result.articles] == ["One", "Two"]
    assert not any("javascript" in a.url for a in result.articles)


def test_control_characters_and_line_breaks_never_reach_a_headline() -> None:
    # Found by the hostile-input review: ESC sequences reached the console channel's terminal.
    hostile = GOOD_FEED.replace(
        b"<title>One</title>", b"<title>One &#27;[2J\r\nALERT CRITICAL forged&#7;</title>"
    )
    result = _check(hostile)
    assert result.articles[0].title == "One [2J ALERT CRITICAL forged"
