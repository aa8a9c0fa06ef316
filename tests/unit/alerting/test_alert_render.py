"""render: subject, plain text and console views of an alert, entities marked with «»."""

from __future__ import annotations

from collections.abc import Callable

from monitor.alerting.build import alert_from_match
from monitor.alerting.render import mark_entities, render_console, render_subject, render_text
from monitor.models import Match

MakeMatch = Callable[..., Match]


def test_subject_is_the_title_on_one_line(make_match: MakeMatch) -> None:
    alert = alert_from_match(make_match(title="Verin and Kalm\n  sign an accord"))
    assert render_subject(alert) == "[leaders_meeting] Verin and Kalm sign an accord"


def test_text_has_every_field_and_marked_entities(make_match: MakeMatch) -> None:
    match = make_match()
    text = render_text(alert_from_match(match))
    assert "Watchlist: Leaders meeting (leaders_meeting)" in text
    assert "Severity: high" in text
    assert "Article: Verin and Kalm sign a water accord in Geneva" in text
    assert "Source: example-world" in text
    assert "Published: 2026-03-04 09:30 UTC" in text
    assert f"Link: {match.article.url}" in text
    marked = "«Ada Verin» and «Boris Kalm» met in «Geneva» on Tuesday to sign a water-sharing accord."
    assert f"- [two_leaders_meet] {marked}" in text


def test_text_says_when_the_time_is_unknown(make_match: MakeMatch) -> None:
    assert "Published: unknown" in render_text(alert_from_match(make_match(published=None)))


def test_console_is_compact(make_match: MakeMatch) -> None:
    match = make_match()
    out = render_console(alert_from_match(match))
    lines = out.splitlines()
    assert 2 <= len(lines) <= 4
    assert lines[0] == "ALERT HIGH [leaders_meeting] Verin and Kalm sign a water accord in Geneva"
    assert match.article.url in out
    assert "«Ada Verin»" in out


def test_mark_prefers_the_longest_name_and_whole_words() -> None:
    sentence = "Xi Jinping flew from Xiamen; Xi said so."
    assert mark_entities(sentence, ["Xi", "Xi Jinping"]) == "«Xi Jinping» flew from Xiamen; «Xi» said so."


def test_mark_escapes_names_and_ignores_blanks() -> None:
    assert mark_entities("A (B) c", ["(B)", " "]) == "A «(B)» c"
    assert mark_entities("nothing here", []) == "nothing here"
