"""outbox.Outbox: the dedup key, delivery state, pending alerts, and a restart in between."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.alerting.build import alert_from_match
from monitor.alerting.outbox import Outbox
from monitor.models import Alert, Match

MakeMatch = Callable[..., Match]


def _alert(make_match: MakeMatch, n: int = 0) -> Alert:
    return alert_from_match(make_match(url=f"https://news.example.org/a/{n}"))


def test_add_is_the_duplicate_check(tmp_path: Path, make_match: MakeMatch) -> None:
    with Outbox(tmp_path / "deep" / "outbox.sqlite3") as outbox:
        alert = _alert(make_match)
        assert outbox.add(alert, ["console"]) is True
        assert outbox.add(alert, ["console"]) is False
        assert [s.alert for s in outbox.list_alerts()] == [alert]


def test_alert_is_pending_until_every_channel_delivered(tmp_path: Path, make_match: MakeMatch) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        alert = _alert(make_match)
        outbox.add(alert, ["log", "apprise"])
        stored = outbox.get(alert.id)
        assert stored is not None
        assert {n: d.state for n, d in stored.deliveries.items()} == {"apprise": "pending", "log": "pending"}
        assert outbox.pending() == [alert]  # stored before any send: a crash here loses nothing

        outbox.record_delivery(alert.id, "log", ok=True, detail="")
        outbox.record_delivery(alert.id, "apprise", ok=False, detail="smtp refused")
        stored = outbox.get(alert.id)
        assert stored is not None
        assert stored.pending_channels == ["apprise"]
        assert stored.deliveries["apprise"].state == "failed"
        assert stored.deliveries["apprise"].detail == "smtp refused"
        assert outbox.pending() == [alert]

        outbox.record_delivery(alert.id, "apprise", ok=True, detail="")
        stored = outbox.get(alert.id)
        assert stored is not None
        assert stored.deliveries["apprise"].attempts == 2
        assert stored.deliveries["apprise"].state == "sent"
        assert outbox.pending() == []


def test_state_survives_reopen(tmp_path: Path, make_match: MakeMatch) -> None:
    path = tmp_path / "outbox.sqlite3"
    sent, failed = _alert(make_match, 1), _alert(make_match, 2)
    with Outbox(path) as outbox:
        for alert in (sent, failed):
            outbox.add(alert, ["apprise"])
        outbox.record_delivery(sent.id, "apprise", ok=True)
        outbox.record_delivery(failed.id, "apprise", ok=False, detail="down")
    with Outbox(path) as outbox:
        assert outbox.pending() == [failed]
        assert outbox.add(sent) is False
        stored = outbox.get(failed.id)
        assert stored is not None
        assert stored.alert == failed
        assert stored.deliveries["apprise"].detail == "down"


def test_get_unknown_and_list_limit(tmp_path: Path, make_match: MakeMatch) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        assert outbox.get("nope") is None
        for n in range(3):
            outbox.add(_alert(make_match, n), ["log"])
        assert len(outbox.list_alerts()) == 3
        newest = outbox.list_alerts(limit=1)
        assert len(newest) == 1
        assert list(newest[0].deliveries) == ["log"]
        assert newest[0].stored_at > datetime.now(UTC) - timedelta(minutes=1)


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    Outbox(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_concurrent_adds_store_one_alert(tmp_path: Path, make_match: MakeMatch) -> None:
    alert = _alert(make_match)
    results: list[bool] = []
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        start = threading.Barrier(8)

        def add() -> None:
            start.wait()
            results.append(outbox.add(alert, ["log"]))

        threads = [threading.Thread(target=add) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(results) == [False] * 7 + [True]
