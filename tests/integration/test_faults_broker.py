"""The broker goes away mid-stream and comes back: every service survives and carries on.

tansu keeps everything in memory, so a restarted broker has no topics, no groups and no offsets. The
services must not crash or hang while it is away, must re-create the topics when it is back, and must
go on with new articles; what they had already delivered must not be delivered again. On Apache Kafka
(``--broker=kafka``) the whole cluster is stopped and started again, with its data: nothing to re-create.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from monitor.demo.serve import LocalFeedServer
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.rig import Rig, subject
from tests.fixtures.smtp import smtp_server


def test_services_survive_a_broker_restart_and_carry_on_with_new_articles(
    own_broker: BrokerUnderTest, tmp_path: Path, unique: str
) -> None:
    broker = own_broker
    with smtp_server() as (inbox, smtp_port), LocalFeedServer(tmp_path / "site") as site:
        rig = Rig(tmp_path, unique, smtp_port)
        rig.use_broker(broker)
        rig.serve_feed(site.url("wire.xml"), range(0, 4))
        alert = rig.start("alert")
        match = rig.start("match")
        ingest = rig.start("ingest")
        services = (alert, match, ingest)
        try:
            rig.wait_for("the first 4 alerts", lambda: len(inbox.snapshot()) >= 4, 60, *services)

            broker.stop()  # tansu: everything it held is gone (topics, groups, offsets); Kafka keeps it
            rig.publish(range(0, 8))  # news keeps coming while the broker is away
            time.sleep(4)  # several polls, commits and heartbeats fail meanwhile
            for proc in services:
                assert proc.alive(), f"{proc.name} died with the broker away:\n{proc.tail()}"

            broker.start()  # same port; tansu comes back empty
            rig.wait_for("the 4 alerts of the outage", lambda: len(inbox.snapshot()) >= 8, 60, *services)
            rig.publish(range(0, 12))  # and the pipeline goes on with what comes after
            rig.wait_for("4 more alerts", lambda: len(inbox.snapshot()) >= 12, 60, *services)
            time.sleep(3)  # long enough for a second copy of anything to show up
            recreated = sum(p.metric("newsmon_bus_topics_recreated_total") for p in services)
        finally:
            codes = rig.stop_all()

    assert sorted(inbox.snapshot()) == sorted(subject(n) for n in range(12)), rig.diagnostics()
    assert inbox.duplicates() == {}
    if broker.keeps_data:
        assert recreated == 0, "Apache Kafka kept every topic: nothing to re-create"
    else:
        assert recreated >= 4, "the services re-created the 4 topics the restarted broker had lost"
    assert codes == {"alert": 0, "match": 0, "ingest": 0}, rig.diagnostics()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@pytest.mark.tansu
def test_newsmon_run_restarts_its_embedded_broker_when_it_dies(tmp_path: Path, unique: str) -> None:
    with smtp_server() as (inbox, smtp_port), LocalFeedServer(tmp_path / "site") as site:
        rig = Rig(tmp_path, unique, smtp_port)
        rig.serve_feed(site.url("wire.xml"), range(0, 3))
        run = rig.start("run")  # embedded_port 0: it picks the port, and restarts the broker on it
        try:
            rig.wait_for("the first 3 alerts", lambda: len(inbox.snapshot()) >= 3, 60, run)
            brokers = _children(run.popen.pid)
            assert len(brokers) == 1, brokers
            os.kill(brokers[0], signal.SIGKILL)  # the broker crashes; newsmon itself is fine

            rig.publish(range(0, 6))
            rig.wait_for("3 alerts after the crash", lambda: len(inbox.snapshot()) >= 6, 60, run)
            time.sleep(2)
            restarts = run.metric("newsmon_embedded_broker_restarts_total")
            after = _children(run.popen.pid)
        finally:
            codes = rig.stop_all()

    assert sorted(inbox.snapshot()) == sorted(subject(n) for n in range(6)), rig.diagnostics()
    assert restarts == 1
    assert len(after) == 1, after
    assert after != brokers, "a new broker runs in place of the dead one"
    assert codes == {"run": 0}, rig.diagnostics()
