"""The SQLite outbox: alerts, the reports folded into them, and every message to send, stored before any send.

Each message is one notification to one channel (one URL of one receiver) with its own state, due
time, attempts and lease, so a retry never sends again through a channel that already delivered it,
and a restarted alerter sends exactly what was left undelivered. A change of an alert (a new alert,
a later source, an escalation, a merge) is written with the messages it schedules in one
transaction: a crash leaves either all of it or none of it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.alerting.grouping import GroupPolicy, GroupState, group_key, plan
from monitor.alerting.silences import Silence
from monitor.models import Alert, utcnow

__all__ = ["ChannelState", "Due", "Outbox", "StoredAlert"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id         TEXT PRIMARY KEY,
    rule       TEXT NOT NULL,
    stored_at  TEXT NOT NULL,
    alert_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS merged (
    alert_id  TEXT PRIMARY KEY,
    into_id   TEXT NOT NULL,
    merged_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    match_id    TEXT PRIMARY KEY,
    alert_id    TEXT NOT NULL,
    rule        TEXT NOT NULL,
    article_id  TEXT NOT NULL,
    event_time  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    report_json TEXT NOT NULL,
    stored_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_alert ON reports(alert_id);
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL,
    group_key   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    changes     TEXT NOT NULL DEFAULT '[]',
    state       TEXT NOT NULL DEFAULT 'pending',
    due_at      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT '',
    lease_until TEXT,
    lease_owner TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages(due_at) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS message_alerts (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    alert_id   TEXT NOT NULL,
    PRIMARY KEY (message_id, alert_id)
);
CREATE INDEX IF NOT EXISTS message_alerts_alert ON message_alerts(alert_id);
CREATE TABLE IF NOT EXISTS groups (
    channel      TEXT NOT NULL,
    group_key    TEXT NOT NULL,
    last_sent_at TEXT NOT NULL,
    PRIMARY KEY (channel, group_key)
);
CREATE TABLE IF NOT EXISTS followups (
    alert_id TEXT NOT NULL,
    channel  TEXT NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (alert_id, channel)
);
CREATE TABLE IF NOT EXISTS silences (
    id           TEXT PRIMARY KEY,
    created_at   TEXT NOT NULL,
    silence_json TEXT NOT NULL
);
"""


