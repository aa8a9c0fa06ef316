"""Alerts, the reports folded into them and merges; each change stored with the messages it schedules."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.alerting.grouping import GroupPolicy, group_key
from monitor.alerting.outbox.queue import MessageQueue
from monitor.alerting.outbox.records import ChannelState, StoredAlert, StoredReport, state_of
from monitor.alerting.outbox.schema import dt, ts
from monitor.models import Alert

__all__ = ["AlertStore"]


class AlertStore(MessageQueue):
    """Alert revisions and their reports, written in one transaction with their messages."""

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
        report: StoredReport | None = None,
        changes: Sequence[str] = (),
        merged: Sequence[str] = (),
        digests: Mapping[str, timedelta] | None = None,
    ) -> None:
        """Store ``alert`` (new or a new revision) and schedule its messages on ``channels``, atomically.

        ``change`` is new, update or escalation (see ``grouping.plan``); ``report`` is the Match that
        caused it; ``merged`` are alerts
        found to be about the same event, folded into this one: their unsent messages are cancelled.
        ``digests`` maps the channels of digest receivers to their period: there the alert joins the
        period's one message instead.
        """
        stamp = ts(now)
        with self._transaction() as cur:
            self._upsert_alert(cur, alert, stamp)
            if report is not None:
                match_id, rule, article_id = report.match_id, report.rule, report.article_id
                event_time, reason, data = report.event_time, report.reason, report.report
                cur.execute(
                    "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (match_id, alert.id, rule, article_id, ts(event_time), reason, json.dumps(data), stamp),
                )
            for other in merged:
                self._merge(cur, other, alert.id, stamp)
            key_of = group_key(alert, policy.group_by)
            for channel in channels:
                period = (digests or {}).get(channel)
                if period is not None:
                    self._schedule_digest(cur, alert.id, channel, period, now)
                else:
                    self._schedule(cur, alert.id, channel, key_of, change, changes, policy, now)

    def get(self, alert_id: str) -> StoredAlert | None:
        """Return the stored alert ``alert_id`` with its deliveries, or None if unknown."""
        found = self._load("WHERE a.id = ?", (alert_id,))
        return found[0] if found else None

    def list_alerts(self, limit: int | None = None) -> list[StoredAlert]:
        """Return the stored alerts with their deliveries, newest first."""
        return self._load("ORDER BY a.stored_at DESC, a.id LIMIT ?", (-1 if limit is None else limit,))

    def reports(self, since: datetime | None = None) -> list[tuple[dict[str, Any], str]]:
        """Return the stored reports (JSON, alert id) whose event time is ``since`` or later, in order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT report_json, alert_id FROM reports WHERE event_time >= ? ORDER BY rowid",
                (ts(since) if since else "",),
            ).fetchall()
        return [(json.loads(data), alert_id) for data, alert_id in rows]

    def newest_event_time(self) -> datetime | None:
        """Return the latest event time of any report (the dedup watermark after a restart)."""
        with self._lock:
            row = self._conn.execute("SELECT max(event_time) FROM reports").fetchone()
        return dt(row[0]) if row and row[0] else None

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
            states[alert_id][channel] = ChannelState(
                channel, state_of(shown), attempts, detail, dt(updated_at)
            )
        why: dict[str, dict[str, str]] = {i: {} for i in ids}
        for alert_id, article_id, reason in reasons:
            why.setdefault(alert_id, {})[article_id] = reason
        return [
            StoredAlert(Alert.model_validate_json(data), dt(stored_at), states[i], why.get(i, {}), into)
            for i, stored_at, data, into in alerts
        ]

    @staticmethod
    def _upsert_alert(cur: sqlite3.Cursor, alert: Alert, stamp: str) -> None:
        """Store ``alert``'s latest revision (its first ``stored_at`` is kept)."""
        cur.execute(
            """
            INSERT INTO alerts (id, rule, stored_at, alert_json) VALUES (?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET alert_json = excluded.alert_json
            """,
            (alert.id, alert.rule, stamp, alert.model_dump_json()),
        )
