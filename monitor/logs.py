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
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

__all__ = ["configure_logging", "get_logger", "redact", "redact_secrets"]

# Schemes whose URLs are plain addresses: only their credentials are secret. Any other scheme is an
# apprise URL (mailto://user:pass@..., tgram://BOT_TOKEN/CHAT_ID, ...), where the whole URL is the secret.
_ADDRESS_SCHEMES = frozenset({"http", "https", "file", "tcp", "ssl"})
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://([^\s\"'<>]*)")
_USERINFO = re.compile(r"^[^/?#@]*@")
_SECRET_PARAM = re.compile(r"([?&][^=&#]*(?:pass|token|secret|key|auth|sig)[^=&#]*=)[^&#]*", re.IGNORECASE)


def _redact_url(m: re.Match[str]) -> str:
    scheme, rest = m.group(1), m.group(2)
    if scheme.lower() not in _ADDRESS_SCHEMES:
        return f"{scheme}://***"
    rest = _SECRET_PARAM.sub(r"\1***", _USERINFO.sub("***@", rest))
    return f"{scheme}://{rest}"


def redact(text: str) -> str:
    """Return ``text`` with the secrets of every URL in it masked.

    Credentials in a URL, secret-looking query parameters, and whole apprise URLs (their tokens sit in
    the host or path) become ``***``. This is the safety net under the rule that secrets are never
    logged: a third-party library's message or an exception text may still quote a URL.
    """
    return _URL.sub(_redact_url, text) if "://" in text else text


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    return value


def redact_secrets(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask URL secrets in every value of ``event`` (a structlog processor, see :func:`redact`)."""
    for key, value in event.items():
        event[key] = _redact_value(value)
    return event


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


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Route structlog and stdlib logging to stderr, as JSON unless ``fmt`` or a TTY asks for colour."""
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
                redact_secrets,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kafka-python logs every reconnect at WARNING/ERROR; our own events say what matters.
    logging.getLogger("kafka").setLevel(max(logging.getLevelName(level), logging.ERROR))
    # httpx logs every request at INFO: one line per feed per poll says nothing our feed events do not.
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return the logger of module ``name``."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
