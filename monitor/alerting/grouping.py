"""When each message of a group is due: Alertmanager's group_wait, group_interval and repeat_interval. Pure.

A group is what one message covers on one channel: by default one event of one watchlist, so a burst of
outlets reporting it within ``group_wait`` becomes one message listing them all; with ``group_by:
[rule]`` a burst of events becomes one digest. After a group's message went out, news of the group
waits ``group_interval`` so the desk gets at most one update per interval; ``followups`` caps how many
updates an alert gets for later sources; escalations go at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from monitor.models import Alert

__all__ = ["DIGEST_GROUP", "GroupPolicy", "GroupState", "Plan", "digest_due", "group_key", "plan"]

#: The group of a digest receiver's channel: every alert of the period goes into one message.
DIGEST_GROUP = "digest"

Change = Literal["new", "update", "escalation"]


@dataclass(frozen=True)
class GroupPolicy:
    """How messages are grouped and spaced; the defaults send at once (the service's settings wait)."""

    group_by: tuple[str, ...] = ("rule", "event")
    group_wait: timedelta = timedelta(0)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta | None = None
    followups: int = 1


@dataclass(frozen=True)
class GroupState:
    """What the outbox knows of a group on one channel when an alert of it changes."""

    open_message: int | None = None
    open_covers_alert: bool = False
    last_sent_at: datetime | None = None
    followups_sent: int = 0


@dataclass(frozen=True)
class Plan:
    """What to do: nothing, add the alert to the open message, or create a message due at ``due_at``."""

    action: Literal["none", "join", "create"]
    kind: str = "new"
    due_at: datetime | None = None


def group_key(alert: Alert, group_by: Sequence[str]) -> str:
    """Return the key of the group ``alert`` belongs to, e.g. ``rule=leaders_meeting|event=ab12``."""
    values = {"rule": alert.rule, "event": alert.id, "severity": alert.severity}
    return "|".join(f"{label}={values[label]}" for label in group_by) or "all"


def plan(change: Change, state: GroupState, policy: GroupPolicy, now: datetime) -> Plan:
    """Return what a ``change`` of an alert means for its group on one channel.

    An open message (stored, never tried) is rendered when sent, so it shows the alert as it is
    then: joining it is enough. Otherwise a new alert waits ``group_wait`` in a new group and
    ``group_interval`` after the group's last message; an update does the same if follow-ups remain.
    """
    if change == "escalation":
        return Plan("create", "escalation", now)
    if change == "update" and state.followups_sent >= policy.followups:
        return Plan("none")
    if state.open_message is not None:
        if state.open_covers_alert:
            return Plan("none")
        return Plan("join", "new" if change == "new" else "followup")
    if state.last_sent_at is None:
        due = now + policy.group_wait
    else:
        due = max(now, state.last_sent_at + policy.group_interval)
    return Plan("create", "new" if change == "new" else "followup", due)


def digest_due(now: datetime, period: timedelta) -> datetime:
    """Return the end of the digest period ``now`` falls in: periods run from the epoch, in UTC.

    An hourly digest goes at the top of each hour, a daily one at midnight UTC; a restart in between
    finds the same due time in the outbox, so the period never restarts.
    """
    seconds = period.total_seconds()
    stamp = now.timestamp()
    return datetime.fromtimestamp((stamp // seconds + 1) * seconds, tz=UTC)
