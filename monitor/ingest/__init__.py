"""Ingest stage: poll RSS/Atom feeds and publish each new or updated item as an Article."""

from monitor.ingest.feeds import FeedConfig, load_feeds
from monitor.ingest.fetch import FETCH_ERROR_KINDS, Fetcher, FetchResult, HTTPStatusError
from monitor.ingest.parse import ParseResult, html_to_text, parse_feed
from monitor.ingest.seen import SeenStore, content_hash
from monitor.ingest.service import FeedReport, IngestService

__all__ = [
    "FETCH_ERROR_KINDS",
    "FeedConfig",
    "FeedReport",
    "FetchResult",
    "Fetcher",
    "HTTPStatusError",
    "IngestService",
    "ParseResult",
    "SeenStore",
    "content_hash",
    "html_to_text",
    "load_feeds",
    "parse_feed",
]
