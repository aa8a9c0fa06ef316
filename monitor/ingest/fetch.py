"""Fetch a feed's bytes: conditional GET over httpx, with timeouts and a size cap, or a local file.

feedparser can fetch by itself but has no timeout and is dropping its etag/modified parameters, so
newsmon fetches and hands feedparser the bytes. Article pages for full-text extraction come through here
too, with the same caps and the same refusal of private addresses.
"""

from __future__ import annotations

import email.utils
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from monitor.errors import FeedError
from monitor.ingest.feeds import ALLOWED_SCHEMES, FeedConfig
from monitor.ingest.guard import AddressBlockedError, GuardedTransport
from monitor.masking import redact

__all__ = ["FETCH_ERROR_KINDS", "FetchResult", "Fetcher", "HTTPStatusError"]

# The ``kind`` of every FeedError a fetch raises; metrics label errors with it, so the set stays small.
FETCH_ERROR_KINDS = frozenset(
    {
        "invalid_url",  # scheme not allowed, no host, malformed URL
        "dns",  # the host name does not resolve (typically: no internet)
        "connect",  # refused, unreachable, TLS handshake failed
        "blocked",  # the host is a private, loopback or reserved address and block_private is on
        "timeout",  # no answer or no complete body within timeout_s
        "http_status",  # 4xx or 5xx (see HTTPStatusError for the status and Retry-After)
        "too_large",  # body past max_bytes
        "redirects",  # too many redirects
        "network",  # connection dropped, bad HTTP, undecodable gzip
        "file",  # a file:// feed cannot be read
    }
)

_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9,"
    " */*;q=0.5"
)
_ACCEPT_PAGE = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchResult:
    """What a fetch returned: the body, or ``not_modified`` when the validators still hold."""

    status: int
    content: bytes | None
    etag: str | None
    last_modified: str | None
    not_modified: bool
    url: str = ""
    """Final URL after redirects: the base for relative links in the feed."""
    content_type: str | None = None
    link_header: str | None = None
    """The HTTP ``Link`` header, where a feed names its WebSub hub."""
    max_age_s: float | None = None
    """How long the server says the response stays fresh (Cache-Control max-age less Age); None: not said."""


class HTTPStatusError(FeedError):
    """The server answered with an error status; carries what a polite poller needs to back off."""

    def __init__(self, feed_id: str, status: int, reason: str, retry_after_s: float | None) -> None:
        super().__init__(feed_id, "http_status", f"HTTP {status} {reason}".rstrip())
        self.status = status
        self.retry_after_s = retry_after_s


