"""``newsmon rules test``: inputs of every kind, both formats, and the exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.ingest.fetch import Fetcher
from monitor.matching.inputs import read_articles
from monitor.matching.rules_test import run_rules_test
from tests.fixtures.articles import FIXED_NOW
from tests.fixtures.http import base_url, serving
from tests.fixtures.rules import RULES

MODELS = {"fr": "fr_core_news_sm"}

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Test</title><link>https://news.example.org/</link><language>fr</language>
<item><title>Sommet à Moscou</title><link>https://news.example.org/1</link><guid>n1</guid>
<description>Xi Jinping a rencontré Vladimir Poutine à Moscou.</description></item>
<item><title>Météo</title><link>https://news.example.org/2</link><guid>n2</guid>
<description>Il pleut.</description></item>
</channel></rss>
"""


def _run(paths: list[Path], fmt: str = "json", rules: Path = RULES) -> tuple[int, str]:
    out = io.StringIO()
    code = run_rules_test(paths, rules, MODELS, fmt, out)
    return code, out.getvalue()


def test_text_file_with_date_line(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("\n date 2025-01-31 Xi Jinping reçoit Vladimir Poutine\n\nLe corps.\n", encoding="utf-8")
    [article] = read_articles(path)
    assert article.title == "Xi Jinping reçoit Vladimir Poutine"
    assert article.published is not None
    assert article.published.isoformat() == "2025-01-31T00:00:00+00:00"
    assert article.text == "Le corps."
    assert article.language is None


def test_text_file_without_date(tmp_path: Path) -> None:
    path = tmp_path / "b.txt"
    path.write_text("Un titre\nLa suite.", encoding="utf-8")
    [article] = read_articles(path)
    assert (article.title, article.published) == ("Un titre", None)


def test_json_inputs(tmp_path: Path) -> None:
    base = {
        "feed_id": "f",
        "url": "https://news.example.org/x",
        "title": "T",
        "fetched_at": FIXED_NOW.isoformat(),
    }
    one = tmp_path / "one.json"
    one.write_text(json.dumps({**base, "id": "x1"}), encoding="utf-8")
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{**base, "id": "x2"}, {**base, "id": "x3"}]), encoding="utf-8")
    assert [a.id for a in read_articles(one) + read_articles(many)] == ["x1", "x2", "x3"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{**base, "id": "x4"}, {"title": "no id"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="article 2: id: Field required"):
        read_articles(bad)


def test_json_report_one_line_per_article(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    code, out = _run([feed])
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["title"] for r in records] == ["Sommet à Moscou", "Météo"]
    first = records[0]
    assert first["source"] == str(feed)
    assert first["language"] == "fr"
    [match] = first["matches"]
    assert match["rule"] == "leaders_meeting"
    assert match["score"] == 1.0
    assert {e["condition"] for e in match["evidence"]} == {"leaders", "meeting"}
    assert {e["entity_id"] for e in first["entities"] if e["entity_id"]} == {"xi_jinping", "vladimir_putin"}
    assert records[1]["matches"] == []


def test_a_bad_input_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("Défilé\nUn défilé militaire aura lieu demain.", encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    code, out = _run([tmp_path / "missing.txt", broken, good])
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert lines[0]["source"].endswith("missing.txt")
    assert "cannot read" in lines[0]["error"]
    assert lines[1]["source"].endswith("broken.json")
    assert "invalid JSON" in lines[1]["error"]
    assert [m["rule"] for m in lines[2]["matches"]] == ["military_parade"]


def test_a_folder_is_read_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Titre\nRien à signaler.", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    code, out = _run([tmp_path])
    assert code == 0
    assert len(out.splitlines()) == 1


def test_bad_rules_exit_2(tmp_path: Path) -> None:
    code, out = _run([tmp_path / "whatever.txt"], fmt="text", rules=tmp_path / "no-rules")
    assert code == 2
    assert "rules folder not found" in out


def test_text_report_says_what_fired_and_why(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(
        " date 2025-03-01 Sommet\nKim Jong-un et Xi Jinping se sont rencontrés à Pékin.", encoding="utf-8"
    )
    code, out = _run([path], fmt="text")
    assert code == 0
    assert "MATCH leaders_meeting" in out
    assert "- Kim Jong-un et Xi Jinping se sont rencontrés à Pékin." in out
    assert "leaders: Kim Jong-un [kim_jong_un], Xi Jinping [xi_jinping]; meeting: rencontrés" in out
    assert "[fr, 2025-03-01]" in out
    assert "1 article(s), 1 match(es), 0 input error(s)" in out


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="valid formats"):
        run_rules_test([], RULES, MODELS, "xml", io.StringIO())


PAGE = """<!doctype html><html><head><title>Sommet à Moscou</title></head>
<body><h1>Sommet</h1><p>Xi Jinping a rencontré Vladimir Poutine au Kremlin.</p></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/feed.xml": ("application/rss+xml", RSS),
            "/page.html": ("text/html; charset=utf-8", PAGE),
        }
        if self.path not in routes:
            self.send_error(404)
            return
        kind, body = routes[self.path]
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Handler)) as httpd:
        yield base_url(httpd)


def _loopback_fetcher() -> Fetcher:
    return Fetcher(timeout_s=5, max_bytes=1_000_000, user_agent="test", block_private=False)


def test_urls_of_a_feed_and_a_page(server: str) -> None:
    out = io.StringIO()
    code = run_rules_test(
        [f"{server}/feed.xml", f"{server}/page.html", f"{server}/missing"],
        RULES,
        MODELS,
        "json",
        out,
        fetcher=_loopback_fetcher,
    )
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == 1
    assert [r.get("title") for r in records] == ["Sommet à Moscou", "Météo", "Sommet à Moscou", None]
    assert [m["rule"] for m in records[2]["matches"]] == ["leaders_meeting"]
    assert records[2]["url"] == f"{server}/page.html"
    assert "404" in records[3]["error"]


def test_private_addresses_are_refused_by_default(server: str) -> None:
    out = io.StringIO()
    assert run_rules_test([f"{server}/page.html"], RULES, MODELS, "json", out) == 1
    assert "cannot fetch" in json.loads(out.getvalue())["error"]


def test_colour_highlights_entities_and_terms(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Sommet\nKim Jong-un et Xi Jinping se sont rencontrés à Pékin.", encoding="utf-8")
    out = io.StringIO()
    assert run_rules_test([path], RULES, MODELS, "text", out, color=True) == 0
    text = out.getvalue()
    assert (
        "- \x1b[1;36mKim Jong-un\x1b[0m et \x1b[1;36mXi Jinping\x1b[0m se sont \x1b[1;33mrencontrés\x1b[0m"
        in text
    )
    assert "\x1b[1;32mMATCH leaders_meeting\x1b[0m" in text
    plain = io.StringIO()
    run_rules_test([path], RULES, MODELS, "text", plain)
    assert "\x1b[" not in plain.getvalue()
