"""Apply another alerter's state (from the changelog, see ``changelog.py``) to this outbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.alerting.outbox.alerts import AlertStore
from monitor.alerting.outbox.schema import ts
from monitor.models import Alert

__all__ = ["Replica"]


class Replica(AlertStore):
    """Reports, alert revisions and deliveries another alerter recorded, applied idempotently."""

    def followups_count(self, alert_id: str, channel: str) -> int:
        """Return how many follow-ups of ``alert_id`` were scheduled on ``channel``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT count FROM followups WHERE alert_id = ? AND channel = ?", (alert_id, channel)
            ).fetchone()
        return int(row[0]) if row else 0

    def restore_alert(self, alert: Alert, merged: Sequence[str], now: datetime) -> None:
        """Store ``alert``'s revision from another alerter, with the alerts merged into it."""
        stamp = ts(now)
        with self._transaction() as cur:
            self._upsert_alert(cur, alert, stamp)
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
                (match_id, alert_id, rule, article_id, ts(event_time), reason, json.dumps(report), ts(now)),
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
        stamp = ts(sent_at)
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
                "SELECT id FROM messages WHERE state IN ('pending', 'handed_over') AND channel = ?"
                " AND created_at <= ?"
                " AND kind IN ('new', 'followup')"
            )
            cur.execute(
                f"DELETE FROM message_alerts WHERE alert_id = ? AND message_id IN ({stale})",  # noqa: S608
                (alert_id, channel, stamp),
            )
            cur.execute(
                """
                UPDATE messages SET state = 'cancelled', detail = 'sent by another alerter', updated_at = ?
                WHERE state IN ('pending', 'handed_over') AND channel = ?
                  AND NOT EXISTS (SELECT 1 FROM message_alerts WHERE message_id = messages.id)
                """,
                (stamp, channel),
            )
