"""What the outbox returns: typed records of alerts, their deliveries and the messages due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from monitor.alerting.notification import KINDS, Kind
from monitor.models import Alert

__all__ = ["ChannelState", "DeliveryState", "Due", "StoredAlert", "StoredReport", "kind_of", "state_of"]

#: Where one alert stands on one channel; ``retrying`` is a pending message that failed before.
#: ``handed_over``: parked while another alerter owns the watchlist's partition (see ownership.py).
DeliveryState = Literal["pending", "retrying", "sent", "failed", "silenced", "cancelled", "handed_over"]


def kind_of(text: str) -> Kind:
    """Return the message kind ``text`` names.

    Raises:
        ValueError: not a kind; the message lists the valid ones.
    """
    for kind in KINDS:
        if kind == text:
            return kind
    raise ValueError(f"unknown message kind {text!r}; valid kinds are {list(KINDS)}")


def state_of(text: str) -> DeliveryState:
    """Return the delivery state ``text`` names.

    Raises:
        ValueError: not a state; the message lists the valid ones.
    """
    for state in get_args(DeliveryState):
        if state == text:
            return state  # type: ignore[no-any-return]  # one of DeliveryState's own values
    raise ValueError(f"unknown delivery state {text!r}; valid states are {list(get_args(DeliveryState))}")


@dataclass(frozen=True)
class StoredReport:
    """The Match that caused a change of an alert, as dedup needs it again after a restart."""

    match_id: str
    rule: str
    article_id: str
    event_time: datetime
    reason: str
    report: dict[str, Any]


@dataclass(frozen=True)
class ChannelState:
    """The latest message of one alert on one channel."""

    channel: str
    state: DeliveryState
    attempts: int
    detail: str
    updated_at: datetime

    @property
    def ok(self) -> bool:
        """Return whether the channel has delivered the alert."""
        return self.state == "sent"


@dataclass(frozen=True)
class StoredAlert:
    """An alert as the outbox holds it: its latest revision, where it went, why each article joined it."""

    alert: Alert
    stored_at: datetime
    deliveries: dict[str, ChannelState] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    merged_into: str | None = None

    @property
    def pending_channels(self) -> list[str]:
        """Return the channels that have not delivered this alert yet and still may."""
        return [name for name, d in self.deliveries.items() if d.state in ("pending", "retrying")]

    @property
    def state(self) -> str:
        """Return merged, failed (a channel gave up), pending, handed_over, silenced or sent.

        ``handed_over``: parked here while another alerter owns the watchlist's partition.
        """
        states = {d.state for d in self.deliveries.values()}
        if self.merged_into:
            return "merged"
        if "failed" in states:
            return "failed"
        if states & {"pending", "retrying"}:
            return "pending"
        if "handed_over" in states and "sent" not in states:
            return "handed_over"
        if states and states <= {"silenced", "cancelled"}:
            return "silenced"
        return "sent" if "sent" in states else "pending"


@dataclass(frozen=True)
class Due:
    """A message whose time has come."""

    id: int
    channel: str
    kind: Kind
    alert_ids: tuple[str, ...]
    changes: tuple[str, ...]
    attempts: int
    group_key: str
    due_at: datetime | None = None
