"""Durations as people write them in rule files and on the command line: ``90s``, ``15m``, ``6h``, ``7d``.

An analyst thinks of a dedup window as "6h", not 21600 seconds; one parser serves the rule schema and
``newsmon rules backtest --since 7d``, so both read the same way.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["Duration", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")


def parse_duration(value: Any) -> timedelta:
    """Return ``value`` (``"6h"``, ``"7d"``, a number of seconds, or a timedelta) as a positive timedelta.

    Raises:
        ValueError: the value is not one of those forms, or is not positive.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.fullmatch(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"duration {value!r}: write a number and a unit, e.g. 90s, 15m, 6h, 7d, 2w")
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A pydantic field type that reads ``parse_duration`` forms."""
