"""When to subscribe, renew, give up on a hub, and how often to poll a pushed feed: pure arithmetic.

Kept apart from the subscriber, so the lease rules are checked by unit tests without a hub or a clock:
renew well before the lease ends (a hub may take its time to verify), count a request never verified as
a failure, back off from a failing hub, and keep polling slowly even when the hub is healthy, because a
hub that silently drops a subscription would otherwise cost a feed's news for the rest of the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.ingest.websub.store import Subscription

__all__ = ["Action", "LeasePolicy", "next_action", "poll_interval_s", "renew_at", "retry_delay_s"]

Action = Literal["wait", "subscribe", "renew", "verify_timed_out", "lease_lost", "forget"]


@dataclass(frozen=True)
class LeasePolicy:
    """The rhythm of subscriptions (see WebSubSettings for each)."""

    lease_s: float = 86400.0
    renew_before_s: float = 3600.0
    verify_timeout_s: float = 60.0
    retry_min_s: float = 300.0
    retry_max_s: float = 21600.0
    safety_poll_interval_s: float = 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_min_s <= self.retry_max_s:
            raise ValueError(
                f"retry_min_s ({self.retry_min_s:g}) must be > 0 and <= retry_max_s ({self.retry_max_s:g})"
            )


def renew_at(policy: LeasePolicy, lease_expires: float, lease_s: float) -> float:
    """Return when to renew a lease: ``renew_before_s`` ahead of its end, and at half a short lease."""
    return lease_expires - min(policy.renew_before_s, lease_s / 2)


def retry_delay_s(policy: LeasePolicy, failures: int) -> float:
    """Return the wait before trying a hub again after ``failures`` failures in a row (1 for the first)."""
    exponent = min(max(failures, 1), 32) - 1
    return min(policy.retry_max_s, policy.retry_min_s * 2.0**exponent)


def next_action(policy: LeasePolicy, sub: Subscription, now: float) -> Action:
    """Return what the subscriber must do about ``sub`` at ``now``."""
    outstanding = sub.requested_at is not None and now - sub.requested_at < policy.verify_timeout_s
    if sub.state == "pending":
        return "wait" if outstanding else "verify_timed_out"
    if sub.state == "unsubscribing":
        return "wait" if outstanding else "forget"
    if sub.state == "failed":
        return "subscribe" if sub.retry_at is None or now >= sub.retry_at else "wait"
    # active
    if sub.lease_expires is None or now >= sub.lease_expires:
        return "lease_lost"
    if outstanding or (sub.retry_at is not None and now < sub.retry_at):
        return "wait"
    lease_s = sub.lease_s or policy.lease_s
    return "renew" if now >= renew_at(policy, sub.lease_expires, lease_s) else "wait"


def poll_interval_s(policy: LeasePolicy, sub: Subscription | None, now: float, interval_s: float) -> float:
    """Return the seconds until the next poll of a feed the poller wanted to poll in ``interval_s``.

    A feed with a live lease is polled at the safety interval (or its own, if longer); any other feed at
    its own interval, so a hub that fails costs the feed nothing but the push.
    """
    if sub is None or sub.state != "active" or sub.lease_expires is None or now >= sub.lease_expires:
        return interval_s
    return max(interval_s, policy.safety_poll_interval_s)
