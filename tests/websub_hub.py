"""A real WebSub hub on loopback for tests: Flask-WebSub's hub, and a topic server that names it.

Flask-WebSub is a maintained hub implementation (W3C WebSub: subscribe requests, intent verification by
a GET to the callback, content distribution with an ``X-Hub-Signature`` HMAC). Its work runs as celery
tasks; here celery runs them eagerly, inside the hub's request, so no celery broker is needed. That
makes the hub verify a subscription before it answers the request, which a subscriber must handle.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from celery import Celery
from flask import Flask
from flask_websub.hub import Hub, SQLite3HubStorage
from werkzeug.serving import make_server

__all__ = ["LoopbackHub", "Topic", "rss_with_hub", "serve_topic", "silent_hub", "websub_hub"]

# Each hub in a process needs its own blueprint prefix (Flask-WebSub names blueprints after it).
_HUBS = iter(range(1_000_000))


@dataclass
class LoopbackHub:
    """A running hub: its URL, and what it holds."""

    url: str
    hub: Any
    storage: Any

    def subscribers(self, topic: str) -> list[tuple[str, str]]:
        """Return the ``(callback, secret)`` of each live subscription to ``topic``."""
        return [(row[0], row[1]) for row in self.storage.get_callbacks(topic)]

    def publish(self, topic: str) -> int:
        """Tell the hub that ``topic`` changed (it fetches it and pushes it to every subscriber)."""
        return httpx.post(self.url, data={"hub.mode": "publish", "hub.topic": topic}, timeout=30).status_code

    def wait_for_subscriber(self, topic: str, timeout_s: float = 60.0) -> tuple[str, str]:
        """Return the first subscription to ``topic`` once there is one."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.subscribers(topic)
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no subscription to {topic} within {timeout_s} s")


@contextlib.contextmanager
def websub_hub(
    tmp_path: Path, *, algorithm: str = "sha256", min_lease_s: int = 60, request_timeout_s: float = 5
) -> Iterator[LoopbackHub]:
    """Run a Flask-WebSub hub on a free loopback port for as long as the context lasts."""
    n = next(_HUBS)
    app = Flask(f"websub-hub-{n}")
    app.config.update(PUBLISH_SUPPORTED=True, HUB_MIN_LEASE_SECONDS=min_lease_s)
    celery = Celery(f"websub-hub-{n}", broker="memory://", backend="cache+memory://")
    celery.conf.update(task_always_eager=True, task_eager_propagates=False)
    storage = SQLite3HubStorage(str(tmp_path / f"hub-{n}.sqlite3"))
    hub = Hub(
        storage,
        celery,
        SIGNATURE_ALGORITHM=algorithm,
        REQUEST_TIMEOUT=request_timeout_s,
        MAX_ATTEMPTS=0,  # eager retries would run back to back inside the request: one try is enough
    )
    app.register_blueprint(hub.build_blueprint(url_prefix=f"/hub{n}"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns a failure
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LoopbackHub(f"http://127.0.0.1:{server.server_port}/hub{n}", hub, storage)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Topic:
    """A feed on loopback whose body a test changes, naming its hub in the ``Link`` header."""

    body: bytes = b""
    hub: str = ""
    port: int = 0
    gets: list[str] = field(default_factory=list)
    """The User-Agent of each GET, in order: who fetched the feed (newsmon polls, the hub fetches)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed.xml"


@contextlib.contextmanager
def serve_topic(hub: str, body: bytes = b"") -> Iterator[Topic]:
    """Serve a Topic on a free loopback port; ``Link`` names ``hub`` and the topic itself."""
    topic = Topic(body=body, hub=hub)

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            topic.gets.append(self.headers.get("User-Agent", ""))
            data = topic.body
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Link", f'<{topic.hub}>; rel="hub", <{topic.url}>; rel="self"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    topic.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield topic
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@contextlib.contextmanager
def silent_hub(status: int = 202) -> Iterator[str]:
    """Run a broken "hub" that answers every request with ``status`` and never verifies; yield its URL."""

    class _Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hub"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def rss_with_hub(hub: str, self_url: str, items: list[tuple[str, str]], description: str = "") -> bytes:
    """Return an RSS 2.0 feed naming its hub in ``<atom:link>``, one item per ``(guid, title)``."""
    entries = "".join(
        f"<item><title>{title}</title><link>https://news.example.org/{guid}</link>"
        f"<guid isPermaLink='false'>{guid}</guid><description>{description or title}</description></item>"
        for guid, title in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?>"
        "<rss version='2.0' xmlns:atom='http://www.w3.org/2005/Atom'><channel><title>Pushed</title>"
        f"<link>https://news.example.org/</link><atom:link rel='hub' href='{hub}'/>"
        f"<atom:link rel='self' href='{self_url}'/>{entries}</channel></rss>"
    ).encode()
