"""Write the alerter's state changes to the compacted changelog topic, on their watchlist's partition.

Changes made while a Match is handled are queued with the consumer loop's batch, so the broker has
acknowledged them before the Match's offset is committed: whoever owns the partition next restores
every change of every committed Match. Changes made by the ticker (a delivery) are sent and waited
for at once; if the broker is away the delivery is logged and the next owner may send it again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from monitor.alerting.changelog import StateRecord, encode_record, partition_of
from monitor.bus.producer import ResilientProducer
from monitor.errors import BrokerError
from monitor.logs import get_logger

__all__ = ["KafkaChangelog"]

_log = get_logger(__name__)
_WAIT_S = 10.0


class KafkaChangelog:
    """A :class:`~monitor.alerting.changelog.Changelog` on a compacted topic co-partitioned with matches."""

    def __init__(self, producer: ResilientProducer, topic: str, partitions: int) -> None:
        self._producer = producer
        self.topic = topic
        self._partitions = partitions
        self._batched = threading.local()

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Queue the writes of this thread with the consumer loop's batch while the context is open."""
        self._batched.on = True
        try:
            yield
        finally:
            self._batched.on = False

    def write(self, record: StateRecord, rule: str) -> None:
        """Send ``record`` to the partition of watchlist ``rule``."""
        partition = partition_of(rule, self._partitions)
        key, value = record.key.encode("utf-8"), encode_record(record)
        if getattr(self._batched, "on", False):
            self._producer.send(self.topic, key=key, value=value, partition=partition)
            return
        try:
            self._producer.send_and_wait(
                self.topic, key=key, value=value, timeout_s=_WAIT_S, partition=partition
            )
        except BrokerError as e:
            _log.warning(
                "alert.state_write_failed",
                topic=self.topic,
                key=record.key,
                error=str(e),
                consequence="another alerter taking this partition over may send this message again",
            )
