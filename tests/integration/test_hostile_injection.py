"""News text carrying markup, template syntax or terminal escapes is shown as text in every channel.

A headline is written by whoever runs a feed. The alerter puts it in an HTML email, a Telegram HTML
message, a plain-text notification, the terminal and a JSONL file; in none of them may it become markup,
a template expression, a link of its own or a terminal escape sequence. Real receivers: an SMTP server
(aiosmtpd), an HTTP server standing in for Telegram's Bot API and for apprise's json:// target.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.alerting.service import build_alerter
from monitor.metrics import Metrics
from monitor.models import Article, EntityMention, Evidence, Match, article_id
from monitor.settings import AlertSettings, ReceiverSettings
from tests.fixtures.http import serving
from tests.fixtures.smtp import Inbox, smtp_server
from tests.fixtures.telegram import BotApi

HOSTILE = (
    "<script>alert(1)</script> <b>bold</b> {{ 7*7 }} {% if true %}jinja{% endif %} ${7*7} "
    '**md** [click](javascript:alert(2)) <a href="javascript:alert(3)">x</a> &amp; \x1b[2J\x1b]0;owned\x07'
)
LINK = 'https://press.example.net/a?x=1&y=<2>&z="q"'


@pytest.fixture
def receivers() -> Iterator[tuple[Inbox, int, BotApi]]:
    """Run an SMTP server, and one HTTP server standing in for both Telegram's Bot API and a webhook."""
    with smtp_server() as (inbox, port), serving(BotApi()) as http:
        yield inbox, port, http


def _hostile_match() -> Match:
    sentence = f"Lena Ostrova met Tomas Brenn. {HOSTILE}"
    article = Article(
        id=article_id(None, LINK),
        feed_id="hostile",
        url=LINK,
        title=HOSTILE,
        summary=HOSTILE,
        text=sentence,
        language="en",
        published=datetime(2026, 5, 8, 14, 0, tzinfo=UTC),
    )
    evidence = Evidence(
        condition="meet",
        sentence=sentence,
        entities=(
            EntityMention(text="Lena Ostrova", label="PER", start=0, end=12, entity_id="lena_ostrova"),
        ),
        terms=("met",),
    )
    return Match(
        id=Match.make_id("talks", article.id),
        rule="talks",
        rule_name="Talks <i>{{ rule }}</i>",
        score=1.0,
        article=article,
        evidence=(evidence,),
    )


def _no_live_markup(html: str) -> None:
    assert "<script" not in html
    assert "<b>bold</b>" not in html
    assert 'href="javascript' not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _no_template_evaluated(text: str) -> None:
    assert "{{ 7*7 }}" in text, "template syntax in the news is shown as it is"
    assert "49" not in text, "and never evaluated"
    assert "jinja" in text
    assert "{% if true %}" in text


def test_markup_templates_and_escapes_in_the_news_are_text_in_every_channel(
    tmp_path: Path, receivers: tuple[Inbox, int, BotApi], metrics: Metrics
) -> None:
    mailbox, smtp_port, http = receivers
    console = io.StringIO()
    settings = AlertSettings(
        receivers={
            "mail": ReceiverSettings(
                urls=[SecretStr(f"mailto://127.0.0.1:{smtp_port}/desk@example.org?from=n@example.org&cto=5")],
                min_interval_s=0,
            ),
            "chat": ReceiverSettings(
                urls=[SecretStr("tgram://123456:TOKEN/-1001")], telegram_api_url=http.url, min_interval_s=0
            ),
            "hook": ReceiverSettings(
                urls=[SecretStr(f"json://127.0.0.1:{http.server_address[1]}/hook")], min_interval_s=0
            ),
        },
        default_receiver="mail",
        routes=[{"receivers": ["mail", "chat", "hook"]}],
        console=True,
        alert_log=tmp_path / "alerts.jsonl",
        outbox_db=tmp_path / "alerts.sqlite3",
        group_wait_s=0,
    )
    alerter = build_alerter(settings, metrics, console=console)
    try:
        alert = alerter.handle(_hostile_match())
    finally:
        alerter.outbox.close()
    assert alert is not None
    for channel in ("mail", "chat", "hook", "console", "log"):
        ok = metrics.registry.get_sample_value(
            "newsmon_deliveries_total", {"channel": channel, "outcome": "ok"}
        )
        assert ok == 1, f"{channel} did not deliver"

    # Email: the HTML part escapes, the text part shows the characters; the subject is one header.
    (message,) = mailbox.messages
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    assert html_part is not None
    assert text_part is not None
    html = html_part.get_content()
    _no_live_markup(html)
    _no_template_evaluated(html)
    assert 'href="https://press.example.net/a?x=1&amp;y=&lt;2&gt;&amp;z=&#34;q&#34;"' in html
    _no_template_evaluated(text_part.get_content())
    assert "\n" not in str(message["Subject"])

    # Telegram (HTML parse mode): escaped, only the tags the template wrote.
    (telegram,) = [b for b in http.calls if "chat_id" in b]
    assert telegram["parse_mode"] == "HTML"
    _no_live_markup(telegram["text"])
    _no_template_evaluated(telegram["text"])
    assert {t.strip("/") for t in re.findall(r"</?([a-z]+)", telegram["text"])} <= {
        "b",
        "i",
        "u",
        "a",
        "code",
        "blockquote",
    }

    # A plain-text target (apprise json://): the characters, as they are, never evaluated.
    (hook,) = [b for b in http.calls if "chat_id" not in b]
    _no_template_evaluated(hook["title"] + hook["message"])

    # The terminal: no escape sequence gets through.
    printed = console.getvalue()
    _no_template_evaluated(printed)
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", printed), repr(printed)

    # The JSONL log: data, exactly as received.
    (logged,) = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert logged["articles"][0]["title"] == HOSTILE
