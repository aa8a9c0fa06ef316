"""Lease arithmetic: when to renew, when a hub has failed, how rarely a pushed feed is polled."""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.ingest.websub.lease import LeasePolicy, next_action, poll_interval_s, renew_at, retry_delay_s
from monitor.ingest.websub.store import Subscription

POLICY = LeasePolicy(
    lease_s=86400,
    renew_before_s=3600,
    verify_timeout_s=60,
    retry_min_s=300,
    retry_max_s=6000,
    safety_poll_interval_s=3600,
)
T0 = 1_800_000_000.0
SUB = Subscription("id", "feed", "https://hub.example/", "https://news.example/feed", "secret")


def _active(expires_in: float, lease_s: float = 86400, **changes: object) -> Subscription:
    return replace(SUB, state="active", lease_expires=T0 + expires_in, lease_s=lease_s, **changes)  # type: ignore[arg-type]


def test_a_lease_is_renewed_ahead_of_its_end_and_a_short_one_at_half_time() -> None:
    assert renew_at(POLICY, T0 + 86400, 86400) == T0 + 86400 - 3600
    assert renew_at(POLICY, T0 + 600, 600) == T0 + 300
    assert next_action(POLICY, _active(3601), T0) == "wait"
    assert next_action(POLICY, _active(3600), T0) == "renew"
    assert next_action(POLICY, _active(301, lease_s=600), T0) == "wait"
    assert next_action(POLICY, _active(300, lease_s=600), T0) == "renew"


def test_a_renewal_in_flight_waits_for_its_verification_then_is_sent_again() -> None:
    renewing = _active(1800, requested_at=T0 - 59)
    assert next_action(POLICY, renewing, T0) == "wait"
    assert next_action(POLICY, renewing, T0 + 1) == "renew"  # the hub never verified it: ask again


def test_a_failed_renewal_waits_out_its_retry_and_a_lease_that_ends_is_lost() -> None:
    assert next_action(POLICY, _active(1800, retry_at=T0 + 10), T0) == "wait"
    assert next_action(POLICY, _active(1800, retry_at=T0 + 10), T0 + 10) == "renew"
    assert next_action(POLICY, _active(0), T0) == "lease_lost"
    assert next_action(POLICY, _active(-5, requested_at=T0 - 1), T0) == "lease_lost"
    assert next_action(POLICY, replace(SUB, state="active"), T0) == "lease_lost"  # no lease at all


def test_a_request_not_verified_in_time_has_failed() -> None:
    pending = replace(SUB, state="pending", requested_at=T0)
    assert next_action(POLICY, pending, T0 + 59.9) == "wait"
    assert next_action(POLICY, pending, T0 + 60) == "verify_timed_out"
    assert next_action(POLICY, replace(pending, requested_at=None), T0) == "verify_timed_out"


def test_a_failed_hub_is_retried_with_backoff_up_to_the_cap() -> None:
    assert [retry_delay_s(POLICY, n) for n in (0, 1, 2, 3, 4, 5, 6, 100)] == [
        300,
        300,
        600,
        1200,
        2400,
        4800,
        6000,
        6000,
    ]
    failed = replace(SUB, state="failed", retry_at=T0 + 300)
    assert next_action(POLICY, failed, T0 + 299) == "wait"
    assert next_action(POLICY, failed, T0 + 300) == "subscribe"


def test_an_unsubscribe_is_forgotten_once_the_hub_had_its_time() -> None:
    ending = replace(SUB, state="unsubscribing", requested_at=T0)
    assert next_action(POLICY, ending, T0 + 30) == "wait"
    assert next_action(POLICY, ending, T0 + 60) == "forget"


def test_a_pushed_feed_is_polled_at_the_safety_interval_and_any_other_at_its_own() -> None:
    assert poll_interval_s(POLICY, _active(600), T0, 300) == 3600
    assert poll_interval_s(POLICY, _active(600), T0, 7200) == 7200  # never more often than it asked
    assert poll_interval_s(POLICY, _active(0), T0, 300) == 300  # lease over: polled as before
    assert poll_interval_s(POLICY, replace(SUB, state="pending"), T0, 300) == 300
    assert poll_interval_s(POLICY, replace(SUB, state="failed"), T0, 300) == 300
    assert poll_interval_s(POLICY, None, T0, 300) == 300


def test_retry_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="retry_min_s"):
        LeasePolicy(retry_min_s=100, retry_max_s=10)
