"""Refuse to connect to private addresses: a feed URL typed by a user must not reach the intranet.

A feeds file is user input. Without this, ``http://169.254.169.254/`` (cloud credentials),
``http://localhost:9200/`` or a router's admin page could be "polled", and errors or full-text extraction
would echo what they return. The check runs where the socket is opened, on the addresses actually
connected to, so a redirect to a private address or a DNS name that later resolves to one (rebinding)
is refused too, not only the URL as written.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["AddressBlockedError", "GuardedTransport", "is_public_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressBlockedError(httpcore.ConnectError):
    """The host resolves to an address the guard refuses; nothing was sent to it."""


def is_public_address(address: IPAddress) -> bool:
    """Return whether ``address`` is on the public internet (not loopback, private, link-local, reserved)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback in disguise
    return address.is_global and not address.is_multicast


class _GuardedBackend(httpcore.SyncBackend):
    """Resolve the host, refuse it if any of its addresses is not allowed, then connect to a vetted one."""

    def __init__(self, allowed: Callable[[IPAddress], bool]) -> None:
        self._allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:
            raise httpcore.ConnectError(str(e)) from e
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        refused = [a for a in addresses if not self._allowed(a)]
        if refused:
            # All or nothing: a name resolving to one public and one private address is an attack, not luck.
            raise AddressBlockedError(f"{host} resolves to {refused[0]}, a private or reserved address")
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as e:
                last = e
        raise last or httpcore.ConnectError(f"{host} has no address")


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose connections only reach addresses ``allowed`` accepts (public ones by default).

    TLS still verifies the certificate against the host name: only the TCP connection goes to the vetted
    IP. Proxies from the environment are not used through it, since the guard could not see past them.
    """

    def __init__(self, allowed: Callable[[IPAddress], bool] = is_public_address, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        if not isinstance(pool, httpcore.ConnectionPool):
            raise TypeError("GuardedTransport cannot be used with a proxy")
        # httpx offers no public way to pass a network backend; the pool reads this attribute per connection.
        pool._network_backend = _GuardedBackend(allowed)
