"""Telegram through a local HTTP server standing in for the Bot API: escaping, splitting, 429 retry_after."""

from __future__ import annotations

import io
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.alerting.service import build_alerter
from monitor.metrics import Metrics
from monitor.models import Article, EntityMention, Evidence, Match, article_id
from monitor.settings import AlertSettings, ReceiverSettings
from tests.fixtures.telegram import BotApi

TOKEN = "123456:AAF-s3cret_token"


def _match(title: str, sentences: int = 1) -> Match:
    url = "https://press.example.net/a?x=1&y=<2>"
    sentence = (
        "Lena Ostrova <received> Tomas Brenn & his aides in Valmont on Friday for talks on the northern rail."
    )
    evidence = tuple(
        Evidence(
            condition="meet",
            sentence=f"{sentence} ({n})",
            entities=(
                EntityMention(text="Lena Ostrova", label="PER", start=0, end=12, entity_id="lena_ostrova"),
            ),
        )
        for n in range(sentences)
    )
    article = Article(
        id=article_id(None, url),
        feed_id="press",
        url=url,
        title=title,
        text=sentence,
        language="en",
        published=datetime(2026, 5, 8, 14, 0, tzinfo=UTC),
    )
    return Match(
        id=Match.make_id("talks", article.id),
        rule="talks",
        rule_name="Talks",
        severity="high",
        score=1.0,
        article=article,
        evidence=evidence,
        entities=("lena_ostrova",),
    )


def _settings(tmp_path: Path, api: str) -> AlertSettings:
    return AlertSettings(
        console=False,
        alert_log=tmp_path / "alerts.jsonl",
        outbox_db=tmp_path / "alerts.sqlite3",
        receivers={
            "tg": ReceiverSettings(urls=[SecretStr(f"tgram://{TOKEN}/-1001234")], telegram_api_url=api)
        },
        default_receiver="tg",
        group_wait_s=0,
    )


def _balanced(html: str) -> bool:
    stack: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z]+)[^>]*>", html):
        if closing and (not stack or stack.pop() != name):
            return False
        if not closing:
            stack.append(name)
    return not stack


def test_messages_are_escaped_telegram_html(tmp_path: Path, bot_api: BotApi, metrics: Metrics) -> None:
    alerter = build_alerter(_settings(tmp_path, bot_api.url), metrics, console=io.StringIO())
    try:
        alerter.handle(_match("<Kim> & Xi: talks"))
    finally:
        alerter.outbox.close()
    (call,) = bot_api.calls
    assert bot_api.paths == [f"/bot{TOKEN}/sendMessage"]
    assert call["chat_id"] == "-1001234"
    assert call["parse_mode"] == "HTML"
    text = call["text"]
    assert "<b>HIGH · Talks: Lena Ostrova — 2026-05-08</b>" in text
    assert ">&lt;Kim&gt; &amp; Xi: talks</a>" in text
    assert 'href="https://press.example.net/a?x=1&amp;y=&lt;2&gt;"' in text
    assert "<b>Lena Ostrova</b> &lt;received&gt; Tomas Brenn &amp; his aides" in text
    assert _balanced(text)


def test_a_long_alert_is_split_within_the_limit(tmp_path: Path, bot_api: BotApi, metrics: Metrics) -> None:
    alerter = build_alerter(_settings(tmp_path, bot_api.url), metrics, console=io.StringIO())
    try:
        match = _match("Long")
        (evidence,) = match.evidence
        long = evidence.model_copy(update={"sentence": " ".join([evidence.sentence] * 200)})
        alerter.handle(match.model_copy(update={"evidence": (long,)}))
    finally:
        alerter.outbox.close()
    texts = [c["text"] for c in bot_api.calls]
    assert len(texts) == 3  # telegram_max_messages
    assert all(len(t.encode("utf-16-le")) // 2 <= 4096 for t in texts)
    assert all(_balanced(t) for t in texts)
    assert texts[-1].endswith("… (truncated)")


@pytest.mark.parametrize("bot_api", [1], indirect=True)
def test_429_retry_after_is_honoured(tmp_path: Path, bot_api: BotApi, metrics: Metrics) -> None:
    alerter = build_alerter(_settings(tmp_path, bot_api.url), metrics, console=io.StringIO())
    try:
        alert = alerter.handle(_match("Busy"))
        assert alert is not None
        assert bot_api.calls == []
        alerter.tick()
        assert bot_api.calls == []  # retry_after is 1 s
        time.sleep(1.1)
        alerter.tick()
        assert len(bot_api.calls) == 1
        stored = alerter.outbox.get(alert.id)
        assert stored is not None
        assert stored.deliveries["tg"].state == "sent"
        assert stored.deliveries["tg"].attempts == 1  # the 429 cost no retry
    finally:
        alerter.outbox.close()
    get = metrics.registry.get_sample_value
    assert get("newsmon_notifications_rate_limited_total", {"channel": "tg"}) == 1
    assert get("newsmon_deliveries_total", {"channel": "tg", "outcome": "error"}) == 0
