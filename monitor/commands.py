"""The contract between ``monitor.cli`` and the commands each area registers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

from monitor.settings import Settings

__all__ = ["DEMO_WORKDIR", "CommandHandler", "SubParsers", "demo_outbox"]

#: What an area's ``register(sub)`` receives: the ``newsmon`` sub-command table.
SubParsers: TypeAlias = "argparse._SubParsersAction[Any]"
#: A command: parsed arguments and settings in, exit code out.
#: Set it with ``parser.set_defaults(handler=...)``.
CommandHandler: TypeAlias = Callable[[argparse.Namespace, Settings], int]
#: Where ``newsmon demo`` writes unless given ``--workdir``: its outbox is not the configured one.
DEMO_WORKDIR = Path("var/demo")


def demo_outbox(workdir: Path = DEMO_WORKDIR) -> Path:
    """Return the outbox file ``newsmon demo`` writes in ``workdir``."""
    return workdir / "alerts.sqlite3"
