"""The seen-store: new, duplicate, changed, and still there after a restart."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.ingest.seen import SeenStore, content_hash
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
    with SeenStore(path) as store:
        store.mark_published("a1", "h1", "f")
        store.set_feed_state("f", '"etag-1"', "Tue, 10 Jun 2025 12:00:00 GMT")
    with SeenStore(path) as store:
        assert not store.is_new("a1", "h1")
        assert store.get_feed_state("f") == ('"etag-1"', "Tue, 10 Jun 2025 12:00:00 GMT")
        assert store.get_feed_state("other") == (None, None)
        store.set_feed_state("f", None, None)
        assert store.get_feed_state("f") == (None, None)


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
