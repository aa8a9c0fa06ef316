"""The consumer loop every stage runs: poll, decode, handle, and commit only what was fully handled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from pydantic import BaseModel
from structlog.contextvars import bound_contextvars

from monitor.bus.deadletter import DeadLetter, deadletter_record
from monitor.bus.producer import ResilientProducer
from monitor.bus.records import ConsumedRecord, DeadLetterRecord
from monitor.bus.serde import decode
from monitor.errors import BrokerError, MessageError
from monitor.logs import get_logger
from monitor.metrics import Metrics

__all__ = ["ConsumerLoop", "close_consumer"]

_log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
_POLL_BACKOFF_S = 1.0


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """Collect the partitions each rebalance hands this member, for the loop to rewind.

    kafka-python keeps a partition's fetch position across a rebalance that leaves it with the same
    member. After a broker restart that is wrong: the topic was re-created (a restarted tansu starts
    empty), so the old position points past the first new records, which would be skipped and then
    committed over. The loop therefore checks where each newly assigned partition was read from and,
    if that is not its committed offset (or its first offset when it has none), moves it back there,
    which is where a fresh member would have started.
    The listener only notes them: it runs inside kafka-python's group logic, where blocking calls
    such as ``committed()`` must not be made.
    """

    def __init__(
        self,
        on_assigned: Callable[[set[TopicPartition]], None] | None = None,
        on_revoked: Callable[[set[TopicPartition]], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._pending: set[TopicPartition] = set()
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Run the stage's hook (a batch is committed before the next poll can rebalance)."""
        partitions = set(revoked)
        if self._on_revoked is not None and partitions:
            # Inside poll(), before the group hands these partitions to another member.
            self._on_revoked(partitions)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """Note ``assigned`` for the loop's next rewind; run the stage's hook before any record of them."""
        partitions = set(assigned)
        with self._lock:
            self._pending.update(partitions)
        if self._on_assigned is not None and partitions:
            # kafka-python calls this inside poll(), before it returns a record of these partitions:
            # state restored here is complete before the first of them is handled.
            self._on_assigned(partitions)

    def take(self) -> set[TopicPartition]:
        """Return and forget the partitions assigned since the last call."""
        with self._lock:
            pending, self._pending = self._pending, set()
        return pending

    def give_back(self, partitions: set[TopicPartition]) -> None:
        """Keep ``partitions`` for the next call (rewinding them failed)."""
        with self._lock:
            self._pending.update(partitions)


