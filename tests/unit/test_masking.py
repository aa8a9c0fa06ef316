"""One masking filter: URL secrets and the configured secrets, wherever they appear in a text."""

from __future__ import annotations

import json

from pydantic import SecretStr

from monitor.masking import Masker, model_secrets, url_secrets
from monitor.settings import Settings


def test_url_secrets_are_the_parts_a_server_may_quote_alone() -> None:
    assert url_secrets("mailto://desk:p%40ss-word@smtp.example.org/d@example.org") == {
        "p%40ss-word",
        "p@ss-word",
    }
    assert url_secrets("tgram://123456:AAbbCC99/-1001") == {"123456:AAbbCC99", "AAbbCC99"}
    assert url_secrets("https://feeds.example.org/rss?token=t0k3n&lang=fr") == {"t0k3n"}
    assert url_secrets("https://feeds.example.org/rss.xml") == set()


def test_the_masker_hides_a_password_quoted_without_its_url() -> None:
    masker = Masker(url_secrets("mailto://newsmon:Hunter2Secret@127.0.0.1:25/d@example.org"))
    reply = "Socket Exception: (535, b'5.7.8 bad credentials newsmon:Hunter2Secret')"
    assert masker.mask(reply) == "Socket Exception: (535, b'5.7.8 bad credentials newsmon:***')"
    assert masker.mask("see mailto://newsmon:x@h") == "see mailto://***"


def test_every_secret_of_the_settings_is_collected() -> None:
    receivers = {"desk": {"urls": [SecretStr("mailto://u:Pa55word@smtp.example.org/d@example.org")]}}
    settings = Settings(alert={"apprise_urls": [SecretStr("tgram://99:ToKeN77/1")], "receivers": receivers})
    assert {"Pa55word", "99:ToKeN77", "ToKeN77"} <= model_secrets(settings)
    assert "Pa55word" not in json.dumps(settings.model_dump(mode="json"))
