"""Apache Kafka faults under a live stream: brokers killed, restarted, frozen; services joining and leaving.

Only in the Apache Kafka run (``--broker=kafka``, `make test-kafka`). Topics have 3 replicas and
``min.insync.replicas`` 2, so one broker may be away at any time without a write being lost; newsmon's
producers wait for all in-sync replicas (``acks=all``). Each test streams stories through real matcher
and alerter processes while the fault happens and checks the SMTP server: every story's alert exactly
once, no more, no less.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fixtures.brokers import BrokerUnderTest, topic_settings
from tests.fixtures.rig import Rig, Stream, owning, subject
from tests.fixtures.smtp import Inbox, smtp_server
from tests.kafka_cluster import KafkaCluster, Node

pytestmark = pytest.mark.kafka

# How long one broker stays away in test_one_broker_away_for_a_minute (the issue asks for 60 s).
AWAY_S = 60
_BUS_ERRORS = "newsmon_bus_errors_total"


def _topics(unique: str) -> list[str]:
    t = topic_settings(unique)
    return [t.articles, t.matches, t.alerts, t.deadletter]


@contextmanager
def _restored(cluster: KafkaCluster) -> Iterator[None]:
    """Whatever the test did to the brokers, leave all three running and serving."""
    try:
        yield
    finally:
        for node in cluster.nodes:
            pid = cluster.pid(node)
            if pid is not None:
                os.kill(pid, signal.SIGCONT)  # a frozen broker (SIGSTOP) thaws; a running one ignores it
        cluster.start()


def _received(inbox: Inbox, k: int) -> bool:
    return len(inbox.snapshot()) >= k


def _check_each_alert_once(inbox: Inbox, rig: Rig, n: int) -> None:
    context = rig.diagnostics()
    assert inbox.duplicates() == {}, context
    assert sorted(inbox.snapshot()) == sorted(subject(k) for k in range(n)), context


def _leader_of_articles(cluster: KafkaCluster, unique: str) -> Node:
    """Return the broker that leads partition 0 of the test's articles topic."""
    leader, _isr = cluster.partitions([topic_settings(unique).articles])[(topic_settings(unique).articles, 0)]
    return cluster.node(leader)


def test_a_partition_leader_killed_mid_stream_each_alert_arrives_once(
    broker: BrokerUnderTest, kafka_cluster: KafkaCluster, tmp_path: Path, unique: str
) -> None:
    n = 40
    with _restored(kafka_cluster), smtp_server() as (inbox, smtp_port):
        rig = Rig(tmp_path, unique, smtp_port)
        rig.use_broker(broker)
        alert, match = rig.start("alert"), rig.start("match")
        try:
            rig.wait_for("both owning", owning(alert, match), 180, alert, match)
        except AssertionError:
            rig.stop_all()
            raise
        with Stream(broker, unique, n, per_s=2, partitions=3) as stream:
            try:
                rig.wait_for("5 alerts", lambda: _received(inbox, 5), 90, alert, match)
                victim = _leader_of_articles(kafka_cluster, unique)
                kafka_cluster.kill_node(victim)  # SIGKILL: no controlled shutdown, no flush
                assert stream.sent < n, "the leader was killed mid-stream"
                rig.wait_for(f"all {n} alerts", lambda: _received(inbox, n), 240, alert, match)
                time.sleep(3)  # long enough for a second copy of anything to show up
            finally:
                codes = rig.stop_all()
    _check_each_alert_once(inbox, rig, n)
    assert codes == {"alert": 0, "match": 0}, rig.diagnostics()


def test_a_rolling_restart_of_all_three_brokers_mid_stream_each_alert_arrives_once(
    broker: BrokerUnderTest, kafka_cluster: KafkaCluster, tmp_path: Path, unique: str
) -> None:
    n = 60
    topics = _topics(unique)
    with _restored(kafka_cluster), smtp_server() as (inbox, smtp_port):
        rig = Rig(tmp_path, unique, smtp_port)
        rig.use_broker(broker)
        alert, match = rig.start("alert"), rig.start("match")
        try:
            rig.wait_for("both owning", owning(alert, match), 180, alert, match)
        except AssertionError:
            rig.stop_all()
            raise
        with Stream(broker, unique, n, per_s=1, partitions=3) as stream:
            try:
                rig.wait_for("5 alerts", lambda: _received(inbox, 5), 90, alert, match)
                assert stream.sent < n, "the restarts began mid-stream"
                for node in kafka_cluster.nodes:
                    # As an operator does it: one broker at a time, the next once every replica is back.
                    kafka_cluster.stop_node(node)
                    kafka_cluster.start_node(node)
                    kafka_cluster.wait_ready(180, nodes=[node])
                    kafka_cluster.wait_in_sync(topics, 180)
                rig.wait_for(f"all {n} alerts", lambda: _received(inbox, n), 240, alert, match)
                time.sleep(3)
            finally:
                codes = rig.stop_all()
    _check_each_alert_once(inbox, rig, n)
    assert codes == {"alert": 0, "match": 0}, rig.diagnostics()


