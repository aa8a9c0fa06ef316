"""Structured logs: JSON off a TTY, the ids bound while a message is handled, secrets masked everywhere.

Logging is configured once per process, so these tests run it in a child process of their own rather
than reconfigure the test runner's logging.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.bus.broker import free_port
from monitor.logs import redact

_SCRIPT = textwrap.dedent(
    """
    import logging
    from structlog.contextvars import bound_contextvars
    from monitor.logs import configure_logging, get_logger

    configure_logging("INFO", "auto")  # stderr is a pipe here: JSON
    log = get_logger("monitor.test")
    with bound_contextvars(article_id="a1b2", rule="leaders"):
        log.info("match.found", score=2.0)
    log.info("alert.created", alert_id="c3d4")
    logging.getLogger("apprise").info("Sending to mailto://desk:hunter2@smtp.example.org:587/?to=d@example.org")
    try:
        raise RuntimeError("cannot reach tgram://123456:AAbbCC/987 nor https://u:hunter2@feeds.example.org/x")
    except RuntimeError:
        log.exception("delivery.crashed", url="https://feeds.example.org/rss?api_key=hunter2&lang=fr")
    """
)


@pytest.fixture(scope="module")
def lines() -> list[dict[str, Any]]:
    """Return the JSON lines the script above logs in a process of its own."""
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    for secret in ("hunter2", "AAbbCC"):
        assert secret not in result.stderr, result.stderr
    return [json.loads(line) for line in result.stderr.splitlines()]


def test_every_line_is_json_with_level_and_time(lines: list[dict[str, Any]]) -> None:
    assert [line["event"] for line in lines][:2] == ["match.found", "alert.created"]
    for line in lines:
        assert {"event", "level", "timestamp"} <= set(line)


def test_ids_bound_for_a_message_are_on_its_lines_only(lines: list[dict[str, Any]]) -> None:
    found, created = lines[0], lines[1]
    assert (found["article_id"], found["rule"], found["score"]) == ("a1b2", "leaders", 2.0)
    assert "article_id" not in created
    assert created["alert_id"] == "c3d4"


def test_secrets_are_masked_in_third_party_lines_values_and_tracebacks(lines: list[dict[str, Any]]) -> None:
    apprise, crashed = lines[2], lines[3]
    assert apprise["event"] == "Sending to mailto://***"
    assert crashed["url"] == "https://feeds.example.org/rss?api_key=***&lang=fr"
    assert "tgram://***" in crashed["exception"]
    assert "https://***@feeds.example.org/x" in crashed["exception"]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("GET https://feeds.example.org/rss.xml 200", "GET https://feeds.example.org/rss.xml 200"),
        ("https://user:pw@feeds.example.org/rss", "https://***@feeds.example.org/rss"),
        ("https://example.org/a?token=t0k&page=2", "https://example.org/a?token=***&page=2"),
        ("https://example.org/@handle/feed", "https://example.org/@handle/feed"),
        ("mailtos://user:app-pass@gmail.com?to=desk@example.org", "mailtos://***"),
        (
            "see tgram://BOT:TOKEN/CHAT and http://127.0.0.1:9464/metrics",
            "see tgram://*** and http://127.0.0.1:9464/metrics",
        ),
        ("tcp://127.0.0.1:9092", "tcp://127.0.0.1:9092"),
        ("no url here", "no url here"),
    ],
)
def test_redact(text: str, masked: str) -> None:
    assert redact(text) == masked


def test_kafka_python_says_once_that_the_broker_is_away(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")} | {
        "NEWSMON_KAFKA__BOOTSTRAP_SERVERS": json.dumps([dead]),
        "NEWSMON_METRICS__PORT": "0",
        "NEWSMON_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "alert"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any("ECONNREFUSED" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(6)  # kafka-python retries about four times a second meanwhile
    process.terminate()
    process.wait(timeout=60)
    reader.join(timeout=10)
    if process.stderr is not None:
        process.stderr.close()
    refused = [line for line in lines if "ECONNREFUSED" in line]
    assert 1 <= len(refused) <= 2, "".join(lines)  # "Connection failed", "Connection lost": once each
