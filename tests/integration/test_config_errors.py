"""Invalid settings stop newsmon at start: the file or variable, the field, the problem, the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _newsmon(
    tmp_path: Path, *argv: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``newsmon argv`` in a process of its own, with only the given NEWSMON_ variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *argv],
        env=clean | {"NEWSMON_METRICS__PORT": "0", "NEWSMON_LOG_FORMAT": "json"} | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_receiver_url_apprise_cannot_load_stops_newsmon_before_anything_starts(tmp_path: Path) -> None:
    receivers = {"desk": {"urls": ["slack://not-a-token"]}}
    started = time.monotonic()
    run = _newsmon(tmp_path, "run", env={"NEWSMON_ALERT__RECEIVERS": json.dumps(receivers)})
    elapsed = time.monotonic() - started
    assert run.returncode == 2
    (line,) = run.stderr.splitlines()  # no broker, no Kafka client, no endpoint said anything first
    assert line.startswith("newsmon: alert.receivers.desk.urls[0]: apprise cannot load this slack:// URL: ")
    assert "Slack" in line, "apprise's own words say what is wrong"
    assert "not-a-token" not in line
    assert elapsed < 20, "not after the pipeline started"


def test_bad_json_in_a_variable_ends_the_command_with_the_variable_and_the_problem(tmp_path: Path) -> None:
    run = _newsmon(tmp_path, "alerts", "list", env={"NEWSMON_ALERT__RECEIVERS": '{"desk": {"urls": [}'})
    assert run.returncode == 2
    (line,) = run.stderr.splitlines()
    assert line.startswith(
        "newsmon: NEWSMON_ALERT__RECEIVERS: invalid JSON: Expecting value at character 20; "
    )


def test_a_misspelled_section_is_not_ignored(tmp_path: Path) -> None:
    run = _newsmon(tmp_path, "alerts", "list", env={"NEWSMON_ALERTS__CONSOLE": "false"})
    assert run.returncode == 2
    assert "NEWSMON_ALERTS__CONSOLE: unknown section or setting 'alerts'; valid names are [" in run.stderr
