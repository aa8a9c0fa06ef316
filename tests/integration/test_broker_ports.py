"""The embedded broker's port: a port picked free and taken before tansu binds it costs a retry, not a run.

tansu cannot listen on port 0 and report the port it got (it advertises its address before binding),
so newsmon picks a free port and hands it over. Another process may take that port in between: these
tests hold a real socket on the port the broker is given first, and the broker must move to another.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from structlog.testing import capture_logs

from monitor.bus.broker import EmbeddedBroker, free_port, listens_on
from monitor.bus.connection import Bus
from monitor.errors import BrokerError
from monitor.settings import KafkaSettings, TopicSettings


@contextmanager
def _held_port(*, listening: bool) -> Iterator[socket.socket]:
    """Hold a loopback port: bound and listening, or bound only (connections are refused, binds fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        if listening:
            held.listen()
        yield held


def _picks(*first: int) -> Callable[[], int]:
    """Return a port picker that hands out ``first`` in order, then free ports."""
    queue = list(first)
    return lambda: queue.pop(0) if queue else free_port()


def _works(broker: EmbeddedBroker, unique: str) -> None:
    """Create a topic on ``broker`` through newsmon's bus: it is a Kafka broker, not the held socket."""
    topics = TopicSettings(**{t: f"{t}-{unique}" for t in ("articles", "matches", "alerts", "deadletter")})
    bus = Bus(tuple(broker.bootstrap_servers), KafkaSettings(topics=topics, partitions=1), embedded=True)
    assert sorted(bus.ensure_topics()) == sorted(bus.topic_names)


@pytest.mark.tansu
@pytest.mark.parametrize("listening", [True, False], ids=["listener", "bound-not-listening"])
def test_a_picked_port_taken_by_another_socket_is_replaced(listening: bool, unique: str) -> None:
    # bound-not-listening is the race itself: the port looks free to a connect, and tansu's bind fails.
    with _held_port(listening=listening) as held, capture_logs() as logs:
        taken = held.getsockname()[1]
        broker = EmbeddedBroker(pick_port=_picks(taken)).start()
        try:
            assert broker.port != taken
            assert broker.alive()
            _works(broker, unique)
        finally:
            broker.stop()
        assert held.getsockname()[1] == taken  # the other process keeps its port
    taken_events = [e for e in logs if e["event"] == "broker.port_taken"]
    assert [(e["port"], e["attempt"]) for e in taken_events] == [(taken, 1)]
    if not listening:  # it looked free: tansu itself was refused the port, and that is what is logged
        assert "Address in use" in taken_events[0]["detail"]


@pytest.mark.tansu
def test_no_free_port_in_n_tries_is_a_clear_error() -> None:
    with _held_port(listening=True) as a, _held_port(listening=False) as b:
        ports = [a.getsockname()[1], b.getsockname()[1], a.getsockname()[1]]
        broker = EmbeddedBroker(pick_port=_picks(*ports), bind_tries=3)
        with pytest.raises(BrokerError) as raised:
            broker.start()
    message = str(raised.value)
    assert "no free port on 127.0.0.1 in 3 tries" in message
    assert ", ".join(map(str, ports)) in message
    assert "kafka.embedded_port" in message
    assert not broker.alive()


@pytest.mark.tansu
def test_a_port_asked_for_is_never_swapped_for_another() -> None:
    with _held_port(listening=False) as held:
        port = held.getsockname()[1]
        broker = EmbeddedBroker(port=port, pick_port=_picks())
        with pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is already in use"):
            broker.start()
    assert broker.port == port
    assert not broker.alive()


def test_only_the_process_holding_the_listener_listens_on_its_port() -> None:
    # The broker is ready when tansu itself listens: a port that merely accepts may be another's.
    with _held_port(listening=True) as held:
        port = held.getsockname()[1]
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert listens_on(os.getpid(), port)
            assert not listens_on(other.pid, port)
        finally:
            other.kill()
            other.wait()
    assert not listens_on(os.getpid(), port)


def test_the_smtp_test_server_moves_off_a_picked_port_another_socket_took(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same race for the tests' own SMTP server: the first port it picks is held by a listener."""
    import smtplib

    from tests.fixtures import smtp as smtp_fixture

    with _held_port(listening=True) as held:
        taken = held.getsockname()[1]
        picks = iter([taken])
        monkeypatch.setattr(smtp_fixture, "free_port", lambda: next(picks, None) or free_port())
        with smtp_fixture.smtp_server() as (inbox, port):
            assert port != taken
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                client.sendmail("a@example.org", ["b@example.org"], "Subject: hi\r\n\r\nbody")
        assert len(inbox.messages) == 1
        with pytest.raises(OSError, match=r"(?i)address already in use"), smtp_fixture.smtp_server(taken):
            pass  # a port asked for is never swapped for another
