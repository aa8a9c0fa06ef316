"""Who holds a send lease, and whether that process still runs (a killed sender's lease is released)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["owner_alive", "process_owner", "start_time"]


def start_time(pid: int) -> str:
    """Return when process ``pid`` started (clock ticks since boot, Linux), "" where unknown or gone.

    A pid is reused once its process is gone: the start time tells the new process from the old one.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def process_owner() -> str:
    """Return who holds a lease taken by this process: host, pid and the pid's start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_time(pid)}"


def owner_alive(owner: str) -> bool:
    """Return whether the process that took a lease may still run (True when it cannot be told)."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return not started or start_time(pid) in ("", started)
