"""render: Jinja2 templates per channel, sandboxed, HTML autoescaped, user-overridable, checked at start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.alerting.build import alert_from_match, attach
from monitor.alerting.notification import Notification
from monitor.alerting.render import Renderer, mark_entities
from monitor.errors import ConfigError
from tests.fixtures.matches import MakeMatch


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_subject_is_the_title_on_one_line(make_match: MakeMatch, renderer: Renderer) -> None:
    alert = alert_from_match(make_match(title="Verin and Kalm\n  sign an accord"))
    assert (
        renderer.subject(Notification("new", (alert,))) == "[leaders_meeting] Verin and Kalm sign an accord"
    )


def test_subject_of_a_followup_counts_the_other_sources(make_match: MakeMatch, renderer: Renderer) -> None:
    alert = alert_from_match(make_match())
    for n in range(2):
        alert = attach(alert, make_match(url=f"https://other.example.net/{n}"))
    subject = renderer.subject(Notification("followup", (alert,)))
    assert subject.endswith("(also reported by 2 more sources)")


def test_subject_of_a_digest_names_its_alerts(make_match: MakeMatch, renderer: Renderer) -> None:
    alerts = tuple(
        alert_from_match(make_match(url=f"https://news.example.org/{n}", title=f"T{n}")) for n in range(3)
    )
    subject = renderer.subject(Notification("new", alerts))
    assert subject.startswith("[leaders_meeting] 3 alerts: [leaders_meeting] T0; [leaders_meeting] T1")


def test_text_has_every_field_and_marked_entities(make_match: MakeMatch, renderer: Renderer) -> None:
    match = make_match()
    text = renderer.text(Notification("new", (alert_from_match(match),)))
    assert "Watchlist: Leaders meeting (leaders_meeting)" in text
    assert "Severity: high" in text
    assert "Article: Verin and Kalm sign a water accord in Geneva" in text
    assert "Source: example-world" in text
    assert "Published: 2026-03-04 09:30 UTC" in text
    assert f"Link: {match.article.url}" in text
    marked = "«Ada Verin» and «Boris Kalm» met in «Geneva» on Tuesday to sign a water-sharing accord."
    assert f"- [two_leaders_meet] {marked}" in text


def test_text_says_when_the_time_is_unknown(make_match: MakeMatch, renderer: Renderer) -> None:
    text = renderer.text(Notification("new", (alert_from_match(make_match(published=None)),)))
    assert "Published: unknown" in text


def test_html_email_escapes_what_the_news_says(make_match: MakeMatch, renderer: Renderer) -> None:
    match = make_match(title="<script>alert(1)</script> R&D summit", url="https://news.example.org/a?x=1&y=2")
    html = renderer.email_html(Notification("new", (alert_from_match(match),)))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; R&amp;D summit" in html
    assert 'href="https://news.example.org/a?x=1&amp;y=2"' in html
    assert "<mark>Ada Verin</mark> and <mark>Boris Kalm</mark> met in <mark>Geneva</mark>" in html
    assert "example-world · 2026-03-04 09:30 UTC" in html


def test_telegram_uses_only_its_tags(make_match: MakeMatch, renderer: Renderer) -> None:
    html = renderer.telegram_html(Notification("new", (alert_from_match(make_match(title="A < B & C")),)))
    assert "<b>[leaders_meeting] A &lt; B &amp; C</b>" in html
    tags = {t.strip("/") for t in re.findall(r"</?([a-z]+)", html)}
    assert tags <= {"b", "i", "a", "code", "blockquote"}


def test_console_is_compact(make_match: MakeMatch, renderer: Renderer) -> None:
    match = make_match()
    out = renderer.console(Notification("new", (alert_from_match(match),)))
    lines = out.splitlines()
    assert 2 <= len(lines) <= 4
    assert lines[0] == "ALERT HIGH [leaders_meeting] Verin and Kalm sign a water accord in Geneva"
    assert match.article.url in out
    assert "«Ada Verin»" in out


def test_user_template_overrides_the_shipped_one(tmp_path: Path, make_match: MakeMatch) -> None:
    (tmp_path / "subject.txt.j2").write_text(
        "DESK {{ alerts[0].rule|upper }} {{ alerts|length }}", encoding="utf-8"
    )
    renderer = Renderer(tmp_path)
    note = Notification("new", (alert_from_match(make_match()),))
    assert renderer.subject(note) == "DESK LEADERS_MEETING 1"
    assert "Watchlist:" in renderer.text(note)  # the others stay the shipped ones


def test_broken_user_template_fails_at_start_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "text.txt.j2").write_text("line one\n{% for a in alerts %}\nno end", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"text\.txt\.j2:\d+: template error"):
        Renderer(tmp_path)


def test_templates_run_in_the_sandbox(tmp_path: Path, make_match: MakeMatch) -> None:
    (tmp_path / "subject.txt.j2").write_text("{{ alerts.__class__.__mro__ }}", encoding="utf-8")
    renderer = Renderer(tmp_path)
    with pytest.raises(ConfigError, match=r"subject\.txt\.j2"):
        renderer.subject(Notification("new", (alert_from_match(make_match()),)))


def test_missing_templates_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        Renderer(tmp_path / "nope")


def test_mark_prefers_the_longest_name_and_whole_words() -> None:
    sentence = "Xi Jinping flew from Xiamen; Xi said so."
    assert mark_entities(sentence, ["Xi", "Xi Jinping"]) == "«Xi Jinping» flew from Xiamen; «Xi» said so."


def test_mark_escapes_names_and_ignores_blanks() -> None:
    assert mark_entities("A (B) c", ["(B)", " "]) == "A «(B)» c"
    assert mark_entities("nothing here", []) == "nothing here"
