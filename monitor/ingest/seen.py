"""The seen-store: which articles were published (and with what content), and each feed's state.

It is what makes ingestion exactly-once from the reader's point of view: an item is marked only after the
bus acknowledged it, so a crash between the two republishes it (at-least-once) but never loses it. Each
feed's state (HTTP validators, body hash, learned rhythm, failures) lives here too, so a restart neither
refetches everything nor forgets a server's ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from types import TracebackType

from monitor.errors import ConfigError
from monitor.ingest.prepass import KnownItem
from monitor.models import Article

__all__ = ["FeedState", "RememberedItem", "SeenStore", "body_hash", "content_hash"]

_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    article_id     TEXT PRIMARY KEY,
    content_hash   TEXT NOT NULL,
    feed_id        TEXT NOT NULL,
    first_seen     REAL NOT NULL,
    last_published REAL NOT NULL,
    last_seen      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_state (
    feed_id       TEXT PRIMARY KEY,
    etag          TEXT,
    last_modified TEXT,
    updated       REAL NOT NULL,
    url           TEXT,
    body_hash     TEXT,
    parsed_at     REAL,
    period_s      REAL,
    last_new      REAL,
    last_success  REAL,
    failures      INTEGER NOT NULL DEFAULT 0,
    not_before    REAL
);
CREATE TABLE IF NOT EXISTS item_keys (
    feed_id      TEXT NOT NULL,
    article_id   TEXT NOT NULL,
    item_key     TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    published    REAL,
    PRIMARY KEY (feed_id, article_id)
);
CREATE INDEX IF NOT EXISTS item_keys_by_key ON item_keys (feed_id, item_key);
CREATE TABLE IF NOT EXISTS arrivals (
    feed_id TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS arrivals_by_feed ON arrivals (feed_id, at);
"""
# item_keys and arrivals came after version 2 without a version of their own: tables an older newsmon
# ignores (the join with seen makes a stale item key harmless), so a rollback works on the same file.
# Version 1 (the walking skeleton) had neither last_seen nor the feed health columns.
_MIGRATE_FROM_1 = """
ALTER TABLE seen ADD COLUMN last_seen REAL NOT NULL DEFAULT 0;
UPDATE seen SET last_seen = last_published;
ALTER TABLE feed_state ADD COLUMN url TEXT;
ALTER TABLE feed_state ADD COLUMN body_hash TEXT;
ALTER TABLE feed_state ADD COLUMN parsed_at REAL;
ALTER TABLE feed_state ADD COLUMN period_s REAL;
ALTER TABLE feed_state ADD COLUMN last_new REAL;
ALTER TABLE feed_state ADD COLUMN last_success REAL;
ALTER TABLE feed_state ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_state ADD COLUMN not_before REAL;
"""


@dataclass(frozen=True)
class FeedState:
    """What the ingestor remembers of a feed between polls and across restarts (times are Unix seconds)."""

    url: str | None = None
    """The URL the validators and body hash belong to: after an edit of the feed's URL they are void."""
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    """Hash of the last body fully published: the same bytes again need no parsing."""
    parsed_at: float | None = None
    """When the body was last parsed; every item still in the feed was seen then."""
    period_s: float | None = None
    """The learned seconds between two items of the feed."""
    last_new: float | None = None
    """When the feed last had something new: its newest item's date, or when a new item was first seen."""
    last_success: float | None = None
    failures: int = 0
    """Failed polls in a row; 0 after a success."""
    not_before: float | None = None
    """Do not poll before this time (backoff, Retry-After), even after a restart."""


