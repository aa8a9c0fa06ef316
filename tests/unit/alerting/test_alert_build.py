"""build.alert_from_match: pure, deterministic, one alert per (watchlist, article)."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.alerting.build import SUMMARY_MAX_CHARS, alert_from_match
from monitor.models import ArticleRef, Evidence
from tests.fixtures.matches import MakeMatch


def test_alert_copies_the_match(make_match: MakeMatch) -> None:
    match = make_match()
    alert = alert_from_match(match)
    assert alert.rule == "leaders_meeting"
    assert alert.rule_name == match.rule_name
    assert alert.severity == "high"
    assert alert.title == "[leaders_meeting] Verin and Kalm sign a water accord in Geneva"
    assert alert.summary == match.evidence[0].sentence
    assert alert.articles == (ArticleRef.of(match.article),)
    assert alert.evidence == tuple(
        ev.model_copy(update={"article_id": match.article.id}) for ev in match.evidence
    )
    assert alert.entities == ("ada_verin", "boris_kalm")
    assert alert.match_ids == (match.id,)
    assert alert.created_at == match.matched_at


def test_redelivered_match_yields_the_same_alert(make_match: MakeMatch) -> None:
    first = alert_from_match(make_match())
    again = alert_from_match(make_match(matched_at=datetime(2026, 3, 5, tzinfo=UTC)))
    assert again.id == first.id
    assert alert_from_match(make_match()) == first


def test_alert_id_depends_on_rule_and_article(make_match: MakeMatch) -> None:
    base = alert_from_match(make_match()).id
    assert alert_from_match(make_match(rule="military_parade")).id != base
    assert alert_from_match(make_match(url="https://news.example.org/other")).id != base
    # same article through a tracking link: same article id, hence same alert
    assert (
        alert_from_match(
            make_match(url="https://news.example.org/world/2026/03/04/summit-geneva?utm_source=x")
        ).id
        == base
    )


def test_summary_falls_back_to_the_article_text(make_match: MakeMatch) -> None:
    alert = alert_from_match(make_match(evidence=(), text="First  line.\n\nSecond line."))
    assert alert.summary == "First line. Second line."


def test_long_summary_is_cut(make_match: MakeMatch) -> None:
    long = Evidence(condition="c", sentence="word " * 200)
    summary = alert_from_match(make_match(evidence=(long,))).summary
    assert len(summary) <= SUMMARY_MAX_CHARS
    assert summary.endswith("…")
