"""What the benchmarks read back from a run: when alerts appeared, when articles were fetched.

Shared by the pipeline and soak benchmarks, which time the same thing: from an article's
``fetched_at`` (stamped by the ingestor) to its alert's line in the JSONL alert log.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from monitor.bus.connection import Bus
from monitor.bus.serde import decode
from monitor.models import Article
from monitor.settings import KafkaSettings

__all__ = ["AlertLogTail", "fetched_at", "percentile"]


class AlertLogTail(threading.Thread):
    """Note when each alert first appears in the JSONL alert log (every 5 ms), with its first article.

    ``feeds``, if given, keeps only alerts whose first article comes from one of them.
    """

    def __init__(self, path: Path, feeds: set[str] | None = None) -> None:
        super().__init__(name="bench-alert-log", daemon=True)
        self.path = path
        self.feeds = feeds
        self.first: dict[str, tuple[float, str]] = {}  # alert id -> (time seen, its first article's id)
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Follow the file until :meth:`stop`."""
        pos, pending = 0, b""
        while not self._stop_event.is_set():
            try:
                size = os.stat(self.path).st_size
            except FileNotFoundError:
                size = 0
            if size > pos:
                seen = time.time()
                with self.path.open("rb") as f:
                    f.seek(pos)
                    data = f.read(size - pos)
                pos += len(data)
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    alert = json.loads(line)
                    first = alert["articles"][0]
                    wanted = self.feeds is None or first["feed_id"] in self.feeds
                    if alert["id"] not in self.first and wanted:
                        self.first[alert["id"]] = (seen, first["id"])
            self._stop_event.wait(0.005)

    def stop(self) -> None:
        """Stop following (after one last look, within 5 ms); a tail never started has nothing to stop.

        It is stopped in a ``finally`` that also runs when a stage failed before the tail was started:
        a RuntimeError from join() there would hide the stage's own error.
        """
        self._stop_event.set()
        if self.ident is not None:
            self.join(timeout=5)


def fetched_at(
    bootstrap: tuple[str, ...], expected: int, timeout_s: float = 60.0, bus: Bus | None = None
) -> dict[str, float]:
    """Return each published article's ``fetched_at`` (Unix time), read back from the articles topic.

    ``bus``: the run's broker and topics (default: an embedded broker at ``bootstrap``, newsmon's topics).
    """
    bus = bus or Bus(bootstrap, KafkaSettings(), embedded=True)
    consumer = bus.consumer(
        f"{bus.settings.group_prefix}-bench-readback", bus.settings.topics.articles, max_poll_records=500
    )
    out: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    article = decode(record.value, Article)
                    out[article.id] = article.fetched_at.timestamp()
    finally:
        consumer.close()
    return out


def percentile(values: list[float], q: float) -> float:
    """Return the ``q``-th percentile of sorted ``values`` (linear interpolation between ranks)."""
    if not values:
        return float("nan")
    rank = (len(values) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)
