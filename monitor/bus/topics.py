"""Keep the topics there: an embedded broker that restarts comes back empty, without a single topic.

Each process checks now and then that every topic exists and creates the missing ones with our
partition count. Without it, the first client to touch a lost topic would have the broker create it
on the fly with the broker's default partition count (tansu does that even when asked not to), and a
stage that only consumes would wait for a topic nobody creates. Against Apache Kafka, topics do not
vanish and each check is one metadata request.
"""

from __future__ import annotations

import threading

from monitor.bus.connection import Bus
from monitor.errors import BrokerError
from monitor.logs import get_logger
from monitor.metrics import Metrics

__all__ = ["TopicKeeper"]

_log = get_logger(__name__)


class TopicKeeper:
    """Every ``interval_s``, create the missing topics of ``bus``; log when the broker goes and comes back."""

    def __init__(self, bus: Bus, metrics: Metrics, interval_s: float) -> None:
        self._bus = bus
        self._metrics = metrics
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._away = False
        self._thread = threading.Thread(target=self._run, name="topic-keeper", daemon=True)
        metrics.bus_errors.labels(operation="topics")

    def start(self) -> TopicKeeper:
        """Check in the background until :meth:`stop`."""
        if self._interval_s > 0:
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop checking (returns at once; the thread ends within one check)."""
        self._stop.set()

    def check(self) -> list[str]:
        """Create the missing topics now; return their names (empty when all exist or the broker is away)."""
        try:
            created = self._bus.ensure_topics(timeout_s=min(max(self._interval_s, 1.0), 5.0))
        except BrokerError as e:
            self._metrics.bus_errors.labels(operation="topics").inc()
            if not self._away:
                _log.warning("bus.broker_away", bootstrap=",".join(self._bus.bootstrap), error=str(e))
                self._away = True
            return []
        if self._away:
            _log.info("bus.broker_back", bootstrap=",".join(self._bus.bootstrap))
            self._away = False
        if created:
            self._metrics.topics_recreated.inc(len(created))
            _log.warning(
                "bus.topics_recreated",
                topics=created,
                why="missing after start-up: the broker lost them (an embedded broker restarted?)",
            )
        return created

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.check()
            except Exception:  # a bug here must not end the checks: the next one may work
                _log.exception("bus.topic_check_failed")
