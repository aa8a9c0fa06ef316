"""Fixtures shared by the whole suite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.metrics import Metrics

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"


@pytest.fixture
def metrics() -> Metrics:
    """Return the metrics on a fresh registry, so tests never see each other's counts."""
    return Metrics(CollectorRegistry())


@pytest.fixture
def unique() -> Iterator[str]:
    """Return a fresh suffix for group ids and topic names (groups keep their session timeout)."""
    return uuid.uuid4().hex[:10]
