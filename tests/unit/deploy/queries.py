"""Every PromQL expression the deployment ships: Grafana panel queries and alerting-rule expressions.

The structural tests here and the integration test that runs them against a real Prometheus read
them from this one place, so a panel or rule added later is checked without touching the tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from tests.unit.deploy.promtools import PROMETHEUS_DIR, REPO

GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "newsmon.json"
RULES = PROMETHEUS_DIR / "rules" / "newsmon.yml"

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# An aggregation "by (...)" at the top of the expression, possibly under topk(), histogram_quantile()
# or "time() -".
_OUTER_BY = re.compile(
    r"^\s*(?:topk\(\s*\d+\s*,\s*|histogram_quantile\(\s*[\d.]+\s*,\s*|time\(\)\s*-\s*)?"
    r"(?:sum|max|min|avg|count)\s+by\s*\(([^)]*)\)"
)
_SERIES_SUFFIXES = ("_bucket", "_count", "_sum")


@dataclass(frozen=True)
class PanelQuery:
    """One target of one Grafana panel."""

    panel: str
    panel_type: str
    ref: str
    expr: str
    instant: bool
    format: str

    @property
    def name(self) -> str:
        """Return a readable id for test output."""
        return f"{self.panel} [{self.ref}]"


def dashboard() -> dict[str, Any]:
    """Return the provisioned dashboard."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> list[dict[str, Any]]:
    """Return every panel of the dashboard, rows included, nested ones flattened."""
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def panel_queries() -> list[PanelQuery]:
    """Return every query of every panel."""
    return [
        PanelQuery(
            panel["title"],
            panel["type"],
            target["refId"],
            target["expr"],
            bool(target.get("instant")) and not target.get("range"),
            target.get("format", "time_series"),
        )
        for panel in panels()
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def rules() -> list[dict[str, Any]]:
    """Return every recording and alerting rule of the rule file."""
    loaded = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def newsmon_metrics(expr: str) -> set[str]:
    """Return the newsmon metric families ``expr`` reads (``_bucket``/``_count``/``_sum`` stripped)."""
    names = set()
    for token in _NAME.findall(expr):
        if token.startswith("newsmon_") and ":" not in token:
            for suffix in _SERIES_SUFFIXES:
                token = token.removesuffix(suffix)
            names.add(token)
    return names


def grouping_labels(expr: str) -> set[str]:
    """Return the labels of the outermost ``by (...)``: every result series must carry them.

    Only the aggregation the result comes from counts: in ``count(sum by (feed) (...))`` the result has
    no ``feed`` label.
    """
    m = _OUTER_BY.match(expr)
    if m is None:
        return set()
    return {label.strip() for label in m.group(1).split(",") if label.strip() and label.strip() != "le"}
