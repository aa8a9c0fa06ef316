"""The dead-letter topic: where a message that cannot be handled goes, with the reason, so nothing is lost."""

from __future__ import annotations

import base64
import json

from kafka import KafkaProducer

from monitor.bus.producer import ResilientProducer
from monitor.bus.records import DeadLetterRecord
from monitor.models import utcnow

__all__ = ["DeadLetter", "deadletter_record"]


def deadletter_record(failed: DeadLetterRecord) -> bytes:
    """Return the JSON envelope of a failed message: where it came from, why it failed, and the message.

    The original value is kept as text when it is UTF-8 (readable by ops) and as base64 otherwise, so it
    can be replayed byte for byte.
    """
    key, value = failed.key, failed.value
    record: dict[str, object] = {
        "topic": failed.topic,
        "partition": failed.partition,
        "offset": failed.offset,
        "key": key.decode("utf-8", "replace") if key else None,
        "reason": failed.reason,
        "error": failed.error,
        "failed_at": utcnow().isoformat(),
    }
    if value is not None:
        try:
            record["value"] = value.decode("utf-8")
        except UnicodeDecodeError:
            record["value_base64"] = base64.b64encode(value).decode("ascii")
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


class DeadLetter:
    """Send failed messages to the dead-letter topic and wait for the broker's acknowledgement.

    A consumer loop does not call :meth:`send`: it queues its dead letters with the rest of its batch's
    output (see :class:`monitor.bus.consumer.ConsumerLoop`) and only uses :attr:`topic`.
    """

    def __init__(
        self, producer: KafkaProducer | ResilientProducer, topic: str, timeout_s: float = 30.0
    ) -> None:
        self._producer = ResilientProducer.wrap(producer)
        self.topic = topic
        self._timeout_s = timeout_s

    def send(self, failed: DeadLetterRecord) -> None:
        """Store one failed message, retrying while the broker is away.

        Raises:
            BrokerError: not acknowledged within the timeout; the caller keeps the message and tries later.
        """
        payload = deadletter_record(failed)
        self._producer.send_and_wait(self.topic, key=failed.key, value=payload, timeout_s=self._timeout_s)
