"""Event dedup cost with a full window: one decision among 100,000 events (target ≤ 1,000 µs).

The window is filled with generated reports (seeded): participants drawn from 2,000 watched entities
with a skewed popularity (a few leaders are in most news), headline and evidence words from a
5,000-word vocabulary with Zipf-like frequencies, and real MinHash signatures of distinct bodies.
Probe matches are articles of the shared bench corpus with evidence naming two popular entities,
so every lookup meets the crowded candidate lists a busy news day gives.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.corpus import make_corpus
from bench.results import Figure
from monitor.alerting.dedup import EventIndex
from monitor.alerting.features import Report, report_of
from monitor.models import EntityMention, Evidence, Match

__all__ = ["bench_alerting", "figures"]

_START = datetime(2026, 3, 1, tzinfo=UTC)
_WINDOW = timedelta(days=3)


def _word(i: int) -> str:
    consonants, vowels = "bcdfglmnprstv", "aeiou"
    out = ""
    while True:
        out += consonants[i % len(consonants)] + vowels[(i // len(consonants)) % len(vowels)]
        i //= len(consonants) * len(vowels)
        if i == 0:
            return out + "x"


def _zipf(rng: random.Random, n: int) -> int:
    """Return an index in [0, n) with popularity falling like 1/rank."""
    return min(int(n ** rng.random()) - 1, n - 1)


def _reports(n: int, rng: random.Random) -> list[Report]:
    vocabulary = [_word(i) for i in range(5000)]
    entities = [f"entity_{i}" for i in range(2000)]
    reports = []
    for i in range(n):
        participants = frozenset({entities[_zipf(rng, 2000)], entities[_zipf(rng, 2000)]})
        gist = frozenset(vocabulary[_zipf(rng, 5000)] for _ in range(rng.randint(15, 30)))
        title = frozenset(vocabulary[_zipf(rng, 5000)] for _ in range(rng.randint(5, 9)))
        reports.append(
            Report(
                match_id=f"m{i}",
                rule=f"rule_{i % 50}",
                article_id=f"a{i}",
                feed_id=f"feed_{i % 300}",
                published=_START + _WINDOW * (i / n),
                seen_at=_START,
                title_tokens=title,
                gist_tokens=gist,
                participants=participants,
                dates=frozenset(),
                entities=participants,
                signature=tuple(rng.getrandbits(32) for _ in range(64)),
            )
        )
    return reports


def _probes(count: int, rng: random.Random) -> list[Match]:
    matches = []
    for article in make_corpus(count, seed=7, words=400):
        article = article.model_copy(update={"published": _START + _WINDOW, "fetched_at": _START + _WINDOW})
        a, b = f"entity_{_zipf(rng, 20)}", f"entity_{_zipf(rng, 20) + 20}"
        sentence = f"{a} a rencontré {b} à Pékin pour un sommet."
        mentions = (
            EntityMention(text=a, label="PER", start=0, end=len(a), entity_id=a),
            EntityMention(
                text=b, label="PER", start=sentence.index(b), end=sentence.index(b) + len(b), entity_id=b
            ),
        )
        evidence = (
            Evidence(condition="leaders", sentence=sentence, entities=mentions, terms=("rencontré",)),
        )
        matches.append(
            Match(
                id=f"probe-{article.id}",
                rule=f"rule_{rng.randrange(50)}",
                rule_name="bench",
                score=1.0,
                article=article,
                evidence=evidence,
                entities=(a, b),
            )
        )
    return matches


def bench_alerting(events: int = 100_000, probes: int = 300, runs: int = 3) -> dict[str, float]:
    """Return the median µs of one dedup decision and of feature extraction, ``events`` in the window."""
    rng = random.Random(42)
    started = time.perf_counter()
    index = EventIndex()
    for report in _reports(events, rng):
        index.add(report, f"e-{report.match_id}")
    build_s = time.perf_counter() - started
    matches = _probes(probes, rng)
    features_us: list[float] = []
    lookup_us: list[float] = []
    lookup_cpu_us: list[float] = []
    for _ in range(runs):
        extract, decide, decide_cpu = [], [], []
        for match in matches:
            t0 = time.perf_counter()
            report = report_of(match)
            t1 = time.perf_counter()
            c1 = time.thread_time()
            index.decide(report)
            c2 = time.thread_time()
            t2 = time.perf_counter()
            extract.append((t1 - t0) * 1e6)
            decide.append((t2 - t1) * 1e6)
            decide_cpu.append((c2 - c1) * 1e6)
        features_us.append(statistics.median(extract))
        lookup_us.append(statistics.median(decide))
        lookup_cpu_us.append(statistics.median(decide_cpu))
    return {
        "events_in_window": float(len(index)),
        "index_build_s": build_s,
        "dedup_lookup_us": statistics.median(lookup_us),
        "dedup_lookup_cpu_us": statistics.median(lookup_cpu_us),
        "dedup_lookup_p95_us": statistics.quantiles(decide, n=20)[-1],
        "dedup_features_us": statistics.median(features_us),
    }


def figures(quick: bool = False, runs: int = 3) -> list[Figure]:
    """Run the dedup benchmark and return its figures."""
    events, probes = (20_000, 100) if quick else (100_000, 300)
    r = bench_alerting(events, probes, runs)
    window = f"{r['events_in_window']:,.0f} events in the window"
    return [
        Figure(
            "dedup_lookup_us",
            r["dedup_lookup_us"],
            "µs",
            f"EventIndex.decide for one match, {window} (generated, skewed entity popularity, real"
            f" MinHash signatures), median over {probes} probes naming popular entities",
        ),
        Figure(
            "dedup_lookup_cpu_us",
            r["dedup_lookup_cpu_us"],
            "µs",
            f"the same decision in CPU time of the deciding thread ({window}): what the code costs, without"
            " the waits for a core that a busy machine adds to the wall-clock figure",
        ),
        Figure(
            "dedup_lookup_p95_us", r["dedup_lookup_p95_us"], "µs", f"95th percentile of the same, {window}"
        ),
        Figure(
            "dedup_features_us",
            r["dedup_features_us"],
            "µs",
            "report_of(match): claims, dates, content words and the body's MinHash, per match",
        ),
        Figure(
            "dedup_index_build_s", r["index_build_s"], "s", f"building the index with {window} (one pass)"
        ),
    ]
