"""changelog + restore: another alerter, with an outbox of its own, carries on where the first one stopped."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
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
from monitor.alerting.ownership import Ownership
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


class _Killed(BaseException):
    """The process dies (SIGKILL) right there: nothing after it runs."""


def test_a_kill_before_the_changelog_has_the_delivery_leaves_the_send_unconfirmed_in_the_outbox(
    tmp_path: Path, make_match: MakeMatch
) -> None:
    """The receiver accepted the message; the alerter dies before the broker has its SentRecord.

    The outbox must not say "sent" then: the next owner restores no delivery and sends again, so this
    host's outbox has to show the send as the unconfirmed window (leased, pending), not as done.
    """
    path = tmp_path / "outbox.sqlite3"
    desk = _Desk()

    class _DiesOnDelivery(_Log):
        def write(self, record: StateRecord, rule: str) -> None:
            if isinstance(record, SentRecord):
                raise _Killed
            super().write(record, rule)

    with Outbox(path) as outbox:
        alerter = Alerter(
            outbox, [desk], _metrics(), policy=POLICY, changelog=_DiesOnDelivery(), clock=lambda: T0
        )
        with pytest.raises(_Killed):
            alerter.handle(make_match())
    assert len(desk.sent) == 1, "the receiver accepted the message before the kill"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT state, lease_until FROM messages WHERE channel = 'desk'").fetchall()
    assert [state for state, _ in rows] == ["pending"]
    assert rows[0][1] is not None, "leased: the send was under way, not confirmed"


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


def _host(outbox: Outbox, desk: _Desk, log: _Log, clock: Callable[[], datetime]) -> tuple[Alerter, Ownership]:
    """Return an alerter that delivers only for the partitions its ``Ownership`` is given (3 partitions)."""
    owner = Ownership(3)
    alerter = Alerter(outbox, [desk], _metrics(), policy=POLICY, changelog=log, clock=clock, ownership=owner)
    return alerter, owner


def test_an_alerter_sends_nothing_for_a_watchlist_whose_partition_it_does_not_own(
    tmp_path: Path, make_match: MakeMatch
) -> None:
    log, desk = _Log(), _Desk()
    with Outbox(tmp_path / "host-a.sqlite3") as outbox:
        alerter, owner = _host(outbox, desk, log, lambda: T0)
        alert = alerter.handle(make_match())
        assert alert is not None
        alerter.tick()
        assert desk.sent == []
        assert alerter.hand_over() == 1
        stored = outbox.get(alert.id)
        assert stored is not None
        assert stored.state == "handed_over"
        assert outbox.pending_count() == 0  # parked, not pending: the gauge ops watch stays quiet

        taken, adopted = alerter.assign([owner.partition(alert.rule)])
        assert (taken, adopted) == (1, 0)
        alerter.tick()
        assert [n.kind for n in desk.sent] == ["new"]
        assert not any(isinstance(r, SentRecord) for r, _ in log.records[:-1])
        assert isinstance(log.records[-1][0], SentRecord)  # the delivery reaches the changelog


def test_a_new_owner_sends_the_first_message_its_creator_never_confirmed_and_only_once(
    tmp_path: Path, make_match: MakeMatch
) -> None:
    """Host A folds the report and is killed before it sends; host B, handed the partition, sends it.

    When the partition comes back to A, B's delivery (from the changelog) cancels A's parked message.
    """
    log, desk_a, desk_b = _Log(), _Desk(), _Desk()
    with Outbox(tmp_path / "host-a.sqlite3") as a, Outbox(tmp_path / "host-b.sqlite3") as b:
        host_a, owner_a = _host(a, desk_a, log, lambda: T0)
        alert = host_a.handle(make_match())  # A does not own the partition (yet): nothing sent
        assert alert is not None
        partition = owner_a.partition(alert.rule)

        host_b, _ = _host(b, desk_b, log, lambda: T0 + timedelta(seconds=30))
        for record, _ in list(log.records):
            apply_record(b, record)
        assert host_b.assign([partition], [alert.id]) == (0, 1)
        assert host_b.assign([partition], [alert.id]) == (0, 0)  # restored twice: still one message
        host_b.tick()
        assert [(n.kind, n.alerts[0].id) for n in desk_b.sent] == [("new", alert.id)]

        host_a.hand_over()
        for record, _ in list(log.records):  # the partition moves back to A: it restores B's delivery
            apply_record(a, record)
        host_a.assign([partition], [alert.id])
        host_a.tick()
        assert desk_a.sent == []
        stored = a.get(alert.id)
        assert stored is not None
        assert stored.deliveries["desk"].state == "sent"


def test_an_alert_older_than_the_dedup_window_is_not_adopted(tmp_path: Path, make_match: MakeMatch) -> None:
    log, desk_a, desk_b = _Log(), _Desk(), _Desk()
    with Outbox(tmp_path / "host-a.sqlite3") as a, Outbox(tmp_path / "host-b.sqlite3") as b:
        host_a, _ = _host(a, desk_a, log, lambda: T0)
        alert = host_a.handle(make_match())
        assert alert is not None
        later = alert.created_at + POLICY.dedup.window + timedelta(minutes=1)
        host_b, owner_b = _host(b, desk_b, log, lambda: later)
        for record, _ in list(log.records):
            apply_record(b, record)
        assert host_b.assign([owner_b.partition(alert.rule)], [alert.id]) == (0, 0)
