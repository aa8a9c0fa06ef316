"""Webhooks: POST each message as a ``newsmon.notification/2`` JSON document to an HTTP(S) endpoint.

Apprise's json:// plugin sends its own envelope (title, body, type), so a program on the other end
would have to parse our text back. A receiver URL ``webhook://host/path`` (HTTP) or
``webhooks://host/path`` (HTTPS) gets the alert's structure instead: the schema in
``monitor/alerting/schema/alert-2.schema.json``. The URL may hold a token; no message of ours shows it.
"""

from __future__ import annotations

import json

import httpx

from monitor.alerting.exceptions import RateLimitedError
from monitor.alerting.notification import Notification
from monitor.alerting.render import Renderer
from monitor.errors import ConfigError, DeliveryError
from monitor.masking import Masker, url_secrets

__all__ = ["WEBHOOK_SCHEMES", "WebhookChannel", "endpoint_of"]

#: Our own schemes, read before apprise's: webhook:// posts over HTTP, webhooks:// over HTTPS.
WEBHOOK_SCHEMES = {"webhook": "http", "webhooks": "https"}


def endpoint_of(url: str, where: str) -> str:
    """Return the http(s) URL a ``webhook(s)://`` URL posts to.

    Raises:
        ConfigError: naming ``where``, never the URL, when it has no host.
    """
    scheme, _, rest = url.strip().partition("://")
    if scheme.lower() not in WEBHOOK_SCHEMES or not rest or rest.startswith("/"):
        raise ConfigError(f"{where}: a webhook URL is webhook://host[:port]/path or webhooks://host/path")
    return f"{WEBHOOK_SCHEMES[scheme.lower()]}://{rest}"


class WebhookChannel:
    """POST notifications as JSON to one endpoint; 2xx is delivered, 429 waits, anything else fails."""

    flavour = "webhook"

    def __init__(
        self, url: str, *, name: str, receiver: str, renderer: Renderer, where: str, timeout_s: float = 15.0
    ) -> None:
        self.name = name
        self.receiver = receiver
        self._renderer = renderer
        self._endpoint = endpoint_of(url, where)
        self._masker = Masker(url_secrets(self._endpoint))
        self._client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def send(self, note: Notification) -> None:
        """Post ``note``; raise ``RateLimitedError`` on 429, ``DeliveryError`` unless the answer is 2xx."""
        body = json.dumps(self._renderer.document(note), ensure_ascii=False).encode("utf-8")
        try:
            response = self._client.post(
                self._endpoint, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
            )
        except httpx.HTTPError as e:  # str(e) may hold the URL and its token: name the error only
            raise DeliveryError(f"{self.name}: webhook: {type(e).__name__}") from e
        if response.status_code == 429:
            try:
                wait = float(response.headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            raise RateLimitedError(f"{self.name}: webhook: HTTP 429", wait)
        if not 200 <= response.status_code < 300:
            said = self._masker.mask(response.text[:200].strip())
            raise DeliveryError(f"{self.name}: webhook: HTTP {response.status_code} {said}".strip())
