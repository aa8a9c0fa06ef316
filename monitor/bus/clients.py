"""What to do with a kafka-python client in trouble: which errors it cannot recover from, how to close it."""

from __future__ import annotations

import contextlib

from kafka import KafkaProducer
from kafka.errors import (
    AuthorizationError,
    CorruptRecordError,
    IllegalStateError,
    InvalidProducerEpochError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumberError,
    ProducerFencedError,
    UnknownProducerIdError,
)

from monitor.logs import get_logger

__all__ = ["FATAL", "REFUSED", "close_quietly"]

_log = get_logger(__name__)

# The client is wedged (an idempotent or transactional state the broker no longer knows): replace it.
FATAL: tuple[type[KafkaError], ...] = (
    OutOfOrderSequenceNumberError,
    UnknownProducerIdError,
    InvalidProducerEpochError,
    ProducerFencedError,
    IllegalStateError,
)
# The broker refuses this very message: sending it again cannot help, and retrying for ever would stall
# the stage behind it. Given up after a few attempts, loudly.
REFUSED: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    CorruptRecordError,
    InvalidTopicError,
    AuthorizationError,
)


def close_quietly(producer: KafkaProducer, timeout_s: float) -> None:
    """Close a kafka-python producer within ``timeout_s`` even if the broker is away.

    ``KafkaProducer.close`` flushes first and raises when that times out, leaving its sender thread
    running; a stage stopping during an outage must not crash on that, nor leave the thread behind.
    Whatever it still held is dropped: our callers only close once their input is left uncommitted.
    """
    try:
        producer.close(timeout=timeout_s)
        return
    except KafkaError as e:
        _log.warning("producer.close_timed_out", timeout_s=timeout_s, error=str(e))
    sender = getattr(producer, "_sender", None)  # kafka-python has no public "abort": its internals
    if sender is not None:
        sender.force_close()
    # The sender is stopped; the accumulator's aborted batches are all that is left.
    with contextlib.suppress(KafkaError):
        producer.close(timeout=0.5)
