"""What a desk editor reads of an alert, in the desk's language and time zone: one structure for all.

Every channel (email, Telegram, console, JSONL, webhook) renders the same ``AlertView``, so they
cannot disagree on who, where, when, which sentence or which source came first. Pure: the alert
and the desk in, the view out; no clock, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.models import Alert, ArticleRef, EntityMention, Evidence

__all__ = [
    "AlertView",
    "Desk",
    "EvidenceView",
    "Participant",
    "Piece",
    "SourceView",
    "view_of",
]

PieceKind = Literal["text", "name", "trigger"]
#: A sentence longer than this is a window of several: shown only when no shorter one holds as much.
READABLE_CHARS = 320


@dataclass(frozen=True)
class Desk:
    """Who reads: the language names are shown in, the time zone of times, the outlets' names by feed."""

    language: str = "en"
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    outlets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Piece:
    """A run of the evidence sentence: plain text, a watched name, or a trigger word of the rule."""

    text: str
    kind: PieceKind
    start: int


@dataclass(frozen=True)
class EvidenceView:
    """The one sentence that best shows why the alert fired, cut into highlighted pieces."""

    sentence: str
    pieces: tuple[Piece, ...]
    language: str | None
    url: str
    outlet: str
    article_id: str | None
    conditions: tuple[str, ...]


@dataclass(frozen=True)
class SourceView:
    """One outlet that reported the event, first reporter first."""

    id: str
    outlet: str
    feed_id: str
    title: str
    url: str
    language: str | None
    published: datetime | None
    local_time: str


@dataclass(frozen=True)
class Participant:
    """A watched entity of the alert, by its name in the desk's language."""

    id: str
    name: str


@dataclass(frozen=True)
class AlertView:
    """An alert as the desk reads it: the first line's parts, the evidence, the sources."""

    alert: Alert
    severity: str
    what: str
    who: tuple[Participant, ...]
    where: str | None
    when: date
    first_line: str
    headline: str
    evidence: EvidenceView | None
    sources: tuple[SourceView, ...]
    desk_language: str

    @property
    def who_text(self) -> str:
        """Return the participants' names, joined."""
        return _join([p.name for p in self.who])


def view_of(alert: Alert, desk: Desk) -> AlertView:
    """Return the view of ``alert`` for ``desk``."""
    sources = _sources(alert.articles, desk)
    evidence_group = _best_evidence(alert.evidence, sources)
    who = _participants(alert, desk.language, evidence_group)
    where = _place(evidence_group, alert.evidence)
    when = _event_date(alert, desk.zone)
    what = _what(alert, desk.language)
    parts = [f"{what}: {_join([p.name for p in who])}" if who else what]
    if where:
        parts.append(where)
    parts.append(when.isoformat())
    first_line = " — ".join([parts[0], ", ".join(parts[1:])])
    return AlertView(
        alert=alert,
        severity=alert.severity,
        what=what,
        who=who,
        where=where,
        when=when,
        first_line=first_line,
        headline=sources[0].title if sources else alert.title,
        evidence=_evidence_view(evidence_group, sources, _watched_names(alert)) if evidence_group else None,
        sources=sources,
        desk_language=desk.language,
    )


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """Return ``moment`` in ``zone`` as ``2025-09-03 14:05 CEST``; "unknown" without one."""
    if moment is None:
        return "unknown"
    if moment.tzinfo is None:  # a naive time is UTC, never the host's zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " & " + names[-1]


def _what(alert: Alert, language: str) -> str:
    return alert.event.get(language) or alert.event.get("en") or alert.rule_name


