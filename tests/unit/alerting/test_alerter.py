"""service.Alerter: one alert per event, each message once per channel, retried, paced, silenced, resumed."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.alerting.exceptions import RateLimitedError
from monitor.alerting.grouping import GroupPolicy
from monitor.alerting.notification import Notification
from monitor.alerting.outbox import Outbox
from monitor.alerting.ratelimit import RateLimiter
from monitor.alerting.routing import Route
from monitor.alerting.service import Alerter, AlertPolicy, DeadMessage, build_alerter
from monitor.alerting.silences import new_silence
from monitor.errors import DeliveryError
from monitor.metrics import Metrics
from monitor.models import EntityMention, Evidence
from monitor.settings import AlertSettings
from tests.fixtures.matches import MakeMatch

T0 = datetime(2026, 3, 4, 9, 40, tzinfo=UTC)


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class _Recording:
    def __init__(self, name: str, receiver: str | None = None) -> None:
        self.name = name
        self.receiver = receiver or name
        self.sent: list[Notification] = []
        self.error: Exception | None = None

    def send(self, note: Notification) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(note)

    @property
    def kinds(self) -> list[str]:
        return [n.kind for n in self.sent]


def _count(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite3") as box:
        yield box


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


WAITING = AlertPolicy(
    groups=GroupPolicy(group_wait=timedelta(seconds=10), group_interval=timedelta(minutes=5))
)


def test_handle_stores_then_sends_everywhere(outbox: Outbox, metrics: Metrics, make_match: MakeMatch) -> None:
    first, second = _Recording("console"), _Recording("log")
    alert = Alerter(outbox, [first, second], metrics).handle(make_match())
    assert alert is not None
    assert [n.alerts for n in first.sent] == [(alert,)]
    assert [n.alerts for n in second.sent] == [(alert,)]
    assert outbox.pending() == []
    assert _count(metrics, "newsmon_alerts_total", rule="leaders_meeting") == 1
    assert _count(metrics, "newsmon_deliveries_total", channel="log", outcome="ok") == 1


def test_duplicate_match_is_counted_not_sent(outbox: Outbox, metrics: Metrics, make_match: MakeMatch) -> None:
    channel = _Recording("log")
    alerter = Alerter(outbox, [channel], metrics)
    assert alerter.handle(make_match()) is not None
    assert alerter.handle(make_match()) is None
    assert len(channel.sent) == 1
    assert _count(metrics, "newsmon_alerts_duplicate_total", rule="leaders_meeting") == 1
    assert _count(metrics, "newsmon_alerts_total", rule="leaders_meeting") == 1


def test_another_outlet_joins_the_alert_and_is_one_followup(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch, clock: _Clock
) -> None:
    desk = _Recording("desk")
    alerter = Alerter(outbox, [desk], metrics, policy=WAITING, clock=clock)
    first = alerter.handle(make_match())
    second = alerter.handle(
        make_match(url="https://daily.example.net/verin-kalm", title="Kalm and Verin agree")
    )
    assert first is not None
    assert second is not None
    assert second.id == first.id
    assert len(second.articles) == 2
    assert second.revision == 2
    assert desk.sent == []  # group_wait: the burst is collected
    clock.advance(seconds=10)
    alerter.tick()
    assert desk.kinds == ["new"]
    assert len(desk.sent[0].alerts[0].articles) == 2
    for n in range(3):
        alerter.handle(make_match(url=f"https://late.example.com/{n}"))
    clock.advance(minutes=4)
    alerter.tick()
    assert desk.kinds == ["new"]  # group_interval not over
    clock.advance(minutes=1)
    alerter.tick()
    assert desk.kinds == ["new", "followup"]
    assert len(desk.sent[1].alerts[0].articles) == 5
    alerter.handle(make_match(url="https://later.example.com/x"))
    clock.advance(hours=1)
    alerter.tick()
    assert desk.kinds == ["new", "followup"]  # one follow-up only: the rest is in `alerts list`
    assert _count(metrics, "newsmon_alerts_total", rule="leaders_meeting") == 1
    assert _count(metrics, "newsmon_alerts_attached_total", rule="leaders_meeting") == 5


def test_a_new_watched_entity_escalates_at_once(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch, clock: _Clock
) -> None:
    desk = _Recording("desk")
    alerter = Alerter(outbox, [desk], metrics, policy=WAITING, clock=clock)
    alerter.handle(make_match())
    clock.advance(seconds=10)
    alerter.tick()
    sentence = "Ada Verin, Boris Kalm and Chen Oru met in Geneva on Tuesday."
    joined = make_match(url="https://daily.example.net/three", evidence=(_three(sentence),))
    joined = joined.model_copy(update={"entities": ("ada_verin", "boris_kalm", "chen_oru")})
    alert = alerter.handle(joined)
    assert alert is not None
    assert alert.changes == ("new watched entity: chen_oru",)
    assert desk.kinds == ["new", "escalation"]
    assert desk.sent[1].changes == ("new watched entity: chen_oru",)
    assert _count(metrics, "newsmon_alert_escalations_total", rule="leaders_meeting") == 1


def _three(sentence: str) -> Evidence:
    ids = {"Ada Verin": "ada_verin", "Boris Kalm": "boris_kalm", "Chen Oru": "chen_oru"}
    mentions = tuple(
        EntityMention(
            text=n, label="PER", start=sentence.index(n), end=sentence.index(n) + len(n), entity_id=i
        )
        for n, i in ids.items()
    )
    return Evidence(condition="two_leaders_meet", sentence=sentence, entities=mentions)


def test_another_watchlist_on_an_alerted_article_escalates_when_asked(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch
) -> None:
    desk = _Recording("desk")
    policy = AlertPolicy(escalate_on=frozenset({"entity", "watchlist"}))
    alerter = Alerter(outbox, [desk], metrics, policy=policy)
    first = alerter.handle(make_match())
    assert first is not None
    alerter.handle(make_match(rule="water_deals"))
    assert desk.kinds == ["new", "new", "escalation"]
    assert desk.sent[2].alerts[0].id == first.id
    assert "watchlist water_deals also fired" in desk.sent[2].changes[0]


@pytest.mark.parametrize("error", [DeliveryError("smtp down"), RuntimeError("bug in a channel")])
def test_failing_channel_blocks_nothing_and_retries_with_backoff(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch, clock: _Clock, error: Exception
) -> None:
    before, failing, after = _Recording("console"), _Recording("desk"), _Recording("log")
    failing.error = error
    dead: list[DeadMessage] = []
    policy = AlertPolicy(retry_attempts=3, retry_initial=timedelta(seconds=30))
    alerter = Alerter(
        outbox, [before, failing, after], metrics, clock=clock, policy=policy, deadletter=dead.append
    )
    alert = alerter.handle(make_match())
    assert alert is not None
    assert len(before.sent) == len(after.sent) == 1
    stored = outbox.get(alert.id)
    assert stored is not None
    assert stored.pending_channels == ["desk"]
    assert str(error) in stored.deliveries["desk"].detail
    clock.advance(seconds=29)
    alerter.tick()
    assert _count(metrics, "newsmon_deliveries_total", channel="desk", outcome="error") == 1
    clock.advance(seconds=1)
    alerter.tick()  # second attempt after 30 s; the third waits 60 s
    clock.advance(seconds=59)
    alerter.tick()
    assert _count(metrics, "newsmon_deliveries_total", channel="desk", outcome="error") == 2
    clock.advance(seconds=1)
    alerter.tick()
    assert [d.channel for d in dead] == ["desk"]
    assert dead[0].alerts[0].id == alert.id
    assert dead[0].attempts == 3
    assert _count(metrics, "newsmon_notifications_deadlettered_total", channel="desk") == 1
    stored = outbox.get(alert.id)
    assert stored is not None
    assert stored.state == "failed"
    assert len(before.sent) == len(after.sent) == 1  # never sent twice


def test_a_channel_that_comes_back_gets_the_alert_once(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch, clock: _Clock
) -> None:
    log, desk = _Recording("log"), _Recording("desk")
    desk.error = DeliveryError("down")
    alerter = Alerter(outbox, [log, desk], metrics, clock=clock)
    alert = alerter.handle(make_match())
    assert alert is not None
    assert alerter.retry_pending() == 0
    desk.error = None
    assert alerter.retry_pending() == 1
    assert [n.alerts[0].id for n in desk.sent] == [alert.id]
    assert len(log.sent) == 1
    assert outbox.pending() == []
    assert alerter.retry_pending() == 0


def test_retry_after_is_honoured_without_costing_a_retry(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch, clock: _Clock
) -> None:
    telegram = _Recording("tg")
    telegram.error = RateLimitedError("telegram: 429 Too Many Requests", 7)
    limiter = RateLimiter(min_interval_s=1)
    alerter = Alerter(outbox, [telegram], metrics, clock=clock, limiters={"tg": limiter})
    alerter.handle(make_match())
    telegram.error = None
    clock.advance(seconds=6)
    alerter.tick()
    assert telegram.sent == []
    clock.advance(seconds=1)
    alerter.tick()
    assert telegram.kinds == ["new"]
    assert _count(metrics, "newsmon_deliveries_total", channel="tg", outcome="error") == 0
    assert _count(metrics, "newsmon_notifications_rate_limited_total", channel="tg") == 1
    other = make_match(
        url="https://other.example.org/z", title="Floods in Valmont", evidence=(), text="Rain, rain."
    )
    alerter.handle(other)
    assert telegram.kinds == ["new"]  # the 1 s interval: postponed, not failed
    clock.advance(seconds=1)
    alerter.tick()
    assert telegram.kinds == ["new", "new"]


def test_silenced_messages_are_kept_and_resend_ignores_silences(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch, clock: _Clock
) -> None:
    desk, log = _Recording("desk"), _Recording("log")
    outbox.add_silence(new_silence(clock.now, timedelta(hours=1), rule="leaders_*", receiver="desk"))
    alerter = Alerter(outbox, [desk, log], metrics, clock=clock)
    alert = alerter.handle(make_match())
    assert alert is not None
    assert desk.sent == []
    assert len(log.sent) == 1
    stored = outbox.get(alert.id)
    assert stored is not None
    assert stored.deliveries["desk"].state == "silenced"
    assert _count(metrics, "newsmon_notifications_silenced_total", channel="desk") == 1
    assert alerter.resend(alert.id, "desk") == 1
    assert desk.kinds == ["resend"]
    with pytest.raises(DeliveryError, match="unknown receiver 'pager'"):
        alerter.resend(alert.id, "pager")
    with pytest.raises(DeliveryError, match="no alert"):
        alerter.resend("nope")


def test_routes_choose_the_receivers(outbox: Outbox, metrics: Metrics, make_match: MakeMatch) -> None:
    log, desk, pager = _Recording("log"), _Recording("desk"), _Recording("pager")
    routes = [Route(("pager",), min_severity="critical"), Route(("desk",), rules=("leaders_*",))]
    alerter = Alerter(outbox, [log, desk, pager], metrics, routes=routes, default_receivers=["pager"])
    alert = alerter.handle(make_match())
    assert alert is not None
    assert alert.receivers == ("desk",)
    assert (len(log.sent), len(desk.sent), len(pager.sent)) == (1, 1, 0)


def test_crash_between_store_and_send_then_restart_sends_once(
    tmp_path: Path, metrics: Metrics, make_match: MakeMatch, clock: _Clock
) -> None:
    path = tmp_path / "outbox.sqlite3"
    desk = _Recording("desk")
    with Outbox(path) as box:
        stored = Alerter(box, [desk], metrics, policy=WAITING, clock=clock).handle(make_match())
    assert stored is not None
    assert desk.sent == []
    restarted = _Recording("desk")
    with Outbox(path) as box:
        alerter = Alerter(box, [restarted], metrics, policy=WAITING, clock=clock)
        assert alerter.handle(make_match()) is None  # the replayed Match is a duplicate...
        assert alerter.retry_pending() == 1  # ...and the start-up flush sends it, once
        assert alerter.retry_pending() == 0
        # The dedup index came back from the outbox: another outlet still joins the same alert.
        later = alerter.handle(make_match(url="https://daily.example.net/after-restart"))
        assert later is not None
        assert later.id == stored.id
    assert [n.alerts[0].id for n in restarted.sent] == [stored.id]


def test_channel_names_must_be_unique(outbox: Outbox, metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="unique"):
        Alerter(outbox, [_Recording("log"), _Recording("log")], metrics)


def test_build_alerter_from_settings(tmp_path: Path, metrics: Metrics, make_match: MakeMatch) -> None:
    settings = AlertSettings(
        console=True,
        alert_log=tmp_path / "var" / "alerts.jsonl",
        outbox_db=tmp_path / "var" / "alerts.sqlite3",
        apprise_urls=[SecretStr("json://127.0.0.1:9/")],
        group_wait_s=0,
    )
    console = io.StringIO()
    alerter = build_alerter(settings, metrics, console=console)
    assert [c.name for c in alerter.channels] == ["console", "log", "apprise"]
    alerter.outbox.close()

    quiet = settings.model_copy(update={"console": False, "apprise_urls": []})
    alerter = build_alerter(quiet, metrics, console=console)
    assert [c.name for c in alerter.channels] == ["log"]
    alerter.handle(make_match())
    assert settings.alert_log.read_text(encoding="utf-8").count("\n") == 1
    assert console.getvalue() == ""
    alerter.outbox.close()


def test_repeat_interval_reminds_while_the_event_is_in_the_window(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch, clock: _Clock
) -> None:
    desk = _Recording("desk")
    clock.now = make_match().matched_at
    groups = GroupPolicy(repeat_interval=timedelta(days=1))
    alerter = Alerter(outbox, [desk], metrics, clock=clock, policy=AlertPolicy(groups=groups))
    alerter.handle(make_match())
    for _ in range(5):
        clock.advance(days=1)
        alerter.tick()
    assert desk.kinds == ["new", "repeat", "repeat"]  # the 3-day window: no reminder about old news
