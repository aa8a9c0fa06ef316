"""dedup: one event per watchlist and real-world event, whatever the outlet, wording or arrival order.

The articles here are written for the tests: leaders of invented countries, in English and French.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.alerting.dedup import DedupPolicy, EventIndex, compare
from monitor.alerting.features import Report, own_publication, report_of
from monitor.models import Article, EntityMention, Evidence, Match, article_id

T0 = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)  # a Thursday
_NAMES = {"ada_verin": "Ada Verin", "boris_kalm": "Boris Kalm", "chen_oru": "Chen Oru"}


def _evidence(sentence: str, ids: tuple[str, ...]) -> Evidence:
    mentions = []
    for eid in ids:
        name = _NAMES[eid]
        start = sentence.index(name)
        mentions.append(
            EntityMention(text=name, label="PER", start=start, end=start + len(name), entity_id=eid)
        )
    return Evidence(condition="leaders", sentence=sentence, entities=tuple(mentions), terms=("met",))


def _match(
    url: str,
    title: str,
    sentences: list[tuple[str, tuple[str, ...]]],
    *,
    rule: str = "leaders_meeting",
    published: datetime | None = T0,
    body: str | None = None,
    feed: str = "wire",
) -> Match:
    text = body if body is not None else " ".join(s for s, _ in sentences)
    fetched = T0 + timedelta(hours=1)
    article = Article(
        id=article_id(None, url),
        feed_id=feed,
        url=url,
        title=title,
        text=text,
        published=published or fetched,
        fetched_at=fetched,
    )
    evidence = tuple(_evidence(s, ids) for s, ids in sentences)
    entities = tuple(sorted({e for _, ids in sentences for e in ids}))
    return Match(
        id=Match.make_id(rule, article.id),
        rule=rule,
        rule_name=rule,
        score=1.0,
        article=article,
        evidence=evidence,
        entities=entities,
        matched_at=fetched,
    )


VERIN_KALM = _match(
    "https://wire.example.org/1",
    "Ada Verin receives Boris Kalm for talks in Valmont",
    [
        (
            "Ada Verin received Boris Kalm on Thursday in Valmont for talks on the rail link.",
            ("ada_verin", "boris_kalm"),
        ),
        ("Boris Kalm had met Chen Oru on Wednesday.", ("boris_kalm", "chen_oru")),
    ],
)
VERIN_KALM_OTHER_OUTLET = _match(
    "https://daily.example.net/verin-kalm",
    "Rail talks: Boris Kalm and Ada Verin meet in Valmont",
    [("Boris Kalm and Ada Verin held talks in Valmont about the rail link.", ("ada_verin", "boris_kalm"))],
    published=T0 + timedelta(hours=3),
    feed="daily",
)
KALM_ORU = _match(
    "https://wire.example.org/2",
    "Boris Kalm and Chen Oru seal their alliance",
    [
        ("Boris Kalm and Chen Oru met in Valmont and sealed their alliance.", ("boris_kalm", "chen_oru")),
        ("Ada Verin was in Valmont too, Boris Kalm said.", ("ada_verin", "boris_kalm")),
    ],
    published=T0 + timedelta(hours=2),
)


def test_same_event_from_two_outlets_is_one() -> None:
    verdict = compare(report_of(VERIN_KALM), report_of(VERIN_KALM_OTHER_OUTLET))
    assert verdict.same, verdict
    assert "same participants (ada_verin, boris_kalm)" in verdict.reason


def test_naming_the_same_leaders_is_not_enough_when_the_meetings_differ() -> None:
    a, b = report_of(VERIN_KALM), report_of(KALM_ORU)
    assert a.entities == b.entities  # all three are named in both articles
    assert a.participants == {"ada_verin", "boris_kalm"}
    assert b.participants == {"boris_kalm", "chen_oru"}
    verdict = compare(a, b)
    assert not verdict.same
    assert "different participants" in verdict.reason


def test_the_headline_decides_who_the_article_is_about() -> None:
    match = _match(
        "https://wire.example.org/3",
        "Ada Verin and Boris Kalm meet again",
        [
            ("Boris Kalm met Chen Oru in May.", ("boris_kalm", "chen_oru")),
            ("Chen Oru then saw Boris Kalm in June.", ("boris_kalm", "chen_oru")),
            ("Ada Verin met Boris Kalm on Thursday.", ("ada_verin", "boris_kalm")),
        ],
    )
    assert report_of(match).participants == {"ada_verin", "boris_kalm"}


def test_the_same_leaders_on_different_days_are_different_meetings() -> None:
    monday = _match(
        "https://wire.example.org/4",
        "Ada Verin and Boris Kalm met on Monday",
        [("Ada Verin met Boris Kalm on Monday in Valmont.", ("ada_verin", "boris_kalm"))],
    )
    assert report_of(monday).dates == {date(2026, 3, 2)}
    assert report_of(VERIN_KALM).dates == {date(2026, 3, 5)}
    verdict = compare(report_of(monday), report_of(VERIN_KALM))
    assert not verdict.same
    assert verdict.reason == "different days"


def test_a_republication_is_a_near_duplicate_whatever_its_headline() -> None:
    body = " ".join(
        f"Paragraph {n} of the long wire story about the rail link and its cost." for n in range(40)
    )
    first = _match("https://wire.example.org/5", "Rail link agreed", [], body=body, rule="rail")
    again = _match(
        "https://mirror.example.com/x", "Breaking: deal", [], body=body + " Updated at noon.", rule="rail"
    )
    verdict = compare(report_of(first), report_of(again))
    assert verdict.same
    assert verdict.reason.startswith("near-duplicate text")


def test_publication_times_too_far_apart_are_different_events() -> None:
    later = _match(
        VERIN_KALM_OTHER_OUTLET.article.url + "/later",
        VERIN_KALM_OTHER_OUTLET.article.title,
        [
            (
                "Boris Kalm and Ada Verin held talks in Valmont about the rail link.",
                ("ada_verin", "boris_kalm"),
            )
        ],
        published=T0 + timedelta(days=10),
    )
    verdict = compare(report_of(VERIN_KALM), report_of(later))
    assert not verdict.same
    assert verdict.reason == "published too far apart"
    # A watchlist with a longer window of its own folds them.
    assert compare(_with_window(report_of(VERIN_KALM), 30 * 86400), report_of(later), DedupPolicy()).same


def test_an_undated_article_is_placed_by_its_content_not_its_fetch_time() -> None:
    undated = _match(
        "https://blog.example.com/p",
        VERIN_KALM_OTHER_OUTLET.article.title,
        [
            (
                "Boris Kalm and Ada Verin held talks in Valmont about the rail link.",
                ("ada_verin", "boris_kalm"),
            )
        ],
        published=None,
    )
    assert own_publication(undated) is None  # the ingestor filled published with the fetch time
    assert compare(report_of(VERIN_KALM), report_of(undated)).same


def test_other_watchlists_never_share_an_event() -> None:
    other = VERIN_KALM.model_copy(update={"rule": "rail", "id": "x"})
    assert compare(report_of(VERIN_KALM), report_of(other)).reason == "different watchlists"


def test_report_survives_json() -> None:
    report = report_of(VERIN_KALM)
    assert Report.from_json(report.to_json()) == report


def _with_window(report: Report, seconds: float) -> Report:
    data = report.to_json()
    data["window_s"] = seconds
    return Report.from_json(data)


def _report(match_id: str, day_offset: int | None, published: datetime | None = T0) -> Report:
    """A report about Verin–Kalm talks, naming a day (offset from T0) or none."""
    return Report(
        match_id=match_id,
        rule="leaders_meeting",
        article_id=f"article-{match_id}",
        feed_id="wire",
        published=published,
        seen_at=T0,
        title_tokens=frozenset({"verin", "kalm", "talks"}),
        gist_tokens=frozenset({"verin", "kalm", "talks", "valmo"}),
        participants=frozenset({"ada_verin", "boris_kalm"}),
        dates=frozenset() if day_offset is None else frozenset({(T0 + timedelta(days=day_offset)).date()}),
        entities=frozenset({"ada_verin", "boris_kalm"}),
        signature=(),
    )


def _events(index: EventIndex, reports: list[Report]) -> set[frozenset[str]]:
    members: dict[str, set[str]] = {}
    for report in reports:
        decision = index.decide(report)
        event_id = decision.event_id or f"event-{report.match_id}"
        index.add(report, event_id, decision.merge)
    for report in reports:
        event = index.event_of(report.match_id)
        assert event is not None
        members.setdefault(event, set()).add(report.match_id)
    return {frozenset(m) for m in members.values()}


def test_events_do_not_depend_on_arrival_order() -> None:
    # a names Thursday, c the Sunday after: different days. b names no day and links both.
    reports = [_report("a", 0), _report("b", None), _report("c", 3)]
    assert not compare(reports[0], reports[2]).same
    results = {frozenset(_events(EventIndex(), list(order))) for order in itertools.permutations(reports)}
    assert results == {frozenset({frozenset({"a", "b", "c"})})}


def test_the_same_match_again_is_a_duplicate() -> None:
    index = EventIndex()
    report = _report("a", 0)
    index.add(report, "e1")
    decision = index.decide(report)
    assert decision.duplicate
    assert decision.event_id == "e1"


def test_joining_an_event_reports_new_watched_entities() -> None:
    index = EventIndex()
    index.add(_report("a", 0), "e1")
    joined = _report("b", 0)
    joined = Report(**{**joined.__dict__, "entities": frozenset({"ada_verin", "boris_kalm", "chen_oru"})})
    decision = index.decide(joined)
    assert decision.event_id == "e1"
    assert decision.new_entities == {"chen_oru"}


def test_events_leave_on_publication_times_not_the_clock() -> None:
    index = EventIndex(DedupPolicy(window=timedelta(days=3), lateness=timedelta(days=2)))
    index.add(_report("old", None, published=T0), "e-old")
    assert len(index) == 1
    index.add(_report("news", None, published=T0 + timedelta(days=4)), "e-news")
    assert index.event_of("old") == "e-old"  # a report two days late could still join it
    index.add(_report("later", None, published=T0 + timedelta(days=6)), "e-later")
    assert index.event_of("old") is None  # six days on: further than window + lateness
    late = _report("late", None, published=T0 + timedelta(days=4, hours=1))
    assert index.decide(late).event_id in {"e-news", "e-later"}


def test_a_report_older_than_the_newest_is_not_dropped_on_arrival() -> None:
    """The old watermark rule dropped a report weeks behind the newest at once: its copies became alerts."""
    index = EventIndex()
    index.add(_report("news", None, published=T0 + timedelta(days=20)), "e-news")
    index.add(_report("a", 0), "e-a")
    assert index.event_of("a") == "e-a"
    assert index.decide(_report("b", 0)).event_id == "e-a"


def test_another_watchlist_on_the_same_article_is_reported() -> None:
    index = EventIndex()
    index.add(_report("a", 0), "e1")
    parade = Report(**{**_report("p", 0).__dict__, "rule": "military_parade", "article_id": "article-a"})
    assert index.decide(parade).other_events == ("e1",)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_unrelated_reports_open_their_own_events(n: int) -> None:
    index = EventIndex()
    for i in range(n):
        r = Report(
            **{
                **_report(f"r{i}", None).__dict__,
                "participants": frozenset({f"p{i}", f"q{i}"}),
                "gist_tokens": frozenset({f"w{i}"}),
                "title_tokens": frozenset({f"t{i}"}),
            }
        )
        assert index.decide(r).event_id is None
        index.add(r, f"e{i}")
    assert len(index) == n
