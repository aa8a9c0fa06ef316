"""``newsmon alerts|silence|receivers``: the desk's commands, run as the command line runs them."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.alerting.service import build_alerter
from monitor.bus.broker import free_port
from monitor.cli import main
from monitor.metrics import Metrics
from monitor.settings import AlertSettings, ReceiverSettings
from tests.fixtures.matches import match_about
from tests.fixtures.smtp import Inbox


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: tuple[Inbox, int]) -> AlertSettings:
    """Point every NEWSMON_ALERT__ setting of this process at tmp_path and the SMTP server."""
    for name in [n for n in os.environ if n.startswith("NEWSMON_")]:
        monkeypatch.delenv(name)
    url = f"mailto://127.0.0.1:{smtp[1]}/desk@example.org?from=newsmon@example.org&cto=5"
    values = {
        "NEWSMON_ALERT__OUTBOX_DB": str(tmp_path / "alerts.sqlite3"),
        "NEWSMON_ALERT__ALERT_LOG": str(tmp_path / "alerts.jsonl"),
        "NEWSMON_ALERT__CONSOLE": "false",
        "NEWSMON_ALERT__APPRISE_MIN_INTERVAL_S": "0",
        "NEWSMON_ALERT__GROUP_WAIT_S": "0",
        "NEWSMON_ALERT__RECEIVERS": json.dumps({"desk": {"urls": [url]}}),
        "NEWSMON_ALERT__DEFAULT_RECEIVER": "desk",
        "NEWSMON_LOG_LEVEL": "WARNING",
        "NEWSMON_MATCH__RULES_DIR": str(_rules(tmp_path)),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return AlertSettings(
        outbox_db=tmp_path / "alerts.sqlite3",
        alert_log=tmp_path / "alerts.jsonl",
        console=False,
        apprise_min_interval_s=0,
        group_wait_s=0,
        receivers={"desk": {"urls": [SecretStr(url)]}},
        default_receiver="desk",
    )


def _rules(tmp_path: Path) -> Path:
    """Write a rules folder with the watchlist ``talks`` and two entities; return it."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "entities.yaml").write_text(
        "entities:\n"
        "  - {id: ada_verin, name: Ada Verin, aliases: [Ada Verin]}\n"
        "  - {id: boris_kalm, name: Boris Kalm, aliases: [Boris Kalm]}\n",
        encoding="utf-8",
    )
    (rules / "talks.yaml").write_text(
        "id: talks\nname: Talks\nlanguages: [en]\nconditions:\n"
        "  - {name: people, entities: {at_least: 2, of: [ada_verin, boris_kalm]}}\n",
        encoding="utf-8",
    )
    return rules


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()  # what the test itself printed (log lines) is not the command's output
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_alerts_list_and_resend(
    env: AlertSettings, smtp: tuple[Inbox, int], capsys: pytest.CaptureFixture[str], metrics: Metrics
) -> None:
    inbox, _ = smtp
    alerter = build_alerter(env, metrics, console=io.StringIO())
    alert = alerter.handle(match_about(0))
    alerter.outbox.close()
    assert alert is not None
    assert len(inbox.messages) == 1

    code, out = _run(capsys, "alerts", "list", "--format", "json")
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["id"] == alert.id
    assert row["state"] == "sent"
    assert row["receivers"] == {"log": "sent", "desk": "sent"}
    assert row["articles"][0]["url"] == alert.articles[0].url
    assert row["articles"][0]["why"] == "new event"

    code, out = _run(capsys, "alerts", "list")
    assert code == 0
    assert alert.id in out
    assert "desk=sent" in out

    code, out = _run(capsys, "alerts", "resend", alert.id, "--receiver", "desk")
    assert code == 0
    assert "1 message(s) delivered" in out
    assert len(inbox.messages) == 2


def test_silence_add_list_expire(
    env: AlertSettings, capsys: pytest.CaptureFixture[str], metrics: Metrics
) -> None:
    build_alerter(env, metrics, console=io.StringIO()).outbox.close()
    code, out = _run(
        capsys,
        "silence",
        "add",
        "--rule",
        "talks",
        "--receiver",
        "desk",
        "--duration",
        "1h",
        "--comment",
        "summit week",
    )
    assert code == 0
    silence_id = out.split()[0]
    code, out = _run(capsys, "silence", "list", "--format", "json")
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["id"] == silence_id
    assert row["state"] == "active"
    assert row["comment"] == "summit week"
    assert _run(capsys, "silence", "expire", silence_id)[0] == 0
    assert _run(capsys, "silence", "list")[1] == "no silences\n"
    assert silence_id in _run(capsys, "silence", "list", "--all")[1]
    code = main(["silence", "expire", "nope"])
    assert code == 2
    assert "no silence 'nope'" in capsys.readouterr().err
    code = main(["silence", "add", "--duration", "1h"])
    assert code == 2
    assert "at least one of" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--rule", "talkz"], "--rule 'talkz' matches no watchlist in "),
        (["--rule", "talkz"], "valid watchlists are ['talks']"),
        (["--entity", "ada_verln"], "unknown entity 'ada_verln' in "),
        (["--entity", "ada_verln"], "valid entities are ['ada_verin', 'boris_kalm']"),
        (
            ["--receiver", "dsk"],
            "unknown receiver 'dsk'; valid receivers are ['apprise', 'console', 'desk', 'log']",
        ),
        (
            ["--rule", "talks", "--until", "2020-01-01T00:00"],
            "--until 2020-01-01T00:00 is in the past (it is ",
        ),
        (
            ["--rule", "talks", "--until", "2999-01-01T00:00", "--duration", "1h"],
            "give --duration or --until, not both",
        ),
    ],
    ids=["rule", "rule-valid", "entity", "entity-valid", "receiver", "until-past", "duration-and-until"],
)
def test_silence_add_refuses_what_would_mute_nothing_or_be_ambiguous(
    env: AlertSettings, capsys: pytest.CaptureFixture[str], metrics: Metrics, argv: list[str], error: str
) -> None:
    build_alerter(env, metrics, console=io.StringIO()).outbox.close()
    capsys.readouterr()
    assert main(["silence", "add", *argv]) == 2
    assert error in capsys.readouterr().err
    assert _run(capsys, "silence", "list", "--all")[1] == "no silences\n"


