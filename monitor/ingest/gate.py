"""Let a stopping service finish the store and publish work in progress, and start none after.

Kept apart from the poller because the service owns it: it opens the gate when it runs and closes it
(waiting for the work that started) when it stops, while every poll passes through it.
"""

from __future__ import annotations

import threading
from types import TracebackType

__all__ = ["Gate", "StoppedError"]


class StoppedError(Exception):
    """The service is stopping: a poll must not touch the store or publish any more."""


class Gate:
    """Let store and publish work start only while the service runs, and wait for the work that started.

    Fetches are not gated: they cannot be interrupted, touch nothing shared, and their result is dropped
    once the service stops, so stopping never waits for a hung server.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = 0
        self.closed = False

    def open(self) -> None:
        """Accept work again (a service may be run again after a stop)."""
        with self._cond:
            self.closed = False

    def __enter__(self) -> None:
        with self._cond:
            if self.closed:
                raise StoppedError
            self._busy += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def close_and_drain(self, timeout_s: float) -> bool:
        """Refuse new work and wait for the current work; return False if it outlived ``timeout_s``."""
        with self._cond:
            self.closed = True
            return self._cond.wait_for(lambda: self._busy == 0, timeout_s)
