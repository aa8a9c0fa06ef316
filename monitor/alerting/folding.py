"""Folding: what a Match means for the alerts (dedup, new alert, later source, escalation, merge).

It decides and stores, in the outbox (one transaction per change, with the messages the change
schedules) and in the state changelog; it never sends. Sending is ``dispatch.py``'s job.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.alerting.build import absorb, alert_from_match, attach, escalate
from monitor.alerting.changelog import AlertRecord, Changelog, ReportRecord
from monitor.alerting.dedup import EventIndex
from monitor.alerting.features import Report, report_of
from monitor.alerting.outbox import Outbox, StoredReport
from monitor.alerting.policy import AlertPolicy
from monitor.alerting.routing import Route, route
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Alert, Match

__all__ = ["BUILTIN_CHANNELS", "Folder"]

log = get_logger(__name__)

#: Channels every alert goes to, whatever the routes say: the terminal and the JSONL log.
BUILTIN_CHANNELS = ("console", "log")


class Folder:
    """Fold matches into one alert per watchlist and event, with the dedup index of the outbox's reports."""

    def __init__(
        self,
        outbox: Outbox,
        metrics: Metrics,
        policy: AlertPolicy,
        receiver_of: dict[str, str],
        *,
        routes: Sequence[Route] = (),
        default_receivers: Sequence[str] | None = None,
        changelog: Changelog | None = None,
    ) -> None:
        self.outbox = outbox
        self.policy = policy
        self._metrics = metrics
        self._receiver_of = receiver_of
        self._routes = list(routes)
        receivers = [r for r in dict.fromkeys(receiver_of.values()) if r not in BUILTIN_CHANNELS]
        self._default = list(receivers if default_receivers is None else default_receivers)
        self._known = receivers
        self._changelog = changelog
        self._index: EventIndex | None = None

    @property
    def index(self) -> EventIndex:
        """Return the dedup index, rebuilt from the outbox on first use (after a restart: same events)."""
        if self._index is None:
            index = EventIndex(self.policy.dedup)
            newest = self.outbox.newest_event_time()
            # Everything a late report could still join, not only the window behind the newest.
            since = newest - self.policy.dedup.retention if newest else None
            for data, alert_id in self.outbox.reports(since):
                index.add(Report.from_json(data), alert_id)
            self._index = index
            self._metrics.dedup_events.set_function(lambda: len(index))
        return self._index

    def forget_index(self) -> None:
        """Drop the dedup index; the next use rebuilds it from the outbox (after a restore wrote to it)."""
        self._index = None

    def fold(self, match: Match, now: datetime) -> Alert | None:
        """Fold ``match`` into its event's alert and store it with its messages; None if already handled."""
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
        if self.index.too_late(report):
            log.warning(
                "alert.report_too_late",
                rule=match.rule,
                match_id=match.id,
                published=str(report.published),
                watermark=str(self.index.watermark),
                why="further behind the newest publication than dedup.lateness_s: may open a new alert",
            )
        decision = self.index.decide(report)
        self._metrics.dedup_duration.observe(time.perf_counter() - started)
        event_time = report.published or self.index.watermark or report.seen_at
        current = self.outbox.alert(decision.event_id) if decision.event_id is not None else None
        if current is None:
            receivers = self._route(alert_from_match(match), match)
            alert = alert_from_match(match, receivers)
            stored = StoredReport(
                match.id, match.rule, match.article.id, event_time, decision.reason, report.to_json()
            )
            self.outbox.record(
                alert,
                now=now,
                change="new",
                channels=self.channels(receivers),
                policy=self.policy.groups,
                digests=self._digests(),
                report=stored,
            )
            self.index.add(report, alert.id)
            self._log_state(stored, alert)
            self._metrics.alerts.labels(rule=alert.rule).inc()
            log.info("alert.created", alert_id=alert.id, rule=alert.rule, title=alert.title)
        else:
            alert = self._attach(current, match, decision.merge)
            reason = decision.reason
            stored = StoredReport(
                match.id, match.rule, match.article.id, event_time, reason, report.to_json()
            )
            change, changes = "update", tuple[str, ...]()
            if decision.new_entities and "entity" in self.policy.escalate_on:
                note = f"new watched entity: {', '.join(sorted(decision.new_entities))}"
                alert, change, changes = escalate(alert, note), "escalation", (note,)
                self._metrics.escalations.labels(rule=alert.rule).inc()
            self.outbox.record(
                alert,
                now=now,
                change=change,
                channels=self.channels(alert.receivers),
                policy=self.policy.groups,
                digests=self._digests(),
                report=stored,
                changes=changes,
                merged=decision.merge,
            )
            self.index.add(report, alert.id, decision.merge)
            self._log_state(stored, alert, decision.merge)
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
        return alert

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
            channels=self.channels(escalated.receivers),
            policy=self.policy.groups,
            changes=(note,),
            digests=self._digests(),
        )
        if self._changelog is not None:
            self._changelog.write(AlertRecord(escalated), escalated.rule)
        self._metrics.escalations.labels(rule=escalated.rule).inc()

    def _log_state(
        self,
        stored: StoredReport,
        alert: Alert,
        merged: Sequence[str] = (),
    ) -> None:
        """Write the report and the alert's revision to the state changelog (another alerter's restore)."""
        if self._changelog is None:
            return
        self._changelog.write(
            ReportRecord(
                stored.match_id,
                alert.id,
                stored.rule,
                stored.article_id,
                stored.event_time,
                stored.reason,
                stored.report,
            ),
            alert.rule,
        )
        self._changelog.write(AlertRecord(alert, tuple(merged)), alert.rule)

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

    def _digests(self) -> dict[str, timedelta]:
        """Return the period of each channel whose receiver wants a digest."""
        periods = self.policy.digests
        return {c: periods[r] for c, r in self._receiver_of.items() if r in periods}

    def channels(self, receivers: Sequence[str]) -> list[str]:
        wanted = set(receivers) | set(BUILTIN_CHANNELS)
        return [name for name, receiver in self._receiver_of.items() if receiver in wanted]