def _ts(moment: datetime) -> str:
    """Return ``moment`` as fixed-width UTC text, so SQLite compares times as strings correctly."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dt(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class ChannelState:
    """The latest message of one alert on one channel."""

    channel: str
    state: str
    attempts: int
    detail: str
    updated_at: datetime

    @property
    def ok(self) -> bool:
        """Return whether the channel has delivered the alert."""
        return self.state == "sent"


@dataclass(frozen=True)
class StoredAlert:
    """An alert as the outbox holds it: its latest revision, where it went, why each article joined it."""

    alert: Alert
    stored_at: datetime
    deliveries: dict[str, ChannelState] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    merged_into: str | None = None

    @property
    def pending_channels(self) -> list[str]:
        """Return the channels that have not delivered this alert yet and still may."""
        return [name for name, d in self.deliveries.items() if d.state in ("pending", "retrying")]

    @property
    def state(self) -> str:
        """Return merged, failed (a channel gave up), pending, silenced or sent."""
        states = {d.state for d in self.deliveries.values()}
        if self.merged_into:
            return "merged"
        if "failed" in states:
            return "failed"
        if states & {"pending", "retrying"}:
            return "pending"
        if states and states <= {"silenced", "cancelled"}:
            return "silenced"
        return "sent" if "sent" in states else "pending"


@dataclass(frozen=True)
class Due:
    """A message whose time has come."""

    id: int
    channel: str
    kind: str
    alert_ids: tuple[str, ...]
    changes: tuple[str, ...]
    attempts: int
    group_key: str


class Outbox:
    """Alerts and their messages in one SQLite file (WAL), safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._closed = False
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._migrate()
        self.owner = _owner()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- alerts and reports ---------------------------------------------------------------------------

    def has_match(self, match_id: str) -> bool:
        """Return whether ``match_id`` was already folded into an alert (a re-delivered Match)."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM reports WHERE match_id = ?", (match_id,)).fetchone()
        return row is not None

    def alert(self, alert_id: str) -> Alert | None:
        """Return the latest revision of ``alert_id``, following merges to the alert that absorbed it."""
        with self._lock:
            for _ in range(100):  # merges form chains, never cycles; the bound is a guard
                row = self._conn.execute(
                    "SELECT into_id FROM merged WHERE alert_id = ?", (alert_id,)
                ).fetchone()
                if row is None:
                    break
                alert_id = row[0]
            found = self._conn.execute("SELECT alert_json FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return Alert.model_validate_json(found[0]) if found else None

    def record(
        self,
        alert: Alert,
        *,
        now: datetime,
        change: str,
        channels: Sequence[str],
        policy: GroupPolicy,
        report: tuple[str, str, str, datetime, str, dict[str, Any]] | None = None,
        changes: Sequence[str] = (),
        merged: Sequence[str] = (),
    ) -> None:
        """Store ``alert`` (new or a new revision) and schedule its messages on ``channels``, atomically.

        ``change`` is new, update or escalation (see ``grouping.plan``); ``report`` is (match id, rule,
        article id, event time, reason, report JSON) of the Match that caused it; ``merged`` are alerts
        found to be about the same event, folded into this one: their unsent messages are cancelled.
        """
        stamp = _ts(now)
        with self._transaction() as cur:
            cur.execute(
                """
                INSERT INTO alerts (id, rule, stored_at, alert_json) VALUES (?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET alert_json = excluded.alert_json
                """,
                (alert.id, alert.rule, stamp, alert.model_dump_json()),
            )
            if report is not None:
                match_id, rule, article_id, event_time, reason, data = report
                cur.execute(
                    "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (match_id, alert.id, rule, article_id, _ts(event_time), reason, json.dumps(data), stamp),
                )
            for other in merged:
                self._merge(cur, other, alert.id, stamp)
            key_of = group_key(alert, policy.group_by)
            for channel in channels:
                self._schedule(cur, alert.id, channel, key_of, change, changes, policy, now)

    def enqueue(self, alert_id: str, channels: Iterable[str], kind: str, now: datetime) -> list[int]:
        """Schedule a message of ``kind`` (resend, test) about ``alert_id`` on each channel, due now."""
        ids = []
        with self._transaction() as cur:
            for channel in channels:
                ids.append(self._insert(cur, channel, f"{kind}={alert_id}", kind, (), now, [alert_id]))
        return ids

    def repeat(self, message_id: int, due_at: datetime, now: datetime) -> int | None:
        """Schedule a reminder of message ``message_id`` (same channel and alerts) at ``due_at``.

        Returns its id, or None when the group already has a reminder waiting.
        """
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT channel, group_key FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return None
            waiting = cur.execute(
                """
                SELECT 1 FROM messages
                WHERE channel = ? AND group_key = ? AND kind = 'repeat' AND state = 'pending'
                """,
                (row[0], row[1]),
            ).fetchone()
            if waiting is not None:
                return None
            ids = [
                r[0]
                for r in cur.execute(
                    "SELECT alert_id FROM message_alerts WHERE message_id = ?", (message_id,)
                )
            ]
            return self._insert(cur, row[0], row[1], "repeat", (), due_at, ids, now)

    def get(self, alert_id: str) -> StoredAlert | None:
        """Return the stored alert ``alert_id`` with its deliveries, or None if unknown."""
        found = self._load("WHERE a.id = ?", (alert_id,))
        return found[0] if found else None

    def list_alerts(self, limit: int | None = None) -> list[StoredAlert]:
        """Return the stored alerts with their deliveries, newest first."""
        return self._load("ORDER BY a.stored_at DESC, a.id LIMIT ?", (-1 if limit is None else limit,))

    def pending(self) -> list[Alert]:
        """Return the alerts some channel has not delivered yet (and still may), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                """
                SELECT a.alert_json FROM alerts a WHERE a.id IN (
                    SELECT ma.alert_id FROM message_alerts ma JOIN messages m ON m.id = ma.message_id
                    WHERE m.state = 'pending')
                ORDER BY a.stored_at, a.id
                """
            ).fetchall()
        return [Alert.model_validate_json(j) for (j,) in rows]

    def pending_count(self) -> float:
        """Return how many alerts some channel has not delivered yet; NaN once the outbox is closed.

        A metrics scrape may come after the stage closed its outbox on the way out: it gets "unknown".
        """
        with self._lock:
            if self._closed:
                return float("nan")
            row = self._conn.execute(
                """
                SELECT count(DISTINCT ma.alert_id) FROM message_alerts ma
                JOIN messages m ON m.id = ma.message_id WHERE m.state = 'pending'
                """
            ).fetchone()
        return float(row[0])

    def reports(self, since: datetime | None = None) -> list[tuple[dict[str, Any], str]]:
        """Return the stored reports (JSON, alert id) whose event time is ``since`` or later, in order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT report_json, alert_id FROM reports WHERE event_time >= ? ORDER BY rowid",
                (_ts(since) if since else "",),
            ).fetchall()
        return [(json.loads(data), alert_id) for data, alert_id in rows]

    def newest_event_time(self) -> datetime | None:
        """Return the latest event time of any report (the dedup watermark after a restart)."""
        with self._lock:
            row = self._conn.execute("SELECT max(event_time) FROM reports").fetchone()
        return _dt(row[0]) if row and row[0] else None

    # -- messages ------------------------------------------------------------------------------------------

    def due(self, now: datetime | None, limit: int = 100) -> list[Due]:
        """Return pending messages due at ``now`` (all pending ones if None) and not leased, oldest first."""
        stamp = _ts(now or utcnow())
        where = "m.state = 'pending' AND (m.lease_until IS NULL OR m.lease_until < ?)"
        params: tuple[object, ...] = (stamp,)
        if now is not None:
            where += " AND m.due_at <= ?"
            params = (stamp, stamp)
        with self._lock:
            rows = self._conn.execute(
                f"""
                SELECT m.id, m.channel, m.kind, m.changes, m.attempts, m.group_key,
                       (SELECT json_group_array(alert_id) FROM message_alerts WHERE message_id = m.id)
                FROM messages m WHERE {where} ORDER BY m.due_at, m.id LIMIT ?
                """,  # noqa: S608 - the where clause is ours; values are bound
                (*params, limit),
            ).fetchall()
        return [
            Due(i, channel, kind, tuple(sorted(json.loads(ids))), tuple(json.loads(changes)), attempts, key)
            for i, channel, kind, changes, attempts, key, ids in rows
        ]

    def claim(self, message_id: int, now: datetime, until: datetime) -> bool:
        """Lease a pending message until ``until``; return False if another sender holds it."""
        with self._transaction() as cur:
            cur.execute(
                """
                UPDATE messages SET lease_until = ?, lease_owner = ?, updated_at = ?
                WHERE id = ? AND state = 'pending' AND (lease_until IS NULL OR lease_until < ?)
                """,
                (_ts(until), self.owner, _ts(now), message_id, _ts(now)),
            )
            return cur.rowcount == 1

    def release_orphaned_leases(self, now: datetime) -> int:
        """Release the leases held by processes of this host that no longer run; return how many.

        A sender killed mid-send (SIGKILL, OOM, power) leaves its lease behind, and the message would
        wait for the lease to expire (minutes) before anyone sends it. Whether the receiver got it is
        unknowable (SMTP cannot be asked), so it is sent again: at least once. Leases of live
        processes (``alerts resend`` running beside the alerter) and of other hosts are left alone.
        """
        with self._lock:
            owners = [
                row[0]
                for row in self._conn.execute(
                    "SELECT DISTINCT lease_owner FROM messages "
                    "WHERE state = 'pending' AND lease_until >= ? AND lease_owner IS NOT NULL",
                    (_ts(now),),
                )
            ]
        dead = [o for o in owners if o != self.owner and not _owner_alive(o)]
        released = 0
        for owner in dead:
            with self._transaction() as cur:
                cur.execute(
                    "UPDATE messages SET lease_until = NULL, lease_owner = NULL "
                    "WHERE state = 'pending' AND lease_owner = ?",
                    (owner,),
                )
                released += cur.rowcount
        return released

    def sent(self, message_id: int, now: datetime) -> None:
        """Record that the message was delivered; its group's interval starts now."""
        with self._transaction() as cur:
            cur.execute(
                """
                UPDATE messages SET state = 'sent', attempts = attempts + 1, detail = '', lease_until = NULL,
                       updated_at = ? WHERE id = ?
                """,
                (_ts(now), message_id),
            )
            cur.execute(
                """
                INSERT INTO groups (channel, group_key, last_sent_at)
                SELECT channel, group_key, ? FROM messages WHERE id = ?
                ON CONFLICT (channel, group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at
                """,
                (_ts(now), message_id),
            )

    def failed(self, message_id: int, now: datetime, detail: str, retry_at: datetime | None) -> None:
        """Record a failed attempt: due again at ``retry_at``, or given up (failed) when None."""
        with self._transaction() as cur:
            cur.execute(
                """
                UPDATE messages SET attempts = attempts + 1, detail = ?, lease_until = NULL, updated_at = ?,
                       state = ?, due_at = coalesce(?, due_at) WHERE id = ?
                """,
                (
                    detail,
                    _ts(now),
                    "pending" if retry_at else "failed",
                    _ts(retry_at) if retry_at else None,
                    message_id,
                ),
            )

    def postpone(self, message_id: int, until: datetime, detail: str = "") -> None:
        """Make the message due at ``until`` without counting an attempt (a rate limit, not a failure)."""
        with self._transaction() as cur:
            cur.execute(
                """
                UPDATE messages SET due_at = ?, lease_until = NULL, detail = ?
                WHERE id = ? AND state = 'pending'
                """,
                (_ts(until), detail, message_id),
            )

    def finish(self, message_id: int, state: str, detail: str, now: datetime) -> None:
        """Close the message without sending it: ``silenced`` or ``cancelled``, with why."""
        with self._transaction() as cur:
            cur.execute(
                "UPDATE messages SET state = ?, detail = ?, lease_until = NULL, updated_at = ? WHERE id = ?",
                (state, detail, _ts(now), message_id),
            )

    # -- restoring another alerter's state (see changelog.py) -------------------------------------------

    def followups_count(self, alert_id: str, channel: str) -> int:
        """Return how many follow-ups of ``alert_id`` were scheduled on ``channel``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT count FROM followups WHERE alert_id = ? AND channel = ?", (alert_id, channel)
            ).fetchone()
        return int(row[0]) if row else 0

    def restore_alert(self, alert: Alert, merged: Sequence[str], now: datetime) -> None:
        """Store ``alert``'s revision from another alerter, with the alerts merged into it."""
        stamp = _ts(now)
        with self._transaction() as cur:
            cur.execute(
                """
                INSERT INTO alerts (id, rule, stored_at, alert_json) VALUES (?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET alert_json = excluded.alert_json
                """,
                (alert.id, alert.rule, stamp, alert.model_dump_json()),
            )
            for other in merged:
                self._merge(cur, other, alert.id, stamp)

    def restore_report(
        self,
        match_id: str,
        alert_id: str,
        rule: str,
        article_id: str,
        event_time: datetime,
        reason: str,
        report: dict[str, Any],
        now: datetime,
    ) -> None:
        """Store a report another alerter folded into ``alert_id`` (kept if already known here)."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (match_id, alert_id, rule, article_id, _ts(event_time), reason, json.dumps(report), _ts(now)),
            )

    def restore_sent(
        self,
        alert_id: str,
        channel: str,
        group_key: str,
        kind: str,
        sent_at: datetime,
        followups: int,
    ) -> None:
        """Record that another alerter delivered a message about ``alert_id`` on ``channel`` at ``sent_at``.

        The group's interval runs from that delivery, and this outbox's own undelivered messages about
        the alert on that channel, stored before it, are cancelled: the other alerter said it all.
        """
        stamp = _ts(sent_at)
        with self._transaction() as cur:
            known = cur.execute(
                """
                SELECT 1 FROM messages m JOIN message_alerts ma ON ma.message_id = m.id
                WHERE ma.alert_id = ? AND m.channel = ? AND m.state = 'sent' AND m.updated_at >= ?
                """,
                (alert_id, channel, stamp),
            ).fetchone()
            if known is None:
                cur.execute(
                    """
                    INSERT INTO messages (channel, group_key, kind, state, due_at, attempts, detail,
                                          created_at, updated_at)
                    VALUES (?, ?, ?, 'sent', ?, 1, 'sent by another alerter', ?, ?)
                    """,
                    (channel, group_key, kind, stamp, stamp, stamp),
                )
                cur.execute("INSERT INTO message_alerts VALUES (?, ?)", (int(cur.lastrowid or 0), alert_id))
            cur.execute(
                """
                INSERT INTO groups (channel, group_key, last_sent_at) VALUES (?, ?, ?)
                ON CONFLICT (channel, group_key) DO UPDATE
                SET last_sent_at = max(last_sent_at, excluded.last_sent_at)
                """,
                (channel, group_key, stamp),
            )
            cur.execute(
                """
                INSERT INTO followups (alert_id, channel, count) VALUES (?, ?, ?)
                ON CONFLICT (alert_id, channel) DO UPDATE SET count = max(count, excluded.count)
                """,
                (alert_id, channel, followups),
            )
            stale = (
                "SELECT id FROM messages WHERE state = 'pending' AND channel = ? AND created_at <= ?"
                " AND kind IN ('new', 'followup')"
            )
            cur.execute(
                f"DELETE FROM message_alerts WHERE alert_id = ? AND message_id IN ({stale})",  # noqa: S608
                (alert_id, channel, stamp),
            )
            cur.execute(
                """
                UPDATE messages SET state = 'cancelled', detail = 'sent by another alerter', updated_at = ?
                WHERE state = 'pending' AND channel = ?
                  AND NOT EXISTS (SELECT 1 FROM message_alerts WHERE message_id = messages.id)
                """,
                (stamp, channel),
            )

    # -- silences ------------------------------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        """Store ``silence``."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO silences (id, created_at, silence_json) VALUES (?, ?, ?)",
                (silence.id, _ts(silence.starts_at), json.dumps(_silence_json(silence))),
            )

    def silences(self) -> list[Silence]:
        """Return every silence, the newest first."""
        with self._lock:
            rows = self._conn.execute("SELECT silence_json FROM silences ORDER BY created_at DESC").fetchall()
        return [_silence_of(json.loads(data)) for (data,) in rows]

    def expire_silence(self, silence_id: str, now: datetime) -> bool:
        """End silence ``silence_id`` at ``now``; return False if there is no such silence."""
        with self._transaction() as cur:
            row = cur.execute("SELECT silence_json FROM silences WHERE id = ?", (silence_id,)).fetchone()
            if row is None:
                return False
            data = json.loads(row[0])
            data["expired_at"] = _ts(now)
            cur.execute("UPDATE silences SET silence_json = ? WHERE id = ?", (json.dumps(data), silence_id))
            return True

    # -- internals -----------------------------------------------------------------------------------------

    def _schedule(
        self,
        cur: sqlite3.Cursor,
        alert_id: str,
        channel: str,
        key: str,
        change: str,
        changes: Sequence[str],
        policy: GroupPolicy,
        now: datetime,
    ) -> None:
        # A message that failed is still open: nothing was delivered (apprise said so), it is rendered
        # when it is finally sent, so news joins it instead of queueing a second message that would go
        # out right behind it when the receiver comes back.
        open_row = cur.execute(
            """
            SELECT m.id, EXISTS (SELECT 1 FROM message_alerts WHERE message_id = m.id AND alert_id = ?)
            FROM messages m WHERE m.channel = ? AND m.group_key = ? AND m.state = 'pending'
              AND m.kind IN ('new', 'followup') ORDER BY m.id DESC LIMIT 1
            """,
            (alert_id, channel, key),
        ).fetchone()
        last = cur.execute(
            "SELECT last_sent_at FROM groups WHERE channel = ? AND group_key = ?", (channel, key)
        ).fetchone()
        followups = cur.execute(
            "SELECT count FROM followups WHERE alert_id = ? AND channel = ?", (alert_id, channel)
        ).fetchone()
        state = GroupState(
            open_message=open_row[0] if open_row else None,
            open_covers_alert=bool(open_row[1]) if open_row else False,
            last_sent_at=_dt(last[0]) if last else None,
            followups_sent=followups[0] if followups else 0,
        )
        decided = plan(change, state, policy, now)  # type: ignore[arg-type]  # checked by the service
        if decided.action == "join" and state.open_message is not None:
            cur.execute("INSERT OR IGNORE INTO message_alerts VALUES (?, ?)", (state.open_message, alert_id))
        elif decided.action == "create" and decided.due_at is not None:
            self._insert(cur, channel, key, decided.kind, changes, decided.due_at, [alert_id], now)
        if decided.action != "none" and decided.kind == "followup":
            cur.execute(
                """
                INSERT INTO followups (alert_id, channel, count) VALUES (?, ?, 1)
                ON CONFLICT (alert_id, channel) DO UPDATE SET count = count + 1
                """,
                (alert_id, channel),
            )

    def _insert(
        self,
        cur: sqlite3.Cursor,
        channel: str,
        key: str,
        kind: str,
        changes: Sequence[str],
        due_at: datetime,
        alert_ids: Sequence[str],
        now: datetime | None = None,
    ) -> int:
        stamp = _ts(now or due_at)
        cur.execute(
            """
            INSERT INTO messages (channel, group_key, kind, changes, due_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            (channel, key, kind, json.dumps(list(changes)), _ts(due_at), stamp, stamp),
        )
        message_id = int(cur.lastrowid or 0)
        cur.executemany("INSERT INTO message_alerts VALUES (?, ?)", [(message_id, a) for a in alert_ids])
        return message_id

    def _merge(self, cur: sqlite3.Cursor, other: str, into: str, stamp: str) -> None:
        cur.execute("INSERT OR REPLACE INTO merged VALUES (?, ?, ?)", (other, into, stamp))
        cur.execute("UPDATE reports SET alert_id = ? WHERE alert_id = ?", (into, other))
        # Its messages not delivered yet (never tried, or failed) would announce, under another title,
        # what this alert now says.
        unsent = "SELECT id FROM messages WHERE state = 'pending'"
        cur.execute(f"DELETE FROM message_alerts WHERE alert_id = ? AND message_id IN ({unsent})", (other,))  # noqa: S608
        cur.execute(
            f"""
            UPDATE messages SET state = 'cancelled', detail = ?, updated_at = ?
            WHERE id IN ({unsent})
              AND NOT EXISTS (SELECT 1 FROM message_alerts WHERE message_id = messages.id)
            """,  # noqa: S608 - constant subquery
            (f"merged into {into}", stamp),
        )

    def _load(self, where: str, params: tuple[object, ...]) -> list[StoredAlert]:
        with self._lock:
            # One read transaction: the queries see the same snapshot, even if another process writes.
            self._conn.execute("BEGIN")
            try:
                alerts = self._conn.execute(
                    f"""
                    SELECT a.id, a.stored_at, a.alert_json, g.into_id FROM alerts a
                    LEFT JOIN merged g ON g.alert_id = a.id {where}
                    """,  # noqa: S608 - the clause is ours; values are bound
                    params,
                ).fetchall()
                ids = [row[0] for row in alerts]
                marks = ",".join("?" * len(ids))
                messages = self._conn.execute(
                    f"""
                    SELECT ma.alert_id, m.channel, m.state, m.attempts, m.detail, m.updated_at
                    FROM message_alerts ma JOIN messages m ON m.id = ma.message_id
                    WHERE ma.alert_id IN ({marks}) ORDER BY m.id
                    """,  # noqa: S608 - placeholders only
                    ids,
                ).fetchall()
                reasons = self._conn.execute(
                    f"SELECT alert_id, article_id, reason FROM reports WHERE alert_id IN ({marks}) ORDER BY rowid",  # noqa: S608, E501
                    ids,
                ).fetchall()
            finally:
                self._conn.execute("COMMIT")
        states: dict[str, dict[str, ChannelState]] = {i: {} for i in ids}
        for alert_id, channel, state, attempts, detail, updated_at in messages:
            shown = "retrying" if state == "pending" and attempts else state
            # The latest message on a channel tells where the alert stands there, unless it was sent
            # already: a later follow-up that is still pending does not make the alert unsent.
            previous = states[alert_id].get(channel)
            if previous is not None and previous.state == "sent" and shown in ("pending", "cancelled"):
                continue
            states[alert_id][channel] = ChannelState(channel, shown, attempts, detail, _dt(updated_at))
        why: dict[str, dict[str, str]] = {i: {} for i in ids}
        for alert_id, article_id, reason in reasons:
            why.setdefault(alert_id, {})[article_id] = reason
        return [
            StoredAlert(Alert.model_validate_json(data), _dt(stored_at), states[i], why.get(i, {}), into)
            for i, stored_at, data, into in alerts
        ]

    def _migrate(self) -> None:
        """Move the skeleton's per-channel deliveries into messages, so an old outbox loses nothing."""
        with self._lock:
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(messages)")}
            if "lease_owner" not in columns:  # an outbox from before leases named their holder
                self._conn.execute("ALTER TABLE messages ADD COLUMN lease_owner TEXT")
            old = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'"
            ).fetchone()
        if old is None:
            return
        with self._transaction() as cur:
            rows = cur.execute("SELECT alert_id, channel FROM deliveries WHERE ok = 0").fetchall()
            now = utcnow()
            for alert_id, channel in rows:
                self._insert(cur, channel, f"event={alert_id}", "new", (), now, [alert_id])
            cur.execute("DROP TABLE deliveries")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()


def _start_time(pid: int) -> str:
    """Return when process ``pid`` started (clock ticks since boot, Linux), "" where unknown or gone.

    A pid is reused once its process is gone: the start time tells the new process from the old one.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _owner() -> str:
    """Return who holds a lease taken by this process: host, pid and the pid's start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _owner_alive(owner: str) -> bool:
    """Return whether the process that took a lease may still run (True when it cannot be told)."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return not started or _start_time(pid) in ("", started)


def _silence_json(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id,
        "starts_at": _ts(s.starts_at),
        "ends_at": _ts(s.ends_at),
        "rule": s.rule,
        "entity": s.entity,
        "receiver": s.receiver,
        "comment": s.comment,
        "created_by": s.created_by,
        "expired_at": _ts(s.expired_at) if s.expired_at else None,
    }


def _silence_of(data: dict[str, Any]) -> Silence:
    return Silence(
        id=data["id"],
        starts_at=_dt(data["starts_at"]),
        ends_at=_dt(data["ends_at"]),
        rule=data["rule"],
        entity=data["entity"],
        receiver=data["receiver"],
        comment=data["comment"],
        created_by=data["created_by"],
        expired_at=_dt(data["expired_at"]) if data["expired_at"] else None,
    )