class Fetcher:
    """Fetch feeds over one pooled ``httpx.Client``; safe to share between threads.

    ``transport`` is the swap point for tests and proxies; the default is httpx's own, or with
    ``block_private`` (the default) a GuardedTransport that refuses private and loopback addresses.
    """

    def __init__(
        self,
        timeout_s: float,
        max_bytes: int,
        user_agent: str,
        transport: httpx.BaseTransport | None = None,
        *,
        block_private: bool = True,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        if transport is None and block_private:
            transport = GuardedTransport()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=True,
            max_redirects=_MAX_REDIRECTS,
            headers={"User-Agent": user_agent, "Accept": _ACCEPT},
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def fetch(
        self, feed: FeedConfig, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch ``feed``, conditionally when ``etag`` or ``last_modified`` from the last fetch are given.

        Raises:
            FeedError: with ``kind`` in FETCH_ERROR_KINDS; HTTPStatusError for 4xx/5xx.
        """
        scheme = urlsplit(feed.url).scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise FeedError(feed.id, "invalid_url", f"scheme {scheme!r} not allowed in {feed.display_url}")
        if scheme == "file":
            return self._fetch_file(feed, etag)
        return self._fetch_http(feed, etag, last_modified)

    def fetch_page(self, feed_id: str, url: str, max_bytes: int, timeout_s: float) -> FetchResult:
        """Fetch an article page (http/https only) for full-text extraction, within its own caps.

        ``file://`` is refused here: a feed item's link is written by the feed's server, and must never
        make newsmon read a local file.

        Raises:
            FeedError: as for fetch(), with ``feed_id`` naming the feed the item came from.
        """
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FeedError(
                feed_id, "invalid_url", f"article link scheme {scheme!r} is not http(s): {redact(url)}"
            )
        return self._get(feed_id, url, redact(url), {"Accept": _ACCEPT_PAGE}, max_bytes, timeout_s)

    def _fetch_http(self, feed: FeedConfig, etag: str | None, last_modified: str | None) -> FetchResult:
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self._get(
            feed.id, feed.url, feed.display_url, headers, self.max_bytes, self.timeout_s, etag, last_modified
        )

    def _get(
        self,
        feed_id: str,
        url: str,
        display_url: str,
        headers: dict[str, str],
        max_bytes: int,
        timeout_s: float,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        # httpx's timeout bounds each read, not the whole body: a server trickling bytes is cut here.
        deadline = time.monotonic() + timeout_s
        try:
            with self._client.stream("GET", url, headers=headers, timeout=timeout_s) as response:
                new_etag = response.headers.get("ETag")
                new_modified = response.headers.get("Last-Modified")
                final_url = str(response.url)
                max_age = _max_age(response.headers)
                if response.status_code == 304:
                    # A 304 may omit the validators; the ones sent are still the current ones.
                    return FetchResult(
                        304,
                        None,
                        new_etag or etag,
                        new_modified or last_modified,
                        True,
                        final_url,
                        max_age_s=max_age,
                    )
                if response.status_code >= 400:
                    raise HTTPStatusError(
                        feed_id,
                        response.status_code,
                        response.reason_phrase,
                        _retry_after(response.headers.get("Retry-After")),
                    )
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FeedError(
                        feed_id, "too_large", f"Content-Length {declared} > max_bytes {max_bytes}"
                    )
                body = bytearray()
                # iter_bytes yields decompressed bytes, so the cap also stops gzip bombs.
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FeedError(feed_id, "too_large", f"body past max_bytes {max_bytes}")
                    if time.monotonic() > deadline:
                        raise FeedError(feed_id, "timeout", f"body not complete within {timeout_s:g} s")
                return FetchResult(
                    response.status_code,
                    bytes(body),
                    new_etag,
                    new_modified,
                    False,
                    final_url,
                    response.headers.get("Content-Type"),
                    response.headers.get("Link"),
                    max_age,
                )
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            raise _wrap(feed_id, url, display_url, e) from e

    def _fetch_file(self, feed: FeedConfig, etag: str | None) -> FetchResult:
        path = Path(url2pathname(urlsplit(feed.url).path))
        try:
            stat = path.stat()
            # mtime_ns and size, not mtime alone: a file rewritten within the same second still changes.
            file_etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
            if etag == file_etag:
                return FetchResult(304, None, file_etag, modified, True, feed.url)
            if stat.st_size > self.max_bytes:
                raise FeedError(
                    feed.id, "too_large", f"{path} is {stat.st_size} bytes > max_bytes {self.max_bytes}"
                )
            with path.open("rb") as f:
                data = f.read(self.max_bytes + 1)
        except OSError as e:
            raise FeedError(feed.id, "file", f"cannot read {path}: {e.strerror or e}") from e
        if len(data) > self.max_bytes:
            raise FeedError(feed.id, "too_large", f"{path} past max_bytes {self.max_bytes}")
        return FetchResult(200, data, file_etag, modified, False, feed.url)


def _wrap(feed_id: str, url: str, where: str, e: httpx.HTTPError | httpx.InvalidURL) -> FeedError:
    """Return the FeedError for an httpx error, with a detail a user can act on."""
    if isinstance(e, httpx.TimeoutException):
        return FeedError(
            feed_id, "timeout", f"no answer within the timeout from {where} ({type(e).__name__})"
        )
    if isinstance(e, httpx.ConnectError):
        if _caused_by(e, AddressBlockedError):
            return FeedError(
                feed_id,
                "blocked",
                f"{where}: {e}; private addresses are refused (ingest.block_private_addresses)",
            )
        if _caused_by(e, socket.gaierror):
            host = urlsplit(url).hostname
            return FeedError(feed_id, "dns", f"cannot resolve host {host!r} (no internet or DNS?): {e}")
        return FeedError(feed_id, "connect", f"cannot connect to {where}: {e}")
    if isinstance(e, httpx.TooManyRedirects):
        return FeedError(feed_id, "redirects", f"more than {_MAX_REDIRECTS} redirects from {where}")
    if isinstance(e, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FeedError(feed_id, "invalid_url", f"{where}: {e}")
    return FeedError(feed_id, "network", f"{where}: {type(e).__name__}: {e}")


def _caused_by(e: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = e
    for _ in range(10):  # httpx wraps httpcore wraps the OSError; a bound guards against cycles
        if seen is None:
            break
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _max_age(headers: httpx.Headers) -> float | None:
    """Return the seconds a response stays fresh per its Cache-Control and Age; None if it does not say.

    ``no-cache`` and ``no-store`` mean "ask every time": no floor on the next poll then.
    """
    directives = [d.strip().lower() for d in ",".join(headers.get_list("Cache-Control")).split(",")]
    if "no-cache" in directives or "no-store" in directives:
        return None
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age" and value.strip().strip('"').isdigit():
            age = headers.get("Age", "").strip()
            return max(0.0, float(value.strip().strip('"')) - (float(age) if age.isdigit() else 0.0))
    return None


def _retry_after(value: str | None) -> float | None:
    """Return a Retry-After header as seconds from now: it is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
