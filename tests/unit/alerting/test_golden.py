"""Golden files per channel: what each channel sends for invented example alerts, compared byte for byte.

Regenerate after an intended change with ``NEWSMON_UPDATE_GOLDEN=1 pytest tests/unit/alerting/test_golden.py``
and review the diff. The examples are written here (invented people and places), never news text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from monitor.alerting.build import alert_from_match, attach
from monitor.alerting.document import SCHEMA_FILE
from monitor.alerting.notification import Notification
from monitor.alerting.render import CONSOLE_LIMIT, SUBJECT_LIMIT, Renderer
from monitor.alerting.telegram import TELEGRAM_LIMIT, split_html
from monitor.alerting.view import Desk
from monitor.models import Alert, Article, EntityMention, Evidence, Match, article_id

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("NEWSMON_UPDATE_GOLDEN") == "1"

_NAMES = {
    "ada_verin": {"": "Ada Verin", "en": "Ada Verin", "fr": "Ada Vérin"},
    "boris_kalm": {"": "Boris Kalm", "en": "Boris Kalm", "fr": "Boris Kalm"},
}


def _mention(sentence: str, text: str, entity_id: str | None, label: str = "PER") -> EntityMention:
    start = sentence.index(text)
    source = "gazetteer" if entity_id else "ner"
    return EntityMention(
        text=text, label=label, start=start, end=start + len(text), entity_id=entity_id, source=source
    )


def _match(
    *,
    url: str,
    feed_id: str,
    feed_title: str,
    language: str,
    title: str,
    sentence: str,
    names: dict[str, str],
    trigger: str,
    place: str,
    published: datetime | None,
    matched_at: datetime,
) -> Match:
    article = Article(
        id=article_id(None, url),
        feed_id=feed_id,
        feed_title=feed_title,
        url=url,
        title=title,
        text=sentence,
        language=language,
        published=published,
        fetched_at=matched_at,
    )
    people = tuple(_mention(sentence, text, entity_id) for text, entity_id in names.items())
    places = (_mention(sentence, place, None, "LOC"),)
    span = {"start": 0, "end": len(sentence), "places": places}
    return Match(
        id=Match.make_id("summit", article.id),
        rule="summit",
        rule_name="Verin / Kalm summit",
        severity="high",
        score=1.0,
        article=article,
        evidence=(
            Evidence(condition="leaders", sentence=sentence, entities=people, **span),
            Evidence(condition="meeting", sentence=sentence, terms=(trigger,), **span),
        ),
        entities=tuple(dict.fromkeys(names.values())),
        matched_at=matched_at,
        language=language,
        event={"en": "Summit", "fr": "Sommet"},
        entity_names={e: _NAMES[e] for e in names.values()},
    )


def _summit() -> Alert:
    """Return an alert with two sources: the later one to arrive was published first."""
    late = _match(
        url="https://valley-post.example.org/2026/05/02/verin-kalm",
        feed_id="valley-post",
        feed_title="Valley Post — World",
        language="en",
        title="Verin hosts Kalm at the lake house",
        sentence="Ada Verin welcomed Boris Kalm to Lakeford for talks on the river treaty.",
        names={"Ada Verin": "ada_verin", "Boris Kalm": "boris_kalm"},
        trigger="talks",
        place="Lakeford",
        published=datetime(2026, 5, 2, 16, 40, tzinfo=UTC),
        matched_at=datetime(2026, 5, 2, 16, 45, tzinfo=UTC),
    )
    first = _match(
        url="https://le-courrier-du-lac.example.org/sommet",
        feed_id="courrier",
        feed_title="Le Courrier du Lac",
        language="fr",
        title="Ada Vérin et Boris Kalm se retrouvent à Lakeford",
        sentence="Ada Vérin a rencontré Boris Kalm samedi à Lakeford.",
        names={"Ada Vérin": "ada_verin", "Boris Kalm": "boris_kalm"},
        trigger="rencontré",
        place="Lakeford",
        published=datetime(2026, 5, 2, 9, 5, tzinfo=UTC),
        matched_at=datetime(2026, 5, 2, 16, 50, tzinfo=UTC),
    )
    return attach(alert_from_match(late), first)


def _parade() -> Alert:
    sentence = "Tanks and troops will parade through Eastmoor on Sunday."
    article = Article(
        id=article_id(None, "https://eastmoor-news.example.org/parade"),
        feed_id="eastmoor",
        url="https://eastmoor-news.example.org/parade",
        title="Eastmoor prepares its parade",
        text=sentence,
        language="en",
        published=datetime(2026, 5, 3, 22, 30, tzinfo=UTC),
        fetched_at=datetime(2026, 5, 3, 22, 31, tzinfo=UTC),
    )
    place = _mention(sentence, "Eastmoor", None, "GPE")
    match = Match(
        id=Match.make_id("parade", article.id),
        rule="parade",
        rule_name="Military parade",
        severity="medium",
        score=1.0,
        article=article,
        evidence=(
            Evidence(condition="parade", sentence=sentence, terms=("parade",), places=(place,)),
            Evidence(condition="military", sentence=sentence, terms=("Tanks", "troops"), places=(place,)),
        ),
        matched_at=datetime(2026, 5, 3, 22, 35, tzinfo=UTC),
        language="en",
        event={"en": "Military parade"},
    )
    return alert_from_match(match)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    desk = Desk("en", ZoneInfo("Europe/Paris"), {"courrier": "Courrier du Lac"})
    return Renderer(desk=desk, desks={"paris": Desk("fr", ZoneInfo("Europe/Paris"))})


NOTES: dict[str, Callable[[], Notification]] = {
    "summit": lambda: Notification("new", (_summit(),), "desk"),
    "summit-fr": lambda: Notification("new", (_summit(),), "paris"),
    "digest": lambda: Notification("digest", (_summit(), _parade()), "desk"),
}


def _check(name: str, got: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with NEWSMON_UPDATE_GOLDEN=1 to write it"
    assert got == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("note", sorted(NOTES))
def test_subject(renderer: Renderer, note: str) -> None:
    subject = renderer.subject(NOTES[note]())
    assert len(subject) <= SUBJECT_LIMIT
    assert "\n" not in subject
    _check(f"{note}.subject.txt", subject + "\n")


@pytest.mark.parametrize("note", sorted(NOTES))
def test_email_html(renderer: Renderer, note: str) -> None:
    _check(f"{note}.email.html", renderer.email_html(NOTES[note]()))


@pytest.mark.parametrize("note", sorted(NOTES))
def test_plain_text(renderer: Renderer, note: str) -> None:
    _check(f"{note}.text.txt", renderer.text(NOTES[note]()))


@pytest.mark.parametrize("note", sorted(NOTES))
def test_telegram(renderer: Renderer, note: str) -> None:
    html = renderer.telegram_html(NOTES[note]())
    assert split_html(html, TELEGRAM_LIMIT) == [html]  # one message, within the limit
    _check(f"{note}.telegram.html", html + "\n")


@pytest.mark.parametrize("note", sorted(NOTES))
def test_console(renderer: Renderer, note: str) -> None:
    out = renderer.console(NOTES[note]())
    lines = out.splitlines()
    assert len(lines) == len(NOTES[note]().alerts)  # one line per alert
    assert all(len(line) <= CONSOLE_LIMIT for line in lines)
    _check(f"{note}.console.txt", out + "\n")


@pytest.mark.parametrize("note", sorted(NOTES))
def test_jsonl_documents(renderer: Renderer, note: str, schema: dict[str, Any]) -> None:
    docs = renderer.documents(NOTES[note]())
    for doc in docs:
        jsonschema.validate(doc, schema)
    _check(f"{note}.jsonl", "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs))


@pytest.mark.parametrize("note", sorted(NOTES))
def test_webhook_document(renderer: Renderer, note: str, schema: dict[str, Any]) -> None:
    doc = renderer.document(NOTES[note]())
    jsonschema.validate(doc, schema)
    _check(f"{note}.webhook.json", json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=2) + "\n")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def test_schema_refuses_a_record_without_the_first_line(renderer: Renderer, schema: dict[str, Any]) -> None:
    (doc,) = renderer.documents(NOTES["summit"]())
    del doc["first_line"]
    one_alert = {**schema, "oneOf": None, "$ref": "#/$defs/alert"}
    del one_alert["oneOf"]
    with pytest.raises(jsonschema.ValidationError, match="'first_line' is a required property"):
        jsonschema.validate(doc, one_alert)


def test_the_summit_shows_every_bullet(renderer: Renderer) -> None:
    """What the golden files hold, said in words: first line, evidence once, first reporter first."""
    note = NOTES["summit"]()
    text = renderer.text(note)
    assert text.startswith("Summit: Ada Verin & Boris Kalm — Lakeford, 2026-05-02\n")
    assert text.count("rencontré") == 1  # the best sentence once, not once per condition
    assert "«Ada Vérin» a [rencontré] «Boris Kalm» samedi à Lakeford." in text
    assert text.index("Courrier du Lac · fr · 2026-05-02 11:05 CEST") < text.index(
        "Valley Post — World · en · 2026-05-02 18:40 CEST"
    )
    assert renderer.subject(note) == (
        "[HIGH] Summit: Ada Verin & Boris Kalm — Lakeford, 2026-05-02"
        " · Ada Vérin et Boris Kalm se retrouvent à Lakeford"  # the first reporter's headline
    )
    assert renderer.subject(NOTES["summit-fr"]()).startswith("[HIGH] Sommet: Ada Vérin & Boris Kalm")
