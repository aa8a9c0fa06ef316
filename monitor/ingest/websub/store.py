"""The subscriptions store: each feed's WebSub subscription, kept in SQLite across restarts.

A restart must not forget a subscription: the hub goes on pushing to the callback until the lease ends,
and only the stored secret can tell its signed content from a forgery. Like the seen-store, one
connection behind a lock: a few writes per subscription and lease, never a hot path.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Literal

from monitor.errors import ConfigError

__all__ = ["State", "Subscription", "SubscriptionStore"]

State = Literal["pending", "active", "failed", "unsubscribing"]
"""pending: asked the hub, not verified yet. active: verified, lease running. failed: the hub failed us,
the feed is polled as usual until ``retry_at``. unsubscribing: asked the hub to forget it."""

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscription (
    sub_id        TEXT PRIMARY KEY,
    feed_id       TEXT NOT NULL,
    hub           TEXT NOT NULL,
    topic         TEXT NOT NULL,
    secret        TEXT NOT NULL,
    state         TEXT NOT NULL,
    requested_at  REAL,
    lease_expires REAL,
    lease_s       REAL,
    failures      INTEGER NOT NULL DEFAULT 0,
    retry_at      REAL,
    reason        TEXT,
    updated       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS subscription_feed ON subscription (feed_id);
"""


@dataclass(frozen=True)
class Subscription:
    """One subscription of one feed's topic at one hub (times are Unix seconds)."""

    sub_id: str
    """The last segment of the callback URL: random, so the callback of one feed cannot be guessed."""
    feed_id: str
    hub: str
    topic: str
    secret: str
    """The ``hub.secret``: the HMAC key of the content this subscription accepts."""
    state: State = "pending"
    requested_at: float | None = None
    """When the outstanding subscribe request (first one or a renewal) was sent; None when none is."""
    lease_expires: float | None = None
    lease_s: float | None = None
    """The lease the hub granted at the last verification."""
    failures: int = 0
    """Failed attempts in a row; 0 after a verification."""
    retry_at: float | None = None
    """When a failed subscription is tried again."""
    reason: str | None = None
    """Why the last attempt failed (for the log and ``feeds check``)."""


_COLUMNS = tuple(f.name for f in fields(Subscription))
# Built from the dataclass's field names, never from input.
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM subscription"  # noqa: S608
_UPSERT = (
    f"INSERT INTO subscription ({', '.join(_COLUMNS)}, updated)"  # noqa: S608
    f" VALUES ({', '.join('?' * len(_COLUMNS))}, ?) ON CONFLICT(sub_id) DO UPDATE SET"
    f" updated = excluded.updated, {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS[1:])}"
)


class SubscriptionStore:
    """SQLite store of WebSub subscriptions; safe to use from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"{path}: cannot open the WebSub subscriptions store: {e}") from e
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise ConfigError(
                    f"{path}: subscriptions store schema {version} is newer than this newsmon's"
                    f" ({_SCHEMA_VERSION})"
                )
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.Error as e:
            self._db.close()
            raise ConfigError(f"{path}: not a usable WebSub subscriptions store: {e}") from e
        except ConfigError:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SubscriptionStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def get(self, sub_id: str) -> Subscription | None:
        """Return the subscription behind a callback URL's last segment, or None."""
        with self._lock:
            row = self._db.execute(f"{_SELECT} WHERE sub_id = ?", (sub_id,)).fetchone()
        return Subscription(*row) if row else None

    def current(self, feed_id: str) -> Subscription | None:
        """Return the feed's subscription (not one being unsubscribed), or None."""
        with self._lock:
            row = self._db.execute(
                f"{_SELECT} WHERE feed_id = ? AND state != 'unsubscribing' ORDER BY updated DESC LIMIT 1",
                (feed_id,),
            ).fetchone()
        return Subscription(*row) if row else None

    def all(self) -> list[Subscription]:
        """Return every subscription, in no particular order."""
        with self._lock:
            rows = self._db.execute(_SELECT).fetchall()
        return [Subscription(*row) for row in rows]

    def put(self, sub: Subscription) -> None:
        """Insert or replace ``sub``."""
        with self._lock:
            self._db.execute(_UPSERT, (*astuple(sub), time.time()))

    def delete(self, sub_id: str) -> None:
        """Forget a subscription."""
        with self._lock:
            self._db.execute("DELETE FROM subscription WHERE sub_id = ?", (sub_id,))
