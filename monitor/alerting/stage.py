"""The alert stage's run loop: the consumer in the calling thread, due messages sent by a ticker thread.

Messages become due without any Match arriving (group waits, retries, rate limits), so the alerter
is ticked on its own clock; the alerter's lock keeps the two threads from sending the same message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from monitor.alerting.service import Alerter
from monitor.logs import get_logger

__all__ = ["AlertStage"]

_log = get_logger(__name__)


class _Loop(Protocol):
    def run(self, stop: threading.Event) -> None: ...


class _Closable(Protocol):
    def close(self, timeout: float | None = ...) -> None: ...


@dataclass
class AlertStage:
    """Consume matches and tick the alerter until ``stop`` is set; then close what it opened."""

    name: str
    loop: _Loop = field(repr=False)
    producer: _Closable = field(repr=False)
    alerter: Alerter = field(repr=False)
    tick_s: float = 1.0

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set (or the consumer fails)."""
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop, done), name="alert-ticker", daemon=True)
        ticker.start()
        try:
            self.loop.run(stop)
        finally:
            done.set()
            ticker.join(timeout=30)
            self.producer.close(timeout=10)
            self.alerter.outbox.close()

    def _tick(self, stop: threading.Event, done: threading.Event) -> None:
        while not (stop.is_set() or done.is_set()):
            try:
                self.alerter.tick()
            except Exception:  # the next tick tries again; a dead ticker would strand every retry
                _log.exception("alert.tick_failed")
            done.wait(self.tick_s)
