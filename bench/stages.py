"""newsmon stages as separate processes (``python -m monitor <stage>``), watched from outside.

The benchmark reads what a stage does the way an operator would: ``/healthz`` and ``/metrics`` on the
stage's metrics port, and its peak resident memory (``VmHWM``) from ``/proc/<pid>/status``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.targets import BusTarget
from monitor.settings import KafkaSettings, TopicSettings

__all__ = ["StageProcess"]


REPO = Path(__file__).resolve().parents[1]


def stage_env(bootstrap: list[str], workdir: Path, *, target: BusTarget | None = None) -> dict[str, str]:
    """Return the environment for stage processes of one bench run: its broker, its files in ``workdir``.

    ``target``: the broker and topics of the run (default: an embedded broker at ``bootstrap``, with
    newsmon's own topic names). The caller's own ``NEWSMON_*`` variables are left out, so a developer's
    settings do not leak into the figures. Alerts go to a JSONL log only (no network delivery) and are
    not held back for grouping.
    """
    target = target or BusTarget(tuple(bootstrap), KafkaSettings(), embedded=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return (
        env
        | target.stage_kafka_env()
        | {
            "NEWSMON_INGEST__FEEDS_FILE": str(workdir / "feeds.yaml"),
            "NEWSMON_INGEST__STATE_DB": str(workdir / "ingest.sqlite3"),
            "NEWSMON_INGEST__BLOCK_PRIVATE_ADDRESSES": "false",
            # Each loopback address stands for a hundred outlets: no budget meant for one real server.
            "NEWSMON_INGEST__HOST_REQUESTS_PER_MINUTE": "1000000",
            "NEWSMON_MATCH__RULES_DIR": str(REPO / "rules"),
            "NEWSMON_ALERT__CONSOLE": "false",
            "NEWSMON_ALERT__GROUP_WAIT_S": "0",
            "NEWSMON_ALERT__ALERT_LOG": str(workdir / "alerts.jsonl"),
            "NEWSMON_ALERT__OUTBOX_DB": str(workdir / "alerts.sqlite3"),
            "NEWSMON_LOG_FORMAT": "json",
        }
    )


class StageProcess:
    """One ``newsmon <stage>`` process with its own metrics port and log file.

    The stage binds port 0 and writes the port it got to a file (``metrics.port_file``): a port picked
    here and bound there later could be taken in between by whatever else runs on the machine.
    """

    def __init__(self, stage: str, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.stage = stage
        self.log = log
        self._port_file = log.with_suffix(".port")
        self._port_file.unlink(missing_ok=True)
        self._port: int | None = None
        env = {**env, "NEWSMON_METRICS__PORT": "0", "NEWSMON_METRICS__PORT_FILE": str(self._port_file)}
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", stage],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.proc.pid

    def check_alive(self) -> None:
        """Raise RuntimeError, with the end of the stage's log, if the process has exited."""
        code = self.proc.poll()
        if code is not None:
            tail = self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"newsmon {self.stage} exited with {code}:\n{tail}")

    @property
    def port(self) -> int | None:
        """Return the stage's metrics port, once it has written it; None before."""
        if self._port is None and self._port_file.is_file():
            self._port = int(self._port_file.read_text(encoding="utf-8"))
        return self._port

    def _get(self, path: str) -> tuple[int, str]:
        if self.port is None:
            return 0, ""  # not listening yet
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""
        except OSError:
            return 0, ""

    def healthy(self) -> bool:
        """Return whether ``/healthz`` answers 200 (every stage of the process runs)."""
        return self._get("/healthz")[0] == 200

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        """Return every sample of ``/metrics`` as (name, labels, value); empty if it does not answer."""
        status, text = self._get("/metrics")
        if status != 200:
            return []
        return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]

    @staticmethod
    def total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
        """Return the sum of sample ``name`` over the series matching ``labels``."""
        return sum(
            v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items())
        )

    def wait_ready(self, lag_topic: str | None, timeout_s: float = 90.0) -> float:
        """Wait for ``/healthz`` and, for a consumer, a partition of ``lag_topic``; return seconds waited.

        Healthy is not enough for a consumer: it joins its group after it starts, and messages published
        before it owns a partition would wait for the join, which is start-up, not pipeline latency.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            self.check_alive()
            if self.healthy():
                if lag_topic is None:
                    return time.monotonic() - started
                lag = [s for s in self.samples() if s[0] == "newsmon_consumer_lag_messages"]
                if any(labels.get("topic") == lag_topic for _, labels, _ in lag):
                    return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError(f"newsmon {self.stage} not ready within {timeout_s:.0f} s; see {self.log}")

    def peak_rss_mib(self) -> float:
        """Return the process's peak resident set size so far (``VmHWM``), in MiB."""
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="utf-8")
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM in /proc/{self.pid}/status")

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) the process has used so far, in seconds."""
        fields = Path(f"/proc/{self.pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout_s: float = 30.0) -> int:
        """Ask the stage to stop (SIGINT, as Ctrl-C), wait, kill it if it hangs; return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            return -9


@dataclass
class Counts:
    """How far the articles went, from the three stages' counters (dead letters kept apart)."""

    published: float = 0.0
    duplicates: float = 0.0
    analysed: float = 0.0
    articles_deadlettered: float = 0.0
    matches: float = 0.0
    matches_handled: float = 0.0
    matches_deadlettered: float = 0.0
    alerts: float = 0.0

    def drained(self, want_published: int) -> bool:
        """Return whether ``want_published`` articles were published and everything went through."""
        return (
            self.published >= want_published
            and self.analysed + self.articles_deadlettered >= self.published
            and self.matches_handled + self.matches_deadlettered >= self.matches
        )


def read_counts(
    stages: dict[str, StageProcess], want_published: int, topics: TopicSettings | None = None
) -> Counts:
    """Read the stages' counters, the cheaper way: later stages only once the earlier ones got there.

    ``topics``: the run's topic names, which label the per-topic counters (default: newsmon's own).
    """
    topics = topics or TopicSettings()
    total = StageProcess.total
    i = stages["ingest"].samples()
    c = Counts(
        published=total(i, "newsmon_articles_published_total"),
        duplicates=total(i, "newsmon_articles_duplicate_total"),
    )
    if c.published < want_published:
        return c
    m = stages["match"].samples()
    c.analysed = total(m, "newsmon_articles_analysed_total")
    c.articles_deadlettered = total(m, "newsmon_messages_deadlettered_total", topic=topics.articles)
    c.matches = total(m, "newsmon_matches_total")
    if c.analysed + c.articles_deadlettered < c.published:
        return c
    a = stages["alert"].samples()
    c.matches_handled = total(a, "newsmon_messages_consumed_total", topic=topics.matches)
    c.matches_deadlettered = total(a, "newsmon_messages_deadlettered_total", topic=topics.matches)
    c.alerts = total(a, "newsmon_alerts_total")
    return c


def drain(
    stages: dict[str, StageProcess],
    want_published: int,
    timeout_s: float,
    scrape_s: float,
    topics: TopicSettings | None = None,
) -> tuple[float, Counts]:
    """Wait until ``want_published`` articles went all the way through; return (time.time(), counts).

    Raises:
        RuntimeError: a stage exited, or the articles did not get through within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        for stage in stages.values():
            stage.check_alive()
        c = read_counts(stages, want_published, topics)
        if c.drained(want_published):
            return time.time(), c
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pipeline did not drain within {timeout_s:.0f} s: {c}")
        time.sleep(scrape_s)
