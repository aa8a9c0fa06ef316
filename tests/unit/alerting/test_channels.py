"""deliver: console, JSONL log and apprise channels (apprise through an in-process custom plugin)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import apprise
import pytest
from apprise.decorators import notify
from pydantic import SecretStr

from monitor.alerting.build import alert_from_match
from monitor.alerting.deliver import AppriseChannel, Channel, ConsoleChannel, JsonlLogChannel, build_channels
from monitor.alerting.notification import Notification
from monitor.alerting.render import Renderer
from monitor.errors import ConfigError, DeliveryError
from monitor.models import Alert
from monitor.settings import AlertSettings, ReceiverSettings
from tests.fixtures.matches import MakeMatch


def _note(alert: Alert) -> Notification:
    return Notification("new", (alert,))


_SENT: list[dict[str, Any]] = []


def _accepting(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    _SENT.append({"title": title, "body": body})
    return True


def _refusing(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    return False


@pytest.fixture(scope="module", autouse=True)
def _fake_schemes() -> None:
    """Register newsmonok:// and newsmonko:// with apprise: receivers that accept or refuse in-process."""
    notify(on="newsmonok")(_accepting)  # type: ignore[no-untyped-call]
    notify(on="newsmonko")(_refusing)  # type: ignore[no-untyped-call]


def test_channels_follow_the_protocol(tmp_path: Path) -> None:
    channels: list[Channel] = [ConsoleChannel(io.StringIO()), JsonlLogChannel(tmp_path / "a.jsonl")]
    assert [c.name for c in channels] == ["console", "log"]


def test_jsonl_log_appends_one_alert_per_line(tmp_path: Path, make_match: MakeMatch) -> None:
    path = tmp_path / "var" / "alerts.jsonl"
    channel = JsonlLogChannel(path)
    alerts = [alert_from_match(make_match(url=f"https://news.example.org/{n}")) for n in range(2)]
    for alert in alerts:
        channel.send(_note(alert))
    lines = path.read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines]
    assert [d["id"] for d in docs] == [a.id for a in alerts]
    assert {d["schema"] for d in docs} == {"newsmon.alert/2"}
    assert docs[0]["articles"][0]["url"] == alerts[0].articles[0].url


def test_jsonl_log_error_is_a_delivery_error(tmp_path: Path, make_match: MakeMatch) -> None:
    path = tmp_path / "alerts.jsonl"
    channel = JsonlLogChannel(path)
    path.mkdir()  # a directory where the file should be
    with pytest.raises(DeliveryError, match="cannot append"):
        channel.send(_note(alert_from_match(make_match())))


def test_console_prints_the_compact_view(make_match: MakeMatch) -> None:
    stream = io.StringIO()
    ConsoleChannel(stream).send(_note(alert_from_match(make_match())))
    assert stream.getvalue().startswith("ALERT HIGH Leaders meeting: Ada Verin & Boris Kalm — Geneva, ")
    closed = io.StringIO()
    closed.close()
    with pytest.raises(DeliveryError):
        ConsoleChannel(closed).send(_note(alert_from_match(make_match())))


def test_apprise_sends_subject_and_text(make_match: MakeMatch) -> None:
    _SENT.clear()
    alert = alert_from_match(make_match())
    AppriseChannel("newsmonok://token-1234@desk").send(_note(alert))
    assert len(_SENT) == 1
    assert _SENT[0]["title"].startswith(
        "[HIGH] Leaders meeting: Ada Verin & Boris Kalm — Geneva, 2026-03-04 · "
    )
    assert alert.articles[0].url in _SENT[0]["body"]


def test_apprise_failure_never_shows_the_url(make_match: MakeMatch) -> None:
    channel = AppriseChannel("newsmonko://s3cret-token@desk", name="desk", receiver="desk")
    with pytest.raises(DeliveryError) as e:
        channel.send(_note(alert_from_match(make_match())))
    assert str(e.value).startswith("desk: ")
    assert "s3cret" not in str(e.value)


def test_each_url_of_a_receiver_is_a_channel_of_its_own(tmp_path: Path) -> None:
    settings = AlertSettings(
        console=False,
        alert_log=tmp_path / "a.jsonl",
        apprise_urls=[SecretStr("newsmonok://t@one")],
        receivers={
            "desk": ReceiverSettings(
                urls=[SecretStr("newsmonok://t@a"), SecretStr("tgram://123:ABC/-100/-200")]
            ),
        },
    )
    receivers = build_channels(settings, Renderer(), io.StringIO())
    assert [c.name for c in receivers.channels] == ["log", "apprise", "desk.1", "desk.2", "desk.3"]
    assert receivers.receiver_of["desk.3"] == "desk"
    assert receivers.names == ["log", "apprise", "desk"]
    telegram = receivers.limiters["desk.2"]
    assert telegram.per_minute == 20
    assert telegram.min_interval.total_seconds() == 1


@pytest.mark.parametrize(
    "url", ["nosuchscheme://s3cret@host", "s3cret-without-scheme", "mailto://s3cret:pw@/"]
)
def test_apprise_bad_url_is_a_config_error_without_the_secret(url: str) -> None:
    with pytest.raises(ConfigError, match=r"alert\.apprise_urls\[0\]") as e:
        AppriseChannel(url)
    assert "s3cret" not in str(e.value)


def test_apprise_exception_is_a_delivery_error(
    make_match: MakeMatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = AppriseChannel("newsmonok://token@desk")

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("newsmonok://token@desk exploded")

    monkeypatch.setattr(apprise.Apprise, "notify", boom)
    with pytest.raises(DeliveryError) as e:
        channel.send(_note(alert_from_match(make_match())))
    assert "token" not in str(e.value)


def test_apprise_min_interval_overrides_its_throttle(make_match: MakeMatch) -> None:
    _SENT.clear()
    channel = AppriseChannel("newsmonok://token@desk", min_interval_s=0)
    started = time.monotonic()
    for n in range(3):
        channel.send(_note(alert_from_match(make_match(url=f"https://news.example.org/{n}"))))
    assert len(_SENT) == 3
    assert time.monotonic() - started < 2  # apprise's default would sleep 5.5 s between sends
