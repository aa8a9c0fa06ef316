"""The benchmarks' stage processes: each binds port 0 and reports the port it got; cleanup never raises."""

from __future__ import annotations

from pathlib import Path

from bench.readback import AlertLogTail
from bench.stages import StageProcess, stage_env
from monitor.bus.broker import EmbeddedBroker


def test_a_stage_process_reports_the_port_it_bound(broker: EmbeddedBroker, tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    env = stage_env(broker.bootstrap_servers, tmp_path) | {"NEWSMON_KAFKA__GROUP_PREFIX": "bench-test"}
    stage = StageProcess("ingest", env, tmp_path, tmp_path / "ingest.log")  # no port chosen here
    try:
        stage.wait_ready(None, timeout_s=120)
        assert stage.port not in (None, 0)
        assert (tmp_path / "ingest.port").read_text(encoding="utf-8").strip() == str(stage.port)
        assert any(name == "newsmon_build_info" for name, _, _ in stage.samples())
    finally:
        assert stage.stop() == 0


def test_stopping_a_tail_that_never_started_does_not_raise(tmp_path: Path) -> None:
    tail = AlertLogTail(tmp_path / "alerts.jsonl")
    tail.stop()  # a stage failed before the tail was started: the cleanup must not hide that error
    assert not tail.is_alive()
