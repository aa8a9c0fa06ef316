"""service.Alerter: store once, deliver through every channel, survive a failing one, retry later."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.alerting.build import alert_from_match
from monitor.alerting.deliver import Channel
from monitor.alerting.outbox import Outbox
from monitor.alerting.service import Alerter, build_alerter
from monitor.errors import DeliveryError
from monitor.metrics import Metrics
from monitor.models import Alert, Match
from monitor.settings import AlertSettings

MakeMatch = Callable[..., Match]


class _Recording:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.sent.append(alert)


class _Failing:
    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error: Exception | None = error
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append(alert)


def _count(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite3") as box:
        yield box


def test_handle_stores_then_sends_everywhere(outbox: Outbox, metrics: Metrics, make_match: MakeMatch) -> None:
    first, second = _Recording("console"), _Recording("log")
    alert = Alerter(outbox, [first, second], metrics).handle(make_match())
    assert alert is not None
    assert first.sent == [alert]
    assert second.sent == [alert]
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


@pytest.mark.parametrize("error", [DeliveryError("smtp down"), RuntimeError("bug in a channel")])
def test_failing_channel_blocks_nothing(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch, error: Exception
) -> None:
    before, failing, after = _Recording("console"), _Failing("apprise", error), _Recording("log")
    alert = Alerter(outbox, [before, failing, after], metrics).handle(make_match())
    assert alert is not None
    assert before.sent == [alert]
    assert after.sent == [alert]
    assert outbox.pending() == [alert]
    stored = outbox.get(alert.id)
    assert stored is not None
    assert stored.pending_channels == ["apprise"]
    assert str(error) in stored.deliveries["apprise"].detail
    assert _count(metrics, "newsmon_deliveries_total", channel="apprise", outcome="error") == 1
    assert _count(metrics, "newsmon_deliveries_total", channel="log", outcome="ok") == 1


def test_retry_pending_resends_only_what_failed(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch
) -> None:
    log, apprise = _Recording("log"), _Failing("apprise", DeliveryError("down"))
    alerter = Alerter(outbox, [log, apprise], metrics)
    alert = alerter.handle(make_match())
    assert alerter.retry_pending() == 0  # still down

    apprise.error = None
    assert alerter.retry_pending() == 1
    assert apprise.sent == [alert]
    assert log.sent == [alert]  # not sent twice
    assert outbox.pending() == []
    assert alerter.retry_pending() == 0
    assert _count(metrics, "newsmon_deliveries_total", channel="apprise", outcome="error") == 2
    assert _count(metrics, "newsmon_deliveries_total", channel="apprise", outcome="ok") == 1


def test_retry_after_a_crash_between_store_and_send(
    tmp_path: Path, metrics: Metrics, make_match: MakeMatch
) -> None:
    path = tmp_path / "outbox.sqlite3"

    alert = alert_from_match(make_match())
    with Outbox(path) as crashed:
        crashed.add(alert, ["log", "apprise"])  # stored, then the process died before sending
    log, apprise = _Recording("log"), _Recording("apprise")
    with Outbox(path) as outbox:
        alerter = Alerter(outbox, [log, apprise], metrics)
        assert alerter.handle(make_match()) is None  # the replayed Match is a duplicate...
        assert alerter.retry_pending() == 1  # ...and the start-up retry sends it, once
    assert log.sent == [alert]
    assert apprise.sent == [alert]


def test_channel_no_longer_configured_stays_pending(
    outbox: Outbox, metrics: Metrics, make_match: MakeMatch
) -> None:
    Alerter(outbox, [_Failing("apprise", DeliveryError("down")), _Recording("log")], metrics).handle(
        make_match()
    )
    assert Alerter(outbox, [_Recording("log")], metrics).retry_pending() == 0
    assert len(outbox.pending()) == 1


def test_channel_names_must_be_unique(outbox: Outbox, metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="unique"):
        Alerter(outbox, [_Recording("log"), _Recording("log")], metrics)


def test_build_alerter_from_settings(tmp_path: Path, metrics: Metrics, make_match: MakeMatch) -> None:
    settings = AlertSettings(
        console=True,
        alert_log=tmp_path / "var" / "alerts.jsonl",
        outbox_db=tmp_path / "var" / "alerts.sqlite3",
        apprise_urls=[SecretStr("json://127.0.0.1:9/")],
    )
    console = io.StringIO()
    alerter = build_alerter(settings, metrics, console=console)
    assert [c.name for c in alerter.channels] == ["console", "log", "apprise"]
    alerter.outbox.close()

    quiet = settings.model_copy(update={"console": False, "apprise_urls": []})
    alerter = build_alerter(quiet, metrics, console=console)
    channels: list[Channel] = alerter.channels
    assert [c.name for c in channels] == ["log"]
    alerter.handle(make_match())
    assert settings.alert_log.read_text(encoding="utf-8").count("\n") == 1
    assert console.getvalue() == ""
    alerter.outbox.close()
