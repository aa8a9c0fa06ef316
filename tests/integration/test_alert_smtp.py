"""The alerter against a real SMTP server (aiosmtpd) through apprise's mailto:// plugin."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from monitor.alerting.service import Alerter, build_alerter
from monitor.bus.broker import free_port
from monitor.metrics import Metrics
from monitor.models import Match, article_id
from monitor.settings import AlertSettings
from tests.fixtures.matches import LINK, leaders_meeting_match, match_about, subject_of
from tests.fixtures.smtp import Inbox, smtp_server


def _mailto(port: int) -> str:
    # mailto:// (not mailtos://) is plain SMTP: no STARTTLS; no user:password, so no AUTH either.
    # cto: connect timeout in seconds, so a dead server fails fast.
    return f"mailto://127.0.0.1:{port}/desk@example.org?from=newsmon@example.org&cto=2&retry=0"


def _alerter(tmp_path: Path, port: int, metrics: Metrics, **settings: Any) -> Alerter:
    config = AlertSettings(
        apprise_urls=[SecretStr(_mailto(port))],
        apprise_min_interval_s=0,
        console=True,
        alert_log=tmp_path / "alerts.jsonl",
        outbox_db=tmp_path / "alerts.sqlite3",
        group_wait_s=0,
        **settings,
    )
    return build_alerter(config, metrics, console=io.StringIO())


def _deliveries(metrics: Metrics, channel: str, outcome: str) -> float:
    return (
        metrics.registry.get_sample_value(
            "newsmon_deliveries_total", {"channel": channel, "outcome": outcome}
        )
        or 0.0
    )


def test_alert_arrives_by_email_once(tmp_path: Path, smtp: tuple[Inbox, int], metrics: Metrics) -> None:
    inbox, port = smtp
    alerter = _alerter(tmp_path, port, metrics)
    try:
        alert = alerter.handle(leaders_meeting_match())
        assert alert is not None
        assert len(inbox.messages) == 1
        message = inbox.messages[0]
        assert message["Subject"] == (
            "[HIGH] Leaders meeting: Lena Ostrova & Tomas Brenn — 2026-05-08"
            " · Ostrova and Brenn hold rail talks in Valmont"
        )
        assert inbox.recipients[0] == ["desk@example.org"]
        html = message.get_body(preferencelist=("html",))
        assert html is not None
        assert (
            "<mark>Lena Ostrova</mark> <u>received</u> <mark>Tomas Brenn</mark> in Valmont on Friday"
            in html.get_content()
        )
        plain = message.get_body(preferencelist=("plain",))
        assert plain is not None
        text = plain.get_content()
        assert "Lena Ostrova received Tomas Brenn in Valmont on Friday" in text
        assert LINK in text  # the plain-text part keeps every link
        assert _deliveries(metrics, "apprise", "ok") == 1
        assert alerter.outbox.pending() == []

        assert alerter.handle(leaders_meeting_match()) is None  # the same Match, re-delivered
        assert len(inbox.messages) == 1
    finally:
        alerter.outbox.close()


def test_smtp_down_leaves_the_alert_pending(tmp_path: Path, metrics: Metrics) -> None:
    port = free_port()  # nothing listens there
    alerter = _alerter(tmp_path, port, metrics)
    try:
        alert = alerter.handle(leaders_meeting_match())
        assert alert is not None
        assert alerter.outbox.pending() == [alert]
        stored = alerter.outbox.get(alert.id)
        assert stored is not None
        assert stored.pending_channels == ["apprise"]
        detail = stored.deliveries["apprise"].detail
        assert "Connection refused" in detail, "the cause is stored, for alerts list"
        assert "mailto:" not in detail, "never the URL: its secrets are masked, the host alone is no secret"
        assert _deliveries(metrics, "apprise", "error") == 1
        assert _deliveries(metrics, "log", "ok") == 1
        assert _deliveries(metrics, "console", "ok") == 1
    finally:
        alerter.outbox.close()


def test_pending_alert_is_sent_once_the_server_is_back(tmp_path: Path, metrics: Metrics) -> None:
    port = free_port()
    alerter = _alerter(tmp_path, port, metrics)
    try:
        alert = alerter.handle(leaders_meeting_match())
        assert alert is not None
        with smtp_server(port) as (inbox, _):
            # a restarted alerter: new channels, same outbox file
            alerter.outbox.close()
            alerter = _alerter(tmp_path, port, metrics)
            assert alerter.retry_pending() == 1  # only apprise: console and log had it already
            assert alerter.retry_pending() == 0
        assert [m["Subject"] for m in inbox.messages] == [subject_of(alert)]
        assert alerter.outbox.pending() == []
    finally:
        alerter.outbox.close()


def test_smtp_down_for_a_while_then_up_every_alert_arrives_once(tmp_path: Path, metrics: Metrics) -> None:
    port = free_port()
    alerter = _alerter(tmp_path, port, metrics, retry_initial_s=0.2, retry_max_s=0.5, retry_attempts=100)
    try:
        alerts = [alerter.handle(match_about(n)) for n in range(4)]
        assert all(a is not None for a in alerts)
        assert len({a.id for a in alerts if a is not None}) == 4
        for _ in range(3):  # the receiver is down: ticks retry and fail
            time.sleep(0.3)
            alerter.tick()
        assert _deliveries(metrics, "apprise", "error") >= 4
        with smtp_server(port) as (inbox, _):
            deadline = time.monotonic() + 30
            while len(inbox.messages) < 4 and time.monotonic() < deadline:
                time.sleep(0.2)
                alerter.tick()
            for _ in range(5):  # a few more ticks: nothing may come twice
                time.sleep(0.2)
                alerter.tick()
        assert sorted(str(m["Subject"]) for m in inbox.messages) == sorted(subject_of(a) for a in alerts if a)
        assert alerter.outbox.pending() == []
    finally:
        alerter.outbox.close()


def _other_outlet(match: Match, outlet: str) -> Match:
    """Return ``match`` as another outlet's copy of the story (its own URL, the same text)."""
    url = match.article.url.replace("press.example.net", f"{outlet}.example.org")
    article = match.article.model_copy(update={"id": article_id(None, url), "url": url, "feed_id": outlet})
    return match.model_copy(update={"id": Match.make_id(match.rule, article.id), "article": article})


