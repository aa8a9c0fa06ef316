"""`newsmon demo`: the bundled sample feed goes through the whole pipeline and its alerts are shown."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from monitor.demo import run_demo
from monitor.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def test_demo_prints_each_alert_and_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("NEWSMON_")]:
        monkeypatch.delenv(var)
    settings = load_settings(
        match={"rules_dir": REPO / "rules"}, metrics={"port": 0}, kafka={"group_prefix": "demo-test"}
    )
    out = io.StringIO()

    result = run_demo(settings, tmp_path / "demo", out=out, timeout_s=90)

    text = out.getvalue()
    assert result.exit_code == 0, text
    assert (result.articles, result.matches, result.alerts) == (7, 3, 3), text
    # The sample holds a Pride march, a leader alone, a recipe and sport: none of them may alert.
    shown = {line for line in text.splitlines() if line.startswith("ALERT ")}
    outlet = "first newsmon demo — fil d'exemple · https://demo.newsmon.invalid/2025/10"
    assert shown == {
        "ALERT HIGH Meeting: Vladimir Putin & Kim Jong Un — Vladivostok, 2025-10-06 · 1 source, "
        f"{outlet}/sommet-vladivostok · (fr) [Sommet] à Vladivostok : "
        "«Vladimir Poutine» [reçoit] «Kim Jong-un»",
        "ALERT MEDIUM Military parade — Pyongyang, 2025-10-07 · 1 source, "
        f"{outlet}/defile-pyongyang · (fr) Pyongyang prépare un [défilé] [militaire] "
        "pour l'anniversaire du Parti",
        "ALERT HIGH Meeting: Xi Jinping & Vladimir Putin — Pékin, 2025-10-10 · 1 source, "
        f"{outlet}/rencontre-pekin · (fr) [Rencontre] à Pékin entre «Xi Jinping» et «Vladimir Poutine»",
    }, text
    assert "newsmon demo: 7 articles -> 3 matches -> 3 alerts" in text
    outbox = tmp_path / "demo" / "alerts.sqlite3"
    assert f"  outbox:    {outbox} (see it: NEWSMON_ALERT__OUTBOX_DB={outbox} newsmon alerts list)" in text
    assert outbox.is_file()
    logged = [json.loads(line) for line in result.alert_log.read_text(encoding="utf-8").splitlines()]
    assert sorted(a["rule"] for a in logged) == ["leaders_meeting", "leaders_meeting", "military_parade"]