def test_silence_add_takes_an_until_and_known_ids(
    env: AlertSettings, capsys: pytest.CaptureFixture[str], metrics: Metrics
) -> None:
    build_alerter(env, metrics, console=io.StringIO()).outbox.close()
    code, out = _run(
        capsys, "silence", "add", "--rule", "tal*", "--entity", "ada_verin", "--until", "2999-01-01T00:00"
    )
    assert code == 0, capsys.readouterr().err
    assert "rule=tal* entity=ada_verin until 2999-01-01T00:00" in out


def test_a_silence_mutes_the_next_alert(
    env: AlertSettings, smtp: tuple[Inbox, int], capsys: pytest.CaptureFixture[str], metrics: Metrics
) -> None:
    inbox, _ = smtp
    build_alerter(env, metrics, console=io.StringIO()).outbox.close()
    assert _run(capsys, "silence", "add", "--rule", "tal*", "--duration", "1h")[0] == 0
    alerter = build_alerter(env, metrics, console=io.StringIO())
    alert = alerter.handle(match_about(1))
    alerter.outbox.close()
    assert alert is not None
    assert inbox.messages == []
    _, out = _run(capsys, "alerts", "list", "--format", "json", "--state", "silenced")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [alert.id]


def test_receivers_test_sends_a_real_message(
    env: AlertSettings, smtp: tuple[Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, _ = smtp
    code, out = _run(capsys, "receivers", "test", "desk")
    assert code == 0
    assert out == "desk: ok\n"
    assert [str(m["Subject"]) for m in inbox.messages] == ["newsmon: test notification to desk"]
    code = main(["receivers", "test", "pager"])
    assert code == 2
    assert "valid receivers are" in capsys.readouterr().err


def test_receivers_test_reports_a_dead_receiver(
    env: AlertSettings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"mailto://127.0.0.1:{free_port()}/desk@example.org?from=newsmon@example.org&cto=2"
    monkeypatch.setenv("NEWSMON_ALERT__RECEIVERS", json.dumps({"desk": {"urls": [dead]}}))
    code, out = _run(capsys, "receivers", "test", "desk")
    assert code == 1
    assert out.startswith("desk: FAILED")
    assert "Connection refused" in out, "the cause, not only 'E-Mail: failure'"


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        (
            "mailto://{smtp}/not-an-email?from=newsmon@example.org&cto=2",
            "Dropped invalid To email (not-an-email)",
        ),
        ("mailto://no-such-host.invalid/desk@example.org?from=newsmon@example.org&cto=2", "Errno"),
    ],
    ids=["invalid-recipient", "dns-failure"],
)
def test_receivers_test_says_why_a_receiver_failed(
    env: AlertSettings,
    smtp: tuple[Inbox, int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    cause: str,
) -> None:
    url = url.replace("{smtp}", f"127.0.0.1:{smtp[1]}")
    monkeypatch.setenv("NEWSMON_ALERT__RECEIVERS", json.dumps({"desk": {"urls": [url]}}))
    code, out = _run(capsys, "receivers", "test", "desk")
    assert code == 1
    assert cause in out, out
    assert smtp[0].messages == []


def test_alerts_list_shows_why_a_delivery_failed(
    env: AlertSettings, capsys: pytest.CaptureFixture[str], metrics: Metrics
) -> None:
    dead = f"mailto://127.0.0.1:{free_port()}/desk@example.org?from=newsmon@example.org&cto=2"
    alerter = build_alerter(
        env.model_copy(update={"receivers": {"desk": ReceiverSettings(urls=[SecretStr(dead)])}}),
        metrics,
        console=io.StringIO(),
    )
    alert = alerter.handle(match_about(2))
    alerter.outbox.close()
    assert alert is not None
    code, out = _run(capsys, "alerts", "list", "--format", "json")
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert "Connection refused" in row["errors"]["desk"], row["errors"]
    _, out = _run(capsys, "alerts", "list")
    assert "Connection refused" in out


def test_no_alerts_points_at_the_demos_outbox(
    env: AlertSettings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    metrics: Metrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    build_alerter(env, metrics, console=io.StringIO()).outbox.close()  # the configured outbox: empty
    demo = env.model_copy(update={"outbox_db": Path("var/demo/alerts.sqlite3")})
    demo.outbox_db.parent.mkdir(parents=True)
    alerter = build_alerter(demo, metrics, console=io.StringIO())  # as `newsmon demo` leaves it
    alert = alerter.handle(match_about(3))
    alerter.outbox.close()
    assert alert is not None

    code, out = _run(capsys, "alerts", "list")
    assert code == 0
    assert out.splitlines() == [
        f"no alerts in {env.outbox_db}",
        "the demo's alerts are in var/demo/alerts.sqlite3: "
        "NEWSMON_ALERT__OUTBOX_DB=var/demo/alerts.sqlite3 newsmon alerts list",
    ]
    monkeypatch.setenv("NEWSMON_ALERT__OUTBOX_DB", "var/demo/alerts.sqlite3")  # as the hint says
    assert alert.id in _run(capsys, "alerts", "list")[1]
