"""The metrics follow Prometheus naming, keep bounded labels, and exist before the events they count."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from monitor.metrics import Metrics

# Labels whose values grow with the news (one per article, URL, alert...) would make a series per item.
_UNBOUNDED = re.compile(r"(^|_)(id|article|url|guid|title|alert|match)($|_)")
# Non-base units Prometheus' naming guide asks to avoid.
_NOT_BASE_UNITS = (
    "_milliseconds",
    "_ms",
    "_minutes",
    "_hours",
    "_days",
    "_kilobytes",
    "_megabytes",
    "_percent",
)


def _families() -> list[Metric]:
    return list(Metrics(CollectorRegistry()).registry.collect())


def test_every_metric_has_the_prefix_help_and_a_base_unit() -> None:
    for family in _families():
        assert family.name.startswith("newsmon_"), family.name
        assert family.documentation.strip(), family.name
        assert not family.name.endswith(_NOT_BASE_UNITS), family.name
        if family.type == "histogram" or "timestamp" in family.name:
            assert family.name.endswith("_seconds"), f"{family.name}: times are in seconds"


def test_counters_end_in_total_and_nothing_else_does() -> None:
    metrics = Metrics(CollectorRegistry())
    text = "\n".join(
        f"{s.name} {f.type}"
        for f in metrics.registry.collect()
        for s in f.samples
        if not s.name.endswith("_created")
    )
    for line in text.splitlines():
        name, kind = line.split()
        assert name.endswith("_total") == (kind == "counter"), line


def test_labels_are_bounded_by_config() -> None:
    for family in _families():
        for sample in family.samples:
            for label in sample.labels:
                assert not _UNBOUNDED.search(label), f"{family.name}{{{label}}} would be one series per item"


def test_build_info_says_the_version() -> None:
    from monitor import __version__

    registry = Metrics(CollectorRegistry()).registry
    assert registry.get_sample_value("newsmon_build_info", {"version": __version__}) == 1.0


def test_rule_reload_outcomes_exist_before_the_first_reload() -> None:
    registry = Metrics(CollectorRegistry()).registry
    for outcome in ("ok", "error"):
        assert registry.get_sample_value("newsmon_rules_reloads_total", {"outcome": outcome}) == 0.0
