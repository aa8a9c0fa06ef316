"""routing, grouping, silences and rate limits: the pure parts between an alert and its messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerting.build import alert_from_match
from monitor.alerting.grouping import GroupPolicy, GroupState, group_key, plan
from monitor.alerting.ratelimit import RateLimiter
from monitor.alerting.routing import Route, route
from monitor.alerting.silences import new_silence, parse_duration
from monitor.models import Alert
from tests.fixtures.matches import MakeMatch

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def alert(make_match: MakeMatch) -> Alert:
    return alert_from_match(make_match()).model_copy(update={"tags": ("europe",)})


KNOWN = ("desk", "oncall", "telegram")


def test_first_matching_route_wins(alert: Alert) -> None:
    routes = [
        Route(("oncall",), min_severity="critical"),
        Route(("desk",), rules=("leaders_*",)),
        Route(("telegram",)),
    ]
    assert route(alert, routes, ["telegram"], KNOWN) == (("desk",), ())


def test_continue_routing_adds_the_next_routes(alert: Alert) -> None:
    routes = [
        Route(("desk",), tags=("europe",), continue_routing=True),
        Route(("oncall",), severities=("high",)),
    ]
    assert route(alert, routes, [], KNOWN)[0] == ("desk", "oncall")


def test_no_route_means_the_default(alert: Alert) -> None:
    assert route(alert, [Route(("oncall",), entities=("someone_else",))], ["desk"], KNOWN)[0] == ("desk",)


def test_a_watchlist_naming_receivers_is_obeyed_and_unknown_names_reported(alert: Alert) -> None:
    assert route(alert, [Route(("desk",))], ["desk"], KNOWN, named=("telegram",)) == (("telegram",), ())
    chosen, unknown = route(alert, [Route(("desk",))], [], KNOWN, named=("pager",))
    assert chosen == ("desk",)
    assert unknown == ("pager",)


def test_group_key_follows_group_by(alert: Alert) -> None:
    assert group_key(alert, ("rule", "event")) == f"rule=leaders_meeting|event={alert.id}"
    assert group_key(alert, ("rule",)) == "rule=leaders_meeting"
    assert group_key(alert, ()) == "all"


POLICY = GroupPolicy(group_wait=timedelta(seconds=30), group_interval=timedelta(minutes=5), followups=1)


def test_a_new_group_waits_group_wait() -> None:
    decided = plan("new", GroupState(), POLICY, NOW)
    assert (decided.action, decided.kind, decided.due_at) == ("create", "new", NOW + timedelta(seconds=30))


def test_an_open_message_takes_new_alerts_of_its_group() -> None:
    assert plan("new", GroupState(open_message=7), POLICY, NOW).action == "join"
    assert plan("update", GroupState(open_message=7, open_covers_alert=True), POLICY, NOW).action == "none"


def test_an_update_after_a_send_waits_group_interval_and_counts_as_a_followup() -> None:
    sent = GroupState(last_sent_at=NOW - timedelta(minutes=1))
    decided = plan("update", sent, POLICY, NOW)
    assert (decided.action, decided.kind, decided.due_at) == (
        "create",
        "followup",
        NOW + timedelta(minutes=4),
    )
    spent = GroupState(last_sent_at=NOW - timedelta(minutes=1), followups_sent=1)
    assert plan("update", spent, POLICY, NOW).action == "none"


def test_an_escalation_goes_at_once() -> None:
    spent = GroupState(last_sent_at=NOW, followups_sent=5, open_message=3)
    decided = plan("escalation", spent, POLICY, NOW)
    assert (decided.action, decided.kind, decided.due_at) == ("create", "escalation", NOW)


def test_silence_matchers_and_expiry(alert: Alert) -> None:
    silence = new_silence(NOW, timedelta(hours=2), rule="leaders_*", receiver="desk")
    assert silence.active(NOW + timedelta(hours=1))
    assert not silence.active(NOW + timedelta(hours=2))
    assert silence.mutes(alert, "desk")
    assert not silence.mutes(alert, "oncall")
    assert not new_silence(NOW, timedelta(hours=1), entity="chen_oru").mutes(alert, "desk")
    assert silence.describe() == "rule=leaders_* receiver=desk"


def test_a_silence_needs_a_matcher_and_a_duration() -> None:
    with pytest.raises(ValueError, match="at least one"):
        new_silence(NOW, timedelta(hours=1))
    with pytest.raises(ValueError, match="more than 0"):
        new_silence(NOW, timedelta(0), rule="x")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1.5d", 129600)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_bad_duration_says_the_valid_forms() -> None:
    with pytest.raises(ValueError, match="s, m, h, d or w"):
        parse_duration("2 hours")


def test_rate_limit_interval_per_minute_and_retry_after() -> None:
    limiter = RateLimiter(min_interval_s=1.0, per_minute=3)
    assert limiter.next_allowed(NOW) == NOW
    for s in (0, 1, 2):
        limiter.record(NOW + timedelta(seconds=s))
    assert limiter.next_allowed(NOW + timedelta(seconds=2)) == NOW + timedelta(seconds=60)
    limiter = RateLimiter(min_interval_s=1.0)
    limiter.record(NOW)
    assert limiter.next_allowed(NOW) == NOW + timedelta(seconds=1)
    limiter.block(NOW + timedelta(seconds=30))
    assert limiter.next_allowed(NOW + timedelta(seconds=5)) == NOW + timedelta(seconds=30)
