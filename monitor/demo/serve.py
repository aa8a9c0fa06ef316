"""Serve a folder over HTTP on a free loopback port, so the demo's feed is fetched like a real one."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

__all__ = ["LocalFeedServer"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class LocalFeedServer:
    """Serve ``root`` on 127.0.0.1 for as long as the context is open."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-feed", daemon=True)

    def url(self, name: str) -> str:
        """Return the URL of file ``name`` under the served folder."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def __enter__(self) -> LocalFeedServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
