"""The broker the integration tests run on: the embedded tansu (default) or Apache Kafka (``--broker=kafka``).

The bus, consumer-loop, fault and end-to-end suites take the ``broker`` fixture (one per session) or
``own_broker`` (one a test may stop and start) and ask it for their settings, so the same tests run
on either. On Apache Kafka, topics get replication factor 3 and ``min.insync.replicas`` 2, and the
cluster is the one of `make kafka` (``tests/kafka_cluster.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.settings import KafkaSettings, TopicSettings
from tests.kafka_cluster import MIN_INSYNC, REPLICATION, KafkaCluster

BrokerKind = Literal["tansu", "kafka"]
KINDS: tuple[BrokerKind, ...] = ("tansu", "kafka")

# tansu holds a JoinGroup for half the session timeout: short ones, or each join takes ~23 s.
_TANSU_GROUPS = {"SESSION_TIMEOUT_MS": "2000", "HEARTBEAT_INTERVAL_MS": "500"}
# Apache Kafka: the clients' usual heartbeat pace; the session is shortened from 45 s to 10 s (the broker
# accepts 6 s and up) so that the partitions of a SIGKILLed service move within the fault tests' waits.
_KAFKA_GROUPS = {"SESSION_TIMEOUT_MS": "10000", "HEARTBEAT_INTERVAL_MS": "1000"}


def topic_settings(unique: str) -> TopicSettings:
    """Return topics of a test's own, named ``<topic>-<unique>``."""
    return TopicSettings(**{t: f"{t}-{unique}" for t in ("articles", "matches", "alerts", "deadletter")})


@dataclass
class BrokerUnderTest:
    """A running broker of either kind, and how newsmon is configured to use it."""

    kind: BrokerKind
    embedded: EmbeddedBroker | None = None
    cluster: KafkaCluster | None = None

    @property
    def bootstrap_servers(self) -> list[str]:
        """Return the addresses clients connect to."""
        if self.cluster is not None:
            return self.cluster.bootstrap_servers
        assert self.embedded is not None
        return self.embedded.bootstrap_servers

    @property
    def keeps_data(self) -> bool:
        """Return whether a stopped and restarted broker still has its topics and messages."""
        return self.kind == "kafka"

    def settings(self, unique: str, partitions: int = 3) -> KafkaSettings:
        """Return settings with the test's own topics; on Apache Kafka replicated 3 times."""
        if self.kind == "kafka":
            return KafkaSettings(
                bootstrap_servers=self.bootstrap_servers,
                topics=topic_settings(unique),
                partitions=partitions,
                replication_factor=REPLICATION,
                min_insync_replicas=MIN_INSYNC,
            )
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers, topics=topic_settings(unique), partitions=partitions
        )

    def bus(self, unique: str, partitions: int = 3) -> Bus:
        """Return a bus on this broker with the test's own topics (not created yet)."""
        settings = self.settings(unique, partitions)
        return Bus(tuple(self.bootstrap_servers), settings, embedded=self.kind == "tansu")

    def env(self) -> dict[str, str]:
        """Return the ``NEWSMON_KAFKA__*`` variables that point a newsmon process at this broker."""
        env = {"NEWSMON_KAFKA__BOOTSTRAP_SERVERS": json.dumps(self.bootstrap_servers)}
        groups = _TANSU_GROUPS
        if self.kind == "kafka":
            groups = _KAFKA_GROUPS
            env["NEWSMON_KAFKA__REPLICATION_FACTOR"] = str(REPLICATION)
            env["NEWSMON_KAFKA__MIN_INSYNC_REPLICAS"] = str(MIN_INSYNC)
        return env | {f"NEWSMON_KAFKA__{k}": v for k, v in groups.items()}

    def stop(self) -> None:
        """Stop the broker (every broker of the cluster)."""
        if self.cluster is not None:
            self.cluster.stop()
        elif self.embedded is not None:
            self.embedded.stop()

    def start(self) -> None:
        """Start it again where it was: tansu comes back empty, Apache Kafka with its data."""
        if self.cluster is not None:
            self.cluster.start()
        elif self.embedded is not None:
            self.embedded.restart()
