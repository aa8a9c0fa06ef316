"""Which addresses the SSRF guard lets a feed URL reach; names resolved here are faked, never looked up
(real connections to loopback: tests/integration/test_ingest_polite.py)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest

from monitor.errors import FeedError
from monitor.ingest import guard
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetch import Fetcher
from monitor.ingest.guard import is_public_address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata endpoints
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # loopback in IPv6 clothing
        ("::ffff:10.0.0.1", False),
    ],
)
def test_only_global_addresses_are_public(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def _resolving_to(*addresses: str) -> Callable[..., list[tuple[Any, ...]]]:
    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


@pytest.mark.parametrize(
    "addresses",
    [("10.0.0.7",), ("93.184.215.14", "127.0.0.1")],  # one private address among public ones is enough
    ids=["private", "mixed"],
)
def test_a_name_resolving_to_a_private_address_is_refused_without_connecting(
    monkeypatch: pytest.MonkeyPatch, addresses: tuple[str, ...]
) -> None:
    monkeypatch.setattr(guard.socket, "getaddrinfo", _resolving_to(*addresses))

    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("the guard connected")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    with Fetcher(timeout_s=1, max_bytes=1000, user_agent="t") as fetcher, pytest.raises(FeedError) as caught:
        fetcher.fetch(FeedConfig(id="x", url="https://intranet.example/rss"))
    assert caught.value.kind == "blocked"
    assert "intranet.example resolves to" in caught.value.detail


def test_a_name_that_does_not_resolve_is_a_dns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(guard.socket, "getaddrinfo", fail)
    with Fetcher(timeout_s=1, max_bytes=1000, user_agent="t") as fetcher, pytest.raises(FeedError) as caught:
        fetcher.fetch(FeedConfig(id="x", url="https://gone.example/rss"))
    assert caught.value.kind == "dns"
