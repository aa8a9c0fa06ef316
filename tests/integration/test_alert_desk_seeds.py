"""The seeds through the real pipeline (feed over HTTP → ingest → match → alert on a real broker), read as a
desk editor reads them, in every channel: email (real SMTP), Telegram and a webhook (loopback HTTP
servers), the console line and the JSONL log. Each bullet of issue 15 is asserted on each channel;
nothing of the seeds' text is written here, only the structure around it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from monitor.alerting.document import SCHEMA_FILE
from monitor.alerting.render import CONSOLE_LIMIT, SUBJECT_LIMIT
from monitor.alerting.telegram import TELEGRAM_LIMIT
from monitor.demo.serve import LocalFeedServer
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.processes import newsmon
from tests.fixtures.seeds import load_seeds, seeds_as_rss
from tests.fixtures.smtp import Inbox

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:AAF-desk_token"
OUTLET = "newsmon seed articles"  # the seed feed's <title>: the outlet's name
NAMES = ("Kim Jong Un", "Xi Jinping", "Vladimir Putin")  # rules/entities.yaml, names.en
FIRST_LINE = re.compile(r"^(Meeting: .+|Military parade) — (?:[^,]+, )?\d{4}-\d{2}-\d{2}$")
SUBJECT = re.compile(
    r"^\[(HIGH|MEDIUM)\] (Meeting: .+|Military parade) — (?:[^,]+, )?\d{4}-\d{2}-\d{2}( \(.+\))?( · .+)?$"
)


class _Posts(ThreadingHTTPServer):
    """Records every POST: stands in for Telegram's Bot API (answers ok) and for a webhook endpoint."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[tuple[str, dict[str, Any]]] = []

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Posts

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posts.append((self.path, body))
        data = json.dumps({"ok": True, "result": {"message_id": len(self.server.posts)}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def posts() -> Iterator[_Posts]:
    server = _Posts()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run_pipeline(
    broker: BrokerUnderTest, tmp_path: Path, unique: str, smtp_port: int, posts: _Posts, inbox: Inbox
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "seeds.xml").write_bytes(seeds_as_rss(load_seeds()))
    with LocalFeedServer(site) as server:
        (tmp_path / "feeds.yaml").write_text(
            yaml.safe_dump({"feeds": [{"id": "seeds", "url": server.url("seeds.xml"), "language": "fr"}]})
        )
        receivers = {
            "mail": {
                "urls": [f"mailto://127.0.0.1:{smtp_port}/desk@example.org?from=newsmon@example.org&cto=5"]
            },
            "tg": {"urls": [f"tgram://{TOKEN}/-1001234"], "telegram_api_url": f"http://{posts.url}"},
            "hook": {"urls": [f"webhook://{posts.url}/hook"]},
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        env |= broker.env()
        env |= {
            "NEWSMON_KAFKA__GROUP_PREFIX": f"desk-{unique}",
            **{
                f"NEWSMON_KAFKA__TOPICS__{t.upper()}": f"{t}-{unique}"
                for t in ("articles", "matches", "alerts", "deadletter")
            },
            "NEWSMON_INGEST__FEEDS_FILE": str(tmp_path / "feeds.yaml"),
            "NEWSMON_INGEST__STATE_DB": str(tmp_path / "ingest.sqlite3"),
            "NEWSMON_INGEST__BLOCK_PRIVATE_ADDRESSES": "false",
            "NEWSMON_MATCH__RULES_DIR": str(REPO / "rules"),
            "NEWSMON_ALERT__RECEIVERS": json.dumps(receivers),
            "NEWSMON_ALERT__ROUTES": json.dumps([{"receivers": ["mail", "tg", "hook"]}]),
            "NEWSMON_ALERT__LANGUAGE": "en",
            "NEWSMON_ALERT__TIMEZONE": "Europe/Paris",
            "NEWSMON_ALERT__GROUP_WAIT_S": "2",
            "NEWSMON_ALERT__ALERT_LOG": str(tmp_path / "alerts.jsonl"),
            "NEWSMON_ALERT__OUTBOX_DB": str(tmp_path / "alerts.sqlite3"),
            "NEWSMON_METRICS__PORT": "0",
            "NEWSMON_LOG_FORMAT": "json",
        }
        processes = [
            newsmon([stage], env, tmp_path, tmp_path / f"{stage}.log")
            for stage in ("alert", "match", "ingest")
        ]
        try:
            deadline, quiet_since, seen = time.monotonic() + 240, time.monotonic(), -1
            while time.monotonic() < deadline:
                count = len(inbox.messages) + len(posts.posts)
                if count != seen:
                    seen, quiet_since = count, time.monotonic()
                elif inbox.messages and time.monotonic() - quiet_since > 12:
                    break
                time.sleep(0.5)
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                process.wait(timeout=60)


def _names_in_desk_language(first_line: str) -> None:
    if first_line.startswith("Meeting: "):
        who = first_line.removeprefix("Meeting: ").split(" — ")[0]
        assert set(who.replace(" & ", ", ").split(", ")) <= set(NAMES), first_line
        assert "Poutine" not in first_line  # the French name stays in the French sentence


def test_seed_alerts_show_every_bullet_in_every_channel(
    broker: BrokerUnderTest, smtp: tuple[Inbox, int], posts: _Posts, tmp_path: Path, unique: str
) -> None:
    inbox, port = smtp
    _run_pipeline(broker, tmp_path, unique, port, posts, inbox)
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    seed_urls = {f"/{seed.name.removesuffix('.txt')}" for seed in load_seeds()}

    # JSONL: the versioned record, valid against its schema, with every bullet as a field.
    records = [
        json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert records
    assert {r["rule"] for r in records} == {"leaders_meeting", "military_parade"}
    for r in records:
        jsonschema.validate(r, schema)
        assert FIRST_LINE.match(r["first_line"]), r["first_line"]
        _names_in_desk_language(r["first_line"])
        assert r["subject"].startswith(f"[{r['severity'].upper()}] {r['first_line']}")
        evidence = r["evidence"]
        assert evidence["language"] == "fr"
        assert evidence["url"].endswith(tuple(seed_urls))
        kinds = {h["kind"] for h in evidence["highlights"]}
        assert "trigger" in kinds  # the word of meeting or parade that fired
        if r["rule"] == "leaders_meeting":
            assert "name" in kinds
            assert {p["name"] for p in r["who"]} <= set(NAMES)
            assert len(r["who"]) >= 2
        published = [a["published"] for a in r["articles"] if a["published"]]
        assert published == sorted(published), "first reporter first"
        for a in r["articles"]:
            assert a["outlet"] == OUTLET
            assert a["language"] == "fr"
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} CES?T", a["published_local"])
    assert any(r["where"] for r in records if r["rule"] == "leaders_meeting"), "a place from NER"

    # Email: subject = severity + first line; the body's first line, evidence once, sources by outlet.
    assert inbox.messages
    for message in inbox.messages:
        subject = str(message["subject"])
        assert SUBJECT.match(subject), subject
        assert len(subject) <= SUBJECT_LIMIT
        body = message.get_body(preferencelist=("html",))
        assert body is not None
        html = body.get_content()
        assert html.count("<blockquote") == 1, "the best evidence sentence, once"
        assert "<u>" in html  # the trigger word
        assert re.search(r"fr · <a href=\"[^\"]+/0\d\d_[0-9a-f]+\"", html), "its language and link"
        assert f"{OUTLET} · fr · " in html
        assert "first reporter first" in html
        text = message.get_body(preferencelist=("plain",))
        assert text is None or "Sources (" in text.get_content()
    meeting = [m for m in inbox.messages if "Meeting: " in str(m["subject"])]
    assert meeting
    for message in meeting:
        body = message.get_body(preferencelist=("html",))
        assert body is not None
        assert "<mark>" in body.get_content()  # the names
        _names_in_desk_language(str(message["subject"]).split("] ", 1)[1].split(" · ")[0].split(" (")[0])

    # Telegram: one message per alert within the limit, bold first line, names and trigger marked.
    telegram = [body for path, body in posts.posts if path.endswith("/sendMessage")]
    assert len(telegram) == len(inbox.messages)
    for body in telegram:
        text = body["text"]
        assert len(text.encode("utf-16-le")) // 2 <= TELEGRAM_LIMIT
        first = text.splitlines()[0]
        assert re.match(r"^<b>(HIGH|MEDIUM) · (Meeting: .+|Military parade) — .+</b>$", first), first
        assert text.count("<blockquote>") == 1
        assert "<u>" in text
        assert f"— {OUTLET}, fr, " in text
        assert TOKEN not in text

    # Webhook: the same structure, valid against the schema.
    hooks = [body for path, body in posts.posts if path == "/hook"]
    assert len(hooks) == len(inbox.messages)
    for body in hooks:
        jsonschema.validate(body, schema)
        assert body["schema"] == "newsmon.notification/2"

    # Console: one line per alert, within the limit: severity, first line, outlet, link, evidence.
    lines = [
        ln
        for ln in (tmp_path / "alert.log").read_text(encoding="utf-8").splitlines()
        if ln.startswith("ALERT ")
    ]
    assert len(lines) >= len(inbox.messages)
    for line in lines:
        assert len(line) <= CONSOLE_LIMIT
        m = re.match(
            r"^ALERT (HIGH|MEDIUM)(?: [A-Z]+)? (.+?) · (\d+) sources?, first (.+?) · (\S+) · \(fr\) (.+)$",
            line,
        )
        assert m, line
        assert FIRST_LINE.match(m.group(2)), m.group(2)
        assert m.group(4) == OUTLET
        assert "[" in m.group(6)  # a trigger word, bracketed
