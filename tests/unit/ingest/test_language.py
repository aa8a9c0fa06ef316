"""Offline language detection with the model shipped in the py3langid package."""

from __future__ import annotations

import pytest

from monitor.ingest.language import detect_language, detect_text_language
from monitor.models import Article


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Les dirigeants se sont rencontrés à Paris pour discuter de la guerre en Ukraine.", "fr"),
        ("Leaders met in Paris on Tuesday to discuss the war in Ukraine and energy prices.", "en"),
        ("Die Bundesregierung hat heute beschlossen, die Hilfen für Familien zu verlängern.", "de"),
        ("El gobierno aprobó ayer la reforma laboral después de meses de negociaciones.", "es"),
    ],
)
def test_detects_the_language_of_news_text(text: str, code: str) -> None:
    assert detect_text_language(text) == code


@pytest.mark.parametrize("text", ["", "OK", "12:30 — 45%", "Le sommet"])
def test_too_little_text_is_unknown_rather_than_a_guess(text: str) -> None:
    assert detect_text_language(text) is None


def test_uses_title_and_body() -> None:
    summary = "Les ministres européens se retrouvent demain à Bruxelles pour un conseil extraordinaire."
    article = Article(id="a", feed_id="f", url="https://x.example/a", title="Sommet", summary=summary)
    assert detect_language(article) == "fr"