def _sources(refs: Sequence[ArticleRef], desk: Desk) -> tuple[SourceView, ...]:
    """Return the sources by publication time, first reporter first; undated ones last, in arrival order."""
    far = datetime.max.replace(tzinfo=UTC)
    order = sorted(enumerate(refs), key=lambda p: (_aware(p[1].published) if p[1].published else far, p[0]))
    return tuple(
        SourceView(
            id=ref.id,
            outlet=desk.outlets.get(ref.feed_id) or ref.feed_title or ref.feed_id,
            feed_id=ref.feed_id,
            title=ref.title,
            url=ref.url,
            language=ref.language,
            published=ref.published,
            local_time=local_time(ref.published, desk.zone),
        )
        for _, ref in order
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _best_evidence(evidence: Sequence[Evidence], sources: Sequence[SourceView]) -> tuple[Evidence, ...]:
    """Return the evidence of the sentence that shows most: every condition, most names, a place.

    A sentence short enough to read at a glance beats a long window of several; ties go to the first
    reporter's sentence, then to the earlier sentence.
    """
    groups: dict[tuple[str | None, str], list[Evidence]] = {}
    for ev in evidence:
        groups.setdefault((ev.article_id, ev.sentence), []).append(ev)
    if not groups:
        return ()
    rank = {s.id: i for i, s in enumerate(sources)}
    conditions = len({ev.condition for ev in evidence})

    def score(item: tuple[int, tuple[tuple[str | None, str], list[Evidence]]]) -> tuple[int, ...]:
        position, ((article, _), group) = item
        ids = {m.entity_id for ev in group for m in ev.entities if m.entity_id}
        places = any(_places(ev) for ev in group)
        held = len({ev.condition for ev in group})
        return (
            int(len(group[0].sentence) > READABLE_CHARS),
            -min(held, conditions),
            -len(ids),
            -int(places),
            rank.get(article or "", len(rank)),
            position,
        )

    _, (_, best) = min(enumerate(groups.items()), key=score)
    return tuple(best)


def _watched_names(alert: Alert) -> list[str]:
    """Return every way the alert's evidence writes a watched entity, and the entities' display names."""
    written = [m.text for ev in alert.evidence for m in ev.entities if m.entity_id]
    shown = [name for names in alert.entity_names.values() for name in names.values()]
    return [*written, *shown]


def _participants(alert: Alert, language: str, best: Sequence[Evidence]) -> tuple[Participant, ...]:
    """Return the watched entities, in the order the best sentence names them, then the others."""
    sentence = best[0].sentence if best else ""
    ways: dict[str, list[str]] = {}
    for m in (m for ev in alert.evidence for m in ev.entities if m.entity_id):
        ways.setdefault(m.entity_id or "", []).append(m.text)
    for entity_id, names in alert.entity_names.items():
        ways.setdefault(entity_id, []).extend(names.values())
    ids = list(
        dict.fromkeys([*(m.entity_id for ev in best for m in ev.entities if m.entity_id), *alert.entities])
    )

    def first_seen(entity_id: str) -> int:
        found = [sentence.find(w) for w in ways.get(entity_id, []) if w and w in sentence]
        return min(found) if found else len(sentence)

    ordered = sorted(ids, key=lambda e: (first_seen(e), ids.index(e)))
    written = _written_names(m for ev in alert.evidence for m in ev.entities)
    return tuple(
        Participant(entity_id, _name(alert.entity_names.get(entity_id, {}), language, written, entity_id))
        for entity_id in ordered
    )


def _written_names(mentions: Iterable[EntityMention]) -> dict[str, str]:
    """Return the longest way each entity is written in the evidence: the fallback display name."""
    longest: dict[str, str] = {}
    for m in mentions:
        if m.entity_id and len(m.text) > len(longest.get(m.entity_id, "")):
            longest[m.entity_id] = m.text
    return longest


def _name(names: Mapping[str, str], language: str, written: Mapping[str, str], entity_id: str) -> str:
    return (
        names.get(language)
        or names.get("")
        or names.get("en")
        or written.get(entity_id)
        or entity_id.replace("_", " ").title()
    )


def _place(best: Sequence[Evidence], evidence: Sequence[Evidence]) -> str | None:
    """Return the first place the best sentence names, else the place the evidence names most."""
    for ev in best:
        if _places(ev):
            return _places(ev)[0].text
    counts: dict[str, int] = {}
    for ev in evidence:
        for p in _places(ev):
            counts[p.text] = counts.get(p.text, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def _places(ev: Evidence) -> tuple[EntityMention, ...]:
    """Return the places of ``ev``: those the matcher found, or the LOC/GPE among its entities."""
    return ev.places or tuple(m for m in ev.entities if m.label in ("LOC", "GPE"))


def _event_date(alert: Alert, zone: ZoneInfo) -> date:
    """Return the day of the first report in ``zone``, else the day the alert was made."""
    dates = [_aware(ref.published) for ref in alert.articles if ref.published is not None]
    moment = min(dates) if dates else _aware(alert.created_at)
    return moment.astimezone(zone).date()


def _evidence_view(
    group: Sequence[Evidence], sources: Sequence[SourceView], watched: Sequence[str]
) -> EvidenceView:
    first = group[0]
    source = next((s for s in sources if s.id == first.article_id), sources[0] if sources else None)
    names = [*(m.text for ev in group for m in ev.entities if m.entity_id), *watched]
    triggers = [t for ev in group for t in ev.terms]
    return EvidenceView(
        sentence=first.sentence,
        pieces=pieces(first.sentence, names, triggers),
        language=source.language if source else None,
        url=source.url if source else "",
        outlet=source.outlet if source else "",
        article_id=first.article_id,
        conditions=tuple(dict.fromkeys(ev.condition for ev in group)),
    )


def pieces(sentence: str, names: Iterable[str], triggers: Iterable[str]) -> tuple[Piece, ...]:
    """Return ``sentence`` cut into plain text, names and trigger words (whole words, longest first).

    A name wins over a trigger word it overlaps; the pieces never nest and join back to ``sentence``.
    """
    kinds: dict[str, PieceKind] = {}
    for t in triggers:
        if t.strip():
            kinds[" ".join(t.split())] = "trigger"
    for n in names:
        if n.strip():
            kinds[" ".join(n.split())] = "name"
    if not kinds:
        return (Piece(sentence, "text", 0),) if sentence else ()
    # names first among equals, then longer before shorter: "Xi Jinping" over "Xi"
    alternatives = sorted(kinds, key=lambda k: (kinds[k] != "name", -len(k)))
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(a) for a in alternatives) + r")(?!\w)", re.IGNORECASE
    )
    found: list[Piece] = []
    last = 0
    for m in pattern.finditer(sentence):
        if m.start() > last:
            found.append(Piece(sentence[last : m.start()], "text", last))
        kind = kinds.get(m.group(0)) or _kind_folded(kinds, m.group(0))
        found.append(Piece(m.group(0), kind, m.start()))
        last = m.end()
    if last < len(sentence):
        found.append(Piece(sentence[last:], "text", last))
    return tuple(found)


def _kind_folded(kinds: Mapping[str, PieceKind], text: str) -> PieceKind:
    low = text.lower()
    return next((k for t, k in kinds.items() if t.lower() == low), "trigger")