def _links(message: Any) -> set[str]:
    """Return the story's links (any outlet's copy) the email's HTML part carries."""
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    html = body.get_content()
    copies = [LINK, *(_other_outlet(leaders_meeting_match(), o).article.url for o in ("a", "b"))]
    return {url for url in copies if f'href="{url}"' in html}


def test_after_an_outage_one_email_per_alert_with_every_source_and_follow_ups_wait(
    tmp_path: Path, metrics: Metrics
) -> None:
    """A second source while the server is down joins the unsent email; the next one waits group_interval."""
    port = free_port()
    interval = 3.0
    alerter = _alerter(
        tmp_path,
        port,
        metrics,
        retry_initial_s=0.2,
        retry_max_s=0.5,
        retry_attempts=100,
        group_interval_s=interval,
    )
    first = leaders_meeting_match()
    try:
        alert = alerter.handle(first)
        assert alert is not None
        time.sleep(0.3)
        alerter.tick()  # still down: a second failed attempt
        joined = alerter.handle(_other_outlet(first, "a"))
        assert joined is not None
        assert joined.id == alert.id
        with smtp_server(port) as (inbox, _):
            deadline = time.monotonic() + 30
            sent_at = time.monotonic()
            while not inbox.messages and time.monotonic() < deadline:
                time.sleep(0.1)
                # The email goes out during this tick, so no earlier than this: the follow-up is due
                # group_interval after it, however slow the machine is.
                sent_at = time.monotonic()
                alerter.tick()
            assert len(inbox.messages) == 1
            assert _links(inbox.messages[0]) == {LINK, LINK.replace("press.example.net", "a.example.org")}
            # Nothing else while group_interval runs, though the receiver is back and ticks go on.
            late = alerter.handle(_other_outlet(first, "b"))
            assert late is not None
            assert late.id == alert.id
            while time.monotonic() < sent_at + interval - 0.2:
                time.sleep(0.1)
                alerter.tick()
            assert len(inbox.messages) == 1, [str(m["Subject"]) for m in inbox.messages]
            # Then the follow-up, once, with the source that came after the first email.
            deadline = time.monotonic() + 10
            while len(inbox.messages) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
                alerter.tick()
            for _ in range(5):
                time.sleep(0.1)
                alerter.tick()
        assert len(inbox.messages) == 2
        assert time.monotonic() - sent_at >= interval - 0.2
        assert LINK.replace("press.example.net", "b.example.org") in _links(inbox.messages[1])
        assert alerter.outbox.pending() == []
    finally:
        alerter.outbox.close()
