"""The consumer loop every stage runs: poll, decode, handle, and commit only what was fully handled."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from pydantic import BaseModel

from monitor.bus.deadletter import DeadLetter
from monitor.bus.serde import decode
from monitor.errors import MessageError
from monitor.logs import get_logger
from monitor.metrics import Metrics

__all__ = ["ConsumerLoop"]

_log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)


class ConsumerLoop(Generic[M]):
    """Feed each message of a topic, decoded as ``model``, to ``handle``: at-least-once.

    Offsets are committed after a whole polled batch is handled and everything the handler produced
    has been flushed, so a crash re-delivers rather than loses. A message that cannot be decoded, or
    whose handler raises, goes to the dead-letter topic with the reason and the loop goes on: one bad
    message never stops a stage. Only a failure to store it in the dead-letter topic stops the loop,
    since continuing would lose it.
    """

    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        deadletter: DeadLetter,
        topic: str,
        model: type[M],
        handle: Callable[[M], None],
        metrics: Metrics,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._deadletter = deadletter
        self._topic = topic
        self._model = model
        self._handle = handle
        self._metrics = metrics
        self._on_batch = on_batch

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Handle one polled batch and commit it; return the number of messages handled."""
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        count = 0
        for records in batches.values():
            for record in records:
                self._handle_record(record)
                count += 1
        if count:
            self._producer.flush(timeout=30)
            self._consumer.commit()
            if self._on_batch is not None:
                self._on_batch(count)
        return count

    def _handle_record(self, record: object) -> None:
        topic: str = getattr(record, "topic")  # noqa: B009 - kafka-python's ConsumerRecord is untyped
        partition: int = getattr(record, "partition")  # noqa: B009
        offset: int = getattr(record, "offset")  # noqa: B009
        key: bytes | None = getattr(record, "key")  # noqa: B009
        value: bytes | None = getattr(record, "value")  # noqa: B009
        try:
            message = decode(value, self._model)
        except MessageError as e:
            self._dead(topic, partition, offset, key, value, "invalid_message", str(e))
            return
        try:
            self._handle(message)
        except Exception as e:  # a bug or bad data in one message must not stop the stage
            _log.exception("message.handler_failed", topic=topic, partition=partition, offset=offset)
            self._dead(topic, partition, offset, key, value, "handler_error", f"{type(e).__name__}: {e}")
            return
        self._metrics.messages_consumed.labels(topic=self._topic).inc()

    def _dead(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str, error: str
    ) -> None:
        _log.warning(
            "message.deadlettered", topic=topic, partition=partition, offset=offset, reason=reason, error=error
        )
        self._deadletter.send(
            topic=topic, partition=partition, offset=offset, key=key, value=value, reason=reason, error=error
        )
        self._metrics.messages_deadlettered.labels(topic=self._topic, reason=reason).inc()

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then leave the group so partitions move at once."""
        try:
            while not stop.is_set():
                self.poll_once()
        except KafkaError:
            _log.exception("consumer.failed", topic=self._topic)
            raise
        finally:
            self._consumer.close()
