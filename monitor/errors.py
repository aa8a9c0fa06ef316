"""One root exception and one subclass per area, so callers can catch exactly what they handle."""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ConfigError",
    "DeliveryError",
    "FeedError",
    "MessageError",
    "NewsmonError",
    "RuleError",
]


class NewsmonError(Exception):
    """Root of every error newsmon raises on purpose."""


class ConfigError(NewsmonError):
    """A settings or config file is invalid; the message names the file and field."""


class BrokerError(NewsmonError):
    """The Kafka broker could not be started, reached or administered."""


class MessageError(NewsmonError):
    """A message on a topic could not be decoded or validated; it belongs in the dead-letter topic."""


class FeedError(NewsmonError):
    """A feed could not be fetched or parsed; the message names the feed."""

    def __init__(self, feed_id: str, kind: str, detail: str) -> None:
        super().__init__(f"feed {feed_id!r}: {kind}: {detail}")
        self.feed_id = feed_id
        self.kind = kind
        self.detail = detail


class RuleError(NewsmonError):
    """A watchlist or gazetteer file is invalid; the message carries file:line:field."""


class DeliveryError(NewsmonError):
    """An alert could not be delivered to a receiver."""
