"""Bus throughput on the embedded broker: produce and consume articles of ~3-4 KB JSON."""

from __future__ import annotations

import time

from bench.corpus import make_corpus
from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.settings import KafkaSettings


def bench_bus(n: int = 3000) -> dict[str, float]:
    """Return produce and consume rates (messages/s) for ``n`` articles."""
    values = [encode(a) for a in make_corpus(n)]
    with EmbeddedBroker() as broker:
        bus = Bus(tuple(broker.bootstrap_servers), KafkaSettings(), embedded=True)
        bus.ensure_topics()
        producer = bus.producer()
        started = time.perf_counter()
        for i, v in enumerate(values):
            producer.send("articles", key=str(i).encode(), value=v)
        producer.flush()
        produce_s = time.perf_counter() - started
        producer.close()
        consumer = bus.consumer("bench", "articles", max_poll_records=500)
        got = 0
        started = time.perf_counter()
        deadline = started + 120
        first: float | None = None
        while got < n and time.perf_counter() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                if first is None:
                    first = time.perf_counter()
                got += len(records)
        consume_s = time.perf_counter() - (first or started)
        join_s = (first or started) - started
        consumer.close()
    return {
        "messages": n,
        "value_bytes_avg": sum(map(len, values)) / n,
        "produce_msg_per_s": n / produce_s,
        "consume_msg_per_s": got / consume_s if consume_s else 0.0,
        "group_join_s": join_s,
    }
