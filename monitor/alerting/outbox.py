"""The SQLite outbox: every alert is stored before it is sent, with the result of each delivery.

Storing first makes the alert id a dedup key (a re-delivered Match finds its alert already there) and
lets a restarted alerter re-send what a crash or a dead receiver left undelivered.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from monitor.models import Alert, utcnow

__all__ = ["DeliveryState", "Outbox", "StoredAlert"]

_Row = tuple[str, str, int, int, str, str]

_GET_ALERT = "SELECT id, stored_at, alert_json FROM alerts WHERE id = ?"
_GET_DELIVERIES = """
SELECT alert_id, channel, ok, attempts, detail, updated_at FROM deliveries
WHERE alert_id = ? ORDER BY channel
"""
# LIMIT -1 means no limit in SQLite.
_LIST_ALERTS = "SELECT id, stored_at, alert_json FROM alerts ORDER BY stored_at DESC, id LIMIT ?"
_LIST_DELIVERIES = """
SELECT alert_id, channel, ok, attempts, detail, updated_at FROM deliveries
WHERE alert_id IN (SELECT id FROM alerts ORDER BY stored_at DESC, id LIMIT ?) ORDER BY channel
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id         TEXT PRIMARY KEY,
    rule       TEXT NOT NULL,
    stored_at  TEXT NOT NULL,
    alert_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id   TEXT NOT NULL REFERENCES alerts(id),
    channel    TEXT NOT NULL,
    ok         INTEGER NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL DEFAULT 0,
    detail     TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_not_ok ON deliveries(ok) WHERE ok = 0;
"""


@dataclass(frozen=True)
class DeliveryState:
    """The last known result of sending one alert through one channel."""

    channel: str
    ok: bool
    attempts: int
    detail: str
    updated_at: datetime

    @property
    def state(self) -> str:
        """Return 'sent', 'failed' (tried, not delivered) or 'pending' (never tried)."""
        if self.ok:
            return "sent"
        return "failed" if self.attempts else "pending"


@dataclass(frozen=True)
class StoredAlert:
    """An alert as the outbox holds it, with its per-channel delivery state."""

    alert: Alert
    stored_at: datetime
    deliveries: dict[str, DeliveryState] = field(default_factory=dict)

    @property
    def pending_channels(self) -> list[str]:
        """Return the channels this alert has not been delivered through yet."""
        return [name for name, d in self.deliveries.items() if not d.ok]


class Outbox:
    """Alerts and their deliveries in one SQLite file (WAL), safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, alert: Alert, channels: Iterable[str] = ()) -> bool:
        """Store ``alert`` as pending on ``channels``; return False if its id is already stored.

        The alert and its pending deliveries are written in one transaction, so a crash right after
        leaves an alert that ``pending()`` returns, never a half-stored one.
        """
        now = utcnow().isoformat()
        with self._transaction() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO alerts (id, rule, stored_at, alert_json) VALUES (?, ?, ?, ?)",
                (alert.id, alert.rule, now, alert.model_dump_json()),
            )
            if cur.rowcount == 0:
                return False
            cur.executemany(
                "INSERT OR IGNORE INTO deliveries (alert_id, channel, updated_at) VALUES (?, ?, ?)",
                [(alert.id, name, now) for name in channels],
            )
            return True

    def record_delivery(self, alert_id: str, channel: str, ok: bool, detail: str = "") -> None:
        """Record one attempt to send ``alert_id`` through ``channel`` and its result."""
        now = utcnow().isoformat()
        with self._transaction() as cur:
            cur.execute(
                """
                INSERT INTO deliveries (alert_id, channel, ok, attempts, detail, updated_at)
                VALUES (?, ?, ?, 1, ?, ?)
                ON CONFLICT (alert_id, channel) DO UPDATE SET
                    ok = excluded.ok, attempts = attempts + 1, detail = excluded.detail,
                    updated_at = excluded.updated_at
                """,
                (alert_id, channel, int(ok), detail, now),
            )

    def pending(self) -> list[Alert]:
        """Return the alerts that some channel has not delivered yet, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                """
                SELECT a.alert_json FROM alerts a
                WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = a.id AND d.ok = 0)
                ORDER BY a.stored_at, a.id
                """
            ).fetchall()
        return [Alert.model_validate_json(json) for (json,) in rows]

    def get(self, alert_id: str) -> StoredAlert | None:
        """Return the stored alert ``alert_id`` with its deliveries, or None if unknown."""
        found = self._load(_GET_ALERT, _GET_DELIVERIES, (alert_id,))
        return found[0] if found else None

    def list_alerts(self, limit: int | None = None) -> list[StoredAlert]:
        """Return the stored alerts with their deliveries, newest first."""
        return self._load(_LIST_ALERTS, _LIST_DELIVERIES, (-1 if limit is None else limit,))

    def _load(self, alerts_sql: str, deliveries_sql: str, params: tuple[object, ...]) -> list[StoredAlert]:
        with self._lock:
            # One read transaction: both queries see the same snapshot, even if another process writes.
            self._conn.execute("BEGIN")
            try:
                alerts: list[tuple[str, str, str]] = self._conn.execute(alerts_sql, params).fetchall()
                deliveries: list[_Row] = self._conn.execute(deliveries_sql, params).fetchall()
            finally:
                self._conn.execute("COMMIT")
        states: dict[str, dict[str, DeliveryState]] = {row[0]: {} for row in alerts}
        for alert_id, channel, ok, attempts, detail, updated_at in deliveries:
            states[alert_id][channel] = DeliveryState(
                channel, bool(ok), attempts, detail, datetime.fromisoformat(updated_at)
            )
        return [
            StoredAlert(Alert.model_validate_json(json), datetime.fromisoformat(stored_at), states[i])
            for i, stored_at, json in alerts
        ]

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
