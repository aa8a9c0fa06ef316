"""dedup: the same reports fold into the same events in every arrival order, over weeks of news.

Real feeds arrive out of order (late feeds, backfills after an outage, ``rules backtest``, a restarted
ingestor). The reports here are generated: each event has its own two participants, its own words and
its own day, and its reports are published within hours of it, so the true events are known.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerting.dedup import DedupPolicy, EventIndex
from monitor.alerting.features import Report

START = datetime(2026, 2, 2, tzinfo=UTC)
THREE_WEEKS = timedelta(days=21)


@dataclass(frozen=True)
class _Story:
    """One generated real-world event: when it happened and how many reports tell it."""

    hour: int
    reports: int


def _reports(stories: list[_Story], rng: random.Random) -> tuple[list[Report], set[frozenset[str]]]:
    """Return the reports of ``stories`` in publication order, and the true events (sets of match ids)."""
    reports: list[Report] = []
    truth: set[frozenset[str]] = set()
    for n, story in enumerate(stories):
        happened = START + timedelta(hours=story.hour)
        words = [f"w{n}x{k}" for k in range(12)]
        # A republication's body: some reports of the story are near-duplicates of each other.
        body = tuple(rng.getrandbits(32) for _ in range(64))
        members = set()
        for k in range(story.reports):
            match_id = f"s{n}r{k}"
            members.add(match_id)
            reports.append(
                Report(
                    match_id=match_id,
                    rule="leaders_meeting" if n % 3 else "summits",
                    article_id=f"a-{match_id}",
                    feed_id=f"feed{k % 7}",
                    published=happened + timedelta(minutes=rng.randrange(0, 600)),
                    seen_at=START + THREE_WEEKS * 2,
                    title_tokens=frozenset(rng.sample(words, 4)),
                    gist_tokens=frozenset(rng.sample(words, 8)),
                    participants=frozenset({f"leader_{n}_a", f"leader_{n}_b"}),
                    # Some outlets name the day, others do not.
                    dates=frozenset({happened.date()}) if rng.random() < 0.5 else frozenset(),
                    entities=frozenset({f"leader_{n}_a", f"leader_{n}_b"}),
                    signature=body if rng.random() < 0.2 else (),
                )
            )
        truth.add(frozenset(members))
    reports.sort(key=lambda r: (r.published, r.match_id))
    return reports, truth


def fold(reports: Iterable[Report], policy: DedupPolicy | None = None) -> set[frozenset[str]]:
    """Feed ``reports`` to a fresh index as the alerter does; return the events as sets of match ids.

    Membership is followed through the decisions (including merges), not read back from the index,
    so an event the index dropped still counts as the event it was.
    """
    index = EventIndex(policy or DedupPolicy())
    into: dict[str, str] = {}

    def final(event_id: str) -> str:
        while event_id in into:
            event_id = into[event_id]
        return event_id

    event_of: dict[str, str] = {}
    for report in reports:
        decision = index.decide(report)
        event_id = decision.event_id or f"event-{report.match_id}"
        for other in decision.merge:
            into[final(other)] = final(event_id)
        index.add(report, event_id, decision.merge)
        event_of[report.match_id] = event_id
    events: dict[str, set[str]] = {}
    for match_id, event_id in event_of.items():
        events.setdefault(final(event_id), set()).add(match_id)
    return {frozenset(m) for m in events.values()}


_stories = st.lists(
    st.builds(_Story, hour=st.integers(0, THREE_WEEKS // timedelta(hours=1)), reports=st.integers(10, 12)),
    min_size=100,
    max_size=110,
)


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(stories=_stories, seed=st.integers(0, 2**32 - 1))
def test_a_backfill_in_random_order_folds_like_the_news_in_time_order(
    stories: list[_Story], seed: int
) -> None:
    rng = random.Random(seed)
    # The news of three weeks, whatever hypothesis drew: a story on the first day and one on the last.
    span = [_Story(0, 10), *stories, _Story(THREE_WEEKS // timedelta(hours=1), 10)]
    reports, truth = _reports(span, rng)
    assert reports[-1].published - reports[0].published >= THREE_WEEKS  # type: ignore[operator]
    assert len(reports) >= 1000
    assert len(truth) >= 100
    in_time_order = fold(reports)
    assert in_time_order == truth
    shuffled = list(reports)
    rng.shuffle(shuffled)
    assert fold(shuffled) == in_time_order
    assert fold(reversed(reports)) == in_time_order


@settings(max_examples=50, deadline=None)
@given(
    hours=st.lists(st.integers(0, 24 * 28), min_size=2, max_size=8),
    order=st.randoms(use_true_random=False),
)
def test_every_permutation_of_a_few_reports_over_four_weeks_folds_alike(
    hours: list[int], order: random.Random
) -> None:
    stories = [_Story(hour, 3) for hour in hours]
    reports, truth = _reports(stories, random.Random(len(hours)))
    shuffled = list(reports)
    order.shuffle(shuffled)
    assert fold(shuffled) == fold(reports) == truth


def test_an_event_is_kept_while_a_late_report_may_still_join_it() -> None:
    policy = DedupPolicy(window=timedelta(days=3), lateness=timedelta(days=7))
    reports, _ = _reports([_Story(0, 3), _Story(24 * 6, 3)], random.Random(1))
    first, _, _, later, *_ = reports
    index = EventIndex(policy or DedupPolicy())
    index.add(later, "e-later")
    index.add(first, "e-first")  # six days behind: late, within lateness
    assert index.event_of(first.match_id) == "e-first"
    assert not index.too_late(first)
    after_more = Report(
        **{**later.__dict__, "match_id": "x", "published": later.published + timedelta(days=5)}
    )
    index.add(after_more, "e-later")
    # Eleven days behind the watermark: further than window + lateness (ten days), so it left.
    assert index.event_of(first.match_id) is None
    assert index.too_late(first)
