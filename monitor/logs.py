"""Logging set up once at the entry point: structlog key/value events, JSON off a TTY.

Conventions every module follows, so one grep finds the whole story of an item: a line about an
article carries ``article_id``, about a match ``match_id``, about an alert ``alert_id``; feeds and
watchlists are ``feed`` and ``rule``. A consumer binds these for the time a message is handled
(``ConsumerLoop(log_context=...)``), so the core's own lines carry them without passing them down.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TextIO

import structlog

from monitor.masking import Masker, redact

# redact is re-exported: it was defined here first.
__all__ = ["OncePerState", "configure_logging", "get_logger", "redact"]


_DIGITS = re.compile(r"\d+")


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Write to whatever ``sys.stderr`` is at the time of the record, not at the time of configuration.

    Whoever swaps ``sys.stderr`` (pytest's capture, a daemon redirecting output) would otherwise leave
    the handler writing to a closed stream.
    """

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always sys.stderr


class OncePerState(logging.Filter):
    """Let a message of logger ``name`` (and its children) through once while it keeps recurring.

    A library retrying in a loop says the same thing every few hundred milliseconds: one line says
    the state began, and the next one that passes, after ``quiet_s`` without it, says it began again.
    Messages that differ only in numbers (ports, node ids, counts) are the same message.
    """

    def __init__(self, name: str, quiet_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name)
        self._prefix = name + "."
        self._quiet_s = quiet_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether ``record`` starts a state (its message was not seen within ``quiet_s``)."""
        if record.name != self.name and not record.name.startswith(self._prefix):
            return True
        key = _DIGITS.sub("#", f"{record.name}:{record.getMessage()}")
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            self._last[key] = now
            if len(self._last) > 1000:  # messages with ever-new text: forget the oldest
                del self._last[next(iter(self._last))]
        return last is None or now - last > self._quiet_s


def configure_logging(level: str = "INFO", fmt: str = "auto", secrets: Iterable[str] = ()) -> None:
    """Route structlog and stdlib logging to stderr, as JSON unless ``fmt`` or a TTY asks for colour.

    Every line, ours and third-party libraries', goes through one :class:`~monitor.masking.Masker`:
    URL secrets and each of ``secrets`` (the configured passwords and tokens) become ``***``.
    """
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a cached logger ignores later reconfiguration, such as structlog's capture_logs().
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                # After format_exc_info, so a traceback that quotes a URL is masked too; here, so the
                # lines of apprise, kafka-python and httpx (foreign_pre_chain) go through it as well.
                Masker(secrets),
                renderer,
            ],
        )
    )
    # The handler holds the level too: apprise's logger makes DEBUG records whatever the level (a
    # failed send keeps them as its cause, see alerting/deliver.py), and they must not all be printed.
    handler.setLevel(level)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kafka-python logs every reconnect at WARNING/ERROR (~4 lines a second while a broker is away);
    # our own events (bus.broker_away, bus.broker_back) say what matters, kafka's once per state.
    # On the handler: a logger's filter sees only its own records, not those of kafka.conn & co.
    logging.getLogger("kafka").setLevel(max(logging.getLevelName(level), logging.ERROR))
    handler.addFilter(OncePerState("kafka"))
    # httpx logs every request at INFO: one line per feed per poll says nothing our feed events do not.
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return the logger of module ``name``."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
