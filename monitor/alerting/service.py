"""The alerter: fold each Match into its event's alert, store it with its messages, then send what is due.

``handle`` decides (dedup core), stores (outbox, one transaction) and sends what is due at once;
``tick`` sends what later became due (group waits, retries with exponential backoff, rate limits).
Both run under one lock, and every send is leased in the outbox first, so no message goes twice
from this process or from ``newsmon alerts resend`` running beside it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from monitor.alerting.build import absorb, alert_from_match, attach, escalate
from monitor.alerting.dedup import DedupPolicy, EventIndex
from monitor.alerting.deliver import Channel, build_channels
from monitor.alerting.exceptions import RateLimitedError
from monitor.alerting.features import Report, report_of
from monitor.alerting.grouping import GroupPolicy
from monitor.alerting.notification import Kind, Notification
from monitor.alerting.outbox import Due, Outbox
from monitor.alerting.ratelimit import RateLimiter
from monitor.alerting.render import Renderer
from monitor.alerting.routing import Route, route
from monitor.errors import DeliveryError
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Alert, Article, Match, utcnow
from monitor.settings import AlertSettings

__all__ = ["AlertPolicy", "Alerter", "DeadMessage", "build_alerter"]

log = get_logger(__name__)

#: Channels every alert goes to, whatever the routes say: the terminal and the JSONL log.
BUILTIN_CHANNELS = ("console", "log")
# A send that takes longer than this is presumed dead: another sender may take the message over.
_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class AlertPolicy:
    """How the alerter folds, groups, escalates and retries; the defaults send at once."""

    dedup: DedupPolicy = field(default_factory=DedupPolicy)
    groups: GroupPolicy = field(default_factory=GroupPolicy)
    escalate_on: frozenset[str] = frozenset({"entity"})
    retry_attempts: int = 8
    retry_initial: timedelta = timedelta(seconds=30)
    retry_max: timedelta = timedelta(hours=1)

    @classmethod
    def of(cls, settings: AlertSettings) -> AlertPolicy:
        """Return the policy ``settings`` describe."""
        d = settings.dedup
        return cls(
            dedup=DedupPolicy(
                window=timedelta(seconds=d.window_s),
                near_duplicate=d.near_duplicate,
                similar_text=d.similar_text,
                related_text=d.related_text,
            ),
            groups=GroupPolicy(
                group_by=tuple(settings.group_by),
                group_wait=timedelta(seconds=settings.group_wait_s),
                group_interval=timedelta(seconds=settings.group_interval_s),
                repeat_interval=(
                    timedelta(seconds=settings.repeat_interval_s) if settings.repeat_interval_s else None
                ),
                followups=settings.followups,
            ),
            escalate_on=frozenset(settings.escalate_on),
            retry_attempts=settings.retry_attempts,
            retry_initial=timedelta(seconds=settings.retry_initial_s),
            retry_max=timedelta(seconds=settings.retry_max_s),
        )

    def backoff(self, attempts: int) -> timedelta:
        """Return the wait after the ``attempts``-th failed send: doubling from ``retry_initial``."""
        wait: timedelta = self.retry_initial * (2 ** max(attempts - 1, 0))
        return min(wait, self.retry_max)


@dataclass(frozen=True)
class DeadMessage:
    """A message given up after its last retry: what the deadletter topic receives."""

    message_id: int
    channel: str
    kind: str
    alerts: tuple[Alert, ...]
    attempts: int
    detail: str


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
    ) -> None:
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique, got {names}")
        self.outbox = outbox
        self.channels = list(channels)
        self.policy = policy or AlertPolicy()
        self._by_name = {c.name: c for c in channels}
        self._receiver_of = {
            n: (receiver_of or {}).get(n, getattr(c, "receiver", n)) for n, c in self._by_name.items()
        }
        self._routes = list(routes)
        receivers = [r for r in dict.fromkeys(self._receiver_of.values()) if r not in BUILTIN_CHANNELS]
        self._default = list(receivers if default_receivers is None else default_receivers)
        self._known = receivers
        self._limiters = limiters or {}
        self._clock = clock
        self._deadletter = deadletter
        self._metrics = metrics
        self._lock = threading.RLock()
        self._index: EventIndex | None = None
        self._sources: dict[str, Article] = {}
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
        if self._index is None:
            index = EventIndex(self.policy.dedup)
            newest = self.outbox.newest_event_time()
            since = newest - self.policy.dedup.window if newest else None
            for data, alert_id in self.outbox.reports(since):
                index.add(Report.from_json(data), alert_id)
            self._index = index
            self._metrics.dedup_events.set_function(lambda: len(index))
        return self._index

    def handle(self, match: Match) -> Alert | None:
        """Fold ``match`` into its event's alert, store it, send what is due; None if already handled."""
        with self._lock:
            now = self._clock()
            if self.outbox.has_match(match.id):
                self._metrics.alerts_duplicate.labels(rule=match.rule).inc()
                log.info(
                    "alert.duplicate",
                    alert_id=self.index.event_of(match.id),
                    rule=match.rule,
                    match_id=match.id,
                )
                return None
            started = time.perf_counter()
            report = report_of(match)
            decision = self.index.decide(report)
            self._metrics.dedup_duration.observe(time.perf_counter() - started)
            event_time = report.published or self.index.watermark or report.seen_at
            current = self.outbox.alert(decision.event_id) if decision.event_id is not None else None
            if current is None:
                receivers = self._route(alert_from_match(match), match)
                alert = alert_from_match(match, receivers)
                stored = (
                    match.id,
                    match.rule,
                    match.article.id,
                    event_time,
                    decision.reason,
                    report.to_json(),
                )
                self.outbox.record(
                    alert,
                    now=now,
                    change="new",
                    channels=self._channels(receivers),
                    policy=self.policy.groups,
                    report=stored,
                )
                self.index.add(report, alert.id)
                self._metrics.alerts.labels(rule=alert.rule).inc()
                log.info("alert.created", alert_id=alert.id, rule=alert.rule, title=alert.title)
            else:
                alert = self._attach(current, match, decision.merge)
                reason = decision.reason
                stored = (match.id, match.rule, match.article.id, event_time, reason, report.to_json())
                change, changes = "update", tuple[str, ...]()
                if decision.new_entities and "entity" in self.policy.escalate_on:
                    note = f"new watched entity: {', '.join(sorted(decision.new_entities))}"
                    alert, change, changes = escalate(alert, note), "escalation", (note,)
                    self._metrics.escalations.labels(rule=alert.rule).inc()
                self.outbox.record(
                    alert,
                    now=now,
                    change=change,
                    channels=self._channels(alert.receivers),
                    policy=self.policy.groups,
                    report=stored,
                    changes=changes,
                    merged=decision.merge,
                )
                self.index.add(report, alert.id, decision.merge)
                self._metrics.alerts_attached.labels(rule=alert.rule).inc()
                log.info(
                    "alert.attached",
                    alert_id=alert.id,
                    rule=alert.rule,
                    reason=reason,
                    sources=len(alert.articles),
                )
            for other in decision.other_events:
                self._another_watchlist(other, match, now)
            self._sources[alert.id] = match.article
            try:
                self.flush(now)
            finally:
                self._sources.clear()
            return alert

    def tick(self) -> int:
        """Send every message now due; return how many were delivered."""
        return self.flush(self._clock())

    def retry_pending(self) -> int:
        """Send every pending message now, whatever its due time; return how many were delivered.

        Call it at start-up: it finishes what a crash, a stop or a dead receiver left undone, including
        the sends a killed process had leased (they would otherwise wait for the lease to expire).
        """
        released = self.outbox.release_orphaned_leases(self._clock())
        if released:
            log.warning("alert.leases_released", messages=released, why="their sender died mid-send")
        return self.flush(None)

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
                else self._channels(alert.receivers)
            )
            now = self._clock()
            ids = set(self.outbox.enqueue(alert.id, channels, "resend", now))
            return self._flush(now, only=ids)

    def flush(self, now: datetime | None) -> int:
        """Send the messages due at ``now`` (every pending one if None); return how many were delivered."""
        with self._lock:
            return self._flush(now)

    def _flush(self, now: datetime | None, only: set[int] | None = None) -> int:
        delivered = 0
        moment = now or self._clock()
        for due in self.outbox.due(now, limit=1000):
            if only is not None and due.id not in only:
                continue
            channel = self._by_name.get(due.channel)
            if channel is None:  # configured before, not now: kept pending for when it comes back
                continue
            delivered += self._send(channel, due, moment)
        return delivered

    def _send(self, channel: Channel, due: Due, now: datetime) -> int:
        limiter = self._limiters.get(channel.name)
        if limiter is not None:
            allowed = limiter.next_allowed(now)
            if allowed > now:
                self.outbox.postpone(due.id, allowed, "waiting for the rate limit")
                self._metrics.notifications_rate_limited.labels(channel=channel.name).inc()
                return 0
        alerts = self._alerts(due.alert_ids)
        receiver = self._receiver_of.get(channel.name, channel.name)
        silences = [s for s in self.outbox.silences() if s.active(now)] if alerts else []
        if due.kind != "resend":
            alerts = [a for a in alerts if not any(s.mutes(a, receiver) for s in silences)]
        if not alerts:
            why = "silenced" if silences else "nothing left to send (merged)"
            self.outbox.finish(due.id, "silenced" if silences else "cancelled", why, now)
            if silences:
                self._metrics.notifications_silenced.labels(channel=channel.name).inc()
            return 0
        if not self.outbox.claim(due.id, now, now + _LEASE):
            return 0
        kind: Kind = due.kind if due.kind in ("new", "followup", "escalation", "repeat", "resend") else "new"  # type: ignore[assignment]
        note = Notification(kind, tuple(alerts), receiver, due.changes, due.id)
        started = time.perf_counter()
        context = {"alert_id": alerts[0].id, "rule": alerts[0].rule, "article_id": alerts[0].articles[0].id}
        context["match_id"] = alerts[0].match_ids[0] if alerts[0].match_ids else ""
        try:
            channel.send(note)
        except RateLimitedError as e:
            until = now + timedelta(seconds=e.retry_after_s)
            if limiter is not None:
                limiter.block(until)
            self.outbox.postpone(due.id, until, str(e))
            self._metrics.notifications_rate_limited.labels(channel=channel.name).inc()
            log.info(
                "alert.delivery_postponed", channel=channel.name, retry_after_s=e.retry_after_s, **context
            )
            return 0
        except Exception as e:  # a bug in one channel must not cost the others their alert
            detail = str(e) if isinstance(e, DeliveryError) else f"{type(e).__name__}: {e}"
            self._failed(channel, due, note, detail, now, context)
            return 0
        finally:
            self._metrics.delivery_duration.labels(channel=channel.name).observe(
                time.perf_counter() - started
            )
        if limiter is not None:
            limiter.record(now)
        self.outbox.sent(due.id, now)
        self._metrics.deliveries.labels(channel=channel.name, outcome="ok").inc()
        log.debug("alert.delivered", channel=channel.name, kind=due.kind, **context)
        for alert in alerts:
            self._observe_latency(channel.name, alert, self._sources.get(alert.id))
        self._schedule_repeat(due, alerts, now)
        return 1

    def _schedule_repeat(self, due: Due, alerts: Sequence[Alert], now: datetime) -> None:
        """Remind the group after ``repeat_interval`` while its event may still grow (inside the window)."""
        every = self.policy.groups.repeat_interval
        if every is None or due.kind == "resend":
            return
        last = max((a.updated_at or a.created_at) for a in alerts)
        if last + self.policy.dedup.window > now + every:
            self.outbox.repeat(due.id, now + every, now)

    def _failed(
        self,
        channel: Channel,
        due: Due,
        note: Notification,
        detail: str,
        now: datetime,
        context: dict[str, str],
    ) -> None:
        self._metrics.deliveries.labels(channel=channel.name, outcome="error").inc()
        attempts = due.attempts + 1
        log.warning(
            "alert.delivery_failed", channel=channel.name, attempts=attempts, detail=detail, **context
        )
        if attempts < self.policy.retry_attempts:
            self.outbox.failed(due.id, now, detail, now + self.policy.backoff(attempts))
            return
        dead = DeadMessage(due.id, channel.name, due.kind, note.alerts, attempts, detail)
        if self._deadletter is not None:
            try:
                self._deadletter(dead)
            except Exception:  # the deadletter topic is down: keep the message, try again later
                log.exception("alert.deadletter_failed", channel=channel.name, **context)
                self.outbox.failed(due.id, now, detail, now + self.policy.retry_max)
                return
        self.outbox.failed(due.id, now, detail, None)
        self._metrics.notifications_deadlettered.labels(channel=channel.name).inc()
        log.error("alert.deadlettered", channel=channel.name, attempts=attempts, detail=detail, **context)

    def _attach(self, current: Alert, match: Match, merge: Sequence[str]) -> Alert:
        alert = attach(current, match)
        for other_id in merge:
            other = self.outbox.alert(other_id)
            if other is not None and other.id != alert.id:
                alert = absorb(alert, other)
                self._metrics.alerts_merged.labels(rule=alert.rule).inc()
                log.info("alert.merged", alert_id=alert.id, rule=alert.rule, merged=other.id)
        return alert

    def _another_watchlist(self, event_id: str, match: Match, now: datetime) -> None:
        """Escalate ``event_id``'s alert (another watchlist): ``match.rule`` fired on one of its articles."""
        if "watchlist" not in self.policy.escalate_on:
            return
        alert = self.outbox.alert(event_id)
        if alert is None:
            return
        note = f"watchlist {match.rule} also fired on “{match.article.title}”"
        if note in alert.changes:
            return
        escalated = escalate(alert, note)
        self.outbox.record(
            escalated,
            now=now,
            change="escalation",
            channels=self._channels(escalated.receivers),
            policy=self.policy.groups,
            changes=(note,),
        )
        self._metrics.escalations.labels(rule=escalated.rule).inc()

    def _route(self, alert: Alert, match: Match) -> tuple[str, ...]:
        chosen, unknown = route(alert, self._routes, self._default, self._known, match.receivers)
        if unknown:
            log.warning(
                "alert.receiver_unknown",
                alert_id=alert.id,
                rule=match.rule,
                article_id=match.article.id,
                match_id=match.id,
                receivers=list(unknown),
                known=self._known,
            )
        return chosen

    def _channels(self, receivers: Sequence[str]) -> list[str]:
        wanted = set(receivers) | set(BUILTIN_CHANNELS)
        return [name for name, receiver in self._receiver_of.items() if receiver in wanted]

    def _alerts(self, ids: Sequence[str]) -> list[Alert]:
        found: dict[str, Alert] = {}
        for alert_id in ids:
            alert = self.outbox.alert(alert_id)
            if alert is not None:
                found.setdefault(alert.id, alert)
        return list(found.values())

    def _observe_latency(self, channel: str, alert: Alert, source: Article | None) -> None:
        """Record how long the news took to reach ``channel``, from its publication and from its fetch.

        Without ``source`` (a message sent later than its Match) only the publication of the alert's
        first article is known. A publication date in the future (a wrong clock) is no latency.
        """
        now = utcnow()
        dates = [a.published for a in alert.articles if a.published is not None]
        published = source.published if source is not None else min(dates, default=None)
        fetched = source.fetched_at if source is not None else None
        for since, at in (("published", published), ("fetched", fetched)):
            if at is not None and at <= now:
                seconds = (now - at).total_seconds()
                self._metrics.end_to_end_latency.labels(since=since, channel=channel).observe(seconds)


def build_alerter(
    settings: AlertSettings,
    metrics: Metrics,
    console: TextIO = sys.stdout,
    *,
    clock: Callable[[], datetime] = utcnow,
    deadletter: Callable[[DeadMessage], None] | None = None,
) -> Alerter:
    """Return the alerter ``settings`` describe: console if enabled, JSONL log always, every receiver.

    Raises:
        ConfigError: a template that does not compile, or a URL no plugin reads (named by its place in
            the settings, never by the URL).
    """
    renderer = Renderer(settings.templates_dir)
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
    )
