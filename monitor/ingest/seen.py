"""The seen-store: which articles were published (and with what content), and each feed's HTTP validators.

It is what makes ingestion exactly-once from the reader's point of view: an item is marked only after the
bus acknowledged it, so a crash between the two republishes it (at-least-once) but never loses it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType

from monitor.errors import ConfigError
from monitor.models import Article

__all__ = ["SeenStore", "content_hash"]

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    article_id     TEXT PRIMARY KEY,
    content_hash   TEXT NOT NULL,
    feed_id        TEXT NOT NULL,
    first_seen     REAL NOT NULL,
    last_published REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_state (
    feed_id       TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT,
    updated       REAL NOT NULL
);
"""


def content_hash(article: Article) -> str:
    """Return the hash of what a reader sees of ``article``: its title and body, whitespace-insensitive.

    A change in this hash means the story was edited and is republished as an update; a change in
    whitespace or markup alone is not an edit.
    """
    title = " ".join(article.title.split())
    body = " ".join(article.body.split())
    return hashlib.sha256(f"{title}\x00{body}".encode()).hexdigest()[:32]


class SeenStore:
    """SQLite store of published article ids and per-feed HTTP state; safe to use from several threads.

    One connection behind a lock: writes are tiny and SQLite serialises writers anyway, so a pool
    would add complexity and no throughput.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"{path}: cannot open the seen-store: {e}") from e
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash in WAL mode
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise ConfigError(
                    f"{path}: seen-store schema {version} is newer than this newsmon's ({_SCHEMA_VERSION})"
                )
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.Error as e:
            self._db.close()
            raise ConfigError(f"{path}: not a usable seen-store: {e}") from e
        except ConfigError:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SeenStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def is_new(self, article_id: str, content_hash: str) -> bool:
        """Return whether to publish the article: its id is unknown, or known with another content."""
        with self._lock:
            row = self._db.execute(
                "SELECT content_hash FROM seen WHERE article_id = ?", (article_id,)
            ).fetchone()
        return row is None or row[0] != content_hash

    def mark_published(self, article_id: str, content_hash: str, feed_id: str) -> None:
        """Record that the article, with this content, reached the bus; call only after the ack."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO seen (article_id, content_hash, feed_id, first_seen, last_published)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(article_id) DO UPDATE SET"
                " content_hash = excluded.content_hash, last_published = excluded.last_published",
                (article_id, content_hash, feed_id, now, now),
            )

    def get_feed_state(self, feed_id: str) -> tuple[str | None, str | None]:
        """Return the ETag and Last-Modified of the feed's last complete fetch, for a conditional GET."""
        with self._lock:
            row = self._db.execute(
                "SELECT etag, last_modified FROM feed_state WHERE feed_id = ?", (feed_id,)
            ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def set_feed_state(self, feed_id: str, etag: str | None, last_modified: str | None) -> None:
        """Record the validators of a fetch whose every item was published."""
        with self._lock:
            self._db.execute(
                "INSERT INTO feed_state (feed_id, etag, last_modified, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(feed_id) DO UPDATE SET"
                " etag = excluded.etag, last_modified = excluded.last_modified, updated = excluded.updated",
                (feed_id, etag, last_modified, time.time()),
            )
