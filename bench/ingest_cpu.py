"""Ingest CPU per new article: the soak's feeds (a 20-item window, one or two new items per poll), in-process.

The soak measures the ingestor's CPU over a whole day with the other stages on the same two cores; this
bench isolates the ingestor, so a change to its hot path can be measured in minutes without starving
the other engineers' tests. Each feed holds the newest 20 of its ~600-word articles, the full body in
``content:encoded``, as in the soak, served over HTTP with an ETag by a child process (whose CPU is not
counted) on 8 loopback hosts. Every round, each feed gains one or two items (1.5 on average, as in the
soak's 30 s polls of feeds releasing every 20 s) and is polled once by the real ``IngestService`` (16
threads, 2 per host), which publishes to the embedded broker and waits for each ack, as
``newsmon ingest`` does. The figure is the process CPU time (every thread: the Kafka client's too) of
the polls, divided by the articles published. The same rounds run with the pre-pass off too, for the
comparison (``ingest.prepass``).
"""

from __future__ import annotations

import multiprocessing
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.corpus import make_corpus
from bench.feedserver import FeedItem, item_xml, rss_document
from bench.results import Figure
from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestOptions, IngestService
from monitor.metrics import Metrics
from monitor.models import Article
from monitor.settings import KafkaSettings

__all__ = ["IngestCpu", "figures", "measure"]

_WINDOW = 20
_HOSTS = 8  # as in the soak: the per-host limit of 2 allows 16 polls at once, the service's workers
_FIRST_HOST = 30


@dataclass(frozen=True)
class IngestCpu:
    """What one run measured."""

    cpu_s: float
    published: int
    polls: int

    @property
    def ms_per_article(self) -> float:
        """Return the CPU milliseconds per published article."""
        return 1000 * self.cpu_s / self.published


