"""Restore partitions of the alert state changelog into the local outbox when they are assigned.

Kafka Streams and quix-streams restore a task's state store from its changelog before the task
processes a record; so does the alerter: when the group hands it partitions of ``matches``, it reads
the same partitions of the changelog from their beginning to their end and applies every record to
its SQLite outbox, then rebuilds its dedup index. Records are applied idempotently (a report already
known is kept, an alert revision is replaced, a delivery is recorded once), so restoring a partition
this alerter owned before, or twice, changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from monitor.alerting.changelog import AlertRecord, ReportRecord, StateRecord, decode_record
from monitor.alerting.outbox import Outbox
from monitor.errors import BrokerError
from monitor.logs import get_logger
from monitor.models import utcnow

__all__ = ["Restored", "apply_record", "restore_partitions"]

_log = get_logger(__name__)


@dataclass(frozen=True)
class Restored:
    """What one restore applied: records per kind, and the partitions read."""

    partitions: tuple[int, ...]
    reports: int
    alerts: int
    sent: int
    seconds: float
    #: The alerts whose revisions were applied (``Alerter.adopt`` looks at their first messages).
    alert_ids: tuple[str, ...] = ()


def apply_record(outbox: Outbox, record: StateRecord) -> None:
    """Apply one changelog record to ``outbox``."""
    now = utcnow()
    if isinstance(record, ReportRecord):
        outbox.restore_report(
            record.match_id,
            record.alert_id,
            record.rule,
            record.article_id,
            record.event_time,
            record.reason,
            record.report,
            now,
        )
    elif isinstance(record, AlertRecord):
        outbox.restore_alert(record.alert, record.merged, now)
    else:
        outbox.restore_sent(
            record.alert_id,
            record.channel,
            record.group_key,
            record.message_kind,
            record.sent_at,
            record.followups,
        )


def restore_partitions(
    consumer_factory: Callable[[], KafkaConsumer],
    topic: str,
    partitions: Iterable[int],
    outbox: Outbox,
    timeout_s: float = 60.0,
) -> Restored:
    """Read ``partitions`` of ``topic`` from the beginning to their end and apply them to ``outbox``.

    Raises:
        BrokerError: the end was not reached within ``timeout_s`` (the partitions must then not be
            processed: the state would be incomplete).
    """
    started = time.monotonic()
    wanted = sorted(set(partitions))
    counts = {"report": 0, "alert": 0, "sent": 0}
    alert_ids: dict[str, None] = {}
    if not wanted:
        return Restored((), 0, 0, 0, 0.0)
    consumer = consumer_factory()
    try:
        tps = [TopicPartition(topic, p) for p in wanted]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        # tansu reports the end low (the start of the last batch + 1); a fetch returns whole batches,
        # so reaching it means the last batch was read whole.
        end = consumer.end_offsets(tps)
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() - started > timeout_s:
                raise BrokerError(f"restoring {topic} {wanted} did not reach the end within {timeout_s:g} s")
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    value = getattr(record, "value")  # noqa: B009 - kafka-python's record is untyped
                    if value is None:  # a tombstone
                        continue
                    try:
                        decoded = decode_record(value)
                    except ValueError as e:
                        _log.warning("alert.state_record_skipped", topic=topic, error=str(e))
                        continue
                    apply_record(outbox, decoded)
                    counts[decoded.kind] += 1
                    if isinstance(decoded, AlertRecord):
                        alert_ids[decoded.alert.id] = None
    except (KafkaError, KeyError) as e:
        # KeyError: kafka-python's end_offsets for a partition the topic does not have (a re-created
        # topic with fewer partitions than matches after an embedded broker restart).
        raise BrokerError(f"cannot restore {topic} {wanted}: {type(e).__name__}: {e}") from e
    finally:
        try:
            consumer.close(autocommit=False)
        except KafkaError as e:
            _log.debug("alert.state_restore_close_failed", error=str(e))
    return Restored(
        tuple(wanted),
        counts["report"],
        counts["alert"],
        counts["sent"],
        time.monotonic() - started,
        tuple(alert_ids),
    )