_STATE_COLUMNS = tuple(f.name for f in fields(FeedState))
# Built from the dataclass's field names, never from input: S608 does not apply.
_SELECT_STATE = f"SELECT {', '.join(_STATE_COLUMNS)} FROM feed_state WHERE feed_id = ?"  # noqa: S608
_UPSERT_STATE = (
    f"INSERT INTO feed_state (feed_id, updated, {', '.join(_STATE_COLUMNS)})"  # noqa: S608
    f" VALUES (?, ?, {', '.join('?' * len(_STATE_COLUMNS))}) ON CONFLICT(feed_id) DO UPDATE SET"
    f" updated = excluded.updated, {', '.join(f'{c} = excluded.{c}' for c in _STATE_COLUMNS)}"
)
_PRUNE_SEEN = (
    "DELETE FROM seen WHERE last_seen < ? AND (feed_id NOT IN (SELECT value FROM json_each(?))"
    " OR last_seen < COALESCE((SELECT parsed_at FROM feed_state f WHERE f.feed_id = seen.feed_id), 0))"
)
_PRUNE_ITEM_KEYS = (
    "DELETE FROM item_keys WHERE NOT EXISTS (SELECT 1 FROM seen WHERE seen.article_id = item_keys.article_id)"
)
_PRUNE_ARRIVALS = "DELETE FROM arrivals WHERE feed_id NOT IN (SELECT value FROM json_each(?))"
_KNOWN_ITEMS = (
    "SELECT k.item_key, k.article_id, k.published FROM item_keys k JOIN seen s"
    " ON s.article_id = k.article_id AND s.content_hash = k.content_hash"
    " WHERE k.feed_id = ? AND k.item_key IN (SELECT value FROM json_each(?))"
)
_PRUNE_STATE = "DELETE FROM feed_state WHERE updated < ? AND feed_id NOT IN (SELECT value FROM json_each(?))"
# A still-listed item's last_seen only has to stay well inside the retention (90 days by default): one
# write an hour per item is plenty, where one per poll was a transaction of twenty updates every poll.
_TOUCH_EVERY_S = 3600.0
# Past this many remembered touches the memo starts afresh (a cost of one extra write per item).
_TOUCH_MEMO_MAX = 500_000


@dataclass(frozen=True)
class RememberedItem:
    """An item whose article is published as it stands: its pre-pass key and what it gave."""

    key: str
    article_id: str
    content_hash: str
    published: float | None
    """The item's own date (Unix seconds); None when the fetch time stood in for it."""


