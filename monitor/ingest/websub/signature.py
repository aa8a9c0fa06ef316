"""Check the ``X-Hub-Signature`` of a content distribution request (W3C WebSub §7.1).

A subscription made with a ``hub.secret`` must only accept content signed with it: anyone who learns
the callback URL could otherwise publish fake news into the pipeline. The header is
``method=hexdigest`` with method sha1, sha256, sha384 or sha512 (the hub picks), an HMAC of the raw body.
"""

from __future__ import annotations

import hmac
from typing import Literal

__all__ = ["ALGORITHMS", "SignatureOutcome", "check_signature", "sign"]

# The spec's list; sha1 stays because hubs still send it, though it is the weakest.
ALGORITHMS = frozenset({"sha1", "sha256", "sha384", "sha512"})

SignatureOutcome = Literal["ok", "missing", "malformed", "unknown_algorithm", "mismatch"]


def sign(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    """Return the ``X-Hub-Signature`` value a hub sends for ``body`` (tests and tools use it)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; valid algorithms are {sorted(ALGORITHMS)}")
    digest = hmac.new(secret.encode(), body, algorithm).hexdigest()
    return f"{algorithm}={digest}"


def check_signature(header: str | None, body: bytes, secret: str) -> SignatureOutcome:
    """Return ``"ok"`` when ``header`` signs ``body`` with ``secret``, else why not.

    The comparison is constant-time, so the digest cannot be guessed byte by byte from response times.
    """
    if not header or not header.strip():
        return "missing"
    method, sep, digest = header.strip().partition("=")
    if not sep or not digest:
        return "malformed"
    algorithm = method.strip().lower()
    if algorithm not in ALGORITHMS:
        return "unknown_algorithm"
    expected = hmac.new(secret.encode(), body, algorithm).hexdigest()
    return "ok" if hmac.compare_digest(expected, digest.strip().lower()) else "mismatch"
