"""WebSub as the ingest service's push source: the subscriber, its callback server and its inbox, wired."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from monitor.errors import ConfigError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import FetchResult
from monitor.ingest.push import PushSink
from monitor.ingest.websub.callback import CallbackServer
from monitor.ingest.websub.hub_client import HubClient
from monitor.ingest.websub.inbox import Inbox
from monitor.ingest.websub.lease import LeasePolicy
from monitor.ingest.websub.store import SubscriptionStore
from monitor.ingest.websub.subscriber import WebSubSubscriber
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.settings import IngestSettings

__all__ = ["WebSubPush", "build_websub"]

_log = get_logger(__name__)


class WebSubPush:
    """Take WebSub pushes for the ingest service (a PushSource); one instance per ingest process."""

    def __init__(
        self,
        subscriber: WebSubSubscriber,
        server: CallbackServer,
        inbox: Inbox,
        closers: Sequence[SubscriptionStore | HubClient] = (),
        tick_s: float = 1.0,
    ) -> None:
        self.subscriber = subscriber
        self.server = server
        self._inbox = inbox
        self._closers = closers
        self._tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, sink: PushSink, feeds: Sequence[FeedConfig]) -> None:
        """Listen for callbacks, hand pushes to ``sink``, and keep the subscriptions of ``feeds``."""
        self.subscriber.feeds_changed(feeds)
        self._inbox.start(sink.receive, sink.poll_soon)
        self.server.start()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.subscriber.run,
            args=(self._stop, sink.poll_soon, self._tick_s),
            name="websub",
            daemon=True,
        )
        self._thread.start()
        _log.info("websub.started", callback=self.subscriber.callback_url_base, port=self.server.port)

    def stop(self) -> None:
        """Stop the ticker, the callback server and the inbox (subscriptions stay: the hubs keep them)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.server.stop()
        self._inbox.stop()
        _log.info("websub.stopped")

    def close(self) -> None:
        """Release the store and the HTTP client; after stop()."""
        for closer in self._closers:
            closer.close()

    def feeds_changed(self, feeds: Sequence[FeedConfig]) -> None:
        """Unsubscribe feeds gone from the feeds file."""
        self.subscriber.feeds_changed(feeds)

    def observe(self, feed: FeedConfig, result: FetchResult) -> None:
        """Discover the hub of a polled feed."""
        self.subscriber.observe(feed, result)

    def next_poll_s(self, feed_id: str, interval_s: float) -> float:
        """Return when to poll the feed next: the safety interval while it is pushed."""
        return self.subscriber.next_poll_s(feed_id, interval_s)


def build_websub(cfg: IngestSettings, metrics: Metrics, *, tick_s: float = 1.0) -> WebSubPush | None:
    """Return the WebSub push source the settings describe, or None when ``callback_url`` is unset.

    ``tick_s`` bounds how late a renewal or a timeout is noticed (tests shorten it).

    Raises:
        ConfigError: the callback port cannot be listened on, or the store cannot be opened.
    """
    ws = cfg.websub
    if ws.callback_url is None:
        return None
    try:
        policy = LeasePolicy(
            lease_s=ws.lease_seconds,
            renew_before_s=ws.renew_before_s,
            verify_timeout_s=ws.verify_timeout_s,
            retry_min_s=ws.retry_min_s,
            retry_max_s=ws.retry_max_s,
            safety_poll_interval_s=ws.safety_poll_interval_s,
        )
    except ValueError as e:
        raise ConfigError(f"ingest.websub settings: {e} (ingest.websub.retry_min_s, retry_max_s)") from e
    store = SubscriptionStore(ws.state_db)
    hubs = HubClient(cfg.timeout_s, cfg.user_agent, block_private=cfg.block_private_addresses)
    inbox = Inbox(ws.inbox_size)
    subscriber = WebSubSubscriber(store, hubs, ws.callback_url, policy, metrics, inbox)
    try:
        server = CallbackServer(ws.listen_host, ws.listen_port, subscriber, metrics, cfg.max_bytes)
    except Exception:
        hubs.close()
        store.close()
        raise
    return WebSubPush(subscriber, server, inbox, (store, hubs), tick_s)
