"""Sample running stages with py-spy; summarise where their CPU time goes, as plain text.

py-spy samples every thread of a process from outside (the stages run their work in threads, which
an in-process profiler of the main thread would miss) and counts only threads that are running, not
waiting. It runs ``--nonblocking``: pausing the process at every sample slowed it and made waiting
threads show up as running now and then. The summary lists, per stage, the share of samples by
package, the functions that were running themselves (self), and newsmon's own functions with
everything they called (inclusive).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = ["Sampler", "py_spy", "summarise"]

# Leaves where a thread waits rather than works (a wait with a timeout wakes often enough that py-spy
# sometimes catches it running): counted apart, so the tables show where the work goes.
_WAITS = frozenset(
    {
        ("Condition.wait", "threading.py"),
        ("Event.wait", "threading.py"),
        ("Thread._wait_for_tstate_lock", "threading.py"),
        ("EpollSelector.select", "selectors.py"),
        ("_PollLikeSelector.select", "selectors.py"),
        ("SelectSelector.select", "selectors.py"),
        ("_worker", "concurrent/futures/thread.py"),
        ("BaseServer.serve_forever", "socketserver.py"),
    }
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> Path | None:
    """Return the py-spy executable (a dev dependency), or None when it is not installed."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file():
        return beside
    found = shutil.which("py-spy")
    return Path(found) if found else None


class Sampler:
    """``py-spy record`` attached to a running process until ``stop``; raw folded stacks to ``out``."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed: run pip install -e '.[dev]'")
        self.out = out
        self._log = out.with_suffix(".log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--nonblocking",  # no pause: the stage runs as measured, and waiting threads look idle
                "--format",
                "raw",
                "--output",
                str(out),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        """Stop sampling (py-spy writes its output on SIGINT) and wait for the file."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def _frame(text: str) -> tuple[str, str]:
    """Return (function, file) of a py-spy frame ``func (file:line)``, without the line number."""
    m = _FRAME.match(text.strip())
    return (m.group("func"), m.group("file")) if m else (text.strip(), "")


def _package(file: str) -> str:
    if file.startswith("<frozen"):
        return "python (import machinery)"
    head = file.split("/", 1)[0] if "/" in file else file.removesuffix(".py")
    return head or "?"


def _stacks(raw: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit():
            continue
        stacks.append(([_frame(f) for f in body.split(";")], int(count)))
    return stacks


def summarise(raw: Path, title: str, top: int = 15) -> str:
    """Return a text summary of py-spy's raw output ``raw``: by package, self time, and newsmon inclusive."""
    stacks = _stacks(raw) if raw.is_file() else []
    waiting = sum(n for frames, n in stacks if frames[-1] in _WAITS)
    stacks = [(frames, n) for frames, n in stacks if frames[-1] not in _WAITS]
    total = sum(n for _, n in stacks)
    lines = [
        f"== {title}: {total:,} samples of working threads"
        f" ({waiting:,} more caught in a wait: locks, selectors, idle pool workers; left out)"
    ]
    if not total:
        return "\n".join([*lines, "   (no samples: py-spy could not attach or the stage was idle)", ""])
    by_package: Counter[str] = Counter()
    own: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    for frames, n in stacks:
        leaf = frames[-1]
        by_package[_package(leaf[1])] += n
        own[leaf] += n
        for frame in set(frames):
            if frame[1].startswith("monitor/"):
                inclusive[frame] += n

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    lines.append("   by package of the running function:")
    lines += [f"     {pct(n)}  {p}" for p, n in by_package.most_common(10)]
    lines.append("   self (the function itself was running):")
    lines += [f"     {pct(n)}  {func}  ({file})" for (func, file), n in own.most_common(top)]
    lines.append("   newsmon functions, inclusive (they or what they called were running):")
    lines += [f"     {pct(n)}  {func}  ({file})" for (func, file), n in inclusive.most_common(top)]
    lines.append("")
    return "\n".join(lines)
