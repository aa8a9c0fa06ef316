"""The alerter: fold each Match into its event's alert, store it with its messages, then send what is due.

``handle`` folds (``folding.py``: dedup core, outbox, one transaction) and sends what is due at once
(``dispatch.py``); ``tick`` sends what later became due (group waits, retries with exponential
backoff, rate limits). Both run under one lock, and every send is leased in the outbox first, so no
message goes twice from this process or from ``newsmon alerts resend`` running beside it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TextIO

from monitor.alerting.changelog import Changelog
from monitor.alerting.dedup import EventIndex
from monitor.alerting.deliver import Channel, build_channels
from monitor.alerting.dispatch import Dispatcher
from monitor.alerting.folding import BUILTIN_CHANNELS, Folder
from monitor.alerting.outbox import Outbox
from monitor.alerting.ownership import Ownership
from monitor.alerting.policy import AlertPolicy, DeadMessage
from monitor.alerting.ratelimit import RateLimiter
from monitor.alerting.render import Renderer
from monitor.alerting.routing import Route
from monitor.errors import DeliveryError
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Alert, Match, utcnow
from monitor.settings import AlertSettings

__all__ = ["BUILTIN_CHANNELS", "AlertPolicy", "Alerter", "DeadMessage", "build_alerter"]

log = get_logger(__name__)


class Alerter:
    """Turn matches into one alert per watchlist and event, and deliver each message once per channel.

    A channel that fails is recorded and retried; it never stops the other channels and never raises
    out of ``handle``. An outbox (SQLite) error does raise: the Match was not stored, so the consumer
    must not treat it as handled.
    """

    def __init__(
        self,
        outbox: Outbox,
        channels: Sequence[Channel],
        metrics: Metrics,
        *,
        policy: AlertPolicy | None = None,
        routes: Sequence[Route] = (),
        default_receivers: Sequence[str] | None = None,
        receiver_of: dict[str, str] | None = None,
        limiters: dict[str, RateLimiter] | None = None,
        clock: Callable[[], datetime] = utcnow,
        deadletter: Callable[[DeadMessage], None] | None = None,
        changelog: Changelog | None = None,
        ownership: Ownership | None = None,
    ) -> None:
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique, got {names}")
        self.outbox = outbox
        self.channels = list(channels)
        self.policy = policy or AlertPolicy()
        self._receiver_of = {
            c.name: (receiver_of or {}).get(c.name, getattr(c, "receiver", c.name)) for c in channels
        }
        self._clock = clock
        self._ownership = ownership
        self._lock = threading.RLock()
        self._folder = Folder(
            outbox,
            metrics,
            self.policy,
            self._receiver_of,
            routes=routes,
            default_receivers=default_receivers,
            changelog=changelog,
        )
        self._dispatch = Dispatcher(
            outbox,
            channels,
            metrics,
            self.policy,
            self._receiver_of,
            limiters=limiters,
            clock=clock,
            deadletter=deadletter,
            changelog=changelog,
            owns=ownership.owns if ownership is not None else None,
        )
        # Read at scrape time: the outbox, not this process, knows what is still undelivered after a restart.
        metrics.outbox_pending.set_function(outbox.pending_count)
        for name in names:  # series at 0 from the start, so rate() sees the first delivery as an increase
            for outcome in ("ok", "error"):
                metrics.deliveries.labels(channel=name, outcome=outcome)
            metrics.delivery_duration.labels(channel=name)
            for since in ("published", "fetched"):
                metrics.end_to_end_latency.labels(since=since, channel=name)
            metrics.notifications_deadlettered.labels(channel=name)

    @property
    def index(self) -> EventIndex:
        """Return the dedup index, rebuilt from the outbox on first use (after a restart: same events)."""
        return self._folder.index

    @property
    def lock(self) -> threading.RLock:
        """Return the lock ``handle`` and ``tick`` run under (a restore takes it too)."""
        return self._lock

    def forget_index(self) -> None:
        """Drop the dedup index; the next use rebuilds it from the outbox (after a restore wrote to it)."""
        with self._lock:
            self._folder.forget_index()

    def handle(self, match: Match) -> Alert | None:
        """Fold ``match`` into its event's alert, store it, send what is due; None if already handled."""
        with self._lock:
            now = self._clock()
            alert = self._folder.fold(match, now)
            if alert is None:
                return None
            self._dispatch.flush(now, sources={alert.id: match.article})
            return alert

    def tick(self) -> int:
        """Send every message now due; return how many were delivered."""
        return self.flush(self._clock())

    def release_orphaned_leases(self) -> int:
        """Release the sends a killed process had leased; return how many (they are pending again).

        With an ``Ownership`` they go once this alerter owns their watchlists' partition again, unless
        the changelog says another alerter sent them meanwhile.
        """
        with self._lock:
            released = self.outbox.release_orphaned_leases(self._clock())
        if released:
            log.warning("alert.leases_released", messages=released, why="their sender died mid-send")
        return released

    def retry_pending(self) -> int:
        """Send every pending message now, whatever its due time; return how many were delivered.

        For a single alerter that owns every watchlist (no consumer group): it finishes what a crash, a
        stop or a dead receiver left undone, including the sends a killed process had leased (they
        would otherwise wait for the lease to expire). The alert stage instead releases the leases at
        start and sends once the group assigns it partitions (``release_orphaned_leases``, ``assign``).
        """
        self.release_orphaned_leases()
        return self.flush(None)

    def assign(self, partitions: Iterable[int], restored: Iterable[str] = ()) -> tuple[int, int]:
        """Own ``partitions`` (after their state was restored); return (messages taken back, adopted).

        What this outbox parked about their watchlists is pending again, and the first messages of the
        ``restored`` alerts no alerter confirmed are scheduled (``adopt``).
        """
        with self._lock:
            if self._ownership is not None:
                self._ownership.assign(partitions)
                taken = self.outbox.take_back(self._ownership.owns, self._clock())
            else:
                taken = 0
            return taken, self.adopt(restored)

    def revoke(self, partitions: Iterable[int]) -> int:
        """Stop owning ``partitions``; park their pending messages; return how many were parked.

        Runs under the lock, so a send under way finishes (and its delivery reaches the changelog)
        before the partitions go to another alerter.
        """
        with self._lock:
            if self._ownership is None:
                return 0
            self._ownership.revoke(partitions)
            return self.hand_over()

    def hand_over(self) -> int:
        """Park the pending messages of the watchlists this alerter does not own; return how many."""
        if self._ownership is None:
            return 0
        with self._lock:
            parked = self.outbox.hand_over(self._ownership.owns, self._clock())
        if parked:
            log.info("alert.handed_over", messages=parked, why="their watchlists' partitions are not ours")
        return parked

    def adopt(self, alert_ids: Iterable[str]) -> int:
        """Schedule the first message of each of ``alert_ids`` that this outbox never had; return how many.

        Called after a restore: these alerts came from another alerter through the changelog. One with
        no message here on a channel, sent or otherwise, is one whose first message no alerter confirmed
        (its creator was killed or lost the partition before the send was recorded), so the new owner
        sends it, after the usual group wait. Alerts older than the dedup window are no longer news and
        are left alone, as are alerts merged into another (that one carries them).
        """
        with self._lock:
            now = self._clock()
            horizon = now - self.policy.dedup.window
            scheduled = 0
            for alert_id in dict.fromkeys(alert_ids):
                alert = self.outbox.alert(alert_id)
                if alert is None or alert.id != alert_id or alert.created_at < horizon:
                    continue
                channels = [
                    c
                    for c in self._folder.channels(alert.receivers)
                    if not self.outbox.has_message(alert.id, c)
                ]
                if channels:
                    self.outbox.record(
                        alert, now=now, change="new", channels=channels, policy=self.policy.groups
                    )
                    scheduled += len(channels)
                    log.info("alert.adopted", alert_id=alert.id, rule=alert.rule, channels=channels)
            return scheduled

    def resend(self, alert_id: str, receiver: str | None = None) -> int:
        """Send alert ``alert_id`` again to its receivers (or to ``receiver``); return messages delivered.

        Raises:
            DeliveryError: no such alert, or an unknown receiver.
        """
        with self._lock:
            alert = self.outbox.alert(alert_id)
            if alert is None:
                raise DeliveryError(f"no alert {alert_id!r} in {self.outbox.path}")
            if receiver is not None and receiver not in self._receiver_of.values():
                valid = sorted(set(self._receiver_of.values()))
                raise DeliveryError(f"unknown receiver {receiver!r}; valid receivers are {valid}")
            channels = (
                [n for n, r in self._receiver_of.items() if r == receiver]
                if receiver is not None
                else self._folder.channels(alert.receivers)
            )
            now = self._clock()
            ids = set(self.outbox.enqueue(alert.id, channels, "resend", now))
            return self._dispatch.flush(now, only=ids)

    def flush(self, now: datetime | None) -> int:
        """Send the messages due at ``now`` (every pending one if None); return how many were delivered."""
        with self._lock:
            return self._dispatch.flush(now)


def build_alerter(
    settings: AlertSettings,
    metrics: Metrics,
    console: TextIO = sys.stdout,
    *,
    clock: Callable[[], datetime] = utcnow,
    deadletter: Callable[[DeadMessage], None] | None = None,
    changelog: Changelog | None = None,
    ownership: Ownership | None = None,
) -> Alerter:
    """Return the alerter ``settings`` describe: console if enabled, JSONL log always, every receiver.

    Raises:
        ConfigError: a template that does not compile, or a URL no plugin reads (named by its place in
            the settings, never by the URL).
    """
    renderer = Renderer.of(settings)
    receivers = build_channels(settings, renderer, console)
    default = settings.default_receiver or ("apprise" if settings.apprise_urls else None)
    return Alerter(
        Outbox(settings.outbox_db),
        receivers.channels,
        metrics,
        policy=AlertPolicy.of(settings),
        routes=[Route.of(r) for r in settings.routes],
        default_receivers=[default] if default else [],
        receiver_of=receivers.receiver_of,
        limiters=receivers.limiters,
        clock=clock,
        deadletter=deadletter,
        changelog=changelog,
        ownership=ownership,
    )
