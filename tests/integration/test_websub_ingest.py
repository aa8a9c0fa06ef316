"""WebSub with the real ingest service objects: a real hub on loopback, a real feed server, a real callback.

``publish`` collects Articles (the bus has its own tests; test_websub_e2e.py runs the whole pipeline).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from monitor.bus.broker import free_port
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestService
from monitor.ingest.websub.signature import sign
from monitor.ingest.websub.source import WebSubPush, build_websub
from monitor.metrics import Metrics
from monitor.models import Article
from monitor.settings import IngestSettings, WebSubSettings
from tests.fixtures.websub_hub import Topic, rss_with_hub, serve_topic, silent_hub, websub_hub

UA = "newsmon-test/1"


def _wait(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Running:
    service: IngestService
    push: WebSubPush
    published: list[Article]
    metrics: Metrics
    callback: str
    store: SeenStore

    def titles(self) -> list[str]:
        return [a.title for a in self.published]

    def value(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def run_ingest(tmp_path: Path, metrics: Metrics) -> Iterator[Callable[..., Running]]:
    """Start an IngestService with WebSub on in a thread; stop it at the end of the test."""
    stops: list[Callable[[], None]] = []

    def start(feed: FeedConfig, **websub: object) -> Running:
        port = free_port()
        callback = f"http://127.0.0.1:{port}/websub"
        cfg = IngestSettings(
            state_db=tmp_path / "ingest.sqlite3",
            block_private_addresses=False,
            user_agent=UA,
            timeout_s=5,
            websub=WebSubSettings(
                callback_url=callback,
                listen_port=port,
                state_db=tmp_path / "websub.sqlite3",
                **websub,  # type: ignore[arg-type]
            ),
        )
        push = build_websub(cfg, metrics, tick_s=0.1)
        assert push is not None
        fetcher = Fetcher(timeout_s=5, max_bytes=1_000_000, user_agent=UA, block_private=False)
        store = SeenStore(cfg.state_db)
        published: list[Article] = []
        service = IngestService([feed], fetcher, store, published.append, metrics, push=push)
        stop = threading.Event()
        thread = threading.Thread(target=service.run, args=(stop, 0.1), daemon=True)
        thread.start()

        def close() -> None:
            stop.set()
            thread.join(30)
            push.close()
            fetcher.close()
            store.close()

        stops.append(close)
        return Running(service, push, published, metrics, callback, store)

    yield start
    for close in reversed(stops):
        close()


def _newsmon_gets(topic: Topic) -> int:
    return sum(1 for ua in topic.gets if ua == UA)


def test_a_pushed_item_arrives_without_a_poll_and_a_later_poll_publishes_it_not_again(
    tmp_path: Path, run_ingest: Callable[..., Running]
) -> None:
    with websub_hub(tmp_path, algorithm="sha512") as hub, serve_topic(hub.url) as topic:
        topic.body = rss_with_hub(hub.url, topic.url, [("a", "First story")])
        feed = FeedConfig(id="pushed", url=topic.url, poll_interval_s=3600)
        ingest = run_ingest(feed)
        _wait(lambda: ingest.titles() == ["First story"], what="the first poll")
        callback, secret = hub.wait_for_subscriber(topic.url)
        assert callback.startswith(ingest.callback + "/")
        assert len(secret) >= 32
        _wait(lambda: ingest.value("newsmon_websub_subscribed", feed="pushed") == 1, what="the lease")

        topic.body = rss_with_hub(hub.url, topic.url, [("b", "Second story"), ("a", "First story")])
        with capture_logs() as logs:
            assert hub.publish(topic.url) == 202
            _wait(lambda: ingest.titles() == ["First story", "Second story"], what="the push")
            # Logged once the push is handled, just after its last publish.
            _wait(lambda: any(e["event"] == "websub.notification_received" for e in logs), what="the log")
        assert _newsmon_gets(topic) == 1, "the second story came by push, not by a poll"
        assert ingest.value("newsmon_websub_notifications_total", feed="pushed", outcome="accepted") == 1
        received = [e for e in logs if e["event"] == "websub.notification_received"]
        assert [(e["published"], e["duplicates"]) for e in received] == [(1, 1)]

        # A poll that finds what the push brought (reordered, so it is parsed again) publishes nothing.
        topic.body = rss_with_hub(hub.url, topic.url, [("a", "First story"), ("b", "Second story")])
        report = ingest.service.poll_feed(feed)
        assert (report.published, report.duplicates, report.error) == (0, 2, None)
        # And the same push again is no news either.
        assert hub.publish(topic.url) == 202
        _wait(
            lambda: ingest.value("newsmon_websub_notifications_total", feed="pushed", outcome="accepted") == 2
        )
        time.sleep(0.5)
        assert ingest.titles() == ["First story", "Second story"]
        # While pushed, the feed is polled at the safety interval, not at its own 3600 s or less.
        assert ingest.push.next_poll_s("pushed", 60) == 3600


def test_forged_content_is_dropped_and_unknown_callbacks_are_gone(
    tmp_path: Path, run_ingest: Callable[..., Running]
) -> None:
    with websub_hub(tmp_path) as hub, serve_topic(hub.url) as topic:
        topic.body = rss_with_hub(hub.url, topic.url, [("a", "First story")])
        ingest = run_ingest(FeedConfig(id="pushed", url=topic.url, poll_interval_s=3600))
        callback, secret = hub.wait_for_subscriber(topic.url)
        _wait(lambda: ingest.titles() == ["First story"])
        forged = rss_with_hub(hub.url, topic.url, [("x", "Forged story")])
        with capture_logs() as logs:
            for signature in (sign("guessed", forged), sign(secret, forged + b" "), None):
                headers = {"X-Hub-Signature": signature} if signature else {}
                assert httpx.post(callback, content=forged, headers=headers).status_code == 202
            time.sleep(0.5)
        assert ingest.titles() == ["First story"]
        assert [e["why"] for e in logs if e["event"] == "websub.bad_signature"] == [
            "mismatch",
            "mismatch",
            "missing",
        ]
        assert ingest.value("newsmon_websub_notifications_total", feed="pushed", outcome="bad_signature") == 3
        # The genuine secret does get in: the check is what kept the forgeries out.
        assert (
            httpx.post(
                callback, content=forged, headers={"X-Hub-Signature": sign(secret, forged, "sha384")}
            ).status_code
            == 202
        )
        _wait(lambda: "Forged story" in ingest.titles())
        assert httpx.post(ingest.callback + "/no-such-id", content=forged).status_code == 410
        # A signed body that is no feed is the hub's fault: logged, and the feed's polls do not back off.
        junk = b"<html><body>502 Bad Gateway</body></html>"
        with capture_logs() as logs:
            assert (
                httpx.post(
                    callback, content=junk, headers={"X-Hub-Signature": sign(secret, junk)}
                ).status_code
                == 202
            )
            _wait(lambda: any(e["event"] == "websub.notification_received" for e in logs))
        [received] = [e for e in logs if e["event"] == "websub.notification_received"]
        assert received["error"]
        assert ingest.store.get_state("pushed").failures == 0
        # A verification nobody asked for is refused: nobody can subscribe newsmon to their topic.
        query = {"hub.mode": "subscribe", "hub.topic": "http://127.0.0.1:1/other", "hub.challenge": "c"}
        assert httpx.get(callback, params=query).status_code == 404


def test_leases_are_renewed_at_the_real_hub_and_a_lost_lease_falls_back_to_polling(
    tmp_path: Path, run_ingest: Callable[..., Running]
) -> None:
    with serve_topic("") as topic:
        with websub_hub(tmp_path, min_lease_s=1, request_timeout_s=2) as hub:
            topic.hub = hub.url
            topic.body = rss_with_hub(hub.url, topic.url, [("a", "First story")])
            ingest = run_ingest(
                FeedConfig(id="pushed", url=topic.url, poll_interval_s=3600),
                lease_seconds=3,
                renew_before_s=1,
                retry_min_s=60,
            )
            hub.wait_for_subscriber(topic.url)
            verified = "newsmon_websub_verifications_total"
            _wait(
                lambda: ingest.value(verified, mode="subscribe", outcome="accepted") >= 3, what="two renewals"
            )
            assert ingest.value("newsmon_websub_fallbacks_total", feed="pushed", reason="lease_lost") == 0
            assert _newsmon_gets(topic) == 1
        # The hub is gone: renewals fail until the lease runs out, and then the feed is polled at once.
        with capture_logs() as logs:
            _wait(lambda: _newsmon_gets(topic) == 2, timeout_s=15, what="the fallback poll")
        events = [e["event"] for e in logs]
        assert "websub.renew_failed" in events
        assert "websub.subscription_failed" in events
        assert ingest.value("newsmon_websub_fallbacks_total", feed="pushed", reason="lease_lost") == 1
        assert ingest.value("newsmon_websub_subscribed", feed="pushed") == 0
        assert ingest.push.next_poll_s("pushed", 60) == 60, "polled at its own rhythm again"


@pytest.mark.parametrize(("status", "reason"), [(202, "verify_timeout"), (500, "subscribe_failed")])
def test_a_hub_that_fails_leaves_the_feed_polled(
    tmp_path: Path, run_ingest: Callable[..., Running], status: int, reason: str
) -> None:
    # A "hub" that refuses every request, or accepts it and never calls back to verify it.
    with silent_hub(status) as hub_url, serve_topic(hub_url) as topic:
        topic.body = rss_with_hub(hub_url, topic.url, [("a", "First story")])
        ingest = run_ingest(FeedConfig(id="pushed", url=topic.url, poll_interval_s=60), verify_timeout_s=1)
        with capture_logs() as logs:
            _wait(
                lambda: ingest.value("newsmon_websub_fallbacks_total", feed="pushed", reason=reason) == 1,
                what=reason,
            )
        [failed] = [e for e in logs if e["event"] == "websub.subscription_failed"]
        assert (failed["kind"], failed["fallback"]) == (reason, "polling")
        assert ingest.value("newsmon_websub_subscribed", feed="pushed") == 0
        assert ingest.push.next_poll_s("pushed", 60) == 60, "polled at its own interval, as without a hub"
        assert ingest.titles() == ["First story"]


def test_a_pushed_feed_is_polled_at_the_safety_interval_only(
    tmp_path: Path, run_ingest: Callable[..., Running]
) -> None:
    with websub_hub(tmp_path) as hub, serve_topic(hub.url) as topic:
        topic.body = rss_with_hub(hub.url, topic.url, [("a", "First story")])
        ingest = run_ingest(FeedConfig(id="pushed", url=topic.url, poll_interval_s=0.5))
        hub.wait_for_subscriber(topic.url)
        _wait(lambda: ingest.value("newsmon_websub_subscribed", feed="pushed") == 1, what="the lease")
        polls_when_subscribed = _newsmon_gets(topic)
        time.sleep(3)  # six polls' worth of its own interval
        # At most the poll already scheduled before the lease was verified; then the safety interval.
        assert _newsmon_gets(topic) <= polls_when_subscribed + 1
        assert ingest.value("newsmon_feed_next_poll_seconds", feed="pushed") == 3600
