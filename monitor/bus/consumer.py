"""The consumer loop every stage runs: poll, decode, handle, and commit only what was fully handled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from pydantic import BaseModel
from structlog.contextvars import bound_contextvars

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

    ``log_context`` names the ids a message is about (e.g. ``article_id``): they are bound to every log
    line written while it is handled, by this loop and by the core it calls, so one grep finds its story.
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
        log_context: Callable[[M], Mapping[str, object]] | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._deadletter = deadletter
        self._topic = topic
        self._model = model
        self._handle = handle
        self._metrics = metrics
        self._on_batch = on_batch
        self._log_context = log_context
        self._lag_partitions: set[tuple[str, str]] = set()
        # Series exist from the start at 0, so rate() and the dead-letter alert see the first failure.
        metrics.messages_consumed.labels(topic=topic)
        metrics.message_duration.labels(topic=topic)
        for reason in ("invalid_message", "handler_error"):
            metrics.messages_deadlettered.labels(topic=topic, reason=reason)

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
        self._record_lag()
        return count

    def _record_lag(self) -> None:
        """Set the lag gauge of each assigned partition; drop the partitions a rebalance moved away.

        Both offsets are what the client already knows from its fetches (no request to the broker), so
        this is cheap enough for every poll. A partition not fetched yet has no high watermark: skipped.
        """
        seen: set[tuple[str, str]] = set()
        for tp in self._consumer.assignment() or ():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = self._consumer.position(tp, timeout_ms=100)
            except KafkaError as e:  # a gauge is not worth stopping the stage; the next poll tries again
                _log.debug("consumer.lag_unknown", topic=tp.topic, partition=tp.partition, error=str(e))
                continue
            if position is None:
                continue
            labels = (str(tp.topic), str(tp.partition))
            # tansu reports the high watermark low (start of the last batch + 1): never show a negative lag.
            self._metrics.consumer_lag.labels(*labels).set(max(0, highwater - position))
            seen.add(labels)
        for labels in self._lag_partitions - seen:
            self._metrics.consumer_lag.remove(*labels)
        self._lag_partitions = seen

    def _handle_record(self, record: object) -> None:
        topic: str = getattr(record, "topic")  # noqa: B009 - kafka-python's ConsumerRecord is untyped
        partition: int = getattr(record, "partition")  # noqa: B009
        offset: int = getattr(record, "offset")  # noqa: B009
        key: bytes | None = getattr(record, "key")  # noqa: B009
        value: bytes | None = getattr(record, "value")  # noqa: B009
        started = time.perf_counter()
        try:
            message = decode(value, self._model)
        except MessageError as e:
            self._dead(topic, partition, offset, key, value, "invalid_message", str(e))
            return
        context = self._log_context(message) if self._log_context is not None else {}
        with bound_contextvars(**context):
            try:
                self._handle(message)
            except Exception as e:  # a bug or bad data in one message must not stop the stage
                _log.exception("message.handler_failed", topic=topic, partition=partition, offset=offset)
                self._dead(topic, partition, offset, key, value, "handler_error", f"{type(e).__name__}: {e}")
                return
            finally:
                elapsed = time.perf_counter() - started
                self._metrics.message_duration.labels(topic=self._topic).observe(elapsed)
        self._metrics.messages_consumed.labels(topic=self._topic).inc()

    def _dead(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason: str,
        error: str,
    ) -> None:
        _log.warning(
            "message.deadlettered",
            topic=topic,
            partition=partition,
            offset=offset,
            key=key.decode("utf-8", "replace") if key else None,
            reason=reason,
            error=error,
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
