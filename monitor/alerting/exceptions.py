"""The alerter's own errors, under ``monitor.errors.DeliveryError`` so callers catch one family."""

from __future__ import annotations

from monitor.errors import DeliveryError

__all__ = ["RateLimitedError"]


class RateLimitedError(DeliveryError):
    """The receiver asked us to wait (HTTP 429): not a failure, so the message keeps its retries."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
