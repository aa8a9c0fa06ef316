"""One ingest poll cycle over 1,000 feeds on local HTTP servers, publishing to the embedded broker.

The cycle measured is the steady state of a real deployment: half the feeds answer 304 to the conditional
GET, a quarter ignore it and send the same bytes again, a quarter have 5 new items among their 50. Before
it, one priming cycle (not measured, nothing published) fills the seen-store, as the ingestor's previous
polls would have. The feeds are spread over 50 loopback addresses, so the per-host limit applies as it
would to 50 outlets. The servers run in a child process, so they do not compete for the ingestor's GIL.
"""

from __future__ import annotations

import multiprocessing
import random
import shutil
import statistics
import tempfile
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.corpus import _WORDS
from bench.results import Figure
from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestOptions, IngestService
from monitor.logs import configure_logging
from monitor.metrics import Metrics
from monitor.models import Article
from monitor.settings import KafkaSettings

__all__ = ["RESULT_NOTES", "bench_ingest", "figures"]

RESULT_NOTES = {
    "ingest_cycle_s_1000_feeds": (
        "s",
        "one poll cycle, 1,000 RSS feeds x 50 items on 50 loopback hosts: 500 answer 304, 250 resend the same"
        " bytes, 250 have 5 new items (1,250 articles published with an ack each to the embedded broker);"
        " 16 workers, 2 per host; median of the runs",
    ),
}
_HOSTS = 50
_NEW_ITEMS = 5
_SEED = 20250610


def _item(rng: random.Random, feed: int, n: int, when: datetime) -> str:
    summary = " ".join(rng.choice(_WORDS) for _ in range(70))
    title = " ".join(rng.choice(_WORDS) for _ in range(9)).capitalize()
    return (
        f"<item><title>{title}</title><link>https://outlet{feed % _HOSTS}.example/{feed}/{n}</link>"
        f"<guid>https://outlet{feed % _HOSTS}.example/{feed}/{n}</guid>"
        f"<description>&lt;p&gt;{summary} &lt;a href='/x'&gt;suite&lt;/a&gt;&lt;/p&gt;</description>"
        f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>"
    )


def _bodies(feed: int, items: int, now: datetime) -> tuple[bytes, bytes]:
    """Return the feed's body before and after the cycle's change (5 new items, the oldest 5 gone)."""
    rng = random.Random(_SEED + feed)
    # An item every 10 minutes up to now: live feeds, neither stale nor from the future.
    start = now - timedelta(minutes=10 * (items + _NEW_ITEMS))
    entries = [_item(rng, feed, n, start + timedelta(minutes=10 * n)) for n in range(items + _NEW_ITEMS)]
    head = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><language>fr</language>"
        f"<title>Outlet {feed}</title><link>https://outlet{feed % _HOSTS}.example/</link>"
    )
    before = head + "".join(reversed(entries[:items])) + "</channel></rss>"
    after = head + "".join(reversed(entries[_NEW_ITEMS:])) + "</channel></rss>"
    return before.encode(), after.encode()


