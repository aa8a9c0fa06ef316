"""Event dedup: decide whether a Match reports an event already alerted for its watchlist. Pure, no clock.

Time is the articles' own publication time, never the clock, so replaying last year's news folds it
exactly as it was folded live. Two reports are compared on their own publication times (``window``);
the index keeps an event while a report that may still arrive could join it: reports arrive out of
order (late feeds, backfills, a restarted ingestor), so an event leaves only when its newest report is
more than ``window + lateness`` behind the newest publication seen (the watermark). Every report up to
``lateness`` behind the watermark therefore meets every event it belongs to, and the same reports fold
into the same events whatever their arrival order. An article without a publication date is compared
on content alone and placed at the watermark.

A Match joins the event of its most similar earlier report (single link) when ``compare`` says they are
the same; candidates come from three indexes so a decision stays cheap with 100,000 events in the
window: a MinHash LSH of the bodies (near-duplicates), a MinHash LSH of headline and evidence words,
and the most recent reports naming each participant.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
from datasketch import MinHashLSH  # type: ignore[import-untyped]

from monitor.alerting.features import NUM_PERM, Report, token_minhash

__all__ = ["Decision", "DedupPolicy", "EventIndex", "Verdict", "compare"]

# LSH over headline + evidence words finds pairs from this Jaccard up; the decision thresholds sit above.
_GIST_LSH_THRESHOLD = 0.2


@dataclass(frozen=True)
class DedupPolicy:
    """Thresholds of ``compare``; the defaults keep every pair of labels.yaml on the right side.

    Text similarity is the Jaccard index of headline content words plus that of evidence content
    words (0 to 2): either alone varies too much with an outlet's style, their sum much less.
    ``lateness`` is how far behind the newest publication seen a report may arrive and still meet
    every event it belongs to (a backfill, a late feed); it costs memory, not decisions.
    """

    @property
    def retention(self) -> timedelta:
        """Return how long behind the newest publication an event is kept: ``window + lateness``."""
        return self.window + self.lateness

    window: timedelta = timedelta(days=3)
    lateness: timedelta = timedelta(days=30)
    near_duplicate: float = 0.5
    similar_text: float = 0.85
    related_text: float = 0.3
    same_participants_within: timedelta = timedelta(hours=24)
    day_tolerance: int = 1
    max_candidates: int = 64


@dataclass(frozen=True)
class Verdict:
    """Whether two reports are about the same event, how strongly, and the reason shown to people."""

    same: bool
    score: float
    reason: str


@dataclass(frozen=True)
class Decision:
    """Where a report belongs: an existing event (``event_id``) or a new one (None).

    ``merge`` lists other events the report links to as well: one real-world event that was first
    seen as several (its reports arrived in an order that hid the link). They fold into ``event_id``.
    """

    event_id: str | None
    reason: str = "new event"
    duplicate: bool = False
    merge: tuple[str, ...] = ()
    new_entities: frozenset[str] = frozenset()
    other_events: tuple[str, ...] = ()


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _days_apart(a: frozenset[date], b: frozenset[date]) -> int:
    return min(abs((x - y).days) for x in a for y in b)


def compare(a: Report, b: Report, policy: DedupPolicy = DedupPolicy(), body: float | None = None) -> Verdict:
    """Return whether reports ``a`` and ``b`` tell of the same real-world event.

    Hard gates first (other watchlist, published too far apart, different participants, different
    days), then any one sufficient signal: near-duplicate bodies; the same participants with a named
    day on both sides, related wording or close publication; or similar wording alone. ``body``: the
    bodies' similarity when the caller computed it already (the index does, vectorised).
    """
    if a.rule != b.rule:
        return Verdict(False, 0.0, "different watchlists")
    # A watchlist may set its own window (a fast-moving topic wants a short one).
    window = timedelta(seconds=a.window_s) if a.window_s else policy.window
    if a.published and b.published and abs(a.published - b.published) > window:
        return Verdict(False, 0.0, "published too far apart")
    if body is None:
        body = _body_similarity(a, b)
    if body >= policy.near_duplicate:
        return Verdict(True, 3.0 + body, f"near-duplicate text ({body:.2f})")
    pa, pb = a.participants, b.participants
    if pa and pb and not (pa <= pb or pb <= pa):
        return Verdict(False, 0.0, f"different participants ({', '.join(sorted(pa ^ pb))})")
    if a.dates and b.dates and _days_apart(a.dates, b.dates) > policy.day_tolerance:
        return Verdict(False, 0.0, "different days")
    text = _jaccard(a.title_tokens, b.title_tokens) + _jaccard(a.gist_tokens, b.gist_tokens)
    if pa and pa == pb:
        who = ", ".join(sorted(pa))
        if a.dates and b.dates:
            return Verdict(True, 2.0 + text, f"same participants ({who}), same day")
        if text >= policy.related_text:
            return Verdict(True, 2.0 + text, f"same participants ({who}), related wording ({text:.2f})")
        if a.published and b.published and abs(a.published - b.published) <= policy.same_participants_within:
            return Verdict(True, 2.0 + text, f"same participants ({who}), published close together")
    if text >= policy.similar_text:
        return Verdict(True, text, f"similar wording ({text:.2f})")
    return Verdict(False, text, "no shared signal")


def _body_similarity(a: Report, b: Report) -> float:
    if not a.signature or not b.signature:
        return 0.0
    same = sum(1 for x, y in zip(a.signature, b.signature, strict=True) if x == y)
    return same / len(a.signature)


@dataclass
class _Event:
    rule: str
    seq: int
    members: list[str] = field(default_factory=list)
    entities: set[str] = field(default_factory=set)
    last: datetime | None = None


class EventIndex:
    """The events of the dedup window and their reports, indexed for fast candidate lookup."""

    def __init__(self, policy: DedupPolicy = DedupPolicy()) -> None:
        self.policy = policy
        self._reports: dict[str, tuple[Report, str]] = {}
        self._events: dict[str, _Event] = {}
        self._body = MinHashLSH(threshold=policy.near_duplicate, num_perm=NUM_PERM)
        self._gist = MinHashLSH(threshold=_GIST_LSH_THRESHOLD, num_perm=NUM_PERM)
        self._by_participant: dict[tuple[str, str], deque[str]] = {}
        self._by_article: dict[str, set[str]] = {}
        # Each report's MinHash signature as an array: one vectorised comparison per candidate instead
        # of a Python loop over 128 values (most of a decision's time at 100,000 events).
        self._signatures: dict[str, npt.NDArray[np.uint64]] = {}
        self._expiry: list[tuple[datetime, str]] = []
        self._seq = 0
        self._horizon = policy.window  # the longest window of any watchlist seen
        self.watermark: datetime | None = None

    def __len__(self) -> int:
        """Return the number of events in the window."""
        return len(self._events)

    def event_of(self, match_id: str) -> str | None:
        """Return the event ``match_id`` was folded into, if it is in the window."""
        found = self._reports.get(match_id)
        return found[1] if found else None

    def decide(self, report: Report) -> Decision:
        """Return the event ``report`` belongs to, or a new-event decision; the index is not changed.

        Every event the report is the same as is linked: the oldest keeps the alert and the others are
        to be merged into it, so the events are the connected groups of "same" reports whatever order
        the reports came in.
        """
        known = self._reports.get(report.match_id)
        if known is not None:
            return Decision(known[1], "same match", duplicate=True)
        same_article = self._by_article.get(report.article_id, ())
        others = tuple(sorted(e for e in same_article if self._events[e].rule != report.rule))
        linked: dict[str, Verdict] = {}
        candidates = [m for m in self._candidates(report) if self._reports[m][0].rule == report.rule]
        for match_id, body in zip(candidates, self._body_similarities(report, candidates), strict=True):
            other, event_id = self._reports[match_id]
            verdict = compare(report, other, self.policy, body)
            if verdict.same and (event_id not in linked or verdict.score > linked[event_id].score):
                linked[event_id] = verdict
        if not linked:
            return Decision(None, other_events=others)
        ordered = sorted(linked, key=lambda e: self._events[e].seq)
        survivor, merged = ordered[0], tuple(ordered[1:])
        best = max(linked.values(), key=lambda v: v.score)
        entities = set(self._events[survivor].entities)
        for event_id in merged:
            entities |= self._events[event_id].entities
        return Decision(
            survivor,
            best.reason,
            merge=merged,
            new_entities=frozenset(report.entities - entities),
            other_events=others,
        )

    def add(self, report: Report, event_id: str, merge: tuple[str, ...] = ()) -> None:
        """Record ``report`` in ``event_id`` (new or known), fold ``merge`` into it, drop what expired."""
        if report.match_id in self._reports:
            return
        if report.window_s and timedelta(seconds=report.window_s) > self._horizon:
            self._horizon = timedelta(seconds=report.window_s)
        if report.published and (self.watermark is None or report.published > self.watermark):
            self.watermark = report.published
        when = report.published or self.watermark or report.seen_at
        event = self._events.get(event_id)
        if event is None:
            self._seq += 1
            event = self._events[event_id] = _Event(report.rule, self._seq)
        event.members.append(report.match_id)
        event.entities |= report.entities
        self._touch(event_id, event, when)
        self._reports[report.match_id] = (report, event_id)
        body = report.minhash()
        if body is not None:
            self._body.insert(report.match_id, body, check_duplication=False)
        if report.signature:
            self._signatures[report.match_id] = np.asarray(report.signature, dtype=np.uint64)
        self._gist.insert(report.match_id, token_minhash(report.gist_tokens), check_duplication=False)
        for participant in report.participants:
            key = (report.rule, participant)
            recent = self._by_participant.setdefault(key, deque(maxlen=self.policy.max_candidates))
            recent.append(report.match_id)
        self._by_article.setdefault(report.article_id, set()).add(event_id)
        for other in merge:
            self._merge(event_id, other)
        self._expire()

    def _merge(self, into: str, other_id: str) -> None:
        other = self._events.pop(other_id, None)
        if other is None or other_id == into:
            return
        event = self._events[into]
        for match_id in other.members:
            report, _ = self._reports[match_id]
            self._reports[match_id] = (report, into)
            articles = self._by_article[report.article_id]
            articles.discard(other_id)
            articles.add(into)
        event.members.extend(other.members)
        event.entities |= other.entities
        if other.last is not None:
            self._touch(into, event, other.last)

    def _touch(self, event_id: str, event: _Event, when: datetime) -> None:
        if event.last is None or when > event.last:
            event.last = when
            heapq.heappush(self._expiry, (when, event_id))

    def _body_similarities(self, report: Report, candidates: list[str]) -> list[float]:
        """Return the share of equal MinHash values between ``report`` and each candidate, in one pass."""
        if not report.signature or not candidates:
            return [0.0] * len(candidates)
        mine = np.asarray(report.signature, dtype=np.uint64)
        absent = np.full(len(mine), np.iinfo(np.uint64).max, dtype=np.uint64)  # equal to no real value
        rows = []
        for match_id in candidates:
            theirs = self._signatures.get(match_id)
            rows.append(theirs if theirs is not None and len(theirs) == len(mine) else absent)
        equal = np.count_nonzero(np.stack(rows) == mine, axis=1)
        return [float(n) / len(mine) for n in equal]

    def _candidates(self, report: Report) -> set[str]:
        found: set[str] = set()
        body = report.minhash()
        if body is not None:
            found.update(self._body.query(body))
        gist = self._gist.query(token_minhash(report.gist_tokens))
        # A flood of look-alike reports must not make one decision slow: the cap bounds the work.
        found.update(gist[: self.policy.max_candidates])
        for participant in report.participants:
            found.update(self._by_participant.get((report.rule, participant), ()))
        return found

    def too_late(self, report: Report) -> bool:
        """Return whether ``report`` is further behind the watermark than the index promises to fold.

        Such a report is still compared with what the index holds, but events it belongs to may
        already have left: it may open an event of its own.
        """
        if report.published is None or self.watermark is None:
            return False
        return report.published < self.watermark - self.policy.lateness

    def _expire(self) -> None:
        # Expiry never looks at arrival order: an event leaves once no report within ``lateness`` of
        # the watermark could be published close enough to any of its reports to join it.
        if self.watermark is None:
            return
        horizon = self.watermark - self._horizon - self.policy.lateness
        while self._expiry and self._expiry[0][0] < horizon:
            when, event_id = heapq.heappop(self._expiry)
            event = self._events.get(event_id)
            if event is None or event.last != when:  # an older entry of an event that moved on
                continue
            self._drop(event_id, event)

    def _drop(self, event_id: str, event: _Event) -> None:
        del self._events[event_id]
        for match_id in event.members:
            report, _ = self._reports.pop(match_id)
            self._signatures.pop(match_id, None)
            if report.signature:
                self._body.remove(match_id)
            self._gist.remove(match_id)
            for participant in report.participants:
                recent = self._by_participant.get((report.rule, participant))
                if recent is not None and match_id in recent:
                    recent.remove(match_id)
                    if not recent:
                        del self._by_participant[(report.rule, participant)]
            events = self._by_article.get(report.article_id)
            if events is not None:
                events.discard(event_id)
                if not events:
                    del self._by_article[report.article_id]
