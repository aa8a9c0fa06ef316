"""Ingest stage: poll RSS/Atom feeds and publish each new or updated item as an Article."""

from monitor.ingest.feeds import FeedConfig, load_feeds
from monitor.ingest.fetch import FETCH_ERROR_KINDS, Fetcher, FetchResult, HTTPStatusError
from monitor.ingest.fulltext import FullText
from monitor.ingest.guard import GuardedTransport, is_public_address
from monitor.ingest.parse import ParseResult, parse_feed
from monitor.ingest.poll import FeedReport
from monitor.ingest.reload import FeedsWatcher
from monitor.ingest.schedule import PollPolicy
from monitor.ingest.seen import FeedState, SeenStore, content_hash
from monitor.ingest.service import IngestOptions, IngestService

__all__ = [
    "FETCH_ERROR_KINDS",
    "FeedConfig",
    "FeedReport",
    "FeedState",
    "FeedsWatcher",
    "FetchResult",
    "Fetcher",
    "FullText",
    "GuardedTransport",
    "HTTPStatusError",
    "IngestOptions",
    "IngestService",
    "ParseResult",
    "PollPolicy",
    "SeenStore",
    "content_hash",
    "is_public_address",
    "load_feeds",
    "parse_feed",
]
