"""Tell whether a topic is still the one a message was written to: its id changes when it is re-created.

tansu acknowledges a write to a topic it does not have (after a restart, before the topics are
created again) and the message is gone: the topic created next is a new one, with a new id. Apache
Kafka refuses such a write. So after the broker acknowledged a batch, the producer asks for the ids of
the topics it wrote to: a topic that is missing, or whose id changed since the last look, may have
lost what was written, and the batch is sent again (ids make the copies harmless).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from kafka.errors import KafkaError

from monitor.bus.connection import Bus
from monitor.errors import BrokerError
from monitor.logs import get_logger

__all__ = ["TopicIdentity"]

_log = get_logger(__name__)


class TopicIdentity:
    """Remember the id of each topic written to; report the topics whose id changed or vanished."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._lock = threading.Lock()
        self._admin: Any = None
        self._known: dict[str, str] = {}

    def current(self, topics: Iterable[str]) -> dict[str, str | None] | None:
        """Return each topic's id as the broker tells it now (None: no such topic); None if unreachable."""
        names = sorted(set(topics))
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = self._bus.admin()
                described = self._admin.describe_topics(names)
            except (KafkaError, BrokerError) as e:
                self._close_admin()
                _log.debug("bus.topic_ids_unknown", topics=names, error=str(e))
                return None
        ids: dict[str, str | None] = dict.fromkeys(names)
        for d in described:
            if d.get("error_code", 0) == 0 and d.get("name") in ids:
                ids[d["name"]] = str(d.get("topic_id") or "") or None
        return ids

    def remember(self, topics: Iterable[str]) -> None:
        """Take the current ids of ``topics`` as the ones to compare with (at start, after a re-creation)."""
        ids = self.current(topics)
        if ids is None:
            return
        with self._lock:
            self._known.update({t: i for t, i in ids.items() if i is not None})

    def changed(self, topics: Iterable[str]) -> set[str] | None:
        """Return the topics missing or re-created since last seen; None if the broker cannot be asked.

        A topic seen for the first time is remembered, not reported.
        """
        ids = self.current(topics)
        if ids is None:
            return None
        changed: set[str] = set()
        with self._lock:
            for topic, now in ids.items():
                before = self._known.get(topic)
                if now is None or (before is not None and before != now):
                    changed.add(topic)
                elif before is None:
                    self._known[topic] = now
        return changed

    def close(self) -> None:
        """Close the admin connection."""
        with self._lock:
            self._close_admin()

    def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                admin.close()
            except KafkaError as e:
                _log.debug("bus.admin_close_failed", error=str(e))