def test_one_broker_away_for_a_minute_mid_stream_each_alert_arrives_once(
    broker: BrokerUnderTest, kafka_cluster: KafkaCluster, tmp_path: Path, unique: str
) -> None:
    """The broker is frozen (SIGSTOP), not stopped: its connections stay open and nothing answers on them.

    That is how a broker cut off by the network, or stalled, looks to its clients: harder than a refused
    connection, since every request to it has to time out first.
    """
    n = 50
    with _restored(kafka_cluster), smtp_server() as (inbox, smtp_port):
        rig = Rig(tmp_path, unique, smtp_port)
        rig.use_broker(broker)
        alert, match = rig.start("alert"), rig.start("match")
        try:
            rig.wait_for("both owning", owning(alert, match), 180, alert, match)
        except AssertionError:
            rig.stop_all()
            raise
        with Stream(broker, unique, n, per_s=1, partitions=3) as stream:
            try:
                rig.wait_for("5 alerts", lambda: _received(inbox, 5), 90, alert, match)
                victim = _leader_of_articles(kafka_cluster, unique)
                pid = kafka_cluster.pid(victim)
                assert pid is not None
                os.kill(pid, signal.SIGSTOP)
                time.sleep(AWAY_S)
                assert stream.sent < n, "the broker was away mid-stream"
                os.kill(pid, signal.SIGCONT)
                rig.wait_for(f"all {n} alerts", lambda: _received(inbox, n), 240, alert, match)
                time.sleep(3)
            finally:
                codes = rig.stop_all()
    _check_each_alert_once(inbox, rig, n)
    assert codes == {"alert": 0, "match": 0}, rig.diagnostics()


def test_three_matchers_and_two_alerters_joining_and_leaving_each_alert_arrives_once(
    broker: BrokerUnderTest, tmp_path: Path, unique: str
) -> None:
    """Members join and leave (SIGTERM: they leave the group) mid-stream: rebalance after rebalance.

    The two alerters share one outbox, as replicas on one host share a volume (docker-compose.yml).
    """
    n = 120  # two minutes of stream: the joins and leaves below take a while on a busy machine
    with smtp_server() as (inbox, smtp_port):
        rig = Rig(tmp_path, unique, smtp_port, partitions=6)
        rig.use_broker(broker)
        alerts = [rig.start("alert", name="alert-0")]
        matchers = [rig.start("match", name="match-0")]
        try:
            rig.wait_for(
                "the first members owning",
                owning(alerts[0], matchers[0]),
                180,
            )
        except AssertionError:
            rig.stop_all()
            raise
        with Stream(broker, unique, n, per_s=1, partitions=6) as stream:
            try:
                rig.wait_for("4 alerts", lambda: _received(inbox, 4), 90, *alerts, *matchers)
                matchers.append(rig.start("match", name="match-1"))
                alerts.append(rig.start("alert", name="alert-1"))
                matchers.append(rig.start("match", name="match-2"))
                rig.wait_for("every matcher owning partitions", owning(*matchers), 120)
                assert stream.sent < n, "the members joined mid-stream"
                leaving = [matchers.pop(0), alerts.pop(0)]  # the first of each leaves: its work moves
                for proc in leaving:
                    proc.signal(signal.SIGTERM)
                    assert proc.wait(30) == 0, proc.tail()
                assert stream.sent < n, "the members left mid-stream"
                rig.wait_for("20 alerts", lambda: _received(inbox, 20), 90, *alerts, *matchers)
                matchers.append(rig.start("match", name="match-3"))  # and one more joins
                rig.wait_for(f"all {n} alerts", lambda: _received(inbox, n), 240, *alerts, *matchers)
                time.sleep(3)
                # The check for a stale position (a tansu restart) never fires on Kafka's rebalances.
                rewinds = sum(p.metric(_BUS_ERRORS, {"operation": "rewind"}) for p in [*alerts, *matchers])
            finally:
                codes = rig.stop_all()
    _check_each_alert_once(inbox, rig, n)
    assert set(codes.values()) == {0}, codes
    assert rewinds == 0, rig.diagnostics()
