"""``newsmon feeds check``: validation, the --fetch table over local file feeds, exit codes."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.ingest.check import FeedCheck, format_age, render_table


def _feeds_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_a_valid_file_is_reported_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _feeds_file(tmp_path, "feeds:\n  - id: a\n    url: https://a.example/rss\n")
    assert main(["feeds", "check", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: 1 feeds, valid\n"


def test_an_invalid_file_exits_2_naming_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _feeds_file(tmp_path, "feeds:\n  - id: a\n    url: ftp://a.example/rss\n")
    assert main(["feeds", "check", str(path)]) == 2
    assert f"{path}:3: feeds[0].url: scheme 'ftp' not allowed" in capsys.readouterr().err


def test_fetch_prints_one_row_per_feed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes(
        b"<rss version='2.0'><channel><title>t</title><item><title>x</title><link>https://g.example/1</link>"
        b"<pubDate>Tue, 10 Jun 2025 12:00:00 GMT</pubDate></item></channel></rss>"
    )
    html = tmp_path / "page.html"
    html.write_bytes(b"<html><body>Not a feed</body></html>")
    path = _feeds_file(
        tmp_path,
        f"feeds:\n  - id: good\n    url: {good.as_uri()}\n  - id: html\n    url: {html.as_uri()}\n"
        f"  - id: missing\n    url: {(tmp_path / 'missing.xml').as_uri()}\n",
    )
    assert main(["feeds", "check", str(path), "--fetch"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["FEED", "STATUS", "ITEMS", "NEWEST", "TIME", "ERRORS"]
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert rows["good"][1:3] == ["200", "1"]
    assert rows["good"][3].endswith("d")  # the item is from 2025: days old
    assert rows["html"][1] == "error:parse"
    assert rows["missing"][1] == "error:file"
    assert lines[-1] == "1 of 3 feeds fetched and parsed"


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(seconds=5), "5s"),
        (timedelta(minutes=12), "12m"),
        (timedelta(hours=3), "3h"),
        (timedelta(days=4, hours=5), "4d"),
    ],
)
def test_ages_read_like_a_person_writes_them(age: timedelta, text: str) -> None:
    now = datetime(2025, 6, 10, tzinfo=UTC)
    assert format_age(now - age, now) == text
    assert format_age(None, now) == "-"


def test_long_errors_are_shown_whole_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    error = "cannot connect to https://f.example/rss: " + "word\n" * 30 + "; the fix at the end"
    render_table([FeedCheck("f", "https://f.example", "error:network", error=error)], sys.stdout)
    row = capsys.readouterr().out.splitlines()[1]
    assert row.endswith("word word word ; the fix at the end")
    assert "…" not in row
