"""The outbox's tables, and how times are written in them."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["SCHEMA", "dt", "ts"]

SCHEMA = """
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


def ts(moment: datetime) -> str:
    """Return ``moment`` as fixed-width UTC text, so SQLite compares times as strings correctly."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dt(text: str) -> datetime:
    """Return the time ``ts`` wrote."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
