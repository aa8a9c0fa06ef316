"""Silences kept in the outbox, so every process sharing it mutes the same alerts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from monitor.alerting.outbox.db import Database
from monitor.alerting.outbox.schema import dt, ts
from monitor.alerting.silences import Silence

__all__ = ["SilenceStore"]


class SilenceStore(Database):
    """Add, list and expire silences."""

    def add_silence(self, silence: Silence) -> None:
        """Store ``silence``."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO silences (id, created_at, silence_json) VALUES (?, ?, ?)",
                (silence.id, ts(silence.starts_at), json.dumps(_silence_json(silence))),
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
            data["expired_at"] = ts(now)
            cur.execute("UPDATE silences SET silence_json = ? WHERE id = ?", (json.dumps(data), silence_id))
            return True


def _silence_json(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id,
        "starts_at": ts(s.starts_at),
        "ends_at": ts(s.ends_at),
        "rule": s.rule,
        "entity": s.entity,
        "receiver": s.receiver,
        "comment": s.comment,
        "created_by": s.created_by,
        "expired_at": ts(s.expired_at) if s.expired_at else None,
    }


def _silence_of(data: dict[str, Any]) -> Silence:
    return Silence(
        id=data["id"],
        starts_at=dt(data["starts_at"]),
        ends_at=dt(data["ends_at"]),
        rule=data["rule"],
        entity=data["entity"],
        receiver=data["receiver"],
        comment=data["comment"],
        created_by=data["created_by"],
        expired_at=dt(data["expired_at"]) if data["expired_at"] else None,
    )
