"""The seen-store: new, duplicate, changed, and still there after a restart."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.ingest.prepass import KnownItem
from monitor.ingest.seen import FeedState, RememberedItem, SeenStore, body_hash, content_hash
from monitor.models import Article


def _article(title: str = "Title", summary: str = "Body") -> Article:
    return Article(id="a1", feed_id="f", url="https://x.example/1", title=title, summary=summary)


def test_new_duplicate_and_changed(tmp_path: Path) -> None:
    with SeenStore(tmp_path / "state" / "seen.sqlite3") as store:
        assert store.is_new("a1", "h1")
        assert store.is_new("a1", "h1")  # not marked yet: still new (the publish may have failed)
        store.mark_published("a1", "h1", "f")
        assert not store.is_new("a1", "h1")
        assert store.is_new("a1", "h2")  # an edit: republish as an update
        store.mark_published("a1", "h2", "f")
        assert not store.is_new("a1", "h2")
        assert not store.is_new("a1", "h2")
        assert store.is_new("a2", "h1")


def test_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite3"
    state = FeedState(
        url="https://f.example/rss",
        etag='"etag-1"',
        last_modified="Tue, 10 Jun 2025 12:00:00 GMT",
        body_hash="b1",
        parsed_at=100.0,
        period_s=600.0,
        last_new=90.0,
        last_success=100.0,
        failures=2,
        not_before=700.0,
    )
    with SeenStore(path) as store:
        store.mark_published("a1", "h1", "f")
        store.put_state("f", state)
    with SeenStore(path) as store:
        assert not store.is_new("a1", "h1")
        assert store.get_state("f") == state
        assert store.get_state("other") == FeedState()
        store.put_state("f", FeedState())
        assert store.get_state("f") == FeedState()


def test_a_version_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE seen (article_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, feed_id TEXT NOT NULL,
                               first_seen REAL NOT NULL, last_published REAL NOT NULL);
            CREATE TABLE feed_state (feed_id TEXT PRIMARY KEY, etag TEXT, last_modified TEXT,
                                     updated REAL NOT NULL);
            INSERT INTO seen VALUES ('a1', 'h1', 'f', 10, 20);
            INSERT INTO feed_state VALUES ('f', '"v1"', NULL, 20);
            PRAGMA user_version = 1;
            """
        )
    db.close()
    with SeenStore(path) as store:
        assert not store.is_new("a1", "h1")  # nothing published before the upgrade is published again
        assert store.get_state("f") == FeedState(etag='"v1"')
        # a v1 row's last_seen is its last publication: old enough rows can be pruned like any other
        assert store.prune(older_than=21, active_feeds=[]) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ConfigError, match="schema 99 is newer"):
        SeenStore(path)


def _age(store: SeenStore, article_id: str, last_seen: float) -> None:
    store._db.execute("UPDATE seen SET last_seen = ? WHERE article_id = ?", (last_seen, article_id))


def test_prune_forgets_only_items_no_feed_lists_any_more(tmp_path: Path) -> None:
    with SeenStore(tmp_path / "seen.sqlite3") as store:
        for article_id, feed_id in [("dropped", "f"), ("listed", "f"), ("gone-feed", "g"), ("fresh", "f")]:
            store.mark_published(article_id, "h", feed_id)
        # f was last parsed at t=500: "listed" was in the feed then, "dropped" no longer was
        store.put_state("f", FeedState(parsed_at=500.0))
        _age(store, "dropped", 100.0)
        _age(store, "listed", 500.0)
        _age(store, "gone-feed", 100.0)
        assert store.prune(older_than=1000.0, active_feeds=["f"]) == 2
        assert store.is_new("dropped", "h")
        assert store.is_new("gone-feed", "h")  # its feed left the feeds file
        assert not store.is_new("listed", "h")  # old, but its feed (304 since) still lists it
        assert not store.is_new("fresh", "h")
        store.touch(["listed"], when=2000.0)
        assert store.prune(older_than=1500.0, active_feeds=["f"]) == 0


def test_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite3"
    SeenStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_usable_from_many_threads(tmp_path: Path) -> None:
    with SeenStore(tmp_path / "seen.sqlite3") as store:

        def work(n: int) -> None:
            for i in range(50):
                store.mark_published(f"{n}-{i}", "h", f"f{n}")
                assert not store.is_new(f"{n}-{i}", "h")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not any(store.is_new(f"{n}-{i}", "h") for n in range(8) for i in range(50))


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a usable seen-store"):
        SeenStore(path)


