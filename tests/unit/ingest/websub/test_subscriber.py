"""The subscriber's state machine against a scripted hub: intents, signatures, renewals, fallbacks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import FetchResult
from monitor.ingest.websub.hub_client import HubReply, Mode
from monitor.ingest.websub.inbox import Inbox
from monitor.ingest.websub.lease import LeasePolicy
from monitor.ingest.websub.signature import sign
from monitor.ingest.websub.store import Subscription, SubscriptionStore
from monitor.ingest.websub.subscriber import WebSubSubscriber
from monitor.metrics import Metrics

FEED = FeedConfig(id="world", url="https://news.example.org/world.xml")
BODY = b"""<rss xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>World</title>
<atom:link rel="hub" href="https://hub.example.net/"/><atom:link rel="self" href="https://news.example.org/world.xml"/>
</channel></rss>"""
POLICY = LeasePolicy(lease_s=600, renew_before_s=100, verify_timeout_s=30, retry_min_s=60, retry_max_s=600)


@dataclass
class ScriptedHub:
    """Records requests; refuses them while ``down``."""

    down: bool = False
    requests: list[tuple[str, Mode, str, str, str | None]] = field(default_factory=list)

    def request(
        self,
        hub: str,
        mode: Mode,
        topic: str,
        callback: str,
        *,
        secret: str | None = None,
        lease_s: float | None = None,
    ) -> HubReply:
        self.requests.append((hub, mode, topic, callback, secret))
        return HubReply(False, 503, "HTTP 503 down") if self.down else HubReply(True, 202)


@dataclass
class Rig:
    subscriber: WebSubSubscriber
    store: SubscriptionStore
    hub: ScriptedHub
    inbox: Inbox
    clock: list[float]
    lost: list[str]

    def tick(self) -> None:
        self.subscriber.tick(self.lost.append)

    def sub(self) -> Subscription:
        current = self.store.current(FEED.id)
        assert current is not None
        return current

    def verify(self, mode: str = "subscribe", **extra: str) -> tuple[int, str]:
        sub = self.sub()
        query = {"hub.mode": mode, "hub.topic": sub.topic, "hub.challenge": "ch4llenge", **extra}
        return self.subscriber.verify(sub.sub_id, query)


@pytest.fixture
def rig(tmp_path: Path, metrics: Metrics) -> Iterator[Rig]:
    clock = [1_800_000_000.0]
    hub = ScriptedHub()
    inbox = Inbox(maxsize=2)
    with SubscriptionStore(tmp_path / "websub.sqlite3") as store:
        subscriber = WebSubSubscriber(
            store, hub, "https://newsmon.example.org/websub/", POLICY, metrics, inbox, clock=lambda: clock[0]
        )  # type: ignore[arg-type]
        subscriber.feeds_changed([FEED])
        yield Rig(subscriber, store, hub, inbox, clock, [])


def _subscribed(rig: Rig) -> Subscription:
    rig.subscriber.observe(FEED, FetchResult(200, BODY, None, None, False, FEED.url))
    rig.tick()
    assert rig.verify() == (200, "ch4llenge")
    return rig.sub()


def test_a_discovered_hub_is_subscribed_with_a_secret_and_a_private_callback(rig: Rig) -> None:
    rig.subscriber.observe(FEED, FetchResult(200, BODY, None, None, False, FEED.url))
    rig.tick()
    [(hub, mode, topic, callback, secret)] = rig.hub.requests
    sub = rig.sub()
    assert (hub, mode, topic, sub.state) == ("https://hub.example.net/", "subscribe", FEED.url, "pending")
    assert callback == f"https://newsmon.example.org/websub/{sub.sub_id}"
    assert len(sub.sub_id) >= 24
    assert secret == sub.secret
    assert len(secret) >= 32
    rig.subscriber.observe(FEED, FetchResult(200, BODY, None, None, False, FEED.url))
    rig.tick()
    assert len(rig.hub.requests) == 1, "the same hub again is no new subscription"


def test_only_the_intents_newsmon_asked_for_are_confirmed(rig: Rig, metrics: Metrics) -> None:
    rig.subscriber.observe(FEED, FetchResult(200, BODY, None, None, False, FEED.url))
    rig.tick()
    sub = rig.sub()
    with capture_logs() as logs:
        assert (
            rig.subscriber.verify(
                "nope", {"hub.mode": "subscribe", "hub.topic": sub.topic, "hub.challenge": "x"}
            )[0]
            == 404
        )
        assert rig.verify(**{"hub.topic": "https://evil.example/"})[0] == 404
        assert rig.verify("unsubscribe")[0] == 404  # newsmon did not ask to unsubscribe
        assert rig.verify("publish")[0] == 400
        assert rig.subscriber.verify(sub.sub_id, {"hub.mode": "subscribe", "hub.topic": sub.topic})[0] == 400
    assert [e["event"] for e in logs] == ["websub.verification_rejected"] * 5
    assert rig.sub().state == "pending"
    assert rig.verify(**{"hub.lease_seconds": "500"}) == (200, "ch4llenge")
    sub = rig.sub()
    assert (sub.state, sub.lease_s, sub.lease_expires) == ("active", 500, rig.clock[0] + 500)
    assert rig.verify()[0] == 404, "a second confirmation nobody asked for is refused"
    assert metrics.websub_subscribed.labels(feed=FEED.id)._value.get() == 1


def test_content_with_a_bad_signature_is_dropped_with_a_metric_and_a_log_line(
    rig: Rig, metrics: Metrics
) -> None:
    sub = _subscribed(rig)
    with capture_logs() as logs:
        assert rig.subscriber.deliver(sub.sub_id, sign("wrong", BODY), "application/rss+xml", BODY)[0] == 202
        assert rig.subscriber.deliver(sub.sub_id, None, "application/rss+xml", BODY)[0] == 202
    assert [(e["event"], e["why"]) for e in logs] == [
        ("websub.bad_signature", "mismatch"),
        ("websub.bad_signature", "missing"),
    ]
    assert metrics.websub_notifications.labels(feed=FEED.id, outcome="bad_signature")._value.get() == 2
    assert rig.subscriber.deliver(sub.sub_id, sign(sub.secret, BODY, "sha512"), None, BODY)[0] == 202
    assert metrics.websub_notifications.labels(feed=FEED.id, outcome="accepted")._value.get() == 1
    assert rig.subscriber.deliver("unknown", sign(sub.secret, BODY), None, BODY)[0] == 410
    # The inbox holds two; a third push is dropped (and its feed polled instead).
    assert rig.subscriber.deliver(sub.sub_id, sign(sub.secret, BODY), None, BODY)[0] == 202
    assert rig.subscriber.deliver(sub.sub_id, sign(sub.secret, BODY), None, BODY)[0] == 202
    assert metrics.websub_notifications.labels(feed=FEED.id, outcome="queue_full")._value.get() == 1


def test_a_lease_is_renewed_before_it_ends_and_lost_when_the_hub_stops_answering(
    rig: Rig, metrics: Metrics
) -> None:
    _subscribed(rig)
    rig.clock[0] += 499
    rig.tick()
    assert len(rig.hub.requests) == 1
    rig.clock[0] += 1  # 100 s before the end of a 600 s lease
    rig.tick()
    assert [r[1] for r in rig.hub.requests] == ["subscribe", "subscribe"]
    assert rig.sub().state == "active", "the feed stays pushed while the renewal is verified"
    assert rig.verify() == (200, "ch4llenge")
    assert rig.sub().lease_expires == rig.clock[0] + 600
    # Now the hub goes down: renewals fail, are retried while the lease runs, and then it is lost.
    rig.hub.down = True
    rig.clock[0] += 500
    with capture_logs() as logs:
        for _ in range(20):
            rig.tick()
            rig.clock[0] += 10
    events = [e["event"] for e in logs]
    assert "websub.renew_failed" in events
    assert events[-1] == "websub.subscription_failed"
    assert rig.lost == [FEED.id], "a lost lease asks for a poll at once"
    assert rig.sub().state == "failed"
    assert metrics.websub_fallbacks.labels(feed=FEED.id, reason="lease_lost")._value.get() == 1
    assert metrics.websub_subscribed.labels(feed=FEED.id)._value.get() == 0


def test_a_refused_or_never_verified_subscription_falls_back_to_polling_and_is_retried(
    rig: Rig, metrics: Metrics
) -> None:
    rig.hub.down = True
    rig.subscriber.observe(FEED, FetchResult(200, BODY, None, None, False, FEED.url))
    rig.tick()
    sub = rig.sub()
    assert (sub.state, sub.failures, sub.retry_at) == ("failed", 1, rig.clock[0] + 60)
    assert rig.subscriber.next_poll_s(FEED.id, 300) == 300
    rig.hub.down = False
    rig.clock[0] += 60
    rig.tick()
    assert rig.sub().state == "pending"
    rig.clock[0] += 30  # the hub accepted but never called back
    rig.tick()
    assert (rig.sub().state, rig.sub().failures) == ("failed", 2)
    assert metrics.websub_fallbacks.labels(feed=FEED.id, reason="subscribe_failed")._value.get() == 1
    assert metrics.websub_fallbacks.labels(feed=FEED.id, reason="verify_timeout")._value.get() == 1
    assert rig.lost == [], "a feed never pushed was never slowed down: nothing to catch up"


def test_a_denial_fails_the_subscription_and_a_pushed_feed_is_polled_rarely(rig: Rig) -> None:
    _subscribed(rig)
    assert rig.subscriber.next_poll_s(FEED.id, 300) == POLICY.safety_poll_interval_s
    assert rig.verify("denied", **{"hub.reason": "quota"}) == (200, "")
    assert rig.sub().state == "failed"
    assert "quota" in (rig.sub().reason or "")
    assert rig.subscriber.next_poll_s(FEED.id, 300) == 300


def test_a_feed_gone_from_the_feeds_file_or_its_hub_is_unsubscribed(rig: Rig) -> None:
    sub = _subscribed(rig)
    rig.subscriber.feeds_changed([])
    rig.tick()
    assert rig.hub.requests[-1][1] == "unsubscribe"
    assert rig.store.get(sub.sub_id) is not None
    assert rig.store.current(FEED.id) is None
    assert rig.subscriber.deliver(sub.sub_id, sign(sub.secret, BODY), None, BODY)[0] == 410
    query = {"hub.mode": "unsubscribe", "hub.topic": sub.topic, "hub.challenge": "bye"}
    assert rig.subscriber.verify(sub.sub_id, query) == (200, "bye")
    assert rig.store.all() == []
