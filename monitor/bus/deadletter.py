"""The dead-letter topic: where a message that cannot be handled goes, with the reason, so nothing is lost."""

from __future__ import annotations

import base64
import json

from kafka import KafkaProducer

from monitor.models import utcnow

__all__ = ["DeadLetter", "deadletter_record"]


def deadletter_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    error: str,
) -> bytes:
    """Return the JSON envelope of a failed message: where it came from, why it failed, and the message.

    The original value is kept as text when it is UTF-8 (readable by ops) and as base64 otherwise, so it
    can be replayed byte for byte.
    """
    record: dict[str, object] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode("utf-8", "replace") if key else None,
        "reason": reason,
        "error": error,
        "failed_at": utcnow().isoformat(),
    }
    if value is not None:
        try:
            record["value"] = value.decode("utf-8")
        except UnicodeDecodeError:
            record["value_base64"] = base64.b64encode(value).decode("ascii")
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


class DeadLetter:
    """Send failed messages to the dead-letter topic and wait for the broker's acknowledgement."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self._producer = producer
        self.topic = topic

    def send(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason: str,
        error: str,
    ) -> None:
        """Store one failed message; raise if the broker refuses it (the offset then stays uncommitted)."""
        payload = deadletter_record(
            topic=topic, partition=partition, offset=offset, key=key, value=value, reason=reason, error=error
        )
        self._producer.send(self.topic, key=key, value=payload).get(timeout=30)
