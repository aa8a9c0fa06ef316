"""The callback server: where hubs verify intents (GET) and distribute content (POST).

It must be reachable by the hubs at ``ingest.websub.callback_url`` (through a reverse proxy, usually);
the last path segment names the subscription, so any prefix the proxy adds or keeps is fine. Bodies
are capped at ``max_bytes`` like polled feeds, and requests are answered at once: the work is queued.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from monitor.errors import ConfigError
from monitor.logs import get_logger
from monitor.metrics import Metrics

__all__ = ["CallbackHandler", "CallbackServer"]

_log = get_logger(__name__)
# A hub's verification query is a few hundred bytes; this bounds what a stranger can make us parse.
_MAX_QUERY = 8192


class CallbackHandler(Protocol):
    """What answers the hubs (the subscriber)."""

    def verify(self, sub_id: str, query: Mapping[str, str]) -> tuple[int, str]:
        """Answer an intent verification or a denial."""

    def deliver(
        self, sub_id: str, signature: str | None, content_type: str | None, body: bytes
    ) -> tuple[int, str]:
        """Accept or refuse a content distribution."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return  # a hub that hung up; it retries
        _log.exception("websub.request_failed", client=str(client_address))


class CallbackServer:
    """Serve the WebSub callback on ``host:port`` in daemon threads."""

    def __init__(
        self, host: str, port: int, handler: CallbackHandler, metrics: Metrics, max_bytes: int
    ) -> None:
        self.host = host
        self._handler = handler
        self._metrics = metrics
        self._max_bytes = max_bytes
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if len(parts.query) > _MAX_QUERY:
                    self._reply(414, "query too long\n")
                    return
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                self._reply(*server._handler.verify(_sub_id(parts.path), query))

            def do_POST(self) -> None:
                sub_id = _sub_id(urlsplit(self.path).path)
                length = self.headers.get("Content-Length", "")
                if not length.isdigit():
                    self._refuse(411, "length_required", "a Content-Length is required")
                    return
                if int(length) > server._max_bytes:
                    self._refuse(413, "too_large", f"body past {server._max_bytes} bytes")
                    return
                body = self.rfile.read(int(length))
                status, text = server._handler.deliver(
                    sub_id, self.headers.get("X-Hub-Signature"), self.headers.get("Content-Type"), body
                )
                self._reply(status, text)

            def _refuse(self, status: int, outcome: str, why: str) -> None:
                server._metrics.websub_notifications.labels(feed="", outcome=outcome).inc()
                _log.warning("websub.notification_dropped", reason=why, status=status)
                self.close_connection = True  # the body was not read: the connection cannot be reused
                self._reply(status, why + "\n")

            def _reply(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the subscriber logs what matters; one line per request would drown the log

        try:
            self._httpd = _Server((host, port), _Handler)
        except OSError as e:
            raise ConfigError(
                f"cannot listen for WebSub callbacks on {host}:{port}: {e.strerror or e}"
                " (ingest.websub.listen_host, ingest.websub.listen_port)"
            ) from e
        self.port = int(self._httpd.server_address[1])
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="websub-callback",
            daemon=True,
        )
        self._thread.start()
        _log.info("websub.listening", host=self.host, port=self.port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()


def _sub_id(path: str) -> str:
    """Return the subscription id: the last segment of the callback path."""
    return path.rstrip("/").rsplit("/", 1)[-1]
