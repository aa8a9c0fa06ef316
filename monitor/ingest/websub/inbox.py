"""The inbox: pushed bodies wait here for one worker that hands them to the ingest service.

The callback must answer the hub at once (hubs time out within seconds and retry, or give up), while
parsing and publishing one body can take as long as the bus takes to acknowledge. A bounded queue keeps
a flood of pushes from eating memory: a push that finds it full is dropped and its feed polled instead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from monitor.ingest.fetch import FetchResult
from monitor.ingest.poll import FeedReport
from monitor.logs import get_logger

__all__ = ["Inbox", "Push"]

_log = get_logger(__name__)


@dataclass(frozen=True)
class Push:
    """One content distribution whose signature checked out."""

    feed_id: str
    topic: str
    content_type: str | None
    body: bytes
    received_at: float


class Inbox:
    """A bounded queue of pushes and the worker thread that empties it."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._queue: queue.Queue[Push] = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def put(self, push: Push) -> bool:
        """Queue ``push``; return False when the inbox is full or closed."""
        if self._stop.is_set():
            return False
        try:
            self._queue.put_nowait(push)
        except queue.Full:
            return False
        return True

    def start(
        self,
        receive: Callable[[str, FetchResult], FeedReport | None],
        poll_soon: Callable[[str], None],
    ) -> None:
        """Hand each push to ``receive`` in a worker thread; ``poll_soon`` a feed whose push failed."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._work, args=(receive, poll_soon), name="websub-inbox", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the push in hand and stop; pushes still queued are dropped (polls find their items)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        dropped = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            dropped += 1
        if dropped:
            _log.info("websub.inbox_dropped", pushes=dropped, retry="next poll")

    def _work(
        self,
        receive: Callable[[str, FetchResult], FeedReport | None],
        poll_soon: Callable[[str], None],
    ) -> None:
        while not self._stop.is_set():
            try:
                push = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            result = FetchResult(200, push.body, None, None, False, push.topic, push.content_type)
            try:
                report = receive(push.feed_id, result)
            except Exception:  # a bug in the path must not end the inbox; the feed's poll retries
                _log.exception("websub.push_failed", feed=push.feed_id)
                poll_soon(push.feed_id)
                continue
            if report is None:
                _log.info("websub.notification_dropped", feed=push.feed_id, reason="feed not configured")
                continue
            if report.error is not None:
                poll_soon(push.feed_id)
            _log.info(
                "websub.notification_received",
                feed=push.feed_id,
                items=report.items,
                published=report.published,
                duplicates=report.duplicates,
                error=report.error.detail if report.error else None,
                bytes=len(push.body),
            )
