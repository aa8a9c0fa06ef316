"""What a channel sends: one message about one or more alerts, and why it is sent now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.models import Alert

__all__ = ["KINDS", "Kind", "Notification"]

Kind = Literal["new", "followup", "escalation", "repeat", "resend", "test", "digest"]
#: Why a message goes out: a new alert (or a burst of several), later sources of an alerted event, a
#: material change, a reminder (repeat_interval), a resend asked by a person, a receiver test, or the
#: hourly or daily digest of a receiver that wants one (``alert.receivers.NAME.digest``).
KINDS: tuple[Kind, ...] = ("new", "followup", "escalation", "repeat", "resend", "test", "digest")


@dataclass(frozen=True)
class Notification:
    """One message to one receiver: rendered by the channel's templates when it is sent."""

    kind: Kind
    alerts: tuple[Alert, ...]
    receiver: str = ""
    changes: tuple[str, ...] = ()
    message_id: int | None = None

    @property
    def digest(self) -> bool:
        """Return whether the message covers several alerts (a burst grouped by ``group_by``)."""
        return len(self.alerts) > 1
