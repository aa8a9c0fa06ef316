"""Mask secrets in text before it leaves the process: every log line, every printed error and URL.

Two nets, applied together by :class:`Masker`: the secrets of any URL in the text (``redact``), and
the literal secrets newsmon was configured with (passwords, tokens), wherever they appear. The second
catches what no URL pattern can: an SMTP server answering ``535 bad credentials user:password``,
which apprise quotes back in its DEBUG lines and in the reason of a failed send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from pydantic import BaseModel, SecretStr

__all__ = ["Masker", "model_secrets", "redact", "url_secrets"]

# Schemes whose URLs are plain addresses: only their credentials are secret. Any other scheme is an
# apprise URL (mailto://user:pass@..., tgram://BOT_TOKEN/CHAT_ID, ...), where the whole URL is the secret.
_ADDRESS_SCHEMES = frozenset({"http", "https", "file", "tcp", "ssl"})
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://([^\s\"'<>]*)")
_USERINFO = re.compile(r"^[^/?#@]*@")
_SECRET_NAME = re.compile(r"pass|token|secret|key|auth|sig", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"([?&][^=&#]*(?:pass|token|secret|key|auth|sig)[^=&#]*=)[^&#]*", re.IGNORECASE)
# Shorter literals are not masked: replacing every "ab" in a log line would hide more than it protects.
_MIN_SECRET = 4
_MASK = "***"
# In an apprise URL, a token: six characters or more, not all digits; a host name and an email
# address have dots or an @, a chat id or port is a number.
_TOKEN = re.compile(r"^(?![-\d]+$)[^.@]{6,}$")


def _redact_url(m: re.Match[str]) -> str:
    scheme, rest = m.group(1), m.group(2)
    if not any(c.isalnum() for c in rest):
        return m.group(0)  # a scheme named in prose ("mailto://, tgram://"): nothing to hide
    if scheme.lower() not in _ADDRESS_SCHEMES:
        return f"{scheme}://{_MASK}"
    rest = _SECRET_PARAM.sub(rf"\1{_MASK}", _USERINFO.sub(f"{_MASK}@", rest))
    return f"{scheme}://{rest}"


def redact(text: str) -> str:
    """Return ``text`` with the secrets of every URL in it masked.

    Credentials in a URL, secret-looking query parameters, and whole apprise URLs (their tokens sit in
    the host or path) become ``***``. This is the safety net under the rule that secrets are never
    logged: a third-party library's message or an exception text may still quote a URL.
    """
    return _URL.sub(_redact_url, text) if "://" in text else text


def url_secrets(url: str) -> set[str]:
    """Return the parts of ``url`` a server or library may quote back on their own, without the URL.

    The password of its user info, the values of secret-looking query parameters, and for an apprise
    URL (mailto://, tgram://, ...) its token-like host and path parts (``tgram://BOT_TOKEN/CHAT``).
    Each is returned as written and URL-decoded, since a server echoes the decoded form.
    """
    m = _URL.match(url.strip())
    if m is None:
        return set()
    scheme, rest = m.group(1).lower(), m.group(2)
    found: list[str] = []
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    userinfo, at, host = netloc.rpartition("@")
    if at:
        found.append(userinfo.partition(":")[2])
    found += [v for k, v in parse_qsl(query.partition("#")[0]) if _SECRET_NAME.search(k)]
    if scheme not in _ADDRESS_SCHEMES and scheme not in ("mailto", "mailtos"):
        for part in (host if at else netloc, *path.split("/")):
            if _TOKEN.match(part):
                found += [part, *(piece for piece in part.split(":") if _TOKEN.match(piece))]
    return {s for v in found for s in (v, unquote(v)) if len(s) >= _MIN_SECRET}


def model_secrets(model: BaseModel) -> set[str]:
    """Return every secret of ``model`` and its sub-models: each ``SecretStr`` and the secrets of its URL."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            found.update(url_secrets(secret) if "://" in secret else {secret})
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple | set | frozenset):
            for v in value:
                walk(v)

    walk(model)
    return {s for s in found if len(s) >= _MIN_SECRET}


class Masker:
    """Mask URL secrets and the given literal secrets in text and in structlog events."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        """Return ``text`` with its URL secrets and every known secret replaced by ``***``."""
        text = redact(text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text

    def _value(self, value: object) -> object:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list | tuple):
            return type(value)(self._value(v) for v in value)
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        return value

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """Mask every value of ``event`` (a structlog processor)."""
        for key, value in event.items():
            event[key] = self._value(value)
        return event
