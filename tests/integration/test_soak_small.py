"""The soak benchmark's rig on a small day: it must run, and find counts in = counts out.

The full day (``make bench BENCH=soak``) takes 25 minutes and is a benchmark, not a test. This keeps
its rig from rotting and checks, under a short real load through the three stage processes, that
every released article is published once, analysed once and every match handled (``soak`` raises
otherwise).
"""

from __future__ import annotations

from pathlib import Path

from bench.soak import Day, soak


def test_a_small_day_goes_through_every_stage_with_nothing_lost_or_doubled(tmp_path: Path) -> None:
    day = Day(articles=240, feeds=24, offered_per_s=24.0, poll_interval_s=1.0, hosts=2)
    result = soak(day, workdir=tmp_path)
    assert result.articles == 240
    assert result.counts["published"] == 240
    assert result.counts["analysed"] == 240
    assert result.counts["matches"] > 0, "a tenth of the corpus names watched entities"
    assert result.counts["matches_handled"] == result.counts["matches"]
    assert result.counts["alerts"] > 0
    assert result.latencies, "alerts were seen in the JSONL log"
    assert set(result.rss_mib) == {"ingest", "match", "alert"}
