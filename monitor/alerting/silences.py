"""Silences: mute alerts by watchlist, entity or receiver until they expire, like Alertmanager's. Pure.

A silence is checked when a message is due, not when the alert is made, so one added after an alert
was stored still holds. Silenced messages are kept in the outbox as ``silenced`` (nothing is lost;
``newsmon alerts resend`` sends one anyway).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from monitor.models import Alert

__all__ = ["Silence", "new_silence", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Silence:
    """Mute alerts matching every given matcher between ``starts_at`` and ``ends_at``."""

    id: str
    starts_at: datetime
    ends_at: datetime
    rule: str | None = None
    entity: str | None = None
    receiver: str | None = None
    comment: str = ""
    created_by: str = ""
    expired_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        """Return whether the silence holds at ``now``."""
        end = min(self.ends_at, self.expired_at) if self.expired_at else self.ends_at
        return self.starts_at <= now < end

    def mutes(self, alert: Alert, receiver: str) -> bool:
        """Return whether the silence mutes ``alert`` on its way to ``receiver`` (matchers only)."""
        if self.rule is not None and not fnmatchcase(alert.rule, self.rule):
            return False
        if self.entity is not None and self.entity not in alert.entities:
            return False
        return self.receiver is None or self.receiver == receiver

    def describe(self) -> str:
        """Return the matchers in one line, e.g. ``rule=leaders_* receiver=desk``."""
        matchers = (("rule", self.rule), ("entity", self.entity), ("receiver", self.receiver))
        return " ".join(f"{k}={v}" for k, v in matchers if v is not None) or "(everything)"


def new_silence(
    now: datetime,
    duration: timedelta,
    *,
    rule: str | None = None,
    entity: str | None = None,
    receiver: str | None = None,
    comment: str = "",
    created_by: str = "",
) -> Silence:
    """Return a silence from ``now`` for ``duration``; at least one matcher is required.

    Raises:
        ValueError: no matcher, or a duration that is not positive.
    """
    if rule is None and entity is None and receiver is None:
        raise ValueError("a silence needs at least one of --rule, --entity, --receiver")
    if duration <= timedelta(0):
        raise ValueError("a silence must last more than 0 s")
    key = f"{now.isoformat()}\x00{rule}\x00{entity}\x00{receiver}\x00{comment}"
    return Silence(
        id=hashlib.sha256(key.encode()).hexdigest()[:12],
        starts_at=now,
        ends_at=now + duration,
        rule=rule,
        entity=entity,
        receiver=receiver,
        comment=comment,
        created_by=created_by,
    )


def parse_duration(text: str) -> timedelta:
    """Return the duration written as ``90s``, ``30m``, ``2h``, ``1d`` or ``1w``.

    Raises:
        ValueError: saying which forms are valid.
    """
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"invalid duration {text!r}: use a number and s, m, h, d or w (e.g. 2h)")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
