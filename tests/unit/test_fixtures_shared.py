"""Test helpers are written once, in ``tests/fixtures/``: a copy in a test file fails here.

Rig code copied from file to file drifts apart (four ``_bus`` helpers, eight ``MakeMatch`` aliases,
three aiosmtpd inboxes and three Telegram stand-ins had gathered before this test), and a helper
imported from another test file makes that file a fixtures module nobody named. A test that needs
one imports it from ``tests/fixtures/`` or takes its fixture.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.conftest import REPO

TESTS = REPO / "tests"
FIXTURES = TESTS / "fixtures"
# Names of helpers that were copied before; each now has one home in tests/fixtures/.
_SHARED = {
    "_bus": "broker.bus(unique) (tests/fixtures/brokers.py)",
    "MakeMatch": "tests/fixtures/matches.py",
    "_owning": "owning() (tests/fixtures/rig.py)",
}
# aiosmtpd's handler hook and its server: an SMTP rig of a test file's own.
_SMTP_RIG = {"handle_DATA": "Inbox", "Controller": "smtp_server()"}

Sources = dict[str, str]
"""Python source by file name."""

_Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _test_sources() -> Sources:
    """Return every Python file under tests/ except the fixtures package."""
    return {
        str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
        for p in sorted(TESTS.rglob("*.py"))
        if FIXTURES not in p.parents
    }


def _shared_redefined(sources: Sources) -> dict[str, str]:
    """Return where a top-level name of ``_SHARED`` is defined (a def, a class or an assignment)."""
    found = {}
    for name, text in sources.items():
        for node in ast.parse(text).body:
            if isinstance(node, _Def):
                names = [node.name]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            else:
                continue
            for defined in names:
                if defined in _SHARED:
                    found[f"{name}:{node.lineno}"] = f"{defined}: use {_SHARED[defined]}"
    return found


def _smtp_rigs(sources: Sources) -> dict[str, str]:
    """Return where an aiosmtpd handler or server is written outside tests/fixtures/smtp.py."""
    found = {}
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            used = ""
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                used = node.name
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                used = node.func.id
            if used in _SMTP_RIG:
                found[f"{name}:{node.lineno}"] = f"{used}: use {_SMTP_RIG[used]} from tests/fixtures/smtp.py"
    return found


def _body_key(node: _Def) -> str:
    """Return the definition as text, without its name and docstring, to compare two of them."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    args = "" if isinstance(node, ast.ClassDef) else ast.dump(node.args)
    return args + ast.dump(ast.Module(body=body, type_ignores=[]))


def _statements(node: _Def) -> int:
    return sum(isinstance(n, ast.stmt) for n in ast.walk(node)) - 1


def _copied_helpers(sources: Sources) -> list[list[str]]:
    """Return the helpers written alike (names aside) in more than one file.

    Helpers of two statements or more: a one-liner costs less to repeat than to share. Test
    functions are left out: two tests may run one check on different parameters.
    """
    places: dict[str, set[str]] = defaultdict(set)
    for name, text in sources.items():
        for node in ast.parse(text).body:
            if isinstance(node, _Def) and not node.name.startswith("test_") and _statements(node) >= 2:
                places[_body_key(node)].add(f"{name}:{node.lineno} {node.name}")
    return sorted(sorted(where) for where in places.values() if len({w.split(":")[0] for w in where}) > 1)


def _imports_from_test_modules(sources: Sources) -> dict[str, str]:
    """Return where a file imports from a test module (``test_*``): what two files share is a fixture."""
    found = {}
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module is not None and module.rsplit(".", 1)[-1].startswith("test_"):
                found[f"{name}:{node.lineno}"] = module
    return found


def test_no_shared_helper_is_defined_again_outside_the_fixtures() -> None:
    assert _shared_redefined(_test_sources()) == {}


def test_smtp_servers_are_built_only_by_the_smtp_fixtures() -> None:
    assert _smtp_rigs(_test_sources()) == {}


def test_no_test_module_is_imported_for_its_helpers() -> None:
    assert _imports_from_test_modules(_test_sources()) == {}, "move what is shared to tests/fixtures/"


def test_no_helper_is_copied_between_test_files() -> None:
    assert _copied_helpers(_test_sources()) == [], "move it to tests/fixtures/ and import it from there"


_BUS = "def _bus(broker, unique):\n    return broker.bus(unique)\n"
_WAIT = "def {name}(check):\n    while not check():\n        time.sleep(0.1)\n"
_SMTP = "async def handle_DATA(self, server, session, envelope):\n    return '250 OK'\nc = Controller(h)\n"


def test_the_checks_see_each_kind_of_copy() -> None:
    # Each check must recognise what it looks for, or the tests above pass without looking.
    copies = {
        "tests/a.py": _BUS + "MakeMatch = object\n" + _WAIT.format(name="_wait") + _SMTP,
        "tests/b.py": _WAIT.format(name="_until") + "from .test_a import _wait\n",
    }
    assert sorted(_shared_redefined(copies)) == ["tests/a.py:1", "tests/a.py:3"]
    assert sorted(_smtp_rigs(copies)) == ["tests/a.py:7", "tests/a.py:9"]
    assert _copied_helpers(copies) == [["tests/a.py:4 _wait", "tests/b.py:1 _until"]]
    assert _imports_from_test_modules(copies) == {"tests/b.py:4": "test_a"}
    assert len(_test_sources()) > 50
