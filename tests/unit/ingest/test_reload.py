"""Reloading the feeds file on change: new lists are taken, bad edits keep the last good list."""

from __future__ import annotations

import os
from pathlib import Path

from structlog.testing import capture_logs

from monitor.ingest.reload import FeedsWatcher

GOOD = "feeds:\n  - id: a\n    url: https://a.example/rss\n"
MORE = GOOD + "  - id: b\n    url: https://b.example/rss\n"
BAD = GOOD + "  - id: c\n    url: ftp://c.example/rss\n"


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # Same-second edits must still be seen; bump mtime so the test does not depend on the clock's grain.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_unchanged_file_means_no_reload(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    _write(path, GOOD)
    watcher = FeedsWatcher(path)
    assert watcher.check() is None
    assert watcher.check() is None


def test_edits_are_reloaded_and_bad_edits_keep_the_old_list(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    _write(path, GOOD)
    watcher = FeedsWatcher(path)

    _write(path, MORE)
    reload = watcher.check()
    assert reload is not None
    assert reload.feeds is not None
    assert [f.id for f in reload.feeds] == ["a", "b"]
    assert watcher.check() is None  # reported once

    with capture_logs() as logs:
        _write(path, BAD)
        bad = watcher.check()
    assert bad is not None
    assert bad.feeds is None
    assert bad.error is not None
    assert f"{path}:5: feeds[1].url" in str(bad.error)  # file:line:field, as at start-up
    (event,) = [e for e in logs if e["event"] == "feeds.reload_invalid"]
    assert event["log_level"] == "error"
    assert f"{path}:5" in event["error"]

    path.unlink()
    gone = watcher.check()
    assert gone is not None
    assert gone.feeds is None
    assert "cannot read feeds file" in str(gone.error)

    _write(path, GOOD)
    back = watcher.check()
    assert back is not None
    assert back.feeds is not None
    assert [f.id for f in back.feeds] == ["a"]
