"""Which watchlists this alerter delivers for: those whose partition of ``matches`` it owns right now.

With several alerters (several hosts), a watchlist's messages must go out from one place: the alerter
the consumer group handed the watchlist's partition to. Otherwise a host that lost the partition, or
came back after a kill with messages still pending in its own outbox, sends what the new owner also
sends (a second "new" email, or a follow-up ignoring the group interval the other host started).
So a message waits, pending, in every outbox but the owner's; the owner learns from the changelog what
was sent (``restore.py``) and takes over the first messages nobody confirmed (``Alerter.adopt``).

A single alerter with no consumer group (``newsmon alerts resend``, unit tests) owns everything.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from monitor.alerting.changelog import partition_of

__all__ = ["Ownership"]


class Ownership:
    """The partitions of ``matches`` this alerter owns; a watchlist is owned when its partition is."""

    def __init__(self, partitions: int) -> None:
        self._partitions = partitions
        self._owned: set[int] = set()
        self._lock = threading.Lock()
        # Asked for every due message at every tick: murmur2 in Python once per watchlist, not per ask.
        self._partition_of: dict[str, int] = {}

    def assign(self, partitions: Iterable[int]) -> None:
        """Own ``partitions`` from now on."""
        with self._lock:
            self._owned.update(partitions)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Stop owning ``partitions``."""
        with self._lock:
            self._owned.difference_update(partitions)

    def partition(self, rule: str) -> int:
        """Return the partition watchlist ``rule``'s matches and state go to."""
        found = self._partition_of.get(rule)
        if found is None:
            found = self._partition_of[rule] = partition_of(rule, self._partitions)
        return found

    def owns(self, rule: str) -> bool:
        """Return whether this alerter delivers watchlist ``rule``'s messages now."""
        partition = self.partition(rule)
        with self._lock:
            return partition in self._owned
