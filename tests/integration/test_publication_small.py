"""The publication benchmark's rig on a small plan: polled and hub-pushed feeds both reach the alerter.

The full plan (``make bench BENCH=publication``: 1,000 feeds, 100 behind a WebSub hub) is a benchmark,
not a test. This keeps its rig from rotting: the feeds behind the hub are discovered, subscribed and
pushed through the real Flask-WebSub hub, and the watched items of both kinds reach the alerter's
outbox (``publication_to_alert`` raises when under 90% of them do, or when the hub refuses a
publication). How fast is the benchmark's business, not this test's.
"""

from __future__ import annotations

from pathlib import Path

from bench.publication import Publisher, publication_to_alert


def test_a_small_publisher_reaches_the_alerter_through_polls_and_through_the_hub(tmp_path: Path) -> None:
    plan = Publisher(feeds=12, pushed=4, period_s=6.0, duration_s=60.0, watched_share=0.5, hosts=2)
    found = publication_to_alert(plan, workdir=tmp_path)
    assert found.counted_pushed > 0, "the pushed feeds had items to count"
    assert found.counted_polled > 0, "the polled feeds had items to count"
    assert len(found.pushed) >= 0.9 * found.counted_pushed
    assert len(found.polled) >= 0.9 * found.counted_polled
    assert all(latency > 0 for latency in found.pushed + found.polled), "decided after publication"
    ingest_log = (tmp_path / "ingest.log").read_text(encoding="utf-8")
    assert "websub.discovery_failed" not in ingest_log
