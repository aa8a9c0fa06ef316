"""The bus edge, typed: what the consumer loop reads of a message, and what it sends to the dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["ConsumedRecord", "DeadLetterReason", "DeadLetterRecord"]

DeadLetterReason = Literal["invalid_message", "handler_error", "delivery_failed"]


class ConsumedRecord(Protocol):
    """The fields of a consumed message the bus uses; kafka-python's untyped ``ConsumerRecord`` has them."""

    @property
    def topic(self) -> str:
        """Return the topic it was read from."""

    @property
    def partition(self) -> int:
        """Return its partition."""

    @property
    def offset(self) -> int:
        """Return its offset in the partition."""

    @property
    def key(self) -> bytes | None:
        """Return its key."""

    @property
    def value(self) -> bytes | None:
        """Return its value."""


@dataclass(frozen=True)
class DeadLetterRecord:
    """A message that could not be handled: where it came from, the bytes, and why.

    ``partition`` is -1 and ``offset`` the outbox's message id for an alert given up after its last
    delivery attempt (``topic`` is then ``outbox:<channel>``).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: DeadLetterReason
    error: str

    @classmethod
    def of(cls, record: ConsumedRecord, reason: DeadLetterReason, error: str) -> DeadLetterRecord:
        """Return the dead letter of a consumed ``record``."""
        return cls(record.topic, record.partition, record.offset, record.key, record.value, reason, error)
