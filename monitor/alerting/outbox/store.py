"""The SQLite outbox: alerts, the reports folded into them, and every message to send, stored first.

Each message is one notification to one channel (one URL of one receiver) with its own state, due
time, attempts and lease, so a retry never sends again through a channel that already delivered it,
and a restarted alerter sends exactly what was left undelivered. A change of an alert (a new alert,
a later source, an escalation, a merge) is written with the messages it schedules in one
transaction: a crash leaves either all of it or none of it.
"""

from __future__ import annotations

from pathlib import Path

from monitor.alerting.outbox.leases import process_owner
from monitor.alerting.outbox.replica import Replica
from monitor.alerting.outbox.silence_store import SilenceStore
from monitor.models import utcnow

__all__ = ["Outbox"]


class Outbox(Replica, SilenceStore):
    """Alerts and their messages in one SQLite file (WAL), safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._migrate()
        self.owner = process_owner()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
