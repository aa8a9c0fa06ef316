"""A 3-broker Apache Kafka cluster on loopback (KRaft, each node broker and controller) for `make kafka`.

``python -m tests.kafka_cluster start|stop|status|clean`` is what `make kafka` and `make kafka-stop` run;
the Apache Kafka test run (``pytest --broker=kafka``) drives the same class to kill and restart brokers.

The server jars come from Maven (``deploy/kafka/pom.xml``, whose ``kafka.version`` is the version
docker-compose.yml and deploy/k8s run) into ``var/kafka/<version>/libs``; configuration, data and logs
go to ``var/kafka/cluster`` (gitignored). Brokers run in sessions of their own and outlive the command
that started them; their pids are in ``var/kafka/cluster/broker-N.pid``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from monitor.bus.connection import Bus
from monitor.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[1]
POM = REPO / "deploy" / "kafka" / "pom.xml"
HOME = REPO / "var" / "kafka"
HOST = "127.0.0.1"
CLUSTER_ID = "bmV3c21vbi1rYWZrYS0xNA"  # any 22-character base64 id; fixed so the data stays valid
BASE_PORT = int(os.environ.get("NEWSMON_KAFKA_BASE_PORT", "19092"))
SIZE = 3
REPLICATION = 3
MIN_INSYNC = 2
_HEAP = os.environ.get("NEWSMON_KAFKA_HEAP", "-Xms256m -Xmx768m")

_LOG4J = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def kafka_version() -> str:
    """Return the Apache Kafka version the project runs (``kafka.version`` in deploy/kafka/pom.xml)."""
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text(encoding="utf-8"))
    if found is None:
        raise RuntimeError(f"{POM}: no <kafka.version> property")
    return found.group(1)


def fetch(home: Path = HOME) -> Path:
    """Copy the server jars and their runtime dependencies with Maven (once); return their folder."""
    version = kafka_version()
    libs = home / version / "libs"
    if (libs / f"kafka_2.13-{version}.jar").is_file():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("make kafka needs Maven (mvn) and Java 17+: apt-get install maven openjdk-17-jre")
    partial = libs.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        check=True,
    )
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    return libs


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class Node:
    """One broker+controller: its id and loopback ports."""

    id: int
    port: int
    controller_port: int

    @property
    def address(self) -> str:
        """Return the address clients connect to."""
        return f"{HOST}:{self.port}"


class KafkaCluster:
    """Start, stop, kill and inspect the brokers of the cluster under ``home``."""

    def __init__(self, home: Path = HOME, base_port: int = BASE_PORT, size: int = SIZE) -> None:
        self.home = home
        self.run_dir = home / "cluster"
        self.nodes = [Node(i, base_port + i - 1, base_port + 100 + i - 1) for i in range(1, size + 1)]

    @property
    def bootstrap_servers(self) -> list[str]:
        """Return every broker's address."""
        return [n.address for n in self.nodes]

    def node(self, node_id: int) -> Node:
        """Return the node with id ``node_id``."""
        return next(n for n in self.nodes if n.id == node_id)

    # -- files ----------------------------------------------------------------------------------------

    def _pid_file(self, node: Node) -> Path:
        return self.run_dir / f"broker-{node.id}.pid"

    def _config(self, node: Node) -> Path:
        return self.run_dir / f"broker-{node.id}.properties"

    def log_file(self, node: Node) -> Path:
        """Return the broker's own log (log4j)."""
        return self.run_dir / "logs" / f"broker-{node.id}" / "server.log"

    def _write_config(self, node: Node) -> Path:
        voters = ",".join(f"{n.id}@{HOST}:{n.controller_port}" for n in self.nodes)
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": self.run_dir / "data" / f"broker-{node.id}",
            "num.partitions": 3,
            "default.replication.factor": REPLICATION,
            "min.insync.replicas": MIN_INSYNC,
            "offsets.topic.replication.factor": REPLICATION,
            # 50 by default: creating them on a small shared machine delays the first group by seconds.
            "offsets.topic.num.partitions": 6,
            "transaction.state.log.replication.factor": REPLICATION,
            "transaction.state.log.min.isr": MIN_INSYNC,
            "auto.create.topics.enable": "false",
            # A clean shutdown moves leadership away first; unclean election stays off (no data loss).
            "controlled.shutdown.enable": "true",
            "unclean.leader.election.enable": "false",
            # Small segments and indexes: the tests make many short-lived topics on a small disk.
            "log.segment.bytes": 16 * 1024 * 1024,
            "log.index.size.max.bytes": 1024 * 1024,
            "num.network.threads": 2,
            "num.io.threads": 2,
            "background.threads": 2,
            "num.recovery.threads.per.data.dir": 1,
        }
        path = self._config(node)
        path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
        return path

    # -- processes ------------------------------------------------------------------------------------

    def pid(self, node: Node) -> int | None:
        """Return the pid of the broker's running process, or None."""
        try:
            pid = int(self._pid_file(node).read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self, node: Node) -> bool:
        """Return whether the broker's process runs."""
        return self.pid(node) is not None

    def _java(
        self, libs: Path, main: str, *args: str, heap: str = _HEAP, logs: Path | None = None
    ) -> list[str]:
        props = [f"-Dlog4j2.configurationFile={self.run_dir / 'log4j2.properties'}"]
        if logs is not None:
            props.append(f"-Dkafka.logs.dir={logs}")
        return [
            "java",
            *heap.split(),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            *props,
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def start_node(self, node: Node, libs: Path | None = None) -> None:
        """Start one broker (formatting its storage the first time); return without waiting for it."""
        if self.running(node):
            return
        libs = libs or fetch(self.home)
        if _listening(node.port) or _listening(node.controller_port):
            raise RuntimeError(
                f"port {node.port} or {node.controller_port} on {HOST} is in use by another program "
                "(set NEWSMON_KAFKA_BASE_PORT to move the cluster)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "log4j2.properties").write_text(_LOG4J, encoding="utf-8")
        config = self._write_config(node)
        logs = self.run_dir / "logs" / f"broker-{node.id}"
        logs.mkdir(parents=True, exist_ok=True)
        if not (self.run_dir / "data" / f"broker-{node.id}" / "meta.properties").is_file():
            subprocess.run(
                self._java(
                    libs,
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    CLUSTER_ID,
                    "--config",
                    str(config),
                    "--ignore-formatted",
                    heap="-Xmx256m",
                    logs=logs,
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        # Through sh, in the background: the broker is no child of ours (nothing to reap, no zombie after
        # a kill, no warning about a child still running when a test process ends), in a session of
        # its own (a terminal's Ctrl-C does not reach it), and it outlives `make kafka`.
        launched = subprocess.run(
            [
                "sh",
                "-c",
                'setsid "$@" >>"$0" 2>&1 </dev/null & echo $!',
                str(logs / "stdout.log"),
                *self._java(libs, "kafka.Kafka", str(config), logs=logs),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        self._pid_file(node).write_text(launched.stdout.strip(), encoding="utf-8")

    def stop_node(self, node: Node, timeout_s: float = 60.0) -> None:
        """Stop one broker cleanly (SIGTERM: a controlled shutdown); SIGKILL it after ``timeout_s``."""
        pid = self.pid(node)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                self._wait_gone(pid)
        self._pid_file(node).unlink(missing_ok=True)

    def kill_node(self, node: Node) -> None:
        """SIGKILL one broker: no controlled shutdown, no flush."""
        pid = self.pid(node)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid)
        self._pid_file(node).unlink(missing_ok=True)

    @staticmethod
    def _wait_gone(pid: int) -> None:
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self, timeout_s: float = 120.0) -> KafkaCluster:
        """Start every broker not running, wait until the cluster serves, create newsmon's topics."""
        libs = fetch(self.home)
        for node in self.nodes:
            self.start_node(node, libs)
        self.wait_ready(timeout_s)
        self.bus().ensure_topics(timeout_s=60)
        self._wait_group_coordinator(timeout_s)
        return self

    def _wait_group_coordinator(self, timeout_s: float) -> None:
        """Wait until consumer groups work: the first one creates the offsets topic, which takes a while."""
        topic = KafkaSettings().topics.articles
        deadline = time.monotonic() + timeout_s
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id="newsmon-cluster-ready",
            enable_auto_commit=False,
        )
        try:
            while True:
                try:
                    consumer.committed(TopicPartition(topic, 0), timeout_ms=5000)
                    return
                except KafkaError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            consumer.close()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop every broker cleanly, all at once: stopped one by one, the last would wait for a quorum."""
        pids = {node: self.pid(node) for node in self.nodes}
        for pid in pids.values():
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(p is not None and _alive(p) for p in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for node, pid in pids.items():
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
                self._wait_gone(pid)
            self._pid_file(node).unlink(missing_ok=True)

    def clean(self) -> None:
        """Stop the brokers and delete their data, logs and configuration (the jars stay)."""
        self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- readiness and inspection ----------------------------------------------------------------------

    def admin(self, timeout_s: float = 5.0) -> KafkaAdminClient:
        """Return an admin client of the cluster (the caller closes it)."""
        limit_ms = int(timeout_s * 1000)
        return KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id="newsmon-cluster",
            request_timeout_ms=limit_ms,
            bootstrap_timeout_ms=limit_ms,
        )

    def bus(self, settings: KafkaSettings | None = None) -> Bus:
        """Return a bus on this cluster: newsmon's topics, replication factor 3, min.insync.replicas 2."""
        settings = settings or KafkaSettings(replication_factor=REPLICATION, min_insync_replicas=MIN_INSYNC)
        return Bus(tuple(self.bootstrap_servers), settings, embedded=False)

    def brokers_up(self) -> set[int]:
        """Return the ids of the brokers the cluster's metadata lists now (empty: none answers)."""
        try:
            admin = self.admin(2.0)
        except KafkaError:
            return set()
        try:
            described = admin.describe_cluster()
            return {int(b["broker_id"]) for b in described["brokers"] if not b.get("is_fenced")}
        except KafkaError:
            return set()
        finally:
            admin.close()

    def wait_ready(self, timeout_s: float = 120.0, nodes: Iterable[Node] | None = None) -> None:
        """Wait until the brokers of ``nodes`` (default: all) listen and the cluster lists them."""
        want = list(nodes) if nodes is not None else self.nodes
        deadline = time.monotonic() + timeout_s
        while True:
            dead = [n.id for n in want if not self.running(n)]
            if dead:
                raise RuntimeError(f"broker(s) {dead} exited at start:\n{self._tail(self.node(dead[0]))}")
            if all(_listening(n.port) for n in want) and {n.id for n in want} <= self.brokers_up():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster was not ready within {timeout_s:.0f} s")
            time.sleep(0.5)

    def _tail(self, node: Node, chars: int = 3000) -> str:
        out = self.run_dir / "logs" / f"broker-{node.id}" / "stdout.log"
        texts = [p.read_text(errors="replace")[-chars:] for p in (out, self.log_file(node)) if p.is_file()]
        return "\n".join(texts)

    def partitions(self, topics: Iterable[str]) -> dict[tuple[str, int], tuple[int, list[int]]]:
        """Return each partition's leader and in-sync replicas, as (topic, partition) -> (leader, isr)."""
        admin = self.admin()
        try:
            described = admin.describe_topics(sorted(set(topics)))
        finally:
            admin.close()
        return {
            (t["name"], p["partition_index"]): (p["leader_id"], sorted(p["isr_nodes"]))
            for t in described
            for p in t["partitions"]
        }

    def wait_in_sync(self, topics: Iterable[str], timeout_s: float = 120.0) -> None:
        """Wait until every partition of ``topics`` has a leader and all replicas in sync."""
        names = list(topics)
        deadline = time.monotonic() + timeout_s
        state: dict[tuple[str, int], tuple[int, list[int]]] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(KafkaError):
                state = self.partitions(names)
                if state and all(leader >= 0 and len(isr) == SIZE for leader, isr in state.values()):
                    return
            time.sleep(0.5)
        raise RuntimeError(f"partitions not in sync within {timeout_s:.0f} s: {state}")

    def status(self) -> str:
        """Return one line per broker: id, address, pid or 'stopped'."""
        return "\n".join(
            f"broker {n.id} {n.address} {'pid ' + str(self.pid(n)) if self.running(n) else 'stopped'}"
            for n in self.nodes
        )


def main(argv: list[str] | None = None) -> int:
    """Run ``start``, ``stop``, ``status``, ``clean`` or ``fetch`` on the cluster."""
    parser = argparse.ArgumentParser(prog="python -m tests.kafka_cluster", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "clean", "fetch"])
    args = parser.parse_args(argv)
    cluster = KafkaCluster()
    started = time.monotonic()
    if args.command == "fetch":
        print(fetch())
    elif args.command == "start":
        cluster.start()
        print(f"Apache Kafka {kafka_version()} ready in {time.monotonic() - started:.0f} s")
        print(cluster.status())
        print(f"bootstrap: {','.join(cluster.bootstrap_servers)}; stop with `make kafka-stop`")
    elif args.command == "stop":
        cluster.stop()
        print(cluster.status())
    elif args.command == "clean":
        cluster.clean()
    else:
        print(cluster.status())
    return 0


if __name__ == "__main__":
    sys.exit(main())
