"""The suite's options and its smallest fixtures; the rigs live in ``tests/fixtures/``, registered here.

Every helper more than one test file needs (brokers and buses, SMTP servers, the Telegram stand-in,
feed servers, matches, the newsmon-process rig, the seeds) is in a module of ``tests/fixtures/``, one
per concern, as quix-streams keeps its tests' factories in one fixtures module. Fixtures there are
visible to every test (``pytest_plugins``); their classes and helpers are imported from there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.metrics import Metrics

pytest_plugins = [
    "tests.fixtures.articles",
    "tests.fixtures.brokers",
    "tests.fixtures.feeds",
    "tests.fixtures.matches",
    "tests.fixtures.smtp",
    "tests.fixtures.telegram",
]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def metrics() -> Metrics:
    """Return the metrics on a fresh registry, so tests never see each other's counts."""
    return Metrics(CollectorRegistry())


@pytest.fixture
def unique() -> Iterator[str]:
    """Return a fresh suffix for group ids and topic names (groups keep their session timeout)."""
    return uuid.uuid4().hex[:10]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--broker``: the kind of broker the integration tests run on."""
    parser.addoption(
        "--broker",
        choices=("tansu", "kafka"),
        default=os.environ.get("NEWSMON_TEST_BROKER", "tansu"),
        help="tansu: the embedded broker (default; make test). kafka: the 3-broker Apache Kafka cluster of "
        "`make kafka` (make test-kafka). Env NEWSMON_TEST_BROKER sets the default.",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests marked for the other kind of broker (deselected, not skipped)."""
    other = "tansu" if config.getoption("--broker") == "kafka" else "kafka"
    dropped = [item for item in items if item.get_closest_marker(other) is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.get_closest_marker(other) is None]
