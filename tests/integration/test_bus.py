"""The bus against a real broker (tansu or Apache Kafka): topics, group joins, at-least-once, dead letters."""

from __future__ import annotations

import json
import threading
import time

import pytest

from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.bus.consumer import ConsumerLoop
from monitor.bus.deadletter import DeadLetter
from monitor.bus.serde import encode
from monitor.errors import BrokerError
from monitor.metrics import Metrics
from monitor.models import Article
from tests.fixtures.brokers import BrokerUnderTest


def _article(n: int) -> Article:
    return Article(id=f"a{n}", feed_id="f", url=f"https://example.org/{n}", title=f"title {n}")


def _drain(bus: Bus, topic: str, group: str, expected: int, timeout_s: float = 20.0) -> list[bytes]:
    consumer = bus.consumer(group, topic)
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(r.value for r in records)
    finally:
        consumer.close()
    return got


def test_ensure_topics_creates_every_topic_once(broker: BrokerUnderTest, unique: str) -> None:
    bus = broker.bus(unique)
    bus.ensure_topics()
    bus.ensure_topics()  # second call finds them and creates nothing
    consumer = bus.consumer(f"g-{unique}")
    try:
        assert set(bus.topic_names) <= consumer.topics()
        assert len(consumer.partitions_for_topic(bus.settings.topics.articles)) == 3
    finally:
        consumer.close()


def test_consumer_loop_handles_commits_and_deadletters_bad_messages(
    broker: BrokerUnderTest, unique: str, metrics: Metrics
) -> None:
    bus = broker.bus(unique)
    bus.ensure_topics()
    topics = bus.settings.topics
    producer = bus.producer()
    producer.send(topics.articles, key=b"a1", value=encode(_article(1)))
    producer.send(topics.articles, key=b"bad", value=b"{not json")
    producer.send(topics.articles, key=b"v9", value=json.dumps({"schema_version": 9}).encode())
    producer.send(topics.articles, key=b"boom", value=encode(_article(666)))
    producer.send(topics.articles, key=b"a2", value=encode(_article(2)))
    producer.flush()

    handled: list[str] = []

    def handle(article: Article) -> None:
        if article.id == "a666":
            raise RuntimeError("handler bug")
        handled.append(article.id)

    group = f"match-{unique}"
    started = time.monotonic()
    loop = ConsumerLoop(
        consumer=bus.consumer(group, topics.articles),
        producer=producer,
        deadletter=DeadLetter(producer, topics.deadletter),
        topic=topics.articles,
        model=Article,
        handle=handle,
        metrics=metrics,
    )
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 20
    while len(handled) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    first_message_s = time.monotonic() - started
    stop.set()
    thread.join(timeout=10)

    assert sorted(handled) == ["a1", "a2"]
    # The whole point of the short session timeout: not the ~23 s of kafka-python's defaults.
    assert first_message_s < 8, f"group join took {first_message_s:.1f} s"
    dead = [json.loads(v) for v in _drain(bus, topics.deadletter, f"dl-{unique}", 3)]
    assert sorted(d["reason"] for d in dead) == ["handler_error", "invalid_message", "invalid_message"]
    assert {d["key"] for d in dead} == {"bad", "v9", "boom"}
    assert any(d["value"] == "{not json" for d in dead)
    assert (
        metrics.registry.get_sample_value(
            "newsmon_messages_deadlettered_total", {"topic": topics.articles, "reason": "invalid_message"}
        )
        == 2
    )

    # Offsets were committed: a new member of the same group gets nothing again.
    producer.send(topics.articles, key=b"a3", value=encode(_article(3))).get(timeout=10)
    again: list[str] = []
    loop2 = ConsumerLoop(
        consumer=bus.consumer(group, topics.articles),
        producer=producer,
        deadletter=DeadLetter(producer, topics.deadletter),
        topic=topics.articles,
        model=Article,
        handle=lambda a: again.append(a.id),
        metrics=metrics,
    )
    deadline = time.monotonic() + 20
    while "a3" not in again and time.monotonic() < deadline:
        loop2.poll_once(timeout_ms=200)
    producer.close()
    assert again == ["a3"]


@pytest.mark.tansu
def test_broker_refuses_a_port_in_use(broker: BrokerUnderTest) -> None:
    assert broker.embedded is not None
    port = broker.embedded.port
    with pytest.raises(BrokerError, match=f"port {port} .* already in use"):
        EmbeddedBroker(port=port).start()


@pytest.mark.tansu
def test_broker_stops_cleanly() -> None:
    b = EmbeddedBroker().start()
    assert b.alive()
    b.stop()
    assert not b.alive()


def test_publishers_acknowledged_at_once_share_one_look_at_the_topic_ids(
    broker: BrokerUnderTest, unique: str
) -> None:
    """Group commit of the after-ack topic check: each caller's answer comes from a look started after
    its call, and callers arriving together share looks (fewer round trips than callers)."""
    from monitor.bus.identity import TopicIdentity

    bus = broker.bus(unique)
    bus.ensure_topics()
    topic = bus.settings.topics.articles
    identity = TopicIdentity(bus)
    looks: list[tuple[float, float]] = []
    real_current = identity.current

    def current(topics: object) -> dict[str, str | None] | None:
        started = time.monotonic()
        ids = real_current(topics)  # type: ignore[arg-type]
        looks.append((started, time.monotonic()))
        return ids

    identity.current = current  # type: ignore[method-assign]
    calls: list[tuple[float, set[str] | None]] = []
    lock = threading.Lock()
    gate = threading.Barrier(16)

    def publisher() -> None:
        gate.wait()
        for _ in range(5):
            called = time.monotonic()
            changed = identity.changed([topic])
            with lock:
                calls.append((called, changed))

    threads = [threading.Thread(target=publisher) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    identity.close()
    assert len(calls) == 80
    assert all(changed == set() for _, changed in calls), "the topic is there and was never re-created"
    assert len(looks) < len(calls), f"{len(looks)} looks for {len(calls)} callers: none shared"
    for called, _ in calls:
        assert any(started >= called for started, _ in looks), "every answer comes from a later look"
