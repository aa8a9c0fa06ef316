"""The WebSub subscriber: subscribe each feed that names a hub, verify intents, keep leases, fall back.

One ticker thread does everything that talks to hubs (subscribe, renew, unsubscribe) and every timeout
(a hub that never verifies, a lease that ran out), so poll threads and callback requests never wait on a
hub. Intent verifications and content arrive through the callback server (callback.py), which calls
``verify`` and ``deliver`` here; accepted content goes to the inbox (inbox.py) and from there through
the ingest service's own parse, seen-store and publish path.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import FetchResult
from monitor.ingest.websub.discovery import HubLinks, discover
from monitor.ingest.websub.hub_client import HubClient
from monitor.ingest.websub.inbox import Inbox, Push
from monitor.ingest.websub.lease import LeasePolicy, next_action, poll_interval_s, retry_delay_s
from monitor.ingest.websub.signature import check_signature
from monitor.ingest.websub.store import Subscription, SubscriptionStore
from monitor.logs import get_logger
from monitor.masking import redact
from monitor.metrics import Metrics

__all__ = ["Reply", "WebSubSubscriber"]

_log = get_logger(__name__)

Reply = tuple[int, str]
"""An HTTP status and a plain-text body for the callback server to send."""


class WebSubSubscriber:
    """Keep one WebSub subscription per feed whose hub is known, and accept what the hubs push."""

    def __init__(
        self,
        store: SubscriptionStore,
        hubs: HubClient,
        callback_base: str,
        policy: LeasePolicy,
        metrics: Metrics,
        inbox: Inbox,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._hubs = hubs
        self._callback_base = callback_base.rstrip("/")
        self.policy = policy
        self._metrics = metrics
        self._inbox = inbox
        self._clock = clock
        self._lock = threading.RLock()  # one state transition at a time; never held over a hub request
        self._discovered: dict[str, HubLinks | None] = {}
        self._last_links: dict[str, HubLinks | None] = {}
        self._feed_ids: set[str] | None = None
        self._wake = threading.Event()

    # --- what the ingest service sees (through WebSubPush) ---

    def feeds_changed(self, feeds: Sequence[FeedConfig]) -> None:
        """Remember which feeds exist: the subscriptions of the others are ended at the next tick."""
        with self._lock:
            self._feed_ids = {feed.id for feed in feeds}
        self._wake.set()

    def observe(self, feed: FeedConfig, result: FetchResult) -> None:
        """Discover the hub of a freshly fetched feed body; a change is acted on by the ticker."""
        if result.content is None:
            return  # a 304 says nothing new about the hub, and repeats no body to look into
        try:
            links = discover(result.content, result.link_header, result.url or feed.url)
        except Exception:  # discovery must never cost a poll; the feed is simply not pushed
            _log.exception("websub.discovery_failed", feed=feed.id)
            return
        with self._lock:
            if feed.id in self._last_links and self._last_links[feed.id] == links:
                return
            self._last_links[feed.id] = links
            self._discovered[feed.id] = links
        if links is not None:
            _log.info("websub.hub_discovered", feed=feed.id, hub=redact(links.hub), topic=redact(links.topic))
        self._wake.set()

    def next_poll_s(self, feed_id: str, interval_s: float) -> float:
        """Return ``interval_s``, or the safety interval while the feed has a live lease."""
        return poll_interval_s(self.policy, self._store.current(feed_id), self._clock(), interval_s)

    def run(self, stop: threading.Event, on_lost: Callable[[str], None], tick_s: float = 1.0) -> None:
        """Act on discoveries, renewals and timeouts until ``stop`` is set; ``on_lost`` polls a feed now."""
        for sub in self._store.all():
            self._set_gauges(sub)
        while not stop.is_set():
            try:
                self.tick(on_lost)
            except Exception:  # a broken store or a bug: log it, keep the feeds polled, try again
                _log.exception("websub.tick_failed")
            self._wake.wait(tick_s)
            self._wake.clear()

    def tick(self, on_lost: Callable[[str], None]) -> None:
        """Do what is due now: (un)subscribe discovered changes, renew leases, time out silent hubs."""
        with self._lock:
            discovered, self._discovered = self._discovered, {}
            feed_ids = self._feed_ids
        for feed_id, links in discovered.items():
            if feed_ids is None or feed_id in feed_ids:
                self._follow(feed_id, links)
        for sub in self._store.all():
            if feed_ids is not None and sub.feed_id not in feed_ids and sub.state != "unsubscribing":
                self._unsubscribe(sub)
                continue
            action = next_action(self.policy, sub, self._clock())
            if action in ("subscribe", "renew"):
                self._subscribe(sub)
            elif action == "verify_timed_out":
                self._fail(sub, "verify_timeout", "the hub did not verify the subscription in time")
            elif action == "lease_lost":
                self._fail(sub, "lease_lost", "the lease ran out without a renewal verified")
                on_lost(sub.feed_id)
            elif action == "forget":
                self._store.delete(sub.sub_id)

    @property
    def callback_url_base(self) -> str:
        """Return the base of every callback URL (without the subscription id)."""
        return self._callback_base

    def callback_url(self, sub: Subscription) -> str:
        """Return the callback URL of a subscription: the base with its random id appended."""
        return f"{self._callback_base}/{sub.sub_id}"

    # --- what the hubs see (through the callback server) ---

    def verify(self, sub_id: str, query: Mapping[str, str]) -> Reply:
        """Answer a hub's intent verification (§5.3) or denial (§5.2) for the callback ``sub_id``.

        Only what newsmon asked for is confirmed: a subscribe for a pending request or a renewal, an
        unsubscribe for a subscription being ended, on the very topic. Anything else gets a 404, so a
        stranger cannot subscribe newsmon's callback to a topic of their choosing.
        """
        mode = query.get("hub.mode", "")
        topic = query.get("hub.topic", "")
        with self._lock:
            sub = self._store.get(sub_id)
            if sub is None:
                return self._reject(None, mode, "unknown callback")
            if topic != sub.topic:
                return self._reject(sub, mode, f"topic {redact(topic)!r} is not the subscribed one")
            now = self._clock()
            if mode == "denied":
                reason = query.get("hub.reason", "") or "no reason given"
                _log.warning("websub.denied", feed=sub.feed_id, hub=redact(sub.hub), reason=reason[:300])
                if sub.state in ("pending", "active"):
                    self._fail(sub, "denied", f"the hub denied the subscription: {reason[:300]}")
                return 200, ""
            challenge = query.get("hub.challenge", "")
            if mode not in ("subscribe", "unsubscribe"):
                return self._reject(sub, mode, "unknown hub.mode", status=400)
            if not challenge:
                return self._reject(sub, mode, "no hub.challenge", status=400)
            if mode == "unsubscribe":
                if sub.state != "unsubscribing":
                    return self._reject(sub, mode, "newsmon did not ask to unsubscribe")
                self._store.delete(sub.sub_id)
                self._metrics.websub_verifications.labels(mode=mode, outcome="accepted").inc()
                _log.info("websub.unsubscribed", feed=sub.feed_id, hub=redact(sub.hub))
                return 200, challenge
            asked = sub.state == "pending" or (sub.state == "active" and sub.requested_at is not None)
            if not asked:
                return self._reject(sub, mode, "newsmon has no subscription request outstanding")
            lease_s = _lease(query.get("hub.lease_seconds"), self.policy.lease_s)
            renewal = sub.state == "active"
            sub = replace(
                sub,
                state="active",
                requested_at=None,
                lease_expires=now + lease_s,
                lease_s=lease_s,
                failures=0,
                retry_at=None,
                reason=None,
            )
            self._store.put(sub)
            self._set_gauges(sub)
        self._metrics.websub_verifications.labels(mode=mode, outcome="accepted").inc()
        _log.info("websub.verified", feed=sub.feed_id, hub=redact(sub.hub), lease_s=lease_s, renewal=renewal)
        return 200, challenge

    def deliver(self, sub_id: str, signature: str | None, content_type: str | None, body: bytes) -> Reply:
        """Accept a content distribution (§7) for the callback ``sub_id``: check its HMAC, queue it.

        A bad signature is acknowledged (§7.1 allows it, and it tells a forger nothing) but dropped. A
        callback newsmon no longer knows answers 410 Gone, which makes the hub drop the subscription.
        """
        sub = self._store.get(sub_id)
        if sub is None or sub.state == "unsubscribing":
            self._metrics.websub_notifications.labels(feed="", outcome="unknown_subscription").inc()
            _log.info("websub.notification_dropped", reason="unknown or ended subscription", bytes=len(body))
            return 410, "no such subscription\n"
        outcome = check_signature(signature, body, sub.secret)
        if outcome != "ok":
            self._metrics.websub_notifications.labels(feed=sub.feed_id, outcome="bad_signature").inc()
            _log.warning(
                "websub.bad_signature", feed=sub.feed_id, hub=redact(sub.hub), why=outcome, bytes=len(body)
            )
            return 202, ""
        push = Push(sub.feed_id, sub.topic, content_type, body, self._clock())
        if not self._inbox.put(push):
            self._metrics.websub_notifications.labels(feed=sub.feed_id, outcome="queue_full").inc()
            _log.warning("websub.notification_dropped", feed=sub.feed_id, reason="inbox full", retry="poll")
            return 202, ""
        self._metrics.websub_notifications.labels(feed=sub.feed_id, outcome="accepted").inc()
        return 202, ""

    # --- transitions ---

    def _follow(self, feed_id: str, links: HubLinks | None) -> None:
        """Subscribe a feed's newly discovered hub; end the subscription of a hub it no longer names."""
        current = self._store.current(feed_id)
        if current is not None and links is not None and _same(current, links):
            return
        if current is not None:
            self._unsubscribe(current)
        if links is None:
            return
        sub = Subscription(
            sub_id=secrets.token_urlsafe(18),
            feed_id=feed_id,
            hub=links.hub,
            topic=links.topic,
            secret=secrets.token_urlsafe(32),  # 43 characters: under the spec's 200-byte limit
        )
        self._subscribe(sub)

    def _subscribe(self, sub: Subscription) -> None:
        """Ask the hub for a subscription or its renewal; a refusal falls back to polling."""
        now = self._clock()
        with self._lock:
            sub = self._store.get(sub.sub_id) or sub  # the ticker's copy may predate a verification
            renewal = sub.state == "active"
            # Stored before the request: a hub may verify before it even answers the request.
            sub = replace(sub, state="active" if renewal else "pending", requested_at=now, retry_at=None)
            self._store.put(sub)
        _log.info(
            "websub.subscribe_requested",
            feed=sub.feed_id,
            hub=redact(sub.hub),
            topic=redact(sub.topic),
            renewal=renewal,
        )
        reply = self._hubs.request(
            sub.hub,
            "subscribe",
            sub.topic,
            self.callback_url(sub),
            secret=sub.secret,
            lease_s=self.policy.lease_s,
        )
        self._metrics.websub_requests.labels(
            mode="subscribe", outcome="accepted" if reply.accepted else "error"
        ).inc()
        if reply.accepted:
            return
        with self._lock:
            latest = self._store.get(sub.sub_id)
            if latest is None or latest.requested_at != now:
                return  # verified, denied or replaced meanwhile: that answer stands
            if renewal and latest.lease_expires is not None and latest.lease_expires > self._clock():
                # The lease still runs: retry the renewal while it does, the feed stays pushed.
                failures = latest.failures + 1
                wait = min(retry_delay_s(self.policy, failures), max(1.0, (latest.lease_expires - now) / 4))
                self._store.put(
                    replace(
                        latest, requested_at=None, failures=failures, retry_at=now + wait, reason=reply.reason
                    )
                )
                _log.warning(
                    "websub.renew_failed",
                    feed=sub.feed_id,
                    hub=redact(sub.hub),
                    error=reply.reason,
                    retry_in_s=round(wait, 1),
                    lease_left_s=round(latest.lease_expires - now),
                )
                return
            self._fail(latest, "subscribe_failed", f"the hub refused the request: {reply.reason}")

    def _fail(self, sub: Subscription, kind: str, reason: str) -> None:
        """Mark ``sub`` failed: its feed is polled at its own rhythm until the hub is tried again."""
        with self._lock:
            failures = sub.failures + 1
            wait = retry_delay_s(self.policy, failures)
            sub = replace(
                sub,
                state="failed",
                requested_at=None,
                lease_expires=None,
                failures=failures,
                retry_at=self._clock() + wait,
                reason=reason,
            )
            self._store.put(sub)
            self._set_gauges(sub)
        self._metrics.websub_fallbacks.labels(feed=sub.feed_id, reason=kind).inc()
        _log.warning(
            "websub.subscription_failed",
            feed=sub.feed_id,
            hub=redact(sub.hub),
            kind=kind,
            error=reason,
            fallback="polling",
            retry_in_s=round(wait, 1),
        )

    def _unsubscribe(self, sub: Subscription) -> None:
        """End a subscription: ask the hub to drop it, or just forget one the hub does not hold."""
        self._metrics.websub_subscribed.labels(feed=sub.feed_id).set(0)
        if sub.state == "failed":
            self._store.delete(sub.sub_id)
            return
        with self._lock:
            self._store.put(replace(sub, state="unsubscribing", requested_at=self._clock()))
        reply = self._hubs.request(sub.hub, "unsubscribe", sub.topic, self.callback_url(sub))
        self._metrics.websub_requests.labels(
            mode="unsubscribe", outcome="accepted" if reply.accepted else "error"
        ).inc()
        if not reply.accepted:
            # The hub keeps pushing until the lease ends; each push then gets a 410 and ends it.
            self._store.delete(sub.sub_id)
        _log.info(
            "websub.unsubscribe_requested", feed=sub.feed_id, hub=redact(sub.hub), accepted=reply.accepted
        )

    def _reject(self, sub: Subscription | None, mode: str, why: str, status: int = 404) -> Reply:
        self._metrics.websub_verifications.labels(
            mode=mode if mode in ("subscribe", "unsubscribe") else "other", outcome="rejected"
        ).inc()
        _log.warning(
            "websub.verification_rejected", feed=sub.feed_id if sub else None, mode=mode[:40], why=why
        )
        return status, f"{why}\n"

    def _set_gauges(self, sub: Subscription) -> None:
        live = sub.state == "active" and sub.lease_expires is not None
        self._metrics.websub_subscribed.labels(feed=sub.feed_id).set(1 if live else 0)
        if live and sub.lease_expires is not None:
            self._metrics.websub_lease_expiry.labels(feed=sub.feed_id).set(sub.lease_expires)


def _same(sub: Subscription, links: HubLinks) -> bool:
    """Return whether ``sub`` already subscribes the topic at one of the hubs ``links`` names."""
    return sub.topic == links.topic and sub.hub in links.hubs


def _lease(value: str | None, default: float) -> float:
    """Return the lease a hub granted (``hub.lease_seconds``), or ``default`` when it gave none usable."""
    try:
        lease = float(value) if value else default
    except ValueError:
        return default
    return lease if lease > 0 else default
