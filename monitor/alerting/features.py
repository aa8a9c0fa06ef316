"""What event dedup knows of a Match: who the evidence says met, on which days, in which words. Pure.

Entity sets alone cannot tell two meetings apart (several articles name all three leaders and report
different meetings), so each evidence sentence becomes a claim: the watched entities it names (its
participants) and the days it names. The article's *principal* claim is the participant set its
headline and most evidence sentences agree on; its days are the days of those sentences. Text
signals complete it: content words of the headline and of the evidence (what happened), and a MinHash
of the body's word shingles (re-publications and updates are near-duplicates).
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from datasketch import MinHash  # type: ignore[import-untyped]

from monitor.alerting.dates import sentence_dates
from monitor.alerting.text import content_tokens, fold, shingles, words
from monitor.models import Match

__all__ = ["NUM_PERM", "Report", "minhash", "own_publication", "report_of", "token_minhash"]

#: MinHash permutations: 64 keep a Jaccard estimate within ~±0.06 at 0.5 and cost ~80 µs per article.
NUM_PERM = 64
_SEED = 1
_SCHEME = "affine32"
# zlib.crc32 is stable across processes (Python's hash() is salted) and runs in C; datasketch mixes it
# with a MurmurHash finaliser before permuting, so its weak avalanche does no harm.
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME, hashfunc=zlib.crc32).permutations
# The headline outweighs one evidence sentence: it says what the article is about.
_TITLE_WEIGHT = 2
# Bodies are compared on their beginning: updates append, and 400 words are enough to tell.
_BODY_WORDS = 400


@dataclass(frozen=True)
class Report:
    """One Match as event dedup sees it; stored in the outbox so a restart rebuilds the index."""

    match_id: str
    rule: str
    article_id: str
    feed_id: str
    published: datetime | None
    seen_at: datetime
    title_tokens: frozenset[str]
    gist_tokens: frozenset[str]
    participants: frozenset[str]
    dates: frozenset[date]
    entities: frozenset[str]
    signature: tuple[int, ...]
    window_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (sets sorted, so equal reports serialise equally)."""
        return {
            "match_id": self.match_id,
            "rule": self.rule,
            "article_id": self.article_id,
            "feed_id": self.feed_id,
            "published": self.published.isoformat() if self.published else None,
            "seen_at": self.seen_at.isoformat(),
            "title_tokens": sorted(self.title_tokens),
            "gist_tokens": sorted(self.gist_tokens),
            "participants": sorted(self.participants),
            "dates": sorted(d.isoformat() for d in self.dates),
            "entities": sorted(self.entities),
            "signature": list(self.signature),
            "window_s": self.window_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        """Return the report ``to_json`` wrote."""
        return cls(
            match_id=data["match_id"],
            rule=data["rule"],
            article_id=data["article_id"],
            feed_id=data["feed_id"],
            published=datetime.fromisoformat(data["published"]) if data["published"] else None,
            seen_at=datetime.fromisoformat(data["seen_at"]),
            title_tokens=frozenset(data["title_tokens"]),
            gist_tokens=frozenset(data["gist_tokens"]),
            participants=frozenset(data["participants"]),
            dates=frozenset(date.fromisoformat(d) for d in data["dates"]),
            entities=frozenset(data["entities"]),
            signature=tuple(data["signature"]),
            window_s=data.get("window_s"),
        )

    def minhash(self) -> MinHash | None:
        """Return the MinHash of the body, or None for an empty body."""
        return minhash(self.signature) if self.signature else None


def own_publication(match: Match) -> datetime | None:
    """Return the article's own publication time, or None when the feed gave none.

    The ingestor fills an undated item's ``published`` with its fetch time; that is when we saw it,
    not when it happened, so it must not place the article in time (a replay would move it).
    """
    article = match.article
    if article.published is None or article.published == article.fetched_at:
        return None
    return article.published


def report_of(match: Match) -> Report:
    """Return the dedup features of ``match``."""
    article = match.article
    published = own_publication(match)
    reference = published.date() if published else None
    participants, dates = _principal_claim(match, reference)
    body = words(article.body)[:_BODY_WORDS]
    grams = shingles(body)
    return Report(
        match_id=match.id,
        rule=match.rule,
        article_id=article.id,
        feed_id=article.feed_id,
        published=published,
        seen_at=article.fetched_at,
        title_tokens=content_tokens([article.title]),
        gist_tokens=content_tokens(dict.fromkeys(ev.sentence for ev in match.evidence)),
        participants=participants,
        dates=dates,
        entities=frozenset(match.entities),
        signature=_signature(grams),
        window_s=match.dedup_window_s,
    )


def minhash(signature: tuple[int, ...]) -> MinHash:
    """Return the MinHash whose hash values are ``signature``."""
    return MinHash(
        num_perm=NUM_PERM,
        seed=_SEED,
        scheme=_SCHEME,
        hashfunc=zlib.crc32,
        hashvalues=signature,
        permutations=_PERMUTATIONS,
    )


def token_minhash(tokens: frozenset[str]) -> MinHash:
    """Return the MinHash of a set of words (headline and evidence content words)."""
    m = _empty()
    m.update_batch([t.encode("utf-8") for t in sorted(tokens)] or [b""])
    return m


def _empty() -> MinHash:
    return MinHash(
        num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME, hashfunc=zlib.crc32, permutations=_PERMUTATIONS
    )


def _signature(grams: set[bytes]) -> tuple[int, ...]:
    if not grams:
        return ()
    m = _empty()
    m.update_batch(list(grams))
    return tuple(int(v) for v in m.hashvalues)


def _principal_claim(match: Match, reference: date | None) -> tuple[frozenset[str], frozenset[date]]:
    """Return who the article's main claim is about and the days it names.

    Each distinct evidence sentence is a claim whose participants are the watched entities it names.
    A participant set gains one point per sentence and, when the headline names all of them, the
    headline's weight; the highest wins, the earliest on ties (journalists lead with the news).
    """
    claims: dict[str, set[str]] = {}
    forms: dict[str, str] = {}
    for ev in match.evidence:
        ids = claims.setdefault(ev.sentence, set())
        for mention in ev.entities:
            if mention.entity_id:
                ids.add(mention.entity_id)
                forms[fold(mention.text)] = mention.entity_id
    title_words = f" {' '.join(words(match.article.title))} "
    in_title = {eid for form, eid in forms.items() if f" {' '.join(words(form))} " in title_words}
    weights: Counter[frozenset[str]] = Counter()
    first: dict[frozenset[str], int] = {}
    for i, ids in enumerate(claims.values()):
        if ids:
            key = frozenset(ids)
            weights[key] += 1
            first.setdefault(key, i)
    for key in weights:
        if key <= in_title:
            weights[key] += _TITLE_WEIGHT
    if not weights:  # a watchlist of keywords only: the claim is everything its evidence says
        return frozenset(), frozenset(d for s in claims for d in sentence_dates(s, reference))
    principal = max(weights, key=lambda k: (weights[k], -first[k]))
    days = frozenset(
        d
        for sentence, ids in claims.items()
        if frozenset(ids) == principal
        for d in sentence_dates(sentence, reference)
    )
    return principal, days
