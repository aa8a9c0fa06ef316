"""Bus throughput on the embedded broker, and on Apache Kafka: produce and consume articles of ~3-4 KB JSON.

``python -m bench bus_kafka`` runs the same passes on the 3-broker cluster of `make kafka` (replication
factor 3, ``min.insync.replicas`` 2, so each acknowledged write is on two brokers at least); it is not
part of the default run, which needs no Java.

Each run writes to topics of its own and reads them back twice: with partitions assigned by hand
(no group: the read rate alone) and with a fresh consumer group (the time to its first message, which
is mostly the group join). Every run does the same work; figures are the medians of the runs.
"""

from __future__ import annotations

import statistics
import time
import uuid

from kafka import KafkaConsumer, TopicPartition

from bench.corpus import make_corpus
from bench.results import Figure
from bench.targets import kafka_cluster
from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.settings import KafkaSettings, TopicSettings

__all__ = ["bench_bus", "figures", "kafka_figures"]


def _run(
    bootstrap: tuple[str, ...], values: list[bytes], run: int, kafka: bool = False
) -> tuple[float, float, float]:
    """Return (produce s, consume s, group join s) of one pass over fresh topics."""
    suffix = f"{run}-{uuid.uuid4().hex[:6]}" if kafka else str(run)  # a cluster keeps earlier runs' topics
    topics = TopicSettings(
        articles=f"bench-articles-{suffix}",
        matches=f"bench-matches-{suffix}",
        alerts=f"bench-alerts-{suffix}",
        deadletter=f"bench-deadletter-{suffix}",
    )
    if kafka:
        settings = KafkaSettings(topics=topics, replication_factor=3, min_insync_replicas=2)
    else:
        settings = KafkaSettings(topics=topics)
    bus = Bus(bootstrap, settings, embedded=not kafka)
    bus.ensure_topics()
    producer = bus.producer()
    started = time.perf_counter()
    for i, v in enumerate(values):
        producer.send(topics.articles, key=str(i).encode(), value=v)
    producer.flush()
    produce_s = time.perf_counter() - started
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=list(bootstrap), enable_auto_commit=False, max_poll_records=500
    )
    partitions = consumer.partitions_for_topic(topics.articles) or set()  # metadata: outside the timing
    consumer.assign([TopicPartition(topics.articles, p) for p in partitions])
    consumer.seek_to_beginning()
    got = 0
    started = time.perf_counter()
    deadline = started + 120
    while got < len(values) and time.perf_counter() < deadline:
        got += sum(len(records) for records in consumer.poll(timeout_ms=200).values())
    consume_s = time.perf_counter() - started
    consumer.close()
    if got < len(values):
        raise RuntimeError(f"bus bench: consumed {got} of {len(values)} messages within 120 s")
    grouped = bus.consumer(f"bench-{suffix}", topics.articles, max_poll_records=500)
    started = time.perf_counter()
    while time.perf_counter() < deadline and not any(grouped.poll(timeout_ms=200).values()):
        pass
    join_s = time.perf_counter() - started
    grouped.close()
    return produce_s, consume_s, join_s


def bench_bus(n: int = 3000, runs: int = 3, kafka: bool = False) -> dict[str, float]:
    """Return produce and consume rates (messages/s) for ``n`` articles, medians of ``runs`` passes.

    ``kafka``: on the Apache Kafka cluster of `make kafka` (started and stopped here if it is not
    running), else on an embedded broker of its own.
    """
    values = [encode(a) for a in make_corpus(n)]
    passes = []
    if kafka:
        with kafka_cluster() as bootstrap:
            for run in range(runs):
                passes.append(_run(bootstrap, values, run, kafka=True))
    else:
        with EmbeddedBroker() as broker:
            for run in range(runs):
                passes.append(_run(tuple(broker.bootstrap_servers), values, run))
    return {
        "messages": n,
        "value_bytes_avg": sum(map(len, values)) / n,
        "produce_msg_per_s": statistics.median(n / p for p, _, _ in passes),
        "consume_msg_per_s": statistics.median(n / c for _, c, _ in passes if c),
        "group_join_s": statistics.median(j for _, _, j in passes),
    }


def figures(quick: bool = False, runs: int = 3) -> list[Figure]:
    """Run the bus benchmark and return its figures."""
    r = bench_bus(500 if quick else 3000, runs)
    what = f"{r['messages']:,.0f} articles of {r['value_bytes_avg'] / 1000:.1f} KB JSON, embedded tansu"
    return [
        Figure(
            "bus_produce_msg_per_s",
            r["produce_msg_per_s"],
            "msg/s",
            f"kafka-python producer (acks=all, linger 20 ms, C crc32c), {what}, flushed at the end",
        ),
        Figure(
            "bus_consume_msg_per_s",
            r["consume_msg_per_s"],
            "msg/s",
            f"one consumer, partitions assigned by hand (no group), reading a topic from its start, {what}",
        ),
        Figure(
            "bus_group_join_s",
            r["group_join_s"],
            "s",
            "consumer in a fresh group created to its first message (the group join, with the embedded"
            " broker's 2 s session timeout)",
        ),
    ]


def kafka_figures(quick: bool = False, runs: int = 3) -> list[Figure]:
    """Run the bus benchmark on the Apache Kafka cluster of `make kafka` and return its figures."""
    r = bench_bus(500 if quick else 3000, runs, kafka=True)
    what = (
        f"{r['messages']:,.0f} articles of {r['value_bytes_avg'] / 1000:.1f} KB JSON, Apache Kafka "
        "(3 brokers on this machine, replication factor 3, min.insync.replicas 2)"
    )
    return [
        Figure(
            "bus_produce_msg_per_s_kafka",
            r["produce_msg_per_s"],
            "msg/s",
            f"kafka-python producer (acks=all, linger 20 ms, C crc32c), {what}, flushed at the end",
        ),
        Figure(
            "bus_consume_msg_per_s_kafka",
            r["consume_msg_per_s"],
            "msg/s",
            f"one consumer, partitions assigned by hand (no group), reading a topic from its start, {what}",
        ),
        Figure(
            "bus_group_join_s_kafka",
            r["group_join_s"],
            "s",
            "consumer in a fresh group created to its first message (the group join: kafka-python's"
            " default timeouts, the broker's 3 s group.initial.rebalance.delay.ms)",
        ),
    ]
