"""Figures, the issue's targets, and how results are printed and stored (``bench/results/latest.json``)."""

from __future__ import annotations

import fnmatch
import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TARGETS", "Figure", "Target", "load", "merge", "table", "target_of", "write"]


@dataclass(frozen=True)
class Figure:
    """One measured figure: what ``latest.json`` stores under ``name``."""

    name: str
    value: float
    unit: str
    note: str

    def as_json(self) -> dict[str, object]:
        """Return the figure as its ``latest.json`` entry (rounded: noise past 4 digits is no data)."""
        value: float = round(self.value, 4) if abs(self.value) < 100 else round(self.value, 1)
        return {"value": value, "unit": self.unit, "note": self.note}


@dataclass(frozen=True)
class Target:
    """A target of issue #7 (or #16): ``value <op> bound`` on the 2-core dev machine."""

    op: str
    bound: float

    def met(self, value: float) -> bool:
        """Return whether ``value`` meets the target."""
        compare: Callable[[float, float], bool] = operator.ge if self.op == ">=" else operator.le
        return compare(value, self.bound)

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.bound:,g}"


#: Targets by figure name (shell patterns allowed); figures without one are reported only.
TARGETS: dict[str, Target] = {
    "matcher_articles_per_s_realistic": Target(">=", 200),
    "match_articles_per_s_10_rules": Target(">=", 2000),
    "rules_cost_ratio_10000_vs_10": Target("<=", 2.0),
    "pipeline_articles_per_s": Target(">=", 50),
    "e2e_latency_p95_s": Target("<=", 2.0),
    "ingest_cycle_s_1000_feeds": Target("<=", 30),
    "ingest_cpu_ms_per_new_article": Target("<=", 4),
    "soak_cpu_ms_per_article_ingest": Target("<=", 4),
    "soak_cpu_bound_articles_per_s": Target(">=", 300),
    "publication_to_alert_p95_s_polled": Target("<=", 11),  # half the publisher's 20 s period + 1 s
    "publication_to_alert_p95_s_websub": Target("<=", 5),
    "peak_rss_mib_*": Target("<=", 1024),
    "dedup_lookup_us": Target("<=", 1000),
}


def target_of(name: str) -> Target | None:
    """Return the target of figure ``name``, if the issue sets one."""
    for pattern, target in TARGETS.items():
        if fnmatch.fnmatchcase(name, pattern):
            return target
    return None


def load(path: Path) -> dict[str, dict[str, object]]:
    """Return the figures stored at ``path`` (empty when there is no file yet)."""
    if not path.is_file():
        return {}
    data: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def merge(old: dict[str, dict[str, object]], figures: Iterable[Figure]) -> dict[str, dict[str, object]]:
    """Return ``old`` with ``figures`` replacing their namesakes: a subset run keeps the other figures."""
    out = dict(old)
    for figure in figures:
        out[figure.name] = figure.as_json()
    return dict(sorted(out.items()))


def write(path: Path, data: dict[str, dict[str, object]]) -> None:
    """Write ``data`` as ``latest.json`` is committed: indented, sorted, ending with a newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def table(figures: Iterable[Figure]) -> str:
    """Return the figures as a plain-text table: name, value, unit, target, and whether it is met."""
    rows = [("figure", "value", "unit", "target", "")]
    for f in figures:
        target = target_of(f.name)
        verdict = "" if target is None else ("ok" if target.met(f.value) else "MISSED")
        rows.append((f.name, _number(f.value), f.unit, str(target) if target else "", verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            row[1].rjust(widths[1]),
            *(c.ljust(w) for c, w in zip(row[2:], widths[2:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
