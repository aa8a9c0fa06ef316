"""How the alerter folds, groups, escalates and retries, and what it gives up on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from monitor.alerting.dedup import DedupPolicy
from monitor.alerting.grouping import GroupPolicy
from monitor.alerting.notification import Kind
from monitor.models import Alert
from monitor.settings import AlertSettings

__all__ = ["AlertPolicy", "DeadMessage"]

_DIGEST_PERIODS = {"hourly": 3600.0, "daily": 86400.0}


@dataclass(frozen=True)
class AlertPolicy:
    """How the alerter folds, groups, escalates and retries; the defaults send at once."""

    dedup: DedupPolicy = field(default_factory=DedupPolicy)
    groups: GroupPolicy = field(default_factory=GroupPolicy)
    escalate_on: frozenset[str] = frozenset({"entity"})
    retry_attempts: int = 8
    retry_initial: timedelta = timedelta(seconds=30)
    retry_max: timedelta = timedelta(hours=1)
    digests: Mapping[str, timedelta] = field(default_factory=dict)
    """Receivers that get one message a period (hourly, daily) instead of one per event."""

    @classmethod
    def of(cls, settings: AlertSettings) -> AlertPolicy:
        """Return the policy ``settings`` describe."""
        d = settings.dedup
        return cls(
            dedup=DedupPolicy(
                window=timedelta(seconds=d.window_s),
                lateness=timedelta(seconds=d.lateness_s),
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
            digests={
                name: timedelta(seconds=r.digest_period_s or _DIGEST_PERIODS[r.digest])
                for name, r in settings.receivers.items()
                if r.digest is not None
            },
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
    kind: Kind
    alerts: tuple[Alert, ...]
    attempts: int
    detail: str
