"""The broker a benchmark run talks to: an embedded tansu of its own, or the cluster of `make kafka`.

A run on the cluster gets topics and consumer groups of its own (``<topic>-<tag>``, ``bench-<tag>``):
the cluster keeps earlier runs' topics, offsets and alert-state changelogs, and a run must start from
nothing, as it does on a fresh embedded broker. Its topics have replication factor 3 and
``min.insync.replicas`` 2, as newsmon's are in production, so each acknowledged write is on two brokers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.settings import KafkaSettings, TopicSettings

__all__ = ["BusTarget", "embedded_target", "kafka_cluster", "kafka_target"]


@dataclass(frozen=True)
class BusTarget:
    """A running broker, and the settings with which one run's clients and stage processes use it."""

    bootstrap: tuple[str, ...]
    settings: KafkaSettings
    embedded: bool

    @property
    def kind(self) -> str:
        """Return 'tansu' or 'kafka', for notes and progress lines."""
        return "tansu" if self.embedded else "kafka"

    def bus(self) -> Bus:
        """Return a bus on the broker with this run's topics."""
        return Bus(self.bootstrap, self.settings, embedded=self.embedded)

    def env(self) -> dict[str, str]:
        """Return the ``NEWSMON_KAFKA__*`` variables beyond the bootstrap servers that point a stage here."""
        if self.embedded:
            return {}
        s = self.settings
        env = {
            "NEWSMON_KAFKA__GROUP_PREFIX": s.group_prefix,
            "NEWSMON_KAFKA__REPLICATION_FACTOR": str(s.replication_factor),
            **{
                f"NEWSMON_KAFKA__TOPICS__{name.upper()}": topic
                for name, topic in s.topics.model_dump().items()
                if topic is not None
            },
        }
        if s.min_insync_replicas is not None:
            env["NEWSMON_KAFKA__MIN_INSYNC_REPLICAS"] = str(s.min_insync_replicas)
        return env

    def stage_kafka_env(self) -> dict[str, str]:
        """Return every ``NEWSMON_KAFKA__*`` variable a stage process of this run needs."""
        env = {"NEWSMON_KAFKA__BOOTSTRAP_SERVERS": json.dumps(list(self.bootstrap))}
        if self.embedded:
            # A stage given bootstrap servers takes Kafka's 45 s session timeout, with which tansu holds
            # every JoinGroup ~23 s; these are the embedded broker's own values.
            env["NEWSMON_KAFKA__SESSION_TIMEOUT_MS"] = "2000"
            env["NEWSMON_KAFKA__HEARTBEAT_INTERVAL_MS"] = "500"
        return env | self.env()


@contextmanager
def embedded_target() -> Iterator[BusTarget]:
    """Run an embedded broker for as long as the context lasts; yield it with newsmon's default topics."""
    with EmbeddedBroker() as broker:
        yield BusTarget(tuple(broker.bootstrap_servers), KafkaSettings(), embedded=True)


@contextmanager
def kafka_cluster() -> Iterator[tuple[str, ...]]:
    """Yield the bootstrap servers of `make kafka`'s cluster, started (and stopped after) if not running."""
    from tests.kafka_cluster import KafkaCluster

    cluster = KafkaCluster()
    was_running = all(cluster.running(node) for node in cluster.nodes)
    cluster.start()
    try:
        yield tuple(cluster.bootstrap_servers)
    finally:
        if not was_running:
            cluster.stop()


def kafka_target(bootstrap: tuple[str, ...], tag: str = "") -> BusTarget:
    """Return a target on the cluster at ``bootstrap`` with topics and groups no earlier run used."""
    from tests.kafka_cluster import MIN_INSYNC, REPLICATION

    suffix = f"{tag}-{uuid.uuid4().hex[:6]}" if tag else uuid.uuid4().hex[:6]
    topics = TopicSettings(
        **{name: f"bench-{name}-{suffix}" for name in ("articles", "matches", "alerts", "deadletter")}
    )
    settings = KafkaSettings(
        topics=topics,
        group_prefix=f"bench-{suffix}",
        replication_factor=REPLICATION,
        min_insync_replicas=MIN_INSYNC,
    )
    return BusTarget(bootstrap, settings, embedded=False)
