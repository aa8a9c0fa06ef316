"""The rig the fault tests share (no tests here): newsmon processes, a watchlist, stories, a real SMTP server.

Each fault test runs ``python -m monitor <stage>`` as real processes against a real broker, with fresh
topics and groups, a one-rule watchlist matched through the gazetteer (no spaCy model to load, so a
restarted matcher is back in about two seconds), and a real SMTP server (aiosmtpd) that counts what
it received. Every story is its own event (published an hour after the previous one, with a dedup
window of a minute), so each must reach the inbox exactly once: one email per story, no more, no less.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from monitor.alerting.outbox import Outbox
from monitor.bus.broker import free_port
from monitor.bus.producer import ResilientProducer
from monitor.bus.serde import encode
from monitor.models import Article, article_id
from tests.integration.brokers import BrokerUnderTest

RULE = "watch"
SEED = 8  # the number: kill points are drawn from it; change it to explore others
_PLACES = ("Valmont", "Kessler Bay", "Ardent", "Lumen City", "Brask", "Ostend Vale", "Marrow", "Tirel")
_BASE = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
# kafka-python logs every failed reconnection attempt; with the broker away they would fill any tail.
_NOISE = re.compile(
    r"Connection (failed|lost)|Metadata refresh|Bootstrap failed|No node available|socket disconnected"
    r"|Error sending \w+Request|Marking the coordinator dead|Fetch to node"
)

_ENTITIES = """\
entities:
  - id: lena_ostrova
    name: Lena Ostrova
    type: PER
    aliases: [Lena Ostrova]
"""
_WATCHLIST = """\
id: watch
name: Watch
severity: high
languages: [en]
conditions:
  - name: who
    entities: {any: [lena_ostrova]}
  - name: what
    keywords: {en: ["visit*"]}
examples:
  match:
    - {language: en, text: "Lena Ostrova visited Valmont."}
  no_match:
    - {language: en, text: "Lena Ostrova stayed home."}
"""


def write_rules(folder: Path) -> Path:
    """Write the one-watchlist rules folder the fault tests match with; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entities.yaml").write_text(_ENTITIES, encoding="utf-8")
    (folder / "watch.yaml").write_text(_WATCHLIST, encoding="utf-8")
    return folder


def story(n: int) -> Article:
    """Return story ``n``: it matches the watchlist and is an event of its own."""
    place = _PLACES[n % len(_PLACES)]
    url = f"https://wire.example.net/{n}"
    text = f"Lena Ostrova visited {place} on her tour, stop number {n}, and met the mayor."
    return Article(
        id=article_id(f"story-{n}", url),
        feed_id="wire",
        url=url,
        guid=f"story-{n}",
        title=f"Lena Ostrova visits {place} (stop {n})",
        text=text,
        summary=text,
        language="en",
        published=_BASE + timedelta(hours=n),
    )


def subject(n: int) -> str:
    """Return the subject of story ``n``'s alert email."""
    story_n = story(n)
    return f"[HIGH] Watch: Lena Ostrova — {story_n.published:%Y-%m-%d} · {story_n.title}"


