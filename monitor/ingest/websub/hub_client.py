"""Send subscribe and unsubscribe requests to a hub (W3C WebSub §5.1).

The hub answers ``202 Accepted`` and verifies the intent later by calling the callback (see
callback.py); any other answer is a refusal. The hub's URL comes from a feed, so it goes through the
same private-address guard as the feeds themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import httpx

from monitor.ingest.guard import GuardedTransport
from monitor.masking import redact

__all__ = ["HubClient", "HubReply", "Mode"]

Mode = Literal["subscribe", "unsubscribe"]
# A hub's refusal explains itself in its body; a few hundred characters are enough for a log line.
_REASON_CHARS = 300


@dataclass(frozen=True)
class HubReply:
    """Whether the hub accepted the request, and its words when it did not."""

    accepted: bool
    status: int | None = None
    reason: str = ""


class HubClient:
    """POST subscription requests to hubs over one pooled httpx client; safe to share between threads."""

    def __init__(
        self,
        timeout_s: float,
        user_agent: str,
        transport: httpx.BaseTransport | None = None,
        *,
        block_private: bool = True,
    ) -> None:
        if transport is None and block_private:
            transport = GuardedTransport()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,  # §5.1: the request goes to the hub URL as discovered
            headers={"User-Agent": user_agent},
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def request(
        self,
        hub: str,
        mode: Mode,
        topic: str,
        callback: str,
        *,
        secret: str | None = None,
        lease_s: float | None = None,
    ) -> HubReply:
        """Ask ``hub`` to (un)subscribe ``callback`` to ``topic``; never raises on the hub's failures."""
        form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": callback}
        if secret is not None:
            form["hub.secret"] = secret
        if lease_s is not None:
            form["hub.lease_seconds"] = str(int(lease_s))
        try:
            response = self._client.post(hub, data=form)
        except httpx.HTTPError as e:
            return HubReply(False, None, f"{type(e).__name__}: {redact(str(e))}"[:_REASON_CHARS])
        if 200 <= response.status_code < 300:
            return HubReply(True, response.status_code)
        words = " ".join(response.text.split())[:_REASON_CHARS]
        return HubReply(False, response.status_code, f"HTTP {response.status_code} {words}".rstrip())
