"""Kafka clients configured from settings, with the timeouts that suit the broker in use."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from monitor.errors import BrokerError
from monitor.logs import get_logger
from monitor.settings import KafkaSettings

__all__ = ["Bus"]

_log = get_logger(__name__)


@dataclass(frozen=True)
class Bus:
    """Where the bus is (``bootstrap``) and how to talk to it (``settings``).

    ``embedded`` selects short group timeouts: tansu holds every JoinGroup response for half the
    session timeout, so kafka-python's 45 s default would mean ~23 s before the first message.

    ``closing`` is set when the process stops: code that retries while the broker is away (see
    :class:`monitor.bus.producer.ResilientProducer`) gives up then, leaving its work uncommitted,
    instead of holding the shutdown for as long as the outage lasts.

    Clients never ask the broker to create a topic: an auto-created topic gets the broker's partition
    count, not ours. Topics are created by :meth:`ensure_topics` only (at start, and again by
    :class:`monitor.bus.topics.TopicKeeper` after a broker lost them).
    """

    bootstrap: tuple[str, ...]
    settings: KafkaSettings
    embedded: bool
    closing: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    @property
    def topic_names(self) -> list[str]:
        """Return the names of every topic newsmon uses."""
        t = self.settings.topics
        return [t.articles, t.matches, t.alerts, t.deadletter, self.alert_state_topic]

    @property
    def alert_state_topic(self) -> str:
        """Return the alerters' compacted state changelog (named after the group, as Kafka Streams does)."""
        return self.settings.topics.alert_state or f"{self.settings.group_prefix}-alert-state-changelog"

    def _common(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": list(self.bootstrap),
            "client_id": self.settings.client_id,
            # kafka-python's default (30 s) would keep a client away for half a minute after an outage.
            "reconnect_backoff_max_ms": self.settings.reconnect_backoff_max_ms,
        }

    def producer(self) -> KafkaProducer:
        """Return a producer that waits for every replica to acknowledge a write."""
        try:
            return KafkaProducer(
                **self._common(),
                acks="all",
                linger_ms=20,
                batch_size=256 * 1024,
                retries=5,
                # An idempotent producer cannot recover from a tansu restart; our ids make
                # re-sent messages harmless anyway.
                enable_idempotence=False,
                allow_auto_create_topics=False,
                max_block_ms=self.settings.max_block_ms,
                # A replacement client made while the broker restarts must not wait kafka-python's 30 s.
                bootstrap_timeout_ms=self.settings.max_block_ms,
            )
        except KafkaError as e:
            raise BrokerError(f"no Kafka broker reachable at {','.join(self.bootstrap)}") from e

    def consumer(self, group_id: str, *topics: str, max_poll_records: int = 100) -> KafkaConsumer:
        """Return a consumer in ``group_id`` that never commits on its own (we commit after handling)."""
        session = self.settings.session_timeout_ms or (2000 if self.embedded else 45000)
        heartbeat = self.settings.heartbeat_interval_ms or (500 if self.embedded else 3000)
        try:
            return KafkaConsumer(
                *topics,
                **self._common(),
                group_id=group_id,
                enable_auto_commit=False,
                auto_offset_reset=self.settings.auto_offset_reset,
                session_timeout_ms=session,
                heartbeat_interval_ms=heartbeat,
                max_poll_records=max_poll_records,
                allow_auto_create_topics=False,
            )
        except KafkaError as e:
            raise BrokerError(f"no Kafka broker reachable at {','.join(self.bootstrap)}") from e

    def reader(self) -> KafkaConsumer:
        """Return a consumer outside any group, for partitions assigned by hand (a changelog restore)."""
        try:
            return KafkaConsumer(
                **self._common(), group_id=None, enable_auto_commit=False, allow_auto_create_topics=False
            )
        except KafkaError as e:
            raise BrokerError(f"no Kafka broker reachable at {','.join(self.bootstrap)}") from e

    def admin(self, timeout_s: float = 5.0) -> KafkaAdminClient:
        """Return an admin client whose every call gives up within ``timeout_s``.

        Raises:
            BrokerError: the broker cannot be reached.
        """
        limit_ms = max(int(timeout_s * 1000), 1000)
        try:
            return KafkaAdminClient(
                **self._common(), bootstrap_timeout_ms=limit_ms, request_timeout_ms=limit_ms
            )
        except KafkaError as e:
            raise BrokerError(f"no Kafka broker reachable at {','.join(self.bootstrap)}: {e}") from e

    def _new_topic(self, name: str) -> NewTopic:
        # The alert state changelog keeps the latest record of each key for ever: compaction, no retention.
        configs = {"cleanup.policy": "compact"} if name == self.alert_state_topic else {}
        if self.settings.min_insync_replicas is not None:
            configs["min.insync.replicas"] = str(self.settings.min_insync_replicas)
        return NewTopic(
            name, self.settings.partitions, self.settings.replication_factor, topic_configs=configs
        )

    def ensure_topics(self, timeout_s: float = 30.0) -> list[str]:
        """Create the missing topics, wait until the broker lists them all; return those created.

        Raises:
            BrokerError: the broker cannot be reached within ``timeout_s``, or refuses to create a topic.
        """
        # Bounded: a broker that is away must not hold a caller (a retry loop, the topic keeper) for
        # kafka-python's default 30 s per attempt.
        admin = self.admin(timeout_s)
        created: list[str] = []
        try:
            existing = set(admin.list_topics())
            missing = [n for n in self.topic_names if n not in existing]
            for name in missing:
                try:
                    admin.create_topics([self._new_topic(name)])
                    created.append(name)
                    _log.info("topic.created", topic=name, partitions=self.settings.partitions)
                except TopicAlreadyExistsError:
                    pass  # another process created it between our list and our create
            deadline = time.monotonic() + timeout_s
            while missing:
                missing = [n for n in self.topic_names if n not in set(admin.list_topics())]
                if missing and time.monotonic() > deadline:
                    raise BrokerError(f"topics {missing} were not created within {timeout_s:.0f} s")
                if missing:
                    time.sleep(0.1)
        except KafkaError as e:
            raise BrokerError(f"cannot create topics on {','.join(self.bootstrap)}: {e}") from e
        finally:
            admin.close()
        return created