def test_content_hash_follows_title_and_body_not_whitespace() -> None:
    base = content_hash(_article())
    assert content_hash(_article(title="Title ", summary="Body\n")) == base
    assert content_hash(_article(title="Title!")) != base
    assert content_hash(_article(summary="Body edited")) != base
    assert content_hash(_article().model_copy(update={"text": "Full text"})) != base


def test_body_hash_is_of_the_exact_bytes() -> None:
    assert body_hash(b"<rss/>") == body_hash(b"<rss/>")
    assert body_hash(b"<rss/>") != body_hash(b"<rss />")


def test_known_items_are_those_published_with_the_content_they_gave(tmp_path: Path) -> None:
    with SeenStore(tmp_path / "s.db") as store:
        store.mark_published("a1", "h1", "f")
        store.mark_published("a2", "h2", "f")
        store.remember_items(
            "f", [RememberedItem("k1", "a1", "h1", 1000.0), RememberedItem("k2", "a2", "h2", None)]
        )
        assert store.known_items("f", ["k1", "k2", "k3"]) == {
            "k1": KnownItem("a1", 1000.0),
            "k2": KnownItem("a2", None),
        }
        assert store.known_items("other-feed", ["k1"]) == {}, "keys are per feed"
        store.mark_published("a2", "h2-edited", "f2")  # the story was edited, seen through another feed
        assert set(store.known_items("f", ["k1", "k2"])) == {"k1"}, "an item of an edited story is parsed"
        store.remember_items("f", [RememberedItem("k1-new", "a1", "h1", 1000.0)])
        assert set(store.known_items("f", ["k1", "k1-new"])) == {"k1-new"}, "one key per article and feed"


def test_pruning_an_article_forgets_its_item_keys(tmp_path: Path) -> None:
    with SeenStore(tmp_path / "s.db") as store:
        store.mark_published("a1", "h1", "gone")
        store.remember_items("gone", [RememberedItem("k1", "a1", "h1", None)])
        assert store.prune(time.time() + 1, active_feeds=[]) == 1
        assert store.known_items("gone", ["k1"]) == {}
        (rows,) = store._db.execute("SELECT COUNT(*) FROM item_keys").fetchone()
        assert rows == 0


def _last_seen(path: Path, article_id: str) -> float:
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT last_seen FROM seen WHERE article_id = ?", (article_id,)).fetchone()
        return float(row[0])
    finally:
        db.close()


def test_a_still_listed_article_is_written_at_most_once_an_hour(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite3"
    with SeenStore(path) as store:
        store.mark_published("a1", "h1", "f")
        store.touch(["a1"], when=1_000_000.0)
        assert _last_seen(path, "a1") == 1_000_000.0
        store.touch(["a1"], when=1_000_000.0 + 3599)  # every poll lists it: no write within the hour
        assert _last_seen(path, "a1") == 1_000_000.0
        store.touch(["a1"], when=1_000_000.0 + 3600)
        assert _last_seen(path, "a1") == 1_000_000.0 + 3600
    with SeenStore(path) as store:  # the memo is the process's: a restart writes again
        store.touch(["a1"], when=1_000_000.0 + 3601)
        assert _last_seen(path, "a1") == 1_000_000.0 + 3601


def test_the_closing_writes_of_a_poll_commit_or_roll_back_together(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite3"
    first = FeedState(etag='"1"')
    with SeenStore(path) as store:
        store.put_state("f", first)

        def half_a_poll() -> None:
            with store.batch():
                store.record_arrivals("f", [1.0, 2.0], forget_before=0.0)
                store.put_state("f", FeedState(etag='"2"'))
                raise RuntimeError("the poll failed half-way")

        with pytest.raises(RuntimeError):
            half_a_poll()
        assert store.get_state("f") == first, "the state in memory follows the rollback"
        assert store.arrivals("f", since=0.0) == []
        with store.batch():
            store.record_arrivals("f", [1.0, 2.0], forget_before=0.0)
            store.put_state("f", FeedState(etag='"3"'))
    with SeenStore(path) as store:
        assert store.get_state("f") == FeedState(etag='"3"')
        assert store.arrivals("f", since=0.0) == [1.0, 2.0]
