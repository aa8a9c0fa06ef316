"""Offline language detection (lingua, restricted to the languages a desk reads)."""

from __future__ import annotations

import pytest

from monitor.models import Article
from monitor.normalise import detect_language, detect_text_language, with_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Les dirigeants se sont rencontrés à Paris pour discuter de la guerre en Ukraine.", "fr"),
        ("Leaders met in Paris on Tuesday to discuss the war in Ukraine and energy prices.", "en"),
        ("Die Bundesregierung hat heute beschlossen, die Hilfen für Familien zu verlängern.", "de"),
        ("El gobierno aprobó ayer la reforma laboral después de meses de negociaciones.", "es"),
        ("Il governo ha approvato ieri la riforma del lavoro dopo mesi di trattative.", "it"),
        ("O governo aprovou ontem a reforma trabalhista depois de meses de negociações.", "pt"),
        ("Правительство вчера одобрило реформу после нескольких месяцев переговоров.", "ru"),
        ("Уряд учора схвалив реформу після кількох місяців переговорів.", "uk"),
        ("政府昨天在经过数月谈判后批准了劳动改革。", "zh"),
        ("政府昨天在經過數月談判後批准了勞動改革。", "zh"),
        ("政府は昨日、数カ月の交渉を経て労働改革を承認した。", "ja"),
        ("정부는 어제 수개월간의 협상 끝에 노동 개혁을 승인했다.", "ko"),
        ("وافقت الحكومة أمس على إصلاح العمل بعد أشهر من المفاوضات.", "ar"),
    ],
)
def test_detects_the_language_of_news_text(text: str, code: str) -> None:
    assert detect_text_language(text) == code


@pytest.mark.parametrize(
    ("headline", "code"),
    [
        ("Putin meets Xi in Moscow", "en"),
        ("习近平会见普京", "zh"),
        ("김정은, 푸틴과 정상회담", "ko"),
        ("金正恩氏がプーチン大統領と会談", "ja"),
    ],
)
def test_short_headlines_get_an_answer(headline: str, code: str) -> None:
    assert detect_text_language(headline) == code


@pytest.mark.parametrize("text", ["", "OK", "12:30 — 45%", "Le sommet"])
def test_too_little_text_is_unknown_rather_than_a_guess(text: str) -> None:
    assert detect_text_language(text) is None


def test_uses_title_and_body() -> None:
    summary = "Les ministres européens se retrouvent demain à Bruxelles pour un conseil extraordinaire."
    article = Article(id="a", feed_id="f", url="https://x.example/a", title="Sommet", summary=summary)
    assert detect_language(article) == "fr"


def test_a_declared_language_stays_authoritative() -> None:
    text = "Leaders met in Paris on Tuesday to discuss the war in Ukraine and energy prices."
    article = Article(id="a", feed_id="f", url="https://x.example/a", title="t", summary=text, language="fr")
    assert with_language(article) == (article, "declared")
    undeclared = article.model_copy(update={"language": None})
    detected, source = with_language(undeclared)
    assert (detected.language, source) == ("en", "detected")
    assert with_language(undeclared, detect=False) == (undeclared, "unknown")
