"""render: Jinja2 templates per channel, sandboxed, HTML autoescaped, user-overridable, checked at start."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.alerting.build import alert_from_match, attach
from monitor.alerting.notification import Notification
from monitor.alerting.render import CONSOLE_LIMIT, SUBJECT_LIMIT, Renderer, mark_entities
from monitor.alerting.view import Desk
from monitor.errors import ConfigError
from monitor.models import EntityMention, Evidence
from tests.fixtures.matches import MakeMatch


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_subject_is_severity_first_line_and_headline(make_match: MakeMatch, renderer: Renderer) -> None:
    alert = alert_from_match(make_match(title="Verin and Kalm\n  sign an accord"))
    subject = renderer.subject(Notification("new", (alert,)))
    assert subject == (
        "[HIGH] Leaders meeting: Ada Verin & Boris Kalm — Geneva, 2026-03-04 · Verin and Kalm sign an accord"
    )


def test_subject_of_a_followup_counts_the_sources(make_match: MakeMatch, renderer: Renderer) -> None:
    alert = alert_from_match(make_match())
    for n in range(2):
        alert = attach(alert, make_match(url=f"https://other.example.net/{n}"))
    subject = renderer.subject(Notification("followup", (alert,)))
    assert "Geneva, 2026-03-04 (update: 3 sources) · " in subject


def test_subject_of_several_alerts_names_each_and_fits(make_match: MakeMatch, renderer: Renderer) -> None:
    alerts = tuple(
        alert_from_match(make_match(url=f"https://news.example.org/{n}", title=f"T{n}")) for n in range(9)
    )
    subject = renderer.subject(Notification("new", alerts))
    assert subject.startswith("[HIGH] 9 alerts: Leaders meeting: Ada Verin & Boris Kalm")
    assert len(subject) <= SUBJECT_LIMIT
    assert subject.endswith("…")


def test_text_has_first_line_evidence_once_and_sources(make_match: MakeMatch, renderer: Renderer) -> None:
    match = make_match()
    text = renderer.text(Notification("new", (alert_from_match(match),)))
    assert text.startswith("Leaders meeting: Ada Verin & Boris Kalm — Geneva, 2026-03-04\n")
    assert "HIGH · Leaders meeting (leaders_meeting)" in text
    marked = "«Ada Verin» and «Boris Kalm» [met] in Geneva on Tuesday to sign a water-sharing accord."
    assert text.count(marked) == 1
    assert "Evidence (en, example-world):" in text
    assert "1. example-world · en · 2026-03-04 09:30 UTC" in text
    assert f"   {match.article.url}" in text


def test_text_says_when_the_time_is_unknown(make_match: MakeMatch, renderer: Renderer) -> None:
    text = renderer.text(Notification("new", (alert_from_match(make_match(published=None)),)))
    assert "· unknown" in text


def test_html_email_escapes_what_the_news_says(make_match: MakeMatch, renderer: Renderer) -> None:
    match = make_match(title="<script>alert(1)</script> R&D summit", url="https://news.example.org/a?x=1&y=2")
    html = renderer.email_html(Notification("new", (alert_from_match(match),)))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; R&amp;D summit" in html
    assert 'href="https://news.example.org/a?x=1&amp;y=2"' in html
    assert "<mark>Ada Verin</mark> and <mark>Boris Kalm</mark> <u>met</u> in Geneva" in html
    assert "example-world · en · 2026-03-04 09:30 UTC" in html


def test_telegram_uses_only_its_tags(make_match: MakeMatch, renderer: Renderer) -> None:
    html = renderer.telegram_html(Notification("new", (alert_from_match(make_match(title="A < B & C")),)))
    assert "<b>HIGH · Leaders meeting: Ada Verin &amp; Boris Kalm — Geneva, 2026-03-04</b>" in html
    assert ">A &lt; B &amp; C</a>" in html
    tags = {t.strip("/") for t in re.findall(r"</?([a-z]+)", html)}
    assert tags <= {"b", "i", "u", "a", "code", "blockquote"}


def test_console_is_one_line_within_the_limit(make_match: MakeMatch, renderer: Renderer) -> None:
    match = make_match(evidence=(_long_evidence(),))
    out = renderer.console(Notification("new", (alert_from_match(match),)))
    assert "\n" not in out
    assert len(out) <= CONSOLE_LIMIT
    assert out.startswith("ALERT HIGH Leaders meeting: Ada Verin & Boris Kalm — 2026-03-04 · 1 source")
    assert match.article.url in out
    assert "(en) «Ada Verin» [met] the delegates" in out


def test_desk_language_and_zone_per_receiver(make_match: MakeMatch) -> None:
    match = make_match().model_copy(
        update={
            "event": {"en": "Meeting", "fr": "Rencontre"},
            "entity_names": {"ada_verin": {"fr": "Ada Vérin"}},
        }
    )
    renderer = Renderer(desks={"paris": Desk("fr", ZoneInfo("Europe/Paris"))})
    alert = alert_from_match(match)
    assert renderer.subject(Notification("new", (alert,), "paris")).startswith(
        "[HIGH] Rencontre: Ada Vérin & "
    )
    assert "2026-03-04 10:30 CET" in renderer.text(Notification("new", (alert,), "paris"))
    assert renderer.subject(Notification("new", (alert,), "other")).startswith("[HIGH] Meeting: Ada Verin & ")


def _long_evidence() -> Evidence:
    sentence = "Ada Verin met " + "the delegates of many neighbouring valleys " * 12 + "today."
    mention = EntityMention(text="Ada Verin", label="PER", start=0, end=9, entity_id="ada_verin")
    return Evidence(condition="meet", sentence=sentence, entities=(mention,), terms=("met",))


def test_user_template_overrides_the_shipped_one(tmp_path: Path, make_match: MakeMatch) -> None:
    (tmp_path / "subject.txt.j2").write_text(
        "DESK {{ alerts[0].rule|upper }} {{ alerts|length }}", encoding="utf-8"
    )
    renderer = Renderer(tmp_path)
    note = Notification("new", (alert_from_match(make_match()),))
    assert renderer.subject(note) == "DESK LEADERS_MEETING 1"
    assert "Sources (1), first reporter first:" in renderer.text(note)  # the others stay the shipped ones


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
