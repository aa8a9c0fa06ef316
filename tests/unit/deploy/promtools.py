"""Find the Prometheus binaries the observability tests run: fail, never skip, when they are missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"


def find_tool(name: str) -> Path:
    """Return the path of ``name`` (``prometheus`` or ``promtool``), or fail the test saying what to install.

    A skip would let CI pass without ever checking the rules and the dashboard, so a missing binary is a
    failure that names the fix.
    """
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/bin") / name, Path("/usr/local/bin") / name) if p.is_file()), None
    )
    if found is None:
        pytest.fail(
            f"`{name}` is not installed: install the Debian package `prometheus` "
            "(sudo apt-get install prometheus; it ships prometheus and promtool). `make test` installs it "
            "itself (tests/setup/ensure-tools.sh) when it runs as root or with sudo."
        )
    return Path(found)
