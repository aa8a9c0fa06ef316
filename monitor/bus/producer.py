"""A producer that keeps every message it was given until the broker acknowledged it.

kafka-python's own producer buffers and retries, but not for ever: a record it gave up on (its delivery
timeout passed while the broker was away, or the broker restarted without the topic) only fails its
future, and ``flush()`` returns as if all went well. A stage that then commits its input loses that
message. This wrapper tracks each message with its bytes, re-sends what failed, re-creates the topics
(an embedded broker loses them on restart) and, on errors a producer never recovers from, the client.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from monitor.bus.clients import FATAL as _FATAL
from monitor.bus.clients import REFUSED as _REFUSED
from monitor.bus.clients import close_quietly
from monitor.bus.connection import Bus
from monitor.bus.identity import TopicIdentity
from monitor.errors import BrokerError
from monitor.logs import get_logger
from monitor.metrics import Metrics

__all__ = ["ResilientProducer"]

_log = get_logger(__name__)

_REFUSED_ATTEMPTS = 3
_FLUSH_CHUNK_S = 2.0  # how often a flush waiting on an absent broker looks at ``closing``
_WAIT_CHUNK_S = 0.5  # the same for one message sent and waited for
_BACKOFF_MAX_S = 2.0
_RECOVER_EVERY_S = 1.0
_STUCK_ROUNDS = 3  # failed resend rounds, with the broker reachable, before the client is replaced


@dataclass
class _Pending:
    topic: str
    key: bytes | None
    value: bytes
    future: Any = None  # kafka-python's FutureRecordMetadata; None: not handed to the client yet
    attempts: int = 0
    partition: int | None = None  # None: the key's partition (Kafka's default partitioner)


def _in_flight(p: _Pending) -> bool:
    return p.future is not None and not isinstance(p.future, BaseException) and not p.future.is_done


class ResilientProducer:
    """Send messages and, at :meth:`flush`, make sure every one of them reached the broker.

    ``send`` never raises for the broker's sake: a message the client cannot take now is kept and sent
    again at ``flush``, which returns only once everything sent since the last flush is acknowledged.
    It waits for as long as the broker is away, unless the bus is closing (the process stops): it then
    raises ``BrokerError`` so the caller leaves its input uncommitted, to be delivered again.

    ``send``/``flush`` belong to one thread (a consumer loop); :meth:`send_and_wait` may be called from
    any number of threads at once (the ingestor's pollers, the alerter's ticker).
    """

    def __init__(
        self,
        bus: Bus | None = None,
        *,
        client: KafkaProducer | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if bus is None and client is None:
            raise ValueError("ResilientProducer needs a bus (to create its client) or a client")
        self._bus = bus
        self._metrics = metrics
        self._lock = threading.Lock()
        self._client: KafkaProducer | None = client if client is not None else self._new_client()
        self._owns_client = client is None
        self._identity = TopicIdentity(bus) if bus is not None else None
        if self._identity is not None:
            self._identity.remember(bus.topic_names if bus is not None else ())
        self._pending: list[_Pending] = []
        self._degraded = False  # a send failed since the last flush: keep the rest for the flush
        self._replace_lock = threading.Lock()
        self._closed = False
        self._last_recover = 0.0
        self._stuck_rounds = 0
        self._closing = bus.closing if bus is not None else threading.Event()
        if metrics is not None:
            for operation in ("produce", "produce_refused"):
                metrics.bus_errors.labels(operation=operation)

    @classmethod
    def wrap(cls, producer: KafkaProducer | ResilientProducer) -> ResilientProducer:
        """Return ``producer`` if it is one already, else a wrapper around the kafka-python client."""
        return producer if isinstance(producer, ResilientProducer) else cls(client=producer)

    # -- the consumer loop's side: send many, flush once ---------------------------------------------

    def send(
        self, topic: str, *, key: bytes | None = None, value: bytes, partition: int | None = None
    ) -> None:
        """Queue ``value`` for ``topic``; it is acknowledged, or re-sent, by the next :meth:`flush`."""
        pending = _Pending(topic, key, value, partition=partition)
        if not self._degraded:
            self._hand_over(pending)
        self._pending.append(pending)

    def flush(self) -> None:
        """Return once every message queued since the last flush is acknowledged by the broker.

        Raises:
            BrokerError: the bus is closing and some message is still unacknowledged; the queue is
                dropped (the caller's input stays uncommitted, so it comes again).
        """
        backoff = 0.1
        acked: list[_Pending] = []
        while True:
            failed: list[_Pending] = []
            if self._pending:
                client = self._client
                if client is not None and any(_in_flight(p) for p in self._pending):
                    # A timeout only means the broker is still away: look at closing, then wait again.
                    with contextlib.suppress(KafkaError):
                        client.flush(timeout=_FLUSH_CHUNK_S)
                    if any(_in_flight(p) for p in self._pending):
                        # Stuck: the client waits for a topic the broker lost. Nobody else may make it.
                        self._recover(None, client)
                failed = self._settle(acked)
                if failed:
                    self._resend(failed)
            if not self._pending:
                lost = self._lost(acked)
                if lost == []:
                    break
                if lost:  # written to a topic that is gone now: again, from the start
                    acked = [p for p in acked if p not in lost]
                    for p in lost:
                        p.future = None
                    self._pending.extend(lost)
                    continue
            if self._closing.is_set():
                count = len(self._pending) or len(acked)
                self.discard()
                raise BrokerError(
                    f"{count} message(s) not acknowledged (or not confirmed kept) by {self._where} before "
                    "stopping; their input stays uncommitted and will be delivered again"
                )
            if failed or not self._pending:
                time.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
        self._degraded = False
        self._stuck_rounds = 0

    def discard(self) -> None:
        """Forget the queued messages (their input will be delivered again, and they with it)."""
        self._pending.clear()
        self._degraded = False

    # -- one message, acknowledged before returning -------------------------------------------------

    def send_and_wait(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes,
        timeout_s: float,
        partition: int | None = None,
    ) -> None:
        """Send one message and return once the broker acknowledged it; retry until ``timeout_s``.

        Raises:
            BrokerError: not acknowledged within ``timeout_s`` (the broker is away), the bus is
                closing, or the broker refuses the message itself.
        """
        deadline = time.monotonic() + timeout_s
        backoff = 0.1
        attempts = 0
        while True:
            attempts += 1
            error: BaseException | None = None
            client = self._client
            try:
                client = self._client or self._replace_client("no client", None)
                if client is None:
                    raise KafkaTimeoutError("no producer client: the broker is unreachable")
                future = client.send(topic, key=key, value=value, partition=partition)
                # In short waits, so that a stop is noticed within one of them.
                waited = time.monotonic()
                while not future.is_done and time.monotonic() < deadline and not self._closing.is_set():
                    with contextlib.suppress(KafkaTimeoutError):
                        future.get(timeout=max(0.05, min(_WAIT_CHUNK_S, deadline - time.monotonic())))
                    if not future.is_done and time.monotonic() - waited > _FLUSH_CHUNK_S:
                        self._recover(None, client)  # stuck on a lost topic: create it again
                        waited = time.monotonic()
                future.get(timeout=0.01)
                lost = self._lost([_Pending(topic, key, value, future, partition=partition)])
                if lost == []:
                    return
                why = "could not be confirmed to exist" if lost is None else "was missing or re-created"
                error = KafkaTimeoutError(f"topic {topic} {why} after the acknowledgement: sent again")
            except KafkaError as e:
                error = e
            self._count("produce")
            if isinstance(error, _REFUSED) and attempts >= _REFUSED_ATTEMPTS:
                self._count("produce_refused")
                raise BrokerError(f"the broker refuses a message for {topic}: {error}") from error
            if time.monotonic() >= deadline or self._closing.is_set():
                why = "stopping" if self._closing.is_set() else f"within {timeout_s:g} s"
                raise BrokerError(
                    f"no acknowledgement from {self._where} for {topic} ({why}): {error}"
                ) from error
            self._recover(error, client)
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    def close(self, timeout: float | None = 10.0) -> None:
        """Close the client (if this wrapper created it) within ``timeout`` seconds, broker or not.

        Every message anyone waits for was acknowledged or given up by now (``flush`` and
        ``send_and_wait`` return only then): what the client still buffers has no owner. So when the
        bus is closing, a second is enough; waiting for a broker that is away would only delay the stop.
        """
        with self._lock:
            client, self._client = self._client, None
            self._closed = True
        limit = 10.0 if timeout is None else timeout
        if self._closing.is_set():
            limit = min(limit, 1.0)
        if client is not None and self._owns_client:
            close_quietly(client, limit)
        if self._identity is not None:
            self._identity.close()

    # -- internals ------------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return ",".join(self._bus.bootstrap) if self._bus is not None else "the broker"

    def _new_client(self) -> KafkaProducer | None:
        assert self._bus is not None
        try:
            return self._bus.producer()
        except (BrokerError, KafkaError) as e:
            _log.warning("producer.unavailable", bootstrap=self._where, error=str(e))
            return None

    def _hand_over(self, pending: _Pending) -> None:
        """Give one message to the client; on failure keep it (future None) and stop trying this round."""
        pending.attempts += 1
        client = self._client
        if client is None:
            self._degraded = True
            pending.future = None
            return
        try:
            pending.future = client.send(
                pending.topic, key=pending.key, value=pending.value, partition=pending.partition
            )
        except KafkaError as e:
            # Typically the topic's metadata did not come within max_block_ms: the broker is away or
            # lost the topic. The next messages would each wait as long: keep them for the flush.
            self._degraded = True
            pending.future = e

    def _settle(self, acked: list[_Pending]) -> list[_Pending]:
        """Move acknowledged messages from the queue to ``acked``; return the failed ones.

        Messages the broker refuses outright are dropped (logged and counted) after a few attempts.
        """
        failed: list[_Pending] = []
        keep: list[_Pending] = []
        for p in self._pending:
            future = p.future
            if isinstance(future, BaseException) or future is None:
                failed.append(p)
                keep.append(p)
            elif not future.is_done:
                keep.append(p)
            elif future.failed():
                failed.append(p)
                keep.append(p)
            else:
                acked.append(p)
        refused = [p for p in failed if self._refused(p)]
        for p in refused:
            keep.remove(p)
            failed.remove(p)
        self._pending = keep
        return failed

    def _lost(self, acked: list[_Pending]) -> list[_Pending] | None:
        """Return the acknowledged messages whose topic is missing or was re-created since; None: cannot tell.

        See :mod:`monitor.bus.identity`: a restarted tansu acknowledges writes to topics it lost.
        """
        if not acked or self._identity is None:
            return []
        changed = self._identity.changed(p.topic for p in acked)
        if changed is None:
            return None  # the broker is away right after acknowledging: look again when it is back
        if not changed:
            return []
        lost = [p for p in acked if p.topic in changed]
        self._count("produce", len(lost))
        _log.warning(
            "producer.topic_recreated",
            topics=sorted(changed),
            messages=len(lost),
            why="the broker lost the topic after acknowledging (a restart); sending again",
        )
        self._recover(None, self._client, force=True)
        self._identity.remember(changed)
        return lost

    def _refused(self, p: _Pending) -> bool:
        error = p.future if isinstance(p.future, BaseException) else getattr(p.future, "exception", None)
        if not isinstance(error, _REFUSED) or p.attempts < _REFUSED_ATTEMPTS:
            return False
        self._count("produce_refused")
        _log.error(
            "producer.message_refused",
            topic=p.topic,
            key=p.key.decode("utf-8", "replace") if p.key else None,
            size=len(p.value),
            attempts=p.attempts,
            error=f"{type(error).__name__}: {error}",
        )
        return True

    def _resend(self, failed: list[_Pending]) -> None:
        first = failed[0].future
        error = first if isinstance(first, BaseException) else getattr(first, "exception", None)
        self._count("produce", len(failed))
        _log.warning(
            "producer.resending",
            messages=len(failed),
            topic=failed[0].topic,
            error=f"{type(error).__name__}: {error}" if error is not None else "not handed over",
        )
        self._recover(error, self._client)
        self._degraded = False
        for p in failed:
            if self._degraded:
                p.future = None
                continue
            self._hand_over(p)

    def _recover(
        self, error: BaseException | None, seen: KafkaProducer | None, *, force: bool = False
    ) -> None:
        """Make the next attempt worth it: re-create lost topics, and a client that cannot recover.

        ``seen`` is the client the failed attempt used: if another thread replaced it meanwhile, it is
        not replaced again.
        """
        if isinstance(error, _FATAL):
            self._replace_client(f"{type(error).__name__}: {error}", seen)
            return
        now = time.monotonic()
        with self._lock:
            if (now - self._last_recover < _RECOVER_EVERY_S and not force) or self._bus is None:
                return
            self._last_recover = now
        try:
            created = self._bus.ensure_topics(timeout_s=2.0)
        except BrokerError as e:
            _log.info("producer.broker_away", bootstrap=self._where, error=str(e))
            return
        if created:
            _log.warning("producer.topics_recreated", topics=created, why="the broker lost them (restarted?)")
            if self._metrics is not None:
                self._metrics.topics_recreated.inc(len(created))
        self._stuck_rounds += 1
        if created or self._stuck_rounds >= _STUCK_ROUNDS or self._client is None:
            # The broker answers yet our sends keep failing: start afresh with a client that has no
            # stale metadata, connections or producer state.
            why = "topics re-created" if created else "the broker is reachable but sends keep failing"
            self._replace_client(why, seen)
            self._stuck_rounds = 0

    def _replace_client(self, why: str, seen: KafkaProducer | None) -> KafkaProducer | None:
        if self._bus is None or self._closed:
            return self._client
        with self._replace_lock:
            if self._client is not seen:
                return self._client  # another thread replaced it already
            new = self._new_client()
            if new is None:
                return self._client
            with self._lock:
                old, self._client = self._client, new
        if self._metrics is not None:
            self._metrics.producers_replaced.inc()
        _log.warning("producer.replaced", why=why)
        if old is not None and self._owns_client:
            # In the background: its buffered records are aborted (their futures fail and are re-sent
            # through the new client) and closing must not hold up the caller.
            closer = threading.Thread(target=close_quietly, args=(old, 1.0), name="close-old", daemon=True)
            closer.start()
        self._owns_client = True
        return new

    def _count(self, operation: str, n: int = 1) -> None:
        if self._metrics is not None:
            self._metrics.bus_errors.labels(operation=operation).inc(n)