def body_hash(data: bytes) -> str:
    """Return the hash of a feed body, to notice a server that sends the same bytes with a 200."""
    return hashlib.sha256(data).hexdigest()[:32]


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
    would add complexity and no throughput. The feeds' states are also kept in memory (this process is
    their only writer), since the scheduler and every poll read them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0  # nested batch() levels of the thread holding the lock
        self._states: dict[str, FeedState] = {}
        self._touched: dict[str, float] = {}
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
            if version == 1:
                self._db.executescript(f"BEGIN; {_MIGRATE_FROM_1} COMMIT;")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.Error as e:
            self._db.close()
            raise ConfigError(f"{path}: not a usable seen-store: {e}") from e
        except ConfigError:
            self._db.close()
            raise

    @contextlib.contextmanager
    def batch(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the statements inside as one transaction (one WAL commit, not one each).

        Batches nest: the store's own methods called inside an outer batch join its transaction, so a
        poll's closing writes cost one commit.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN")
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._states.clear()  # a state written in the transaction is gone with it
                raise
            finally:
                self._depth = 0
            self._db.execute("COMMIT")

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
                "INSERT INTO seen (article_id, content_hash, feed_id, first_seen, last_published, last_seen)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(article_id) DO UPDATE SET content_hash = excluded.content_hash,"
                " last_published = excluded.last_published, last_seen = excluded.last_seen",
                (article_id, content_hash, feed_id, now, now, now),
            )

    def touch(self, article_ids: Iterable[str], when: float | None = None) -> None:
        """Record that these articles are still listed in their feed, so pruning keeps them.

        An article touched less than an hour before is skipped: pruning only asks whether it was seen
        within the retention period.
        """
        when = time.time() if when is None else when
        with self._lock:
            last = self._touched
            due = [i for i in article_ids if i not in last or abs(when - last[i]) >= _TOUCH_EVERY_S]
            if not due:
                return
            with self.batch() as db:
                db.executemany("UPDATE seen SET last_seen = ? WHERE article_id = ?", ((when, i) for i in due))
            if len(self._touched) > _TOUCH_MEMO_MAX:
                self._touched.clear()
            self._touched.update(dict.fromkeys(due, when))

    def known_items(self, feed_id: str, keys: Sequence[str]) -> dict[str, KnownItem]:
        """Return the items of ``keys`` whose article is published with the content they gave, by key.

        The join with ``seen`` is what makes a cut safe: an article edited since (through another feed),
        or forgotten by pruning, no longer counts as known, and its item is parsed again.
        """
        with self._lock:
            rows = self._db.execute(_KNOWN_ITEMS, (feed_id, json.dumps(list(keys)))).fetchall()
        return {key: KnownItem(article, published) for key, article, published in rows}

    def remember_items(self, feed_id: str, items: Iterable[RememberedItem]) -> None:
        """Record the pre-pass keys of items whose article is published (call after mark_published)."""
        rows = [(feed_id, i.article_id, i.key, i.content_hash, i.published) for i in items]
        if not rows:
            return
        with self.batch() as db:
            db.executemany(
                "INSERT INTO item_keys (feed_id, article_id, item_key, content_hash, published)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(feed_id, article_id) DO UPDATE SET"
                " item_key = excluded.item_key, content_hash = excluded.content_hash,"
                " published = excluded.published",
                rows,
            )

    def content_of(self, article_id: str) -> str | None:
        """Return the content hash the article was last published with; None if it never was."""
        with self._lock:
            row = self._db.execute(
                "SELECT content_hash FROM seen WHERE article_id = ?", (article_id,)
            ).fetchone()
        return str(row[0]) if row else None

    def record_arrivals(self, feed_id: str, times: Collection[float], forget_before: float) -> None:
        """Record when new items of the feed appeared (Unix seconds), forgetting its arrivals before then."""
        if not times:
            return
        with self.batch() as db:
            db.execute("DELETE FROM arrivals WHERE feed_id = ? AND at < ?", (feed_id, forget_before))
            db.executemany("INSERT INTO arrivals (feed_id, at) VALUES (?, ?)", ((feed_id, t) for t in times))

    def arrivals(self, feed_id: str, since: float) -> list[float]:
        """Return when the feed's new items appeared since ``since``, oldest first: its rhythm's history."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at FROM arrivals WHERE feed_id = ? AND at >= ? ORDER BY at", (feed_id, since)
            ).fetchall()
        return [float(r[0]) for r in rows]

    def get_state(self, feed_id: str) -> FeedState:
        """Return what is remembered of the feed; a fresh FeedState for a feed never polled."""
        with self._lock:
            state = self._states.get(feed_id)
            if state is None:
                row = self._db.execute(_SELECT_STATE, (feed_id,)).fetchone()
                state = FeedState(*row) if row else FeedState()
                self._states[feed_id] = state
        return state

    def put_state(self, feed_id: str, state: FeedState) -> None:
        """Replace what is remembered of the feed."""
        with self._lock:
            self._db.execute(_UPSERT_STATE, (feed_id, time.time(), *astuple(state)))
            self._states[feed_id] = state

    def prune(self, older_than: float, active_feeds: Collection[str]) -> int:
        """Forget articles not seen in any feed since ``older_than`` (Unix time); return how many.

        An article is kept while its feed still lists it: a feed answering 304 for months still holds its
        items, and forgetting them would republish them on the feed's next change. So a row goes only if
        its feed is gone from the feeds file, or was parsed since and no longer listed it. The state of
        feeds gone from the file and untouched since ``older_than`` goes too.
        """
        active = json.dumps(sorted(active_feeds))
        with self._lock:
            deleted = self._db.execute(_PRUNE_SEEN, (older_than, active)).rowcount
            self._db.execute(_PRUNE_ITEM_KEYS)
            self._db.execute(_PRUNE_STATE, (older_than, active))
            self._db.execute(_PRUNE_ARRIVALS, (active,))
            self._states.clear()
            self._touched.clear()
        return int(deleted)
