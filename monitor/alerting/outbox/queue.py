"""The message queue: one row per message and channel, due times, leased sends, attempts, groups."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from monitor.alerting.grouping import DIGEST_GROUP, GroupPolicy, GroupState, digest_due, plan
from monitor.alerting.outbox.db import Database
from monitor.alerting.outbox.leases import owner_alive
from monitor.alerting.outbox.records import Due, kind_of
from monitor.alerting.outbox.schema import dt, ts
from monitor.models import Alert, utcnow

__all__ = ["MessageQueue"]


class MessageQueue(Database):
    """Messages to send, each leased before its send so no two senders send it."""

    owner: str

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

    def hand_over(self, owns: Callable[[str], bool], now: datetime) -> int:
        """Park every pending message about a watchlist ``owns`` rejects; return how many.

        The partition's next owner sends what is still due (``take_back`` if it is this alerter again,
        ``Alerter.adopt`` otherwise); a parked message never counts as pending here.
        """
        return self._move(
            "pending",
            "handed_over",
            lambda rule: not owns(rule),
            now,
            "its partition went to another alerter",
        )

    def take_back(self, owns: Callable[[str], bool], now: datetime) -> int:
        """Make the parked messages about watchlists ``owns`` accepts pending again; return how many."""
        return self._move("handed_over", "pending", owns, now, "")

    def _move(self, state: str, to: str, which: Callable[[str], bool], now: datetime, detail: str) -> int:
        with self._transaction() as cur:
            rows = cur.execute(
                """
                SELECT m.id, a.rule FROM messages m
                JOIN message_alerts ma ON ma.message_id = m.id JOIN alerts a ON a.id = ma.alert_id
                WHERE m.state = ? AND m.kind != 'digest'
                """,
                (state,),
            ).fetchall()
            ids = sorted({int(i) for i, rule in rows if which(str(rule))})
            cur.executemany(
                "UPDATE messages SET state = ?, detail = ?, updated_at = ? WHERE id = ? AND state = ?",
                [(to, detail, ts(now), i, state) for i in ids],
            )
        return len(ids)

    def has_message(self, alert_id: str, channel: str) -> bool:
        """Return whether any message about ``alert_id`` on ``channel`` was ever stored here, in any state."""
        with self._lock:
            row = self._conn.execute(
                """
                SELECT 1 FROM message_alerts ma JOIN messages m ON m.id = ma.message_id
                WHERE ma.alert_id = ? AND m.channel = ? LIMIT 1
                """,
                (alert_id, channel),
            ).fetchone()
        return row is not None

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

    def due(self, now: datetime | None, limit: int = 100) -> list[Due]:
        """Return pending messages due at ``now`` (all pending ones if None) and not leased, oldest first."""
        stamp = ts(now or utcnow())
        where = "m.state = 'pending' AND (m.lease_until IS NULL OR m.lease_until < ?)"
        params: tuple[object, ...] = (stamp,)
        if now is not None:
            where += " AND m.due_at <= ?"
            params = (stamp, stamp)
        with self._lock:
            rows = self._conn.execute(
                f"""
                SELECT m.id, m.channel, m.kind, m.changes, m.attempts, m.group_key,
                       (SELECT json_group_array(alert_id) FROM message_alerts WHERE message_id = m.id),
                       m.due_at
                FROM messages m WHERE {where} ORDER BY m.due_at, m.id LIMIT ?
                """,  # noqa: S608 - the where clause is ours; values are bound
                (*params, limit),
            ).fetchall()
        return [
            Due(
                i,
                channel,
                kind_of(kind),
                tuple(sorted(json.loads(ids))),
                tuple(json.loads(changes)),
                attempts,
                key,
                dt(due_at),
            )
            for i, channel, kind, changes, attempts, key, ids, due_at in rows
        ]

    def claim(self, message_id: int, now: datetime, until: datetime) -> bool:
        """Lease a pending message until ``until``; return False if another sender holds it."""
        with self._transaction() as cur:
            cur.execute(
                """
                UPDATE messages SET lease_until = ?, lease_owner = ?, updated_at = ?
                WHERE id = ? AND state = 'pending' AND (lease_until IS NULL OR lease_until < ?)
                """,
                (ts(until), self.owner, ts(now), message_id, ts(now)),
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
                    (ts(now),),
                )
            ]
        dead = [o for o in owners if o != self.owner and not owner_alive(o)]
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
                (ts(now), message_id),
            )
            cur.execute(
                """
                INSERT INTO groups (channel, group_key, last_sent_at)
                SELECT channel, group_key, ? FROM messages WHERE id = ?
                ON CONFLICT (channel, group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at
                """,
                (ts(now), message_id),
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
                    ts(now),
                    "pending" if retry_at else "failed",
                    ts(retry_at) if retry_at else None,
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
                (ts(until), detail, message_id),
            )

    def finish(self, message_id: int, state: str, detail: str, now: datetime) -> None:
        """Close the message without sending it: ``silenced`` or ``cancelled``, with why."""
        with self._transaction() as cur:
            cur.execute(
                "UPDATE messages SET state = ?, detail = ?, lease_until = NULL, updated_at = ? WHERE id = ?",
                (state, detail, ts(now), message_id),
            )

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
            last_sent_at=dt(last[0]) if last else None,
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

    def _schedule_digest(
        self, cur: sqlite3.Cursor, alert_id: str, channel: str, period: timedelta, now: datetime
    ) -> None:
        """Put ``alert_id`` in the channel's waiting digest, or open one due at the period's end."""
        open_row = cur.execute(
            "SELECT id FROM messages WHERE channel = ? AND kind = 'digest' AND state = 'pending' "
            "ORDER BY id DESC LIMIT 1",
            (channel,),
        ).fetchone()
        if open_row is not None:
            cur.execute("INSERT OR IGNORE INTO message_alerts VALUES (?, ?)", (open_row[0], alert_id))
            return
        self._insert(cur, channel, DIGEST_GROUP, "digest", (), digest_due(now, period), [alert_id], now)

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
        stamp = ts(now or due_at)
        cur.execute(
            """
            INSERT INTO messages (channel, group_key, kind, changes, due_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
            (channel, key, kind, json.dumps(list(changes)), ts(due_at), stamp, stamp),
        )
        message_id = int(cur.lastrowid or 0)
        cur.executemany("INSERT INTO message_alerts VALUES (?, ?)", [(message_id, a) for a in alert_ids])
        return message_id
