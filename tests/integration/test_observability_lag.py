"""Consumer lag per partition on the real broker: how far behind, only for the partitions a member owns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from monitor.bus.connection import Bus
from monitor.bus.consumer import ConsumerLoop
from monitor.bus.deadletter import DeadLetter
from monitor.bus.serde import encode
from monitor.metrics import Metrics
from monitor.models import Article
from tests.fixtures.brokers import BrokerUnderTest

_MESSAGES = 10


def _loop(bus: Bus, metrics: Metrics, group: str, handle: Callable[[Article], None]) -> ConsumerLoop[Article]:
    producer = bus.producer()
    topic = bus.settings.topics.articles
    return ConsumerLoop(
        consumer=bus.consumer(group, topic, max_poll_records=1),
        producer=producer,
        deadletter=DeadLetter(producer, bus.settings.topics.deadletter),
        topic=topic,
        model=Article,
        handle=handle,
        metrics=metrics,
    )


def _lag(metrics: Metrics) -> dict[str, float]:
    return {
        s.labels["partition"]: s.value
        for f in metrics.registry.collect()
        if f.name == "newsmon_consumer_lag_messages"
        for s in f.samples
    }


def test_lag_counts_down_as_messages_are_handled(broker: BrokerUnderTest, unique: str) -> None:
    bus = broker.bus(unique)
    bus.ensure_topics()
    producer = bus.producer()
    for n in range(_MESSAGES):
        # One batch per message: tansu reports the high watermark as the start of the last batch + 1.
        article = Article(id=f"a{n}", feed_id="f", url=f"https://example.org/{n}", title="t")
        producer.send(bus.settings.topics.articles, value=encode(article), partition=0).get(timeout=10)
    producer.close()

    metrics = Metrics(CollectorRegistry())
    handled: list[str] = []
    loop = _loop(bus, metrics, f"lag-{unique}", lambda a: handled.append(a.id))
    seen: list[float] = []
    deadline = time.monotonic() + 30
    try:
        while len(handled) < _MESSAGES and time.monotonic() < deadline:
            if loop.poll_once(timeout_ms=200) and "0" in _lag(metrics):
                seen.append(_lag(metrics)["0"])
        loop.poll_once(timeout_ms=200)
        final = _lag(metrics)
    finally:
        loop.run(_stopped())  # closes the consumer
    assert len(handled) == _MESSAGES
    assert seen, "no lag was ever reported for partition 0"
    assert max(seen) > 0, seen
    assert seen == sorted(seen, reverse=True), f"lag must only go down while nothing is produced: {seen}"
    assert final["0"] == 0
    assert set(final) == {"0", "1", "2"}, "one member owns every partition: it reports each"


def _stopped() -> threading.Event:
    """Return a set event: ``run()`` then only closes the consumer, leaving the group at once."""
    stop = threading.Event()
    stop.set()
    return stop


def test_a_member_drops_the_partitions_a_rebalance_moves_away(broker: BrokerUnderTest, unique: str) -> None:
    bus = broker.bus(unique)
    bus.ensure_topics()
    group = f"rebalance-{unique}"
    first_metrics, second_metrics = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    first = _loop(bus, first_metrics, group, lambda a: None)
    second = _loop(bus, second_metrics, group, lambda a: None)
    stop = threading.Event()
    thread = threading.Thread(target=first.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while set(_lag(first_metrics)) != {"0", "1", "2"} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(_lag(first_metrics)) == {"0", "1", "2"}

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            second.poll_once(timeout_ms=200)
            mine, theirs = set(_lag(second_metrics)), set(_lag(first_metrics))
            if mine and theirs and not mine & theirs and mine | theirs == {"0", "1", "2"}:
                break
        assert mine, "the second member reports no partition"
        assert not mine & theirs, f"a partition reported by both members: {mine} {theirs}"
        assert mine | theirs == {"0", "1", "2"}
    finally:
        stop.set()
        thread.join(timeout=15)
        second.run(_stopped())
