"""The /metrics and /healthz endpoint, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monitor.app.http import HttpEndpoint
from monitor.metrics import Metrics


def test_metrics_and_health() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.articles_published.labels(feed="f1").inc(3)
    ready = [False]
    endpoint = HttpEndpoint(metrics.registry, "127.0.0.1", 0, lambda: ready[0]).start()
    try:
        body = httpx.get(f"{endpoint.url}/metrics").text
        assert 'newsmon_articles_published_total{feed="f1"} 3.0' in body
        assert "newsmon_build_info" in body
        assert httpx.get(f"{endpoint.url}/healthz").status_code == 503
        ready[0] = True
        assert httpx.get(f"{endpoint.url}/healthz").status_code == 200
        assert httpx.get(f"{endpoint.url}/nope").status_code == 404
    finally:
        endpoint.stop()


def test_port_zero_is_bound_at_once_and_reported_in_the_port_file(tmp_path: Path) -> None:
    port_file = tmp_path / "metrics.port"
    endpoint = HttpEndpoint(CollectorRegistry(), "127.0.0.1", 0, lambda: True, port_file=port_file)
    assert not port_file.exists(), "written once serving, not before"
    endpoint.start()
    try:
        port = int(port_file.read_text(encoding="utf-8"))
        assert port == endpoint.port != 0
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        endpoint.stop()


def test_a_client_hanging_up_is_no_traceback_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    # capture_logs around the whole life of the endpoint: whatever logging an earlier test configured,
    # its own start and stop lines must not reach stderr either
    with capture_logs() as logs:
        endpoint = HttpEndpoint(CollectorRegistry(), "127.0.0.1", 0, lambda: True).start()
        try:
            for error in (BrokenPipeError(32, "Broken pipe"), ValueError("bug")):
                try:
                    raise error
                except (BrokenPipeError, ValueError):
                    # What socketserver calls when a request's handler raised (a scrape that timed out).
                    endpoint._server.handle_error(None, ("127.0.0.1", 5))
        finally:
            endpoint.stop()
    assert capsys.readouterr().err == "", "stderr holds JSON log lines only"
    failed = [e["event"] for e in logs if e["event"] == "http.request_failed"]
    assert failed == ["http.request_failed"], "a real error is a log event, a hang-up none"
