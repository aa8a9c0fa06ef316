"""Run stages side by side: the embedded broker if needed, topics, the HTTP endpoint, one thread per stage.

A stage that dies takes the process down with a non-zero exit, so a supervisor (systemd, Kubernetes,
docker) restarts it; half a pipeline that looks alive is worse than a visible crash. The broker going
away is not a reason to die: the bus retries (see ``monitor/bus``), the topic keeper re-creates topics a
restarted broker lost, and an embedded broker that dies is started again on its port.

Stopping (SIGTERM, SIGINT) is bounded: every stage finishes or abandons its batch (left uncommitted,
so it is delivered again) and the process ends within ``SHUTDOWN_S`` whatever the broker does.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from prometheus_client import CollectorRegistry

from monitor.alerting.deliver import check_receivers
from monitor.app.http import HttpEndpoint
from monitor.app.stages import Stage, build_alert_stage, build_ingest_stage, build_match_stage
from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.bus.supervisor import BrokerSupervisor
from monitor.bus.topics import TopicKeeper
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.settings import Settings

__all__ = ["SHUTDOWN_S", "STAGES", "connect_bus", "run_stages"]

_log = get_logger(__name__)

STAGES = ("ingest", "match", "alert")
#: Longest a stop waits for the stages; past it the process exits and their work stays uncommitted.
SHUTDOWN_S = 20.0


@contextlib.contextmanager
def connect_bus(
    settings: Settings, closing: threading.Event | None = None, metrics: Metrics | None = None
) -> Iterator[Bus]:
    """Yield the bus: the configured Kafka cluster, or an embedded broker for as long as the context lasts.

    ``closing`` (the process's stop event) tells the bus's retry loops to give up. While the context
    lasts, missing topics are re-created every ``kafka.topic_check_s`` and an embedded broker that dies
    is restarted on its port.
    """
    closing = closing or threading.Event()
    metrics = metrics or Metrics(CollectorRegistry())
    interval = settings.kafka.topic_check_s
    if not settings.embedded_broker:
        bus = Bus(tuple(settings.kafka.bootstrap_servers), settings.kafka, embedded=False, closing=closing)
        bus.ensure_topics()
        keeper = TopicKeeper(bus, metrics, interval).start()
        try:
            yield bus
        finally:
            keeper.stop()
        return
    with EmbeddedBroker(port=settings.kafka.embedded_port, binary=settings.kafka.tansu_bin) as broker:
        bus = Bus(tuple(broker.bootstrap_servers), settings.kafka, embedded=True, closing=closing)
        bus.ensure_topics()
        keeper = TopicKeeper(bus, metrics, interval).start()
        supervisor = BrokerSupervisor(broker, bus, metrics).start()
        try:
            yield bus
        finally:
            supervisor.stop()  # before the broker stops: a stopped broker is not one to restart
            keeper.stop()


def _build(name: str, settings: Settings, bus: Bus, metrics: Metrics, once: bool, console: TextIO) -> Stage:
    if name == "ingest":
        return build_ingest_stage(settings, bus, metrics, once=once)
    if name == "match":
        return build_match_stage(settings, bus, metrics)
    if name == "alert":
        return build_alert_stage(settings, bus, metrics, console=console)
    raise ValueError(f"unknown stage {name!r}; valid stages are {list(STAGES)}")


def run_stages(
    settings: Settings,
    names: Sequence[str] = STAGES,
    *,
    stop: threading.Event | None = None,
    once: bool = False,
    done: Callable[[Metrics], bool] | None = None,
    console: TextIO = sys.stdout,
    metrics: Metrics | None = None,
    on_ready: Callable[[Bus], None] | None = None,
) -> int:
    """Run the named stages until ``stop`` is set, ``done(metrics)`` holds or a stage dies; return exit code.

    ``once`` makes the ingestor poll each feed a single time (the other stages keep going until ``done``).
    """
    if "alert" in names:
        # Like any other invalid setting, a receiver URL apprise cannot use stops newsmon here: before the
        # broker, the endpoint and the stages, not seconds later behind their start-up lines.
        check_receivers(settings.alert)
    stop = stop or threading.Event()
    metrics = metrics or Metrics(CollectorRegistry())
    failures: list[str] = []
    threads: list[threading.Thread] = []

    def ready() -> bool:
        # Not before every stage runs: the matcher loads spaCy for seconds first, and must not get traffic.
        running = all(t.is_alive() or (once and t.name == "ingest") for t in threads)
        return len(threads) == len(names) and not stop.is_set() and running

    def stage_states() -> dict[str, str]:
        alive = {t.name: t.is_alive() for t in threads}
        ended = "done" if once else "stopped"  # `ingest --once` ends by design
        return {n: "starting" if n not in alive else "running" if alive[n] else ended for n in names}

    endpoint = None
    if settings.metrics.enabled:
        # Up before the broker and the stages: a probe then reads "starting", not a refused connection.
        m = settings.metrics
        endpoint = HttpEndpoint(metrics.registry, m.host, m.port, ready, stage_states, port_file=m.port_file)
        endpoint.start()
    try:
        with connect_bus(settings, stop, metrics) as bus:
            stages = [_build(n, settings, bus, metrics, once, console) for n in names]

            def supervise(stage: Stage) -> None:
                try:
                    stage.run(stop)
                except Exception as e:
                    _log.exception("stage.crashed", stage=stage.name)
                    failures.append(f"{stage.name}: {type(e).__name__}: {e}")
                    stop.set()

            for stage in stages:
                t = threading.Thread(target=supervise, args=(stage,), name=stage.name, daemon=True)
                t.start()
                threads.append(t)

            if on_ready is not None:
                on_ready(bus)
            _log.info("pipeline.running", stages=list(names), bootstrap=",".join(bus.bootstrap))
            try:
                while not stop.is_set():
                    if done is not None and done(metrics):
                        break
                    if not any(t.is_alive() for t in threads):
                        break
                    time.sleep(0.1)
            finally:
                stop.set()
                _join(threads, SHUTDOWN_S)
    finally:
        if endpoint is not None:
            endpoint.stop()
    if failures:
        _log.error("pipeline.failed", failures=failures)
        return 1
    return 0


def _join(threads: Sequence[threading.Thread], timeout_s: float) -> None:
    """Wait for ``threads`` for ``timeout_s`` in all; name the ones still running (they are daemons)."""
    deadline = time.monotonic() + timeout_s
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        _log.error(
            "pipeline.stop_timed_out", stages=stuck, timeout_s=timeout_s, note="their work stays uncommitted"
        )
    else:
        _log.info("pipeline.stopped")
