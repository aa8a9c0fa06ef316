"""The alerter's state changelog: what a watchlist's events need, as records of a compacted Kafka topic.

The local SQLite outbox stays the store; every change of it that another alerter would need to carry
on a partition's watchlists (the reports folded into each event, each alert's latest revision, what
was delivered to which channel) is also written to a compacted topic, as Kafka Streams and
quix-streams do with their state stores. The topic is co-partitioned with ``matches``: a record about
a watchlist goes to the partition its matches go to, so the alerter that is handed a partition of
``matches`` restores that partition of the changelog first (``restore.py``), on whichever host.

Records are keyed so that compaction keeps what matters: one record per report, the latest revision
of each alert, the latest delivery of each alert on each channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from kafka.partitioner.default import murmur2

from monitor.models import Alert

__all__ = [
    "AlertRecord",
    "Changelog",
    "ReportRecord",
    "SentRecord",
    "StateRecord",
    "decode_record",
    "encode_record",
    "partition_of",
]


@dataclass(frozen=True)
class ReportRecord:
    """A Match folded into an event: what dedup needs to fold later reports of it."""

    match_id: str
    alert_id: str
    rule: str
    article_id: str
    event_time: datetime
    reason: str
    report: dict[str, Any]
    kind: Literal["report"] = "report"

    @property
    def key(self) -> str:
        """Return the compaction key: one record per Match."""
        return f"report/{self.match_id}"


@dataclass(frozen=True)
class AlertRecord:
    """The latest revision of an alert, and the alerts merged into it."""

    alert: Alert
    merged: tuple[str, ...] = ()
    kind: Literal["alert"] = "alert"

    @property
    def key(self) -> str:
        """Return the compaction key: the latest revision of each alert."""
        return f"alert/{self.alert.id}"


@dataclass(frozen=True)
class SentRecord:
    """A message about ``alert_id`` delivered on ``channel``: the next owner must not send it again."""

    alert_id: str
    rule: str
    channel: str
    group_key: str
    message_kind: str
    sent_at: datetime
    followups: int
    kind: Literal["sent"] = "sent"

    @property
    def key(self) -> str:
        """Return the compaction key: the latest delivery of each alert on each channel."""
        return f"sent/{self.alert_id}/{self.channel}"


StateRecord = ReportRecord | AlertRecord | SentRecord


class Changelog(Protocol):
    """Where the alerter writes its state changes (the compacted topic in production)."""

    def write(self, record: StateRecord, rule: str) -> None:
        """Queue ``record`` about watchlist ``rule`` for the changelog."""


def partition_of(rule: str, partitions: int) -> int:
    """Return the partition of ``matches`` that watchlist ``rule``'s matches go to.

    Matches are keyed by their rule and placed by Kafka's default partitioner (murmur2 of the key),
    so the same function places the watchlist's state on the same partition of the changelog.
    """
    return int(murmur2(rule.encode("utf-8")) & 0x7FFFFFFF) % partitions


def encode_record(record: StateRecord) -> bytes:
    """Return ``record`` as JSON bytes."""
    data: dict[str, Any]
    if isinstance(record, ReportRecord):
        data = {
            "kind": record.kind,
            "match_id": record.match_id,
            "alert_id": record.alert_id,
            "rule": record.rule,
            "article_id": record.article_id,
            "event_time": record.event_time.isoformat(),
            "reason": record.reason,
            "report": record.report,
        }
    elif isinstance(record, AlertRecord):
        data = {
            "kind": record.kind,
            "alert": record.alert.model_dump(mode="json"),
            "merged": list(record.merged),
        }
    else:
        data = {
            "kind": record.kind,
            "alert_id": record.alert_id,
            "rule": record.rule,
            "channel": record.channel,
            "group_key": record.group_key,
            "message_kind": record.message_kind,
            "sent_at": record.sent_at.isoformat(),
            "followups": record.followups,
        }
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def decode_record(value: bytes) -> StateRecord:
    """Return the record ``encode_record`` wrote.

    Raises:
        ValueError: not a changelog record (unknown kind, missing field).
    """
    try:
        data = json.loads(value)
        kind = data["kind"]
        if kind == "report":
            return ReportRecord(
                match_id=data["match_id"],
                alert_id=data["alert_id"],
                rule=data["rule"],
                article_id=data["article_id"],
                event_time=datetime.fromisoformat(data["event_time"]),
                reason=data["reason"],
                report=data["report"],
            )
        if kind == "alert":
            return AlertRecord(Alert.model_validate(data["alert"]), tuple(data["merged"]))
        if kind == "sent":
            return SentRecord(
                alert_id=data["alert_id"],
                rule=data["rule"],
                channel=data["channel"],
                group_key=data["group_key"],
                message_kind=data["message_kind"],
                sent_at=datetime.fromisoformat(data["sent_at"]),
                followups=int(data["followups"]),
            )
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"not an alert state record: {e}") from e
    raise ValueError(f"unknown alert state record kind {kind!r}; valid kinds are ['alert', 'report', 'sent']")
