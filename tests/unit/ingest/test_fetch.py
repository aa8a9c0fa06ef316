"""Fetching: file feeds, and how HTTP outcomes map to results and error kinds (real servers: integration)."""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from monitor.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import FETCH_ERROR_KINDS, Fetcher, HTTPStatusError

FEED = FeedConfig(id="f", url="https://feeds.example/rss")


def _fetcher(handler: Callable[[httpx.Request], httpx.Response], max_bytes: int = 1000) -> Fetcher:
    return Fetcher(
        timeout_s=2, max_bytes=max_bytes, user_agent="newsmon-test", transport=httpx.MockTransport(handler)
    )


def test_file_feed_and_its_change_detection(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(b"<rss/>")
    feed = FeedConfig(id="file", url=path.as_uri())
    with _fetcher(lambda r: httpx.Response(500)) as fetcher:
        first = fetcher.fetch(feed)
        assert (first.status, first.content, first.not_modified) == (200, b"<rss/>", False)
        assert first.etag
        assert first.last_modified
        again = fetcher.fetch(feed, first.etag, first.last_modified)
        assert again.not_modified
        assert again.content is None
        path.write_bytes(b"<rss>changed</rss>")
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))
        assert fetcher.fetch(feed, first.etag, first.last_modified).content == b"<rss>changed</rss>"


def test_file_feed_errors(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 2000)
    with _fetcher(lambda r: httpx.Response(500)) as fetcher:
        with pytest.raises(FeedError) as missing:
            fetcher.fetch(FeedConfig(id="m", url=(tmp_path / "missing.xml").as_uri()))
        assert (missing.value.feed_id, missing.value.kind) == ("m", "file")
        with pytest.raises(FeedError) as large:
            fetcher.fetch(FeedConfig(id="b", url=big.as_uri()))
        assert large.value.kind == "too_large"


def test_sends_user_agent_and_validators_and_reads_gzip() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = gzip.compress(b"<rss>" + b" " * 500 + b"</rss>")
        return httpx.Response(
            200,
            content=body,
            headers={"Content-Encoding": "gzip", "ETag": '"v2"', "Content-Type": "application/rss+xml"},
        )

    with _fetcher(handler) as fetcher:
        result = fetcher.fetch(FEED, etag='"v1"', last_modified="Tue, 10 Jun 2025 12:00:00 GMT")
    assert result.content is not None
    assert result.content.startswith(b"<rss>")
    # a 200 carries the new validators only: the old Last-Modified no longer describes this body
    assert (result.etag, result.last_modified) == ('"v2"', None)
    assert result.content_type == "application/rss+xml"
    headers = seen[0].headers
    assert headers["User-Agent"] == "newsmon-test"
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Tue, 10 Jun 2025 12:00:00 GMT"
    assert "gzip" in headers["Accept-Encoding"]


def test_size_cap_applies_to_the_decompressed_body() -> None:
    bomb = gzip.compress(b"\0" * 100_000)
    with (
        _fetcher(
            lambda r: httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})
        ) as fetcher,
        pytest.raises(FeedError) as caught,
    ):
        fetcher.fetch(FEED)
    assert caught.value.kind == "too_large"


def test_http_status_error_carries_retry_after() -> None:
    limited = _fetcher(lambda r: httpx.Response(429, headers={"Retry-After": "120"}))
    with limited as fetcher, pytest.raises(HTTPStatusError) as caught:
        fetcher.fetch(FEED)
    assert (caught.value.kind, caught.value.status, caught.value.retry_after_s) == ("http_status", 429, 120.0)
    assert "HTTP 429 Too Many Requests" in str(caught.value)


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("boom"), "connect"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.RemoteProtocolError("bad"), "network"),
    ],
)
def test_transport_errors_map_to_kinds(exc: Exception, kind: str) -> None:
    with _fetcher(_raise(exc)) as fetcher, pytest.raises(FeedError) as caught:
        fetcher.fetch(FEED)
    assert caught.value.kind == kind
    assert kind in FETCH_ERROR_KINDS


def test_unresolvable_host_says_dns() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as e:
            raise httpx.ConnectError(str(e)) from e

    with _fetcher(handler) as fetcher, pytest.raises(FeedError) as caught:
        fetcher.fetch(FEED)
    assert caught.value.kind == "dns"
    assert "feeds.example" in caught.value.detail


def test_scheme_outside_the_allowed_ones_is_refused() -> None:
    feed = FeedConfig.model_construct(
        id="x", url="ftp://x.example/rss", language=None, tags=(), poll_interval_s=None
    )
    with _fetcher(lambda r: httpx.Response(200)) as fetcher, pytest.raises(FeedError) as caught:
        fetcher.fetch(feed)
    assert caught.value.kind == "invalid_url"
