"""Read totals back from a metrics registry: how the demo and tests know the pipeline has drained."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

__all__ = ["counter_total"]


def counter_total(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """Return the sum of counter ``name`` (without ``_total``) over every series matching ``labels``."""
    total = 0.0
    for family in registry.collect():
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
