"""Fuzz the watchlist loader: any file an analyst (or an accident) writes loads or fails with a RuleError.

The running matcher reloads the rules folder on every edit; an exception other than RuleError would
not be reported as "invalid edit, last good rules kept" but as a crash of the reload. Every rejection
must name the file it is about. Runs are bounded and derandomised.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import RuleError
from monitor.matching.rules import load_rule_set

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
_SLOW_S = 5.0

ENTITIES: dict[str, Any] = {
    "entities": [
        {"id": "lena_ostrova", "name": "Lena Ostrova", "type": "PER", "aliases": ["Lena Ostrova"]},
        {"id": "tomas_brenn", "name": "Tomas Brenn", "type": "PER", "aliases": ["Tomas Brenn"]},
    ]
}
WATCHLIST: dict[str, Any] = {
    "id": "watch",
    "name": "Watch",
    "severity": "high",
    "languages": ["en"],
    "dedup_window": "36h",
    "conditions": [
        {"name": "who", "entities": {"at_least": 1, "of": ["lena_ostrova", "tomas_brenn"]}},
        {"name": "what", "keywords": {"en": ["visit*", "met"]}},
    ],
    "negation": {"window": 3, "before": {"en": ["not"]}},
    "examples": {"match": [{"language": "en", "text": "Lena Ostrova visited Valmont."}]},
}

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["36h", "0s", "-1d", "99999999w", "lena_ostrova", "*", "en", "PER", "sentence", ""])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)
_YAML_PIECES = [
    "id: watch\n",
    "conditions:\n",
    "  - name: who\n",
    "    entities: {any: [lena_ostrova]}\n",
    "    keywords: {en: [x]}\n",
    "a: &anchor [1, 2]\n",
    "b: *anchor\n",
    "c: *undefined\n",
    "<<: *anchor\n",
    "!!python/object:os.system {}\n",
    "!!binary aGVsbG8=\n",
    "? complex key\n",
    "\t- tab\n",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "'unterminated\n",
    '"\\x00"\n',
    "key: [1, 2\n",
    "- " * 50 + "\n",
    "x" * 500 + ": 1\n",
]


def _load(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, content in files.items():
            (root / name).write_bytes(content)
        started = time.monotonic()
        error: RuleError | None = None
        try:
            load_rule_set(root)
        except RuleError as e:
            error = e
        took = time.monotonic() - started
        assert took < _SLOW_S, f"loading took {took:.1f} s"
        if error is not None:
            message = str(error)
            assert any(name in message for name in files) or folder in message, f"names no file: {message}"


def _dump(data: object) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()


_ENTITIES_FILE = _dump(ENTITIES)


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_as_a_watchlist_load_or_raise_rule_error(content: bytes) -> None:
    _load({"entities.yaml": _ENTITIES_FILE, "watch.yaml": content})


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_as_the_gazetteer_load_or_raise_rule_error(content: bytes) -> None:
    _load({"entities.yaml": content, "watch.yaml": _dump(WATCHLIST)})


@FUZZ
@given(_values)
def test_any_yaml_document_as_a_watchlist_loads_or_raises_rule_error(document: object) -> None:
    _load({"entities.yaml": _ENTITIES_FILE, "watch.yaml": _dump(document)})


@FUZZ
@given(st.lists(st.sampled_from(_YAML_PIECES) | st.text(max_size=20), max_size=30))
def test_yaml_syntax_oddities_load_or_raise_rule_error(pieces: list[str]) -> None:
    _load({"entities.yaml": _ENTITIES_FILE, "watch.yaml": "".join(pieces).encode("utf-8", "replace")})


def _mutated(template: Any, draw: st.DrawFn, depth: int = 0) -> Any:
    """Return ``template`` with a few values anywhere in it replaced, removed or added."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            choice = draw(st.integers(0, 9))
            if choice == 0:
                continue  # removed
            out[key] = draw(_values) if choice == 1 else _mutated(value, draw, depth + 1)
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.text(max_size=10))] = draw(_values)
        return out
    if isinstance(template, list):
        items = [_mutated(v, draw, depth + 1) for v in template if draw(st.integers(0, 9))]
        return [*items, draw(_values)] if draw(st.integers(0, 9)) == 0 else items
    return draw(_values) if draw(st.integers(0, 4)) == 0 else template


@FUZZ
@given(st.data())
def test_mutated_watchlists_and_gazetteers_load_or_raise_rule_error(data: st.DataObject) -> None:
    watchlist = data.draw(st.composite(lambda draw: _mutated(WATCHLIST, draw))())
    entities = data.draw(st.composite(lambda draw: _mutated(ENTITIES, draw))())
    _load({"entities.yaml": _dump(entities), "watch.yaml": _dump(watchlist)})


def test_the_unmutated_rules_load() -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "entities.yaml").write_bytes(_ENTITIES_FILE)
        (Path(folder) / "watch.yaml").write_bytes(_dump(WATCHLIST))
        assert [r.id for r in load_rule_set(Path(folder)).rules] == ["watch"]


_GUARDED_LOAD = """
import resource, sys
from pathlib import Path
limit = 1 << 30  # 1 GB of address space: a bomb fails here instead of taking the machine down
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from monitor.errors import RuleError
from monitor.matching.rules import load_rule_set
try:
    load_rule_set(Path(sys.argv[1]))
    print("loaded")
except RuleError as e:
    print("refused:", e)
"""


@pytest.mark.parametrize("victim", ["watch.yaml", "entities.yaml"])
def test_a_yaml_alias_bomb_is_refused_or_loaded_within_bounds(tmp_path: Path, victim: str) -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = ("\n".join(lines) + "\nid: watch\nname: *a9\n").encode()
    (tmp_path / "entities.yaml").write_bytes(_ENTITIES_FILE)
    (tmp_path / "watch.yaml").write_bytes(_dump(WATCHLIST))
    (tmp_path / victim).write_bytes(bomb)
    # In a child process with bounded memory and time: this input is built to exhaust both.
    try:
        done = subprocess.run(
            [sys.executable, "-c", _GUARDED_LOAD, str(tmp_path)], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("loading a 1 KB rules file took more than a minute")
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.startswith(("loaded", "refused:")), done.stdout
