"""The contract between ``monitor.cli`` and the commands each area registers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeAlias

from monitor.settings import Settings

__all__ = ["CommandHandler", "SubParsers"]

#: What an area's ``register(sub)`` receives: the ``newsmon`` sub-command table.
SubParsers: TypeAlias = "argparse._SubParsersAction[Any]"
#: A command: parsed arguments and settings in, exit code out.
#: Set it with ``parser.set_defaults(handler=...)``.
CommandHandler: TypeAlias = Callable[[argparse.Namespace, Settings], int]
