"""changelog + restore: another alerter, with an outbox of its own, carries on where the first one stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.alerting.changelog import (
    AlertRecord,
    ReportRecord,
    SentRecord,
    StateRecord,
    decode_record,
    encode_record,
    partition_of,
)
from monitor.alerting.grouping import GroupPolicy
from monitor.alerting.notification import Notification
from monitor.alerting.outbox import Outbox
from monitor.alerting.restore import apply_record
from monitor.alerting.service import Alerter, AlertPolicy
from monitor.metrics import Metrics
from tests.fixtures.matches import MakeMatch

T0 = datetime(2026, 3, 4, 9, 40, tzinfo=UTC)
POLICY = AlertPolicy(groups=GroupPolicy(group_wait=timedelta(0), group_interval=timedelta(minutes=5)))


class _Desk:
    name = "desk"
    receiver = "desk"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, note: Notification) -> None:
        self.sent.append(note)


class _Log:
    """The changelog topic: every record in order, as the restore reads it back."""

    def __init__(self) -> None:
        self.records: list[tuple[StateRecord, str]] = []

    def write(self, record: StateRecord, rule: str) -> None:
        self.records.append((decode_record(encode_record(record)), rule))


def test_a_handled_match_writes_its_report_its_alert_and_its_delivery(
    tmp_path: Path, make_match: MakeMatch
) -> None:
    log, desk = _Log(), _Desk()
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        Alerter(outbox, [desk], _metrics(), policy=POLICY, changelog=log, clock=lambda: T0).handle(
            make_match()
        )
    kinds = [type(r) for r, _ in log.records]
    assert kinds == [ReportRecord, AlertRecord, SentRecord]
    for record, rule in log.records:
        assert rule == "leaders_meeting"
        assert decode_record(encode_record(record)) == record


def _metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def test_an_unknown_record_names_the_valid_kinds() -> None:
    with pytest.raises(ValueError, match=r"valid kinds are \['alert', 'report', 'sent'\]"):
        decode_record(b'{"kind": "lease"}')


def test_the_changelog_partition_is_the_watchlist_partition_of_matches() -> None:
    # Kafka's default partitioner (murmur2 of the key), as kafka-python applies it to matches keyed by rule.
    from kafka.partitioner.default import murmur2

    for rule in ("leaders_meeting", "military_parade", "x"):
        assert partition_of(rule, 6) == (murmur2(rule.encode()) & 0x7FFFFFFF) % 6


def test_a_successor_restored_from_the_changelog_does_not_alert_the_event_again(
    tmp_path: Path, make_match: MakeMatch
) -> None:
    log, first_desk, next_desk = _Log(), _Desk(), _Desk()
    with Outbox(tmp_path / "host-a.sqlite3") as a:
        first = Alerter(a, [first_desk], _metrics(), policy=POLICY, changelog=log, clock=lambda: T0)
        alert = first.handle(make_match())
    assert alert is not None
    assert [n.kind for n in first_desk.sent] == ["new"]

    with Outbox(tmp_path / "host-b.sqlite3") as b:
        for record, _ in log.records:
            apply_record(b, record)
        for record, _ in log.records:  # a second restore (the partition moved back and forth) changes nothing
            apply_record(b, record)
        now = T0 + timedelta(minutes=1)
        successor = Alerter(b, [next_desk], _metrics(), policy=POLICY, changelog=log, clock=lambda: now)
        assert successor.handle(make_match()) is None  # the same match again: known
        joined = successor.handle(make_match(url="https://daily.example.net/verin-kalm"))
        assert joined is not None
        assert joined.id == alert.id
        successor.tick()
        assert next_desk.sent == []  # the first host sent "new"; the follow-up waits group_interval
        now = T0 + timedelta(minutes=5)
        successor.tick()
        assert [n.kind for n in next_desk.sent] == ["followup"]
        stored = b.get(alert.id)
        assert stored is not None
        assert stored.deliveries["desk"].state == "sent"
