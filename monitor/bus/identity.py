"""Tell whether a topic is still the one a message was written to: its id changes when it is re-created.

tansu acknowledges a write to a topic it does not have (after a restart, before the topics are
created again) and the message is gone: the topic created next is a new one, with a new id. Apache
Kafka refuses such a write. So after the broker acknowledged a batch, the producer asks for the ids of
the topics it wrote to: a topic that is missing, or whose id changed since the last look, may have
lost what was written, and the batch is sent again (ids make the copies harmless).

Threads that publish at the same time share looks: any look that started after a thread's
acknowledgement answers for it (the way a database commits many transactions in one group commit), so
sixteen polls publishing at once cost one round trip to the broker, not sixteen.
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
        self._looks = threading.Condition()
        self._started = 0  # looks started so far: a look's number is its place in that order
        self._running = False
        self._last: tuple[int, frozenset[str], dict[str, str | None] | None] | None = None
        """The last look done: its number, the topics it covered and what it found."""

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

    def current_after_now(self, topics: Iterable[str]) -> dict[str, str | None] | None:
        """Return ``current(topics)`` from a look that started after this call: the first caller to
        find no look under way makes one, for every caller waiting by then."""
        wanted = frozenset(topics)
        with self._looks:
            after = self._started  # looks numbered up to this one may have started before the call
            while True:
                last = self._last
                if last is not None and last[0] > after and wanted <= last[1]:
                    return last[2]
                if not self._running:
                    self._running = True
                    self._started += 1
                    number = self._started
                    break
                self._looks.wait()
        ids: dict[str, str | None] | None = None
        try:
            ids = self.current(wanted)
        finally:
            with self._looks:
                self._running = False
                self._last = (number, wanted, ids)
                self._looks.notify_all()
        return ids

    def changed(self, topics: Iterable[str]) -> set[str] | None:
        """Return the topics missing or re-created since last seen; None if the broker cannot be asked.

        A topic seen for the first time is remembered, not reported.
        """
        ids = self.current_after_now(topics)
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
