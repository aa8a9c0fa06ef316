"""Dispatch: send the outbox's due messages, each leased first, through the channels; retry, pace, give up.

Folding (``folding.py``) decides what each alert says and which messages it needs; dispatch decides
when and how each goes out, records what each channel did, and writes every delivery to the state
changelog so another alerter never sends it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from monitor.alerting.changelog import Changelog, SentRecord
from monitor.alerting.deliver import Channel
from monitor.alerting.exceptions import RateLimitedError
from monitor.alerting.notification import Notification
from monitor.alerting.outbox import Due, Outbox
from monitor.alerting.policy import AlertPolicy, DeadMessage
from monitor.alerting.ratelimit import RateLimiter
from monitor.errors import DeliveryError
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Alert, Article, utcnow

__all__ = ["Dispatcher"]

log = get_logger(__name__)

# A send that takes longer than this is presumed dead: another sender may take the message over.
_LEASE = timedelta(minutes=5)


class Dispatcher:
    """Send what is due, once per channel: leased, rate-limited, retried with backoff, dead-lettered."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Sequence[Channel],
        metrics: Metrics,
        policy: AlertPolicy,
        receiver_of: dict[str, str],
        *,
        limiters: dict[str, RateLimiter] | None = None,
        clock: Callable[[], datetime] = utcnow,
        deadletter: Callable[[DeadMessage], None] | None = None,
        changelog: Changelog | None = None,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self.outbox = outbox
        self.policy = policy
        self._by_name = {c.name: c for c in channels}
        self._receiver_of = receiver_of
        self._limiters = limiters or {}
        self._clock = clock
        self._deadletter = deadletter
        self._changelog = changelog
        self._owns = owns
        self._metrics = metrics
        #: The article each alert was just changed by (for the latency metric), while its Match is handled.
        self._sources: dict[str, Article] = {}

    def flush(
        self, now: datetime | None, only: set[int] | None = None, sources: dict[str, Article] | None = None
    ) -> int:
        """Send the messages due at ``now`` (every pending one if None); return how many were delivered.

        ``only`` limits the sends to those messages; ``sources`` maps an alert to the article that just
        changed it (its fetch time gives the end-to-end latency).
        """
        self._sources = dict(sources or {})
        try:
            return self._flush(now, only)
        finally:
            self._sources = {}

    def _flush(self, now: datetime | None, only: set[int] | None = None) -> int:
        delivered = 0
        moment = now or self._clock()
        # Messages of watchlists another alerter owns stay pending (see ownership.py); they must not
        # hide the due messages behind them, hence the larger window when some may be skipped.
        for due in self.outbox.due(now, limit=1000 if self._owns is None else 20_000):
            if only is not None and due.id not in only:
                continue
            if now is None and due.kind == "digest" and due.due_at is not None and due.due_at > moment:
                continue  # a restart sends what was left undone, never a digest before its period ends
            channel = self._by_name.get(due.channel)
            if channel is None:  # configured before, not now: kept pending for when it comes back
                continue
            alerts = self._alerts(due.alert_ids)
            # A digest holds what this alerter folded, whatever partition: whoever holds it sends it.
            if (
                self._owns is not None
                and due.kind != "digest"
                and not all(self._owns(a.rule) for a in alerts)
            ):
                continue
            delivered += self._send(channel, due, alerts, moment)
        return delivered

    def _send(self, channel: Channel, due: Due, alerts: list[Alert], now: datetime) -> int:
        limiter = self._limiters.get(channel.name)
        if limiter is not None:
            allowed = limiter.next_allowed(now)
            if allowed > now:
                self.outbox.postpone(due.id, allowed, "waiting for the rate limit")
                self._metrics.notifications_rate_limited.labels(channel=channel.name).inc()
                return 0
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
        note = Notification(due.kind, tuple(alerts), receiver, due.changes, due.id)
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
        # The changelog first, the outbox after: until the broker has the record, the message stays
        # leased here, so a kill in between leaves it where the next owner (and anyone reading this
        # outbox) sees a send not confirmed, the one window at-least-once delivery keeps open.
        if self._changelog is not None:
            for alert in alerts:
                followups = self.outbox.followups_count(alert.id, channel.name)
                record = SentRecord(
                    alert.id, alert.rule, channel.name, due.group_key, due.kind, now, followups
                )
                self._changelog.write(record, alert.rule)
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
        if every is None or due.kind in ("resend", "digest"):
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