def _serve(feeds: int, items: int, ports: Any, changed: Event, stop: Event) -> None:
    """Serve every feed (child process): /feed/<n> on host 127.0.0.<2 + n % 50>."""
    now = datetime.now(UTC)
    bodies = [_bodies(n, items, now) for n in range(feeds)]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            n = int(self.path.rsplit("/", 1)[1])
            before, after = bodies[n]
            group = n % 4  # 0, 1: honour conditional GET; 2: ignore it, same bytes; 3: changed
            body = after if group == 3 and changed.is_set() else before
            etag = f'"{n}-{zlib.crc32(body):x}"' if group != 2 else None
            if etag is not None and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if etag is not None:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    servers = []
    for h in range(_HOSTS):
        server = ThreadingHTTPServer((f"127.0.0.{2 + h}", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    ports.put([s.server_address[1] for s in servers])
    stop.wait()
    for server in servers:
        server.shutdown()


def _service(
    feeds: list[FeedConfig], db: Path, publish: Any, metrics: Metrics
) -> tuple[IngestService, Fetcher, SeenStore]:
    fetcher = Fetcher(timeout_s=20, max_bytes=10_000_000, user_agent="newsmon-bench/1", block_private=False)
    store = SeenStore(db)
    service = IngestService(
        feeds, fetcher, store, publish, metrics, IngestOptions(workers=16, max_per_host=2)
    )
    return service, fetcher, store


def bench_ingest(feeds: int = 1000, items: int = 50, runs: int = 3) -> dict[str, float]:
    """Return the median seconds of one poll cycle over ``feeds`` feeds, and what the cycle did."""
    # structlog's default prints every "feed.polled" to stdout, under the figures' table: warnings only.
    configure_logging("WARNING", "console")
    ctx = multiprocessing.get_context("spawn")
    ports_queue = ctx.Queue()
    changed, stop = ctx.Event(), ctx.Event()
    server = ctx.Process(target=_serve, args=(feeds, items, ports_queue, changed, stop), daemon=True)
    server.start()
    workdir = Path(tempfile.mkdtemp(prefix="newsmon-bench-ingest-"))
    try:
        ports = ports_queue.get(timeout=120)
        configs = [
            FeedConfig(id=f"feed{n:04d}", url=f"http://127.0.0.{2 + n % _HOSTS}:{ports[n % _HOSTS]}/feed/{n}")
            for n in range(feeds)
        ]
        # Priming: the polls before the measured one; nothing published, so it needs no broker.
        primed = workdir / "primed.sqlite3"
        service, fetcher, store = _service(configs, primed, lambda a: None, Metrics(CollectorRegistry()))
        started = time.perf_counter()
        service.poll_all()
        prime_s = time.perf_counter() - started
        fetcher.close()
        store.close()
        changed.set()

        cycles: list[float] = []
        reports: list[Any] = []
        with EmbeddedBroker() as broker:
            bus = Bus(tuple(broker.bootstrap_servers), KafkaSettings(), embedded=True)
            bus.ensure_topics()
            producer = bus.producer()

            def publish(article: Article) -> None:
                producer.send("articles", key=article.id.encode(), value=encode(article)).get(timeout=30)

            for run in range(runs):
                db = workdir / f"run{run}.sqlite3"
                shutil.copy(primed, db)
                service, fetcher, store = _service(configs, db, publish, Metrics(CollectorRegistry()))
                started = time.perf_counter()
                reports = service.poll_all()
                cycles.append(time.perf_counter() - started)
                fetcher.close()
                store.close()
            producer.close()
    finally:
        stop.set()
        server.join(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "ingest_cycle_s_1000_feeds" if feeds == 1000 else f"ingest_cycle_s_{feeds}_feeds": statistics.median(
            cycles
        ),
        "cycle_s_min": min(cycles),
        "cycle_s_max": max(cycles),
        "prime_cycle_s": prime_s,
        "feeds": feeds,
        "not_modified": sum(r.not_modified for r in reports),
        "unchanged": sum(r.unchanged for r in reports),
        "articles_published": sum(r.published for r in reports),
        "errors": sum(r.error is not None for r in reports),
    }


def figures(quick: bool = False, runs: int = 3) -> list[Figure]:
    """Run the ingest benchmark and return its figures."""
    feeds = 200 if quick else 1000
    r = bench_ingest(feeds=feeds, runs=runs)
    name = f"ingest_cycle_s_{feeds}_feeds"
    unit, note = RESULT_NOTES["ingest_cycle_s_1000_feeds"]
    if quick:
        note = f"one poll cycle, {feeds:,} RSS feeds x 50 items on 50 loopback hosts (quick mode)"
    did = (
        f"; the cycle measured published {r['articles_published']:,.0f} articles with"
        f" {r['not_modified']:,.0f} answers 304, {r['unchanged']:,.0f} unchanged, {r['errors']:,.0f} errors"
    )
    return [
        Figure(name, r[name], unit, note + did),
        Figure(
            "ingest_prime_cycle_s",
            r["prime_cycle_s"],
            "s",
            f"the first cycle over the same {feeds:,} feeds (every body parsed, {feeds * 50:,} items marked"
            " seen, nothing published): what a fresh ingestor pays once",
        ),
    ]
