"""Bring the embedded broker back when it dies: same port, topics created again.

``newsmon run`` owns its broker. If tansu crashes (or is killed), the stages would otherwise wait for
ever for a broker nobody restarts; a new one on the same port lets their clients reconnect where they
were. It comes back empty: what it held and no stage had consumed yet is lost (the README's
Guarantees say so; Apache Kafka keeps it).
"""

from __future__ import annotations

import threading

from monitor.bus.broker import EmbeddedBroker
from monitor.bus.connection import Bus
from monitor.errors import BrokerError
from monitor.logs import get_logger
from monitor.metrics import Metrics

__all__ = ["BrokerSupervisor"]

_log = get_logger(__name__)
_RETRY_MAX_S = 10.0


class BrokerSupervisor:
    """Watch ``broker`` every ``interval_s``; restart it on the same port and re-create the topics."""

    def __init__(self, broker: EmbeddedBroker, bus: Bus, metrics: Metrics, interval_s: float = 0.2) -> None:
        self._broker = broker
        self._bus = bus
        self._metrics = metrics
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-supervisor", daemon=True)

    def start(self) -> BrokerSupervisor:
        """Watch in the background until :meth:`stop`."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching, and wait for a restart in progress to end (so the broker can be stopped)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        wait = self._interval_s
        while not self._stop.wait(wait):
            if self._broker.alive():
                wait = self._interval_s
                continue
            _log.error("broker.died", port=self._broker.port, detail=self._broker.exit_detail())
            try:
                self._broker.restart()
                self._metrics.broker_restarts.inc()
                created = self._bus.ensure_topics(timeout_s=10)
                _log.warning("broker.restarted", port=self._broker.port, topics_created=created)
                wait = self._interval_s
            except BrokerError as e:
                # The port may be held for a moment, or the binary gone: keep trying, more slowly.
                wait = min(max(wait * 2, 0.5), _RETRY_MAX_S)
                _log.error("broker.restart_failed", port=self._broker.port, error=str(e), retry_in_s=wait)
