"""outbox.Outbox: alerts and their messages stored together, leased sends, groups, merges, restarts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerting.build import alert_from_match, attach
from monitor.alerting.grouping import GroupPolicy
from monitor.alerting.outbox import Outbox, StoredReport
from monitor.alerting.silences import new_silence
from monitor.models import Alert, Match
from tests.fixtures.matches import MakeMatch

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
POLICY = GroupPolicy(group_wait=timedelta(seconds=30), group_interval=timedelta(minutes=5), followups=1)


def _alert(make_match: MakeMatch, n: int = 0) -> Alert:
    return alert_from_match(make_match(url=f"https://news.example.org/a/{n}"))


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "deep" / "outbox.sqlite3")


def _report(match: Match) -> StoredReport:
    return StoredReport(match.id, match.rule, match.article.id, NOW, "new event", {"match_id": match.id})


def test_a_new_alert_waits_group_wait_on_every_channel(outbox: Outbox, make_match: MakeMatch) -> None:
    match = make_match()
    alert = alert_from_match(match)
    outbox.record(
        alert, now=NOW, change="new", channels=["log", "desk"], policy=POLICY, report=_report(match)
    )
    assert outbox.has_match(match.id)
    assert outbox.due(NOW) == []
    due = outbox.due(NOW + timedelta(seconds=30))
    assert [(d.channel, d.kind, d.alert_ids) for d in due] == [
        ("log", "new", (alert.id,)),
        ("desk", "new", (alert.id,)),
    ]
    assert outbox.pending() == [alert]
    assert outbox.pending_count() == 1


def test_a_leased_message_is_not_handed_out_twice(outbox: Outbox, make_match: MakeMatch) -> None:
    outbox.record(_alert(make_match), now=NOW, change="new", channels=["desk"], policy=GroupPolicy())
    (due,) = outbox.due(NOW)
    assert outbox.claim(due.id, NOW, NOW + timedelta(minutes=5))
    assert not outbox.claim(due.id, NOW, NOW + timedelta(minutes=5))
    assert outbox.due(NOW) == []
    assert outbox.due(NOW + timedelta(minutes=6))[0].id == due.id  # a dead sender's lease runs out


def test_a_later_source_is_one_followup_after_group_interval(outbox: Outbox, make_match: MakeMatch) -> None:
    alert = _alert(make_match)
    outbox.record(alert, now=NOW, change="new", channels=["desk"], policy=POLICY)
    (first,) = outbox.due(NOW + timedelta(seconds=30))
    outbox.sent(first.id, NOW + timedelta(seconds=30))
    updated = attach(alert, make_match(url="https://other.example.net/b"))
    outbox.record(updated, now=NOW + timedelta(minutes=1), change="update", channels=["desk"], policy=POLICY)
    assert outbox.due(NOW + timedelta(minutes=5)) == []
    (followup,) = outbox.due(NOW + timedelta(minutes=5, seconds=30))
    assert followup.kind == "followup"
    again = attach(updated, make_match(url="https://third.example.com/c"))
    outbox.record(again, now=NOW + timedelta(minutes=2), change="update", channels=["desk"], policy=POLICY)
    assert len(outbox.due(NOW + timedelta(hours=1))) == 1  # the open follow-up shows it; no second one
    assert outbox.alert(alert.id) == again


def test_alerts_of_a_burst_share_one_digest_when_grouped_by_rule(
    outbox: Outbox, make_match: MakeMatch
) -> None:
    policy = GroupPolicy(group_by=("rule",), group_wait=timedelta(seconds=30))
    for n in range(3):
        outbox.record(_alert(make_match, n), now=NOW, change="new", channels=["desk"], policy=policy)
    (digest,) = outbox.due(NOW + timedelta(seconds=30))
    assert len(digest.alert_ids) == 3


def test_failures_retry_then_give_up(outbox: Outbox, make_match: MakeMatch) -> None:
    alert = _alert(make_match)
    outbox.record(alert, now=NOW, change="new", channels=["desk", "log"], policy=GroupPolicy())
    desk, log = outbox.due(NOW)
    outbox.sent(log.id, NOW)
    outbox.failed(desk.id, NOW, "smtp down", NOW + timedelta(seconds=30))
    stored = outbox.get(alert.id)
    assert stored is not None
    assert stored.pending_channels == ["desk"]
    assert stored.deliveries["desk"].state == "retrying"
    assert stored.deliveries["desk"].detail == "smtp down"
    assert stored.state == "pending"
    assert outbox.due(NOW + timedelta(seconds=29)) == []
    outbox.failed(desk.id, NOW, "smtp still down", None)
    stored = outbox.get(alert.id)
    assert stored is not None
    assert stored.state == "failed"
    assert stored.pending_channels == []
    assert outbox.pending() == []


def test_a_merged_alert_loses_its_unsent_messages(outbox: Outbox, make_match: MakeMatch) -> None:
    first, second = _alert(make_match, 1), _alert(make_match, 2)
    for alert in (first, second):
        outbox.record(alert, now=NOW, change="new", channels=["desk"], policy=POLICY)
    outbox.record(first, now=NOW, change="update", channels=["desk"], policy=POLICY, merged=[second.id])
    assert outbox.alert(second.id) == first
    due = outbox.due(NOW + timedelta(minutes=1))
    assert [d.alert_ids for d in due] == [(first.id,)]
    stored = outbox.get(second.id)
    assert stored is not None
    assert stored.merged_into == first.id
    assert stored.state == "merged"


def test_news_of_an_alert_whose_first_message_failed_joins_that_message(
    outbox: Outbox, make_match: MakeMatch
) -> None:
    """The retry is rendered when sent, so it carries the news: no follow-up right behind it."""
    alert = _alert(make_match)
    outbox.record(alert, now=NOW, change="new", channels=["desk"], policy=POLICY)
    (first,) = outbox.due(NOW + timedelta(minutes=1))
    outbox.failed(first.id, NOW, "smtp down", NOW + timedelta(seconds=30))
    outbox.record(alert, now=NOW + timedelta(seconds=10), change="update", channels=["desk"], policy=POLICY)
    assert [d.id for d in outbox.due(NOW + timedelta(hours=1))] == [first.id]
    outbox.sent(first.id, NOW + timedelta(seconds=40))
    # News after the delivered message waits group_interval from the delivery.
    outbox.record(alert, now=NOW + timedelta(seconds=50), change="update", channels=["desk"], policy=POLICY)
    assert outbox.due(NOW + timedelta(seconds=40) + POLICY.group_interval - timedelta(seconds=1)) == []
    (followup,) = outbox.due(NOW + timedelta(seconds=40) + POLICY.group_interval)
    assert followup.kind == "followup"


def test_a_merged_alert_loses_its_failed_first_message(outbox: Outbox, make_match: MakeMatch) -> None:
    first, second = _alert(make_match, 1), _alert(make_match, 2)
    for alert in (first, second):
        outbox.record(alert, now=NOW, change="new", channels=["desk"], policy=POLICY)
    for due in outbox.due(NOW + timedelta(minutes=1)):
        outbox.failed(due.id, NOW, "smtp down", NOW + timedelta(seconds=30))
    outbox.record(first, now=NOW, change="update", channels=["desk"], policy=POLICY, merged=[second.id])
    assert [d.alert_ids for d in outbox.due(NOW + timedelta(minutes=1))] == [(first.id,)]


def test_postpone_is_not_an_attempt(outbox: Outbox, make_match: MakeMatch) -> None:
    outbox.record(_alert(make_match), now=NOW, change="new", channels=["tg"], policy=GroupPolicy())
    (due,) = outbox.due(NOW)
    outbox.postpone(due.id, NOW + timedelta(seconds=5), "429")
    assert outbox.due(NOW) == []
    assert outbox.due(NOW + timedelta(seconds=5))[0].attempts == 0


def test_state_survives_reopen(tmp_path: Path, make_match: MakeMatch) -> None:
    path = tmp_path / "outbox.sqlite3"
    match = make_match()
    with Outbox(path) as box:
        box.record(
            alert_from_match(match),
            now=NOW,
            change="new",
            channels=["desk"],
            policy=GroupPolicy(),
            report=_report(match),
        )
    with Outbox(path) as box:
        assert box.has_match(match.id)
        assert [d.channel for d in box.due(None)] == ["desk"]
        assert box.reports() == [({"match_id": match.id}, alert_from_match(match).id)]
        assert box.newest_event_time() == NOW


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    Outbox(tmp_path / "o.sqlite3").close()
    with sqlite3.connect(tmp_path / "o.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_silences_are_stored_listed_and_expired(outbox: Outbox) -> None:
    silence = new_silence(NOW, timedelta(hours=2), rule="leaders_*", comment="summit week")
    outbox.add_silence(silence)
    assert outbox.silences() == [silence]
    assert outbox.expire_silence(silence.id, NOW + timedelta(minutes=5))
    (expired,) = outbox.silences()
    assert not expired.active(NOW + timedelta(minutes=6))
    assert not outbox.expire_silence("nope", NOW)


def test_an_outbox_of_the_walking_skeleton_keeps_its_undelivered_alerts(
    tmp_path: Path, make_match: MakeMatch
) -> None:
    path = tmp_path / "old.sqlite3"
    alert = _alert(make_match)
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE alerts (
                id TEXT PRIMARY KEY, rule TEXT NOT NULL, stored_at TEXT NOT NULL, alert_json TEXT NOT NULL);
            CREATE TABLE deliveries (
                alert_id TEXT NOT NULL, channel TEXT NOT NULL, ok INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '',
                updated_at TEXT NOT NULL, PRIMARY KEY (alert_id, channel));
            """
        )
        conn.execute(
            "INSERT INTO alerts VALUES (?, ?, ?, ?)", (alert.id, alert.rule, "x", alert.model_dump_json())
        )
        conn.execute("INSERT INTO deliveries VALUES (?, 'apprise', 0, 1, 'down', 'x')", (alert.id,))
        conn.execute("INSERT INTO deliveries VALUES (?, 'log', 1, 1, '', 'x')", (alert.id,))
    with Outbox(path) as box:
        assert [(d.channel, d.alert_ids) for d in box.due(None)] == [("apprise", (alert.id,))]
