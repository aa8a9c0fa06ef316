"""SIGTERM stops a service within a bounded time: its batch is finished, or left uncommitted and redone.

Orchestrators send SIGTERM and, after a grace period, SIGKILL; a service that overstays it is killed
mid-work, so stopping must be quick even while the broker is away. What a stopped service had not
finished must be done by its successor, once.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from monitor.demo.serve import LocalFeedServer
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.rig import SEED, Proc, Rig, Stream, owning, subject
from tests.fixtures.smtp import smtp_server

GRACE_S = 10.0  # Kubernetes gives 30 s by default; we promise a third of it


def _terminated(proc: Proc) -> float:
    """SIGTERM ``proc``; return how long it took to exit, after checking it exited cleanly."""
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    code = proc.wait(GRACE_S + 20)
    took = time.monotonic() - started
    assert code == 0, f"{proc.name} exited with {code}:\n{proc.tail()}"
    return took


def test_sigterm_mid_stream_stops_each_service_quickly_and_its_successor_finishes_the_work(
    broker: BrokerUnderTest, tmp_path: Path, unique: str
) -> None:
    rng = random.Random(SEED)
    n = 50
    stop_match_at, stop_alert_after = rng.randint(4, 8), rng.randint(2, 5)
    with smtp_server() as (inbox, smtp_port):
        rig = Rig(tmp_path, unique, smtp_port)
        rig.use_broker(broker)
        alert, match = rig.start("alert"), rig.start("match")
        # Only once both own partitions: on a loaded machine, loading spaCy and joining can outlast the
        # whole stream (25 s at 2/s), and then nothing would be mid-stream when the service is stopped.
        try:
            rig.wait_for(
                "both services owning partitions",
                owning(alert, match),
                90,
                alert,
                match,
            )
        except AssertionError:
            rig.stop_all()  # no service left running after a failed start
            raise
        # 25 s of stream: a restarted matcher must rejoin (on Apache Kafka after the group's 3 s initial
        # rebalance delay) and alert again before the alerter is stopped, still mid-stream.
        with Stream(broker, unique, n, per_s=2, partitions=3) as stream:
            try:
                rig.wait_for("alerts", lambda: len(inbox.snapshot()) >= stop_match_at, 60, alert, match)
                match_took = _terminated(match)
                assert stream.sent < n, "stopped mid-stream"
                match = rig.start("match")
                stop_alert_at = len(inbox.snapshot()) + stop_alert_after
                rig.wait_for("alerts", lambda: len(inbox.snapshot()) >= stop_alert_at, 60, alert, match)
                alert_took = _terminated(alert)
                assert stream.sent < n, "stopped mid-stream"
                alert = rig.start("alert")
                rig.wait_for(f"all {n} alerts", lambda: len(inbox.snapshot()) >= n, 90, alert, match)
                time.sleep(3)
            finally:
                rig.stop_all()

    assert match_took < GRACE_S, f"the matcher took {match_took:.1f} s to stop"
    assert alert_took < GRACE_S, f"the alerter took {alert_took:.1f} s to stop"
    assert inbox.duplicates() == {}, rig.diagnostics()
    assert sorted(inbox.snapshot()) == sorted(subject(k) for k in range(n)), rig.diagnostics()


def test_sigterm_while_the_broker_is_away_stops_quickly_and_loses_nothing(
    own_broker: BrokerUnderTest, tmp_path: Path, unique: str
) -> None:
    broker = own_broker
    with smtp_server() as (inbox, smtp_port), LocalFeedServer(tmp_path / "site") as site:
        rig = Rig(tmp_path, unique, smtp_port)
        rig.use_broker(broker)
        rig.serve_feed(site.url("wire.xml"), range(0, 3))
        services = [rig.start("alert"), rig.start("match"), rig.start("ingest")]
        try:
            rig.wait_for("the first alerts", lambda: len(inbox.snapshot()) >= 3, 60, *services)
            broker.stop()
            rig.publish(range(0, 6))  # the ingestor fetches these and cannot publish them
            time.sleep(3)
            took = {p.name: _terminated(p) for p in services}

            # Back (tansu: empty): what the ingestor could not publish was never marked seen.
            broker.start()
            services = [rig.start("alert"), rig.start("match"), rig.start("ingest")]
            rig.wait_for("the stories of the outage", lambda: len(inbox.snapshot()) >= 6, 60, *services)
            time.sleep(3)
        finally:
            codes = rig.stop_all()

    slow = {name: round(s, 1) for name, s in took.items() if s >= GRACE_S}
    assert not slow, f"took longer than {GRACE_S} s to stop with the broker away: {slow}"
    assert inbox.duplicates() == {}, rig.diagnostics()
    assert sorted(inbox.snapshot()) == sorted(subject(k) for k in range(6)), rig.diagnostics()
    assert set(codes.values()) == {0}, codes