def rss(numbers: range | list[int]) -> bytes:
    """Return an RSS 2.0 feed of the given stories, newest first as feeds list them."""
    root = ET.Element("rss", version="2.0")
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = "wire"
    ET.SubElement(channel, "link").text = "https://wire.example.net/"
    ET.SubElement(channel, "language").text = "en"
    for n in sorted(numbers, reverse=True):
        s = story(n)
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = s.title
        ET.SubElement(item, "link").text = s.url
        ET.SubElement(item, "guid", isPermaLink="false").text = s.guid
        assert s.published is not None
        ET.SubElement(item, "pubDate").text = format_datetime(s.published)
        ET.SubElement(item, "description").text = f"<p>{html.escape(s.text)}</p>"
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")).encode()


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps the subject of every message it accepts."""

    subjects: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.subjects.append(str(message["Subject"]))
        return "250 OK"

    def snapshot(self) -> list[str]:
        """Return the subjects received so far."""
        with self._lock:
            return list(self.subjects)

    def duplicates(self) -> dict[str, int]:
        """Return the subjects received more than once, with their counts."""
        return {s: n for s, n in Counter(self.snapshot()).items() if n > 1}


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """Run a real SMTP server on a free loopback port."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class Proc:
    """One newsmon process and its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        """Return whether it still runs."""
        return self.popen.poll() is None

    def tail(self, chars: int = 4000) -> str:
        """Return the end of its log, for assertion messages, without kafka-python's reconnection noise."""
        if not self.log.exists():
            return ""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if not _NOISE.search(line))[-chars:]

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` if it still runs."""
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        """Wait for it to exit; return its exit code."""
        return self.popen.wait(timeout=timeout_s)

    def metrics_url(self, timeout_s: float = 120.0) -> str:
        """Return its /metrics URL, read from its ``http.started`` log line."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(r'"metrics": "(http://[^"]+/metrics)"', self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            assert self.alive(), f"{self.name} died:\n{self.tail()}"
            time.sleep(0.1)
        raise AssertionError(f"{self.name} never said where its metrics are:\n{self.tail()}")

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Return the sum of the samples of ``name`` (with ``labels``) on its /metrics."""
        with urllib.request.urlopen(self.metrics_url(), timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if labels and not all(f'{k}="{v}"' in line for k, v in labels.items()):
                continue
            total += float(line.rsplit(" ", 1)[1])
        return total

    def label_values(self, name: str, label: str) -> set[str]:
        """Return the values ``label`` takes in the series of ``name`` on its /metrics."""
        with urllib.request.urlopen(self.metrics_url(), timeout=5) as response:
            text = response.read().decode()
        return set(re.findall(rf'^{name}\{{[^}}]*{label}="([^"]*)"', text, flags=re.MULTILINE))


class Rig:
    """Start, signal and watch newsmon processes configured for one test (fresh topics and groups)."""

    def __init__(self, tmp_path: Path, unique: str, smtp_port: int, *, partitions: int = 3) -> None:
        self.tmp_path = tmp_path
        self.outbox = tmp_path / "alerts.sqlite3"
        self.feed = tmp_path / "site" / "wire.xml"
        self.feed.parent.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
        self.env = base | {
            "NEWSMON_KAFKA__GROUP_PREFIX": f"faults-{unique}",
            **{
                f"NEWSMON_KAFKA__TOPICS__{t.upper()}": f"{t}-{unique}"
                for t in ("articles", "matches", "alerts", "deadletter")
            },
            "NEWSMON_KAFKA__PARTITIONS": str(partitions),
            # tansu's short group timeouts, for `newsmon run`'s own broker; use_broker() sets the broker's.
            "NEWSMON_KAFKA__SESSION_TIMEOUT_MS": "2000",
            "NEWSMON_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
            "NEWSMON_KAFKA__TOPIC_CHECK_S": "0.5",
            "NEWSMON_INGEST__FEEDS_FILE": str(tmp_path / "feeds.yaml"),
            "NEWSMON_INGEST__STATE_DB": str(tmp_path / "ingest.sqlite3"),
            "NEWSMON_INGEST__BLOCK_PRIVATE_ADDRESSES": "false",
            "NEWSMON_INGEST__RELOAD_CHECK_S": "0.5",
            "NEWSMON_MATCH__RULES_DIR": str(write_rules(tmp_path / "rules")),
            "NEWSMON_MATCH__SPACY_MODELS": "{}",
            "NEWSMON_MATCH__DEFAULT_LANGUAGE": "en",
            "NEWSMON_MATCH__RELOAD_CHECK_S": "0",
            "NEWSMON_ALERT__APPRISE_URLS": json.dumps(
                [f"mailto://127.0.0.1:{smtp_port}/desk@example.org?from=newsmon@example.org&cto=5"]
            ),
            "NEWSMON_ALERT__APPRISE_MIN_INTERVAL_S": "0",
            "NEWSMON_ALERT__CONSOLE": "false",
            "NEWSMON_ALERT__ALERT_LOG": str(tmp_path / "alerts.jsonl"),
            "NEWSMON_ALERT__OUTBOX_DB": str(self.outbox),
            "NEWSMON_ALERT__GROUP_WAIT_S": "0",
            "NEWSMON_ALERT__DEDUP__WINDOW_S": "60",
            "NEWSMON_ALERT__RETRY_INITIAL_S": "1",
            "NEWSMON_ALERT__RETRY_MAX_S": "2",
            "NEWSMON_METRICS__PORT": "0",
            "NEWSMON_LOG_FORMAT": "json",
        }

    def use_broker(self, broker: BrokerUnderTest) -> None:
        """Point the processes started from now on at ``broker``, configured for its kind."""
        self.env |= broker.env()

    def serve_feed(self, url: str, numbers: range | list[int]) -> None:
        """Write the feeds file (one feed at ``url``, polled every second) and the feed's stories."""
        self.publish(numbers)
        feeds = {"feeds": [{"id": "wire", "url": url, "language": "en", "poll_interval_s": 1}]}
        (self.tmp_path / "feeds.yaml").write_text(json.dumps(feeds), encoding="utf-8")

    def publish(self, numbers: range | list[int]) -> None:
        """Replace the feed's content with the given stories (atomically: a poll never reads half)."""
        partial = self.feed.with_suffix(".tmp")
        partial.write_bytes(rss(numbers))
        partial.replace(self.feed)

    def start(self, *args: str, name: str | None = None, env: dict[str, str] | None = None) -> Proc:
        """Start ``python -m monitor ARGS``; its output goes to a log file of its own."""
        name = name or args[0]
        log = self.tmp_path / f"{name}.log"
        with log.open("ab") as out:  # the child keeps its own copy of the descriptor
            popen = subprocess.Popen(
                [sys.executable, "-m", "monitor", *args],
                env=self.env | (env or {}),
                cwd=self.tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stored_alerts(self) -> int:
        """Return how many alerts the outbox holds."""
        if not self.outbox.is_file():
            return 0
        with Outbox(self.outbox) as outbox:
            return len(outbox.list_alerts())

    def wait_for(self, what: str, ready: Callable[[], bool], timeout_s: float, *watch: Proc) -> None:
        """Wait until ``ready()``; fail early, with its log, if a watched process dies."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            for proc in watch:
                assert proc.alive(), f"{proc.name} died while waiting for {what}:\n{proc.tail()}"
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.diagnostics()}")
            time.sleep(0.1)

    def diagnostics(self) -> str:
        """Return the end of every process's log."""
        return "\n".join(f"--- {p.name} (exit {p.popen.poll()})\n{p.tail(2500)}" for p in self.procs)

    def stop_all(self, timeout_s: float = 30.0) -> dict[str, int | None]:
        """SIGTERM every process still running; return each one's exit code (None: had to be killed)."""
        for proc in self.procs:
            proc.signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for proc in self.procs:
            try:
                codes[proc.name] = proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
                codes[proc.name] = None
        return codes


class Stream:
    """Publish stories ``0..n-1`` on the articles topic at a steady rate, from a thread of the test."""

    def __init__(self, broker: BrokerUnderTest, unique: str, n: int, per_s: float, partitions: int) -> None:
        self._bus = broker.bus(unique, partitions)
        self._bus.ensure_topics()
        self._n = n
        self._pause = 1 / per_s
        self.sent = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # newsmon's own producer, as the ingestor publishes: a story is sent until a broker acknowledged
        # it, so a broker killed under the stream costs the test no input.
        producer = ResilientProducer(self._bus)
        try:
            for n in range(self._n):
                article = story(n)
                producer.send_and_wait(
                    self._bus.settings.topics.articles,
                    key=article.id.encode(),
                    value=encode(article),
                    timeout_s=120,
                )
                self.sent += 1
                time.sleep(self._pause)
        finally:
            producer.close()

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=60)
