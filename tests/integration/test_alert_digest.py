"""Digests: a receiver that wants one message a period gets one email listing the period's alerts.

A real SMTP server (aiosmtpd), the real alerter and its SQLite outbox, a 6-second period; the alerter is
restarted inside the period, and the digest neither goes early nor gets lost.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from monitor.alerting.grouping import digest_due
from monitor.alerting.service import Alerter, build_alerter
from monitor.metrics import Metrics
from monitor.models import Article, EntityMention, Evidence, Match, article_id, utcnow
from monitor.settings import AlertSettings, ReceiverSettings
from tests.fixtures.smtp import Inbox

PERIOD_S = 6.0


def _match(n: int, rule: str, who: str, place: str) -> Match:
    url = f"https://press.example.net/{rule}/{n}"
    sentence = f"{who} met the river council in {place} on Friday."
    article = Article(
        id=article_id(None, url),
        feed_id="press",
        feed_title="The Press",
        url=url,
        title=f"{who} in {place}",
        text=sentence,
        language="en",
        published=datetime(2026, 5, 8, 14, n, tzinfo=UTC),
    )
    person = EntityMention(text=who, label="PER", start=0, end=len(who), entity_id=f"person_{n}")
    spot = EntityMention(
        text=place, label="LOC", start=sentence.index(place), end=sentence.index(place) + len(place)
    )
    return Match(
        id=Match.make_id(rule, article.id),
        rule=rule,
        rule_name=rule.capitalize(),
        severity="high",
        score=1.0,
        article=article,
        evidence=(
            Evidence(condition="who", sentence=sentence, entities=(person,), places=(spot,)),
            Evidence(condition="meet", sentence=sentence, terms=("met",), places=(spot,)),
        ),
        entities=(f"person_{n}",),
        language="en",
        event={"en": "Council meeting"},
        entity_names={f"person_{n}": {"en": who}},
    )


def _alerter(tmp_path: Path, port: int) -> Alerter:
    url = f"mailto://127.0.0.1:{port}/desk@example.org?from=newsmon@example.org&cto=2&retry=0"
    settings = AlertSettings(
        console=False,
        alert_log=tmp_path / "alerts.jsonl",
        outbox_db=tmp_path / "alerts.sqlite3",
        receivers={
            "desk": ReceiverSettings(
                urls=[SecretStr(url)], digest="hourly", digest_period_s=PERIOD_S, min_interval_s=0
            )
        },
        default_receiver="desk",
        group_wait_s=0,
        timezone="Europe/Paris",
    )
    return build_alerter(settings, Metrics(CollectorRegistry()), console=io.StringIO())


def _wait_for(inbox: Inbox, count: int, alerter: Alerter, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while len(inbox.messages) < count and time.monotonic() < deadline:
        alerter.tick()
        time.sleep(0.1)


def _start_of_a_period() -> None:
    """Sleep into a fresh period, so the test's alerts all fall in one."""
    now = utcnow()
    wait = (digest_due(now, timedelta(seconds=PERIOD_S)) - now).total_seconds()
    time.sleep(wait + 0.2)


def test_digest_is_one_email_per_period_and_survives_a_restart(
    smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    people = [("Lena Ostrova", "Valmont"), ("Tomas Brenn", "Eastmoor"), ("Ada Verin", "Lakeford")]
    _start_of_a_period()
    due = digest_due(utcnow(), timedelta(seconds=PERIOD_S))
    first = _alerter(tmp_path, port)
    for n, (who, place) in enumerate(people[:2]):
        assert first.handle(_match(n, f"watch_{n}", who, place)) is not None
    first.tick()
    assert inbox.messages == [], "a digest receiver gets nothing before its period ends"
    first.outbox.close()  # the alerter stops inside the period

    second = _alerter(tmp_path, port)
    second.retry_pending()  # what a restart does first: never sends a digest early
    assert second.handle(_match(2, "watch_2", *people[2])) is not None
    assert utcnow() < due, "the test was too slow for its period"
    assert inbox.messages == []
    _wait_for(inbox, 1, second, PERIOD_S + 5)
    time.sleep(0.5)
    second.tick()
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert str(message["subject"]).startswith(
        "[HIGH] newsmon digest, 3 alerts: Council meeting: Lena Ostrova"
    )
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    html = body.get_content()
    for who, place in people:
        assert f"Council meeting: {who} — {place}, 2026-05-08" in html
    assert "The Press · en · 2026-05-08 16:0" in html  # outlet, language, local time (Paris)

    # The next period starts empty: a new alert gets a digest of its own, the others are not repeated.
    assert second.handle(_match(3, "watch_3", "Boris Kalm", "Northgate")) is not None
    _wait_for(inbox, 2, second, PERIOD_S + 5)
    assert len(inbox.messages) == 2
    assert str(inbox.messages[1]["subject"]).startswith(
        "[HIGH] newsmon digest, 1 alert: Council meeting: Boris"
    )
    second.outbox.close()
