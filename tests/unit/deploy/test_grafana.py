"""The Grafana dashboard and its provisioning: what Grafana would load, checked without Grafana."""

from __future__ import annotations

import re

import yaml
from prometheus_client import CollectorRegistry

from monitor.metrics import Metrics
from tests.unit.deploy.queries import GRAFANA_DIR, dashboard, newsmon_metrics, panel_queries, panels, rules

_DATASOURCE = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())


def _defined_metrics() -> set[str]:
    """Return the families a newsmon process exports (counters without ``_total``, as collect() says)."""
    return {family.name for family in Metrics(CollectorRegistry()).registry.collect()}


def _family(name: str) -> str:
    return name.removesuffix("_total").removesuffix("_info")


def test_every_panel_uses_the_provisioned_datasource() -> None:
    (source,) = _DATASOURCE["datasources"]
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


def test_panels_have_unique_ids_and_fit_the_grid_without_overlapping() -> None:
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels():
        g = panel["gridPos"]
        assert 0 <= g["x"] <= g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_the_dashboard_covers_the_areas_the_issue_asks_for() -> None:
    rows = {p["title"] for p in panels() if p["type"] == "row"}
    assert rows == {"Pipeline overview", "Feeds", "Matcher", "Alerter", "Latency"}
    heatmaps = [q for q in panel_queries() if q.panel_type == "heatmap"]
    assert any("end_to_end_latency" in q.expr for q in heatmaps)
    assert all(q.format == "heatmap" and "by (le)" in q.expr for q in heatmaps)
    assert any("topk(" in q.expr and "newsmon_matches_total" in q.expr for q in panel_queries())
    assert dashboard()["uid"] == "newsmon-pipeline"


def test_every_metric_a_panel_or_rule_reads_is_one_newsmon_exports() -> None:
    defined = {_family(n) for n in _defined_metrics()}
    exprs = [q.expr for q in panel_queries()] + [r["expr"] for r in rules()]
    used = {_family(n) for e in exprs for n in newsmon_metrics(e)}
    assert sorted(used - defined) == [], "renamed or missing metrics"


def test_grafana_macros_are_only_the_ones_the_integration_test_substitutes() -> None:
    macros = {m for q in panel_queries() for m in re.findall(r"\$\{?(\w+)", q.expr)}
    assert macros <= {"__rate_interval", "__range", "__interval"}
    assert not [r["expr"] for r in rules() if "$" in r["expr"]], "rule expressions cannot use Grafana macros"


def test_the_dashboard_provider_loads_the_folder_compose_mounts() -> None:
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "newsmon.yml").read_text())
    (entry,) = provider["providers"]
    assert entry["options"]["path"] == "/var/lib/grafana/dashboards"
