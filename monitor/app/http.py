"""The HTTP endpoint every service exposes: ``/metrics`` for Prometheus and ``/healthz`` for probes."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from monitor.errors import ConfigError
from monitor.logs import get_logger

__all__ = ["HttpEndpoint"]

_log = get_logger(__name__)


class _Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer whose request errors are log events, not tracebacks on stderr."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Log a failed request; a client that hung up (a scrape that timed out) is not worth a line."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return
        _log.exception("http.request_failed", client=str(client_address))


class HttpEndpoint:
    """Serve ``/metrics`` from ``registry`` and ``/healthz`` from ``ready()`` in a daemon thread.

    ``/healthz`` answers 200 when ``ready()`` holds and 503 otherwise (still loading, or a stage died),
    with a JSON body that names the state of each stage from ``stages()``, so whoever reads a failed
    probe (``kubectl describe``, ``docker inspect``) sees which stage is at fault, not only that one is.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        ready: Callable[[], bool],
        stages: Callable[[], Mapping[str, str]] | None = None,
        *,
        port_file: Path | None = None,
    ) -> None:
        endpoint = self
        self._port_file = port_file

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(endpoint.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok = endpoint.ready()
                    body = {"status": "ok" if ok else "unavailable", "stages": dict(endpoint.stages())}
                    self._reply(200 if ok else 503, json.dumps(body).encode() + b"\n", "application/json")
                else:
                    self._reply(404, b"not found: try /metrics or /healthz\n", "text/plain")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a scrape every 15 s is not worth a log line

        self.registry = registry
        self.ready = ready
        self.stages: Callable[[], Mapping[str, str]] = stages or dict
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as e:
            raise ConfigError(
                f"cannot serve /metrics on {host}:{port}: {e.strerror or e} "
                "(settings metrics.host and metrics.port; port 0 picks a free one)"
            ) from e
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL the endpoint listens on."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        """Return the port the endpoint listens on (the one the system chose, when asked for 0)."""
        return int(self._server.server_address[1])

    def start(self) -> HttpEndpoint:
        """Start serving in the background; then write the port to ``port_file``, if one was given.

        The port is bound in ``__init__``: whoever reads the file connects to a port that is already
        this process's, with no window for another process to take it (as a port picked by the caller
        and bound later has).
        """
        self._thread.start()
        if self._port_file is not None:
            partial = self._port_file.with_name(self._port_file.name + ".partial")
            partial.write_text(f"{self.port}\n", encoding="utf-8")
            partial.replace(self._port_file)  # atomic: a reader never sees half a number
        _log.info("http.started", metrics=f"{self.url}/metrics", healthz=f"{self.url}/healthz")
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