class ConsumerLoop(Generic[M]):
    """Feed each message of a topic, decoded as ``model``, to ``handle``: at-least-once.

    Offsets are committed after a whole polled batch is handled and everything the handler produced
    has been acknowledged by the broker, so a crash re-delivers rather than loses. A message that cannot
    be decoded, or whose handler raises, goes to the dead-letter topic with the reason and the loop goes
    on: one bad message never stops a stage.

    The broker going away never stops it either: what the batch produced (dead letters included) is
    re-sent until the broker takes it (:class:`~monitor.bus.producer.ResilientProducer`), a failed poll
    or commit is logged, counted and retried, and kafka-python rejoins the group once the broker is
    back. Only a stop while the broker is away ends the wait: the batch then stays uncommitted and is
    delivered again, to this stage or to another member. Handlers must therefore be idempotent, which
    the deterministic ids of articles, matches and alerts make them.

    ``log_context`` names the ids a message is about (e.g. ``article_id``): they are bound to every log
    line written while it is handled, by this loop and by the core it calls, so one grep finds its story.

    ``on_assigned`` runs when a rebalance hands this member partitions, before any of their records is
    handled: the alert stage restores their state there. ``on_revoked`` runs before the group hands
    partitions to another member: the alert stage stops delivering for their watchlists there.
    """

    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        producer: KafkaProducer | ResilientProducer,
        deadletter: DeadLetter,
        topic: str,
        model: type[M],
        handle: Callable[[M], None],
        metrics: Metrics,
        on_batch: Callable[[int], None] | None = None,
        log_context: Callable[[M], Mapping[str, object]] | None = None,
        commit_timeout_ms: int = 5000,
        on_assigned: Callable[[set[TopicPartition]], None] | None = None,
        on_revoked: Callable[[set[TopicPartition]], None] | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = ResilientProducer.wrap(producer)
        self._commit_timeout_ms = commit_timeout_ms
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
        for operation in ("poll", "commit", "rewind", "rewind_check"):
            metrics.bus_errors.labels(operation=operation)
        self._assignments = _Assignments(on_assigned, on_revoked)
        subscribed = sorted(consumer.subscription() or ())
        if subscribed:  # a consumer given partitions by hand (assign) has no rebalances to follow
            consumer.subscribe(topics=subscribed, listener=self._assignments)

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Handle one polled batch and commit it; return the number of messages handled.

        Never raises for the broker's sake (see the class docstring); returns 0 when it could not poll,
        or when a stop came while what the batch produced was still unacknowledged.
        """
        try:
            batches = self._consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as e:
            self._metrics.bus_errors.labels(operation="poll").inc()
            _log.warning("consumer.poll_failed", topic=self._topic, error=f"{type(e).__name__}: {e}")
            time.sleep(_POLL_BACKOFF_S)
            return 0
        count = 0
        for records in batches.values():
            for record in records:
                self._handle_record(record)
                count += 1
        if count:
            try:
                self._producer.flush()
            except BrokerError as e:
                _log.warning(
                    "consumer.batch_left_uncommitted", topic=self._topic, messages=count, error=str(e)
                )
                return 0
        # Before the commit: a batch read from a stale position must not be committed over.
        rewound = self._rewind_reassigned(batches)
        if count and rewound:
            self._commit(count)
            if self._on_batch is not None:
                self._on_batch(count)
        self._record_lag()
        return count

    def _rewind_reassigned(self, batches: Mapping[TopicPartition, Sequence[ConsumedRecord]]) -> bool:
        """Check where each newly assigned partition was read from; rewind it if that was not its start.

        ``batches`` is what this poll returned, per partition: its first record's offset is where the
        partition was read from. A partition's start is its committed offset, or its first offset when
        it has none (the ``earliest`` policy; with ``latest`` nothing can be checked). Normally they
        agree and nothing happens; after a broker restart a stale position does not, and the partition
        is moved back so that the records between are handled (some again, harmlessly) instead of
        skipped. Returns False if the check could not
        be made: the batch is then not committed. See :class:`_Assignments`.
        """
        pending = self._assignments.take()
        if not pending:
            return True
        began = {tp: records[0].offset for tp, records in batches.items() if records}
        todo = pending & set(self._consumer.assignment() or ())
        earliest = self._consumer.config.get("auto_offset_reset") != "latest"
        timeout_ms = self._commit_timeout_ms
        try:
            for tp in sorted(todo):
                committed = self._consumer.committed(tp, timeout_ms=timeout_ms)
                if committed is None and not earliest:
                    continue
                if committed is None:
                    start = self._consumer.beginning_offsets([tp], timeout_ms=timeout_ms)[tp]
                else:
                    start = committed
                read_from = began.get(tp)
                if read_from is None:
                    read_from = self._consumer.position(tp, timeout_ms=timeout_ms)
                if read_from == start:
                    continue
                self._consumer.seek(tp, start)
                self._metrics.bus_errors.labels(operation="rewind").inc()
                _log.warning(
                    "consumer.rewound",
                    topic=tp.topic,
                    partition=tp.partition,
                    read_from=read_from,
                    start=start,
                    why="a reassigned partition kept a stale position (the broker restarted?)",
                    consequence="the records in between are handled now, some of them again",
                )
        except KafkaError as e:
            self._assignments.give_back(pending)
            self._metrics.bus_errors.labels(operation="rewind_check").inc()
            _log.warning("consumer.rewind_failed", topic=self._topic, error=f"{type(e).__name__}: {e}")
            return False
        return True

    def _commit(self, count: int) -> None:
        """Commit the positions; a failure only means the batch may be delivered again, so go on."""
        try:
            self._consumer.commit(timeout_ms=self._commit_timeout_ms)
        except KafkaError as e:
            # A rebalance, or the broker away: whoever owns these partitions next starts from the last
            # commit and handles this batch again, which the idempotent handlers absorb.
            self._metrics.bus_errors.labels(operation="commit").inc()
            _log.warning(
                "consumer.commit_failed",
                topic=self._topic,
                messages=count,
                error=f"{type(e).__name__}: {e}",
                consequence="the batch will be delivered again",
            )

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

    def _handle_record(self, record: ConsumedRecord) -> None:
        started = time.perf_counter()
        try:
            message = decode(record.value, self._model)
        except MessageError as e:
            self._dead(DeadLetterRecord.of(record, "invalid_message", str(e)))
            return
        context = self._log_context(message) if self._log_context is not None else {}
        with bound_contextvars(**context):
            try:
                self._handle(message)
            except Exception as e:  # a bug or bad data in one message must not stop the stage
                _log.exception(
                    "message.handler_failed",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )
                self._dead(DeadLetterRecord.of(record, "handler_error", f"{type(e).__name__}: {e}"))
                return
            finally:
                elapsed = time.perf_counter() - started
                self._metrics.message_duration.labels(topic=self._topic).observe(elapsed)
        self._metrics.messages_consumed.labels(topic=self._topic).inc()

    def _dead(self, failed: DeadLetterRecord) -> None:
        _log.warning(
            "message.deadlettered",
            topic=failed.topic,
            partition=failed.partition,
            offset=failed.offset,
            key=failed.key.decode("utf-8", "replace") if failed.key else None,
            reason=failed.reason,
            error=failed.error,
        )
        # Queued with the batch's other output: it is acknowledged (or re-sent) before the commit.
        self._producer.send(self._deadletter.topic, key=failed.key, value=deadletter_record(failed))
        self._metrics.messages_deadlettered.labels(topic=self._topic, reason=failed.reason).inc()

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then leave the group so partitions move at once."""
        try:
            while not stop.is_set():
                self.poll_once()
        finally:
            close_consumer(self._consumer)


def close_consumer(consumer: KafkaConsumer) -> None:
    """Leave the group and close; with the broker away, give up at once (the group forgets us later)."""
    try:
        consumer.close(autocommit=False)
    except KafkaError as e:
        _log.warning("consumer.close_failed", error=f"{type(e).__name__}: {e}")
