"""Log events: one naming scheme, ``area.what_happened``, and the README lists every one of them."""

from __future__ import annotations

import ast
import logging
import re

from monitor.logs import OncePerState
from tests.conftest import REPO

_SCHEME = re.compile(r"^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*$")
_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})


def _events() -> dict[str, str]:
    """Return every event name newsmon logs, with the first place it is logged."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "monitor").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            # log.info(...), and (log.info if published else log.debug)(...)
            chosen = [node.func.body, node.func.orelse] if isinstance(node.func, ast.IfExp) else [node.func]
            if not any(isinstance(f, ast.Attribute) and f.attr in _METHODS for f in chosen):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.setdefault(first.value, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_every_event_is_named_area_dot_what_happened() -> None:
    events = _events()
    assert len(events) > 50
    bad = {event: where for event, where in events.items() if not _SCHEME.match(event)}
    assert bad == {}


def test_the_readme_lists_every_event() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = {event: where for event, where in _events().items() if f"`{event}`" not in readme}
    assert missing == {}


def _record(message: str, name: str = "kafka.conn") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, None)


def test_a_library_repeating_itself_is_heard_once_per_state() -> None:
    now = [0.0]
    once = OncePerState("kafka", quiet_s=30, clock=lambda: now[0])
    passed = []
    for _ in range(100):  # a broker away for 25 s: kafka-python says both lines 4 times a second
        passed += [once.filter(_record("Connection failed: 111 ECONNREFUSED to node 1"))]
        passed += [once.filter(_record("<KafkaConnection node_id=bootstrap-0>: Connection lost"))]
        now[0] += 0.25
    assert passed.count(True) == 2
    now[0] += 31  # back for a while, then away again: a new state, heard again
    assert once.filter(_record("Connection failed: 111 ECONNREFUSED to node 2"))
    assert all(once.filter(_record("same words", name="monitor.bus")) for _ in range(3)), "only kafka's"