def _serve(root: str, hosts: int, ports: Any, stop: Event) -> None:
    """Serve ``root``'s files with an ETag of their mtime and size on ``hosts`` addresses (child process)."""
    base = Path(root)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = base / self.path.lstrip("/")
            stat = path.stat()
            etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    servers = [ThreadingHTTPServer((_host(h), 0), Handler) for h in range(hosts)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports.put([s.server_address[1] for s in servers])
    stop.wait()
    for server in servers:
        server.shutdown()


def _host(n: int) -> str:
    return f"127.0.0.{_FIRST_HOST + n}"


class _Feeds:
    """The generated feeds: their items' XML, and how many each has released so far."""

    def __init__(self, work: Path, feeds: int, per_feed: int, ports: list[int]) -> None:
        corpus = make_corpus(feeds * per_feed, watched_share=0.1, seed=8, languages=("fr", "en"))
        now = datetime.now(UTC)
        self.work = work
        self.xml: list[list[str]] = []
        self.configs: list[FeedConfig] = []
        for f in range(feeds):
            mine = corpus[f * per_feed : (f + 1) * per_feed]
            # An item every 20 minutes up to now: a live feed, neither stale nor from the future.
            dates = [now - timedelta(minutes=20 * (per_feed - i)) for i in range(per_feed)]
            self.xml.append(
                [
                    item_xml(FeedItem(f"https://ingest-{f:03d}.bench.invalid/{i}", a.title, a.text, dates[i]))
                    for i, a in enumerate(mine)
                ]
            )
            url = f"http://{_host(f % len(ports))}:{ports[f % len(ports)]}/{f}.xml"
            self.configs.append(FeedConfig(id=f"ingest-{f:03d}", url=url, language=mine[0].language))
        self.released = [0] * feeds

    def release(self, feed: int, count: int) -> None:
        """Make feed ``feed`` list its newest ``count`` items (at most the window)."""
        self.released[feed] = count
        items = self.xml[feed][max(0, count - _WINDOW) : count][::-1]
        (self.work / f"{feed}.xml").write_bytes(rss_document(self.configs[feed].id, "fr", items))


def _run(
    feeds: _Feeds, db: Path, publish: Callable[[Article], None], rounds: int, prepass: bool
) -> IngestCpu:
    """Prime a fresh seen-store with the first window, then poll ``rounds`` times; return the CPU taken.

    Each round polls every feed once, as the service's threads do (16 at once, 2 per host), so the
    Kafka client batches the acks of concurrent polls as it does in ``newsmon ingest``.
    """
    count = [0]
    lock = threading.Lock()

    def counted(article: Article) -> None:
        publish(article)
        with lock:
            count[0] += 1

    store = SeenStore(db)
    fetcher = Fetcher(timeout_s=10, max_bytes=10_000_000, user_agent="newsmon-bench/1", block_private=False)
    options = IngestOptions(workers=16, max_per_host=2, prepass=prepass, detect_language=False)
    service = IngestService(feeds.configs, fetcher, store, counted, Metrics(CollectorRegistry()), options)
    n = len(feeds.configs)
    for f in range(n):
        feeds.release(f, _WINDOW)
    service.poll_all()  # priming: the polls before the measured ones
    count[0] = 0
    cpu = 0.0
    for r in range(rounds):
        for f in range(n):
            feeds.release(f, feeds.released[f] + 1 + (r + f) % 2)
        started = time.process_time()
        reports = service.poll_all()
        cpu += time.process_time() - started
        failed = [x.error for x in reports if x.error is not None]
        if failed:
            raise RuntimeError(f"polls failed: {failed[:3]}")
    fetcher.close()
    store.close()
    expected = sum(feeds.released) - _WINDOW * n
    if count[0] != expected:
        raise RuntimeError(f"published {count[0]} articles, expected {expected}")
    return IngestCpu(cpu, count[0], n * rounds)


def measure(feeds: int = 40, rounds: int = 20, runs: int = 1) -> dict[bool, list[IngestCpu]]:
    """Return ``runs`` measures with the pre-pass on (True) and off (False), taken in turn."""
    ctx = multiprocessing.get_context("spawn")
    work = Path(tempfile.mkdtemp(prefix="newsmon-bench-ingest-cpu-"))
    port_queue = ctx.Queue()
    stop = ctx.Event()
    server = ctx.Process(target=_serve, args=(str(work), _HOSTS, port_queue, stop), daemon=True)
    server.start()
    out: dict[bool, list[IngestCpu]] = {True: [], False: []}
    try:
        generated = _Feeds(work, feeds, _WINDOW + (3 * rounds + 1) // 2 + 1, port_queue.get(timeout=60))
        with EmbeddedBroker() as broker:
            bus = Bus(tuple(broker.bootstrap_servers), KafkaSettings(), embedded=True)
            bus.ensure_topics()
            producer = bus.producer()

            def publish(article: Article) -> None:
                producer.send("articles", key=article.id.encode(), value=encode(article)).get(timeout=30)

            for run in range(runs):
                for prepass in (True, False):
                    db = work / f"seen-{run}-{prepass}.sqlite3"
                    out[prepass].append(_run(generated, db, publish, rounds, prepass))
            producer.close()
    finally:
        stop.set()
        server.join(10)
        shutil.rmtree(work, ignore_errors=True)
    return out


def figures(quick: bool = False, runs: int = 3) -> list[Figure]:
    """Run the bench ``runs`` times and return the median CPU per new article, pre-pass on and off."""
    feeds, rounds = (10, 5) if quick else (40, 20)
    results = measure(feeds, rounds, runs)
    r = results[True][0]
    what = (
        f"{r.polls} polls of {feeds} soak-like feeds on 8 loopback hosts (16 polls at once; 20-item window"
        " of ~600-word fr/en articles, full text in content:encoded, 1.5 new items per poll), each article"
        " published to the"
        f" embedded broker with its ack / the {r.published} articles published; median of {runs} runs"
    )
    return [
        Figure(
            "ingest_cpu_ms_per_new_article",
            statistics.median(x.ms_per_article for x in results[True]),
            "ms",
            f"process CPU of the ingestor (every thread): {what}",
        ),
        Figure(
            "ingest_cpu_ms_per_new_article_without_prepass",
            statistics.median(x.ms_per_article for x in results[False]),
            "ms",
            f"the same with ingest.prepass off (every item parsed at every poll, as before issue 16): {what}",
        ),
    ]


if __name__ == "__main__":
    from monitor.logs import configure_logging

    configure_logging("ERROR", "console")
    for figure in figures(quick=False, runs=1):
        print(f"{figure.name:48} {figure.value:8.2f} {figure.unit}")
