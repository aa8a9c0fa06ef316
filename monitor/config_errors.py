"""Say what is wrong with the settings in one style: the file or variable, the field, the problem, the fix.

pydantic-settings reports ``alert.consol: Extra inputs are not permitted`` without saying whether the
value came from the YAML file or from which environment variable, fails on bad JSON in a variable
with ``error parsing value for field "alert" from source "EnvSettingsSource"``, and silently ignores
a variable whose section is misspelled (``NEWSMON_ALERTS__CONSOLE``). This module turns each into a
line a user can act on, as ``rules check`` does: ``unknown key 'consol'; valid keys are [...]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from monitor.validation import model_at

__all__ = ["env_json_problems", "unknown_variables", "validation_problems"]

PREFIX = "NEWSMON_"
_DELIMITER = "__"
#: Variables newsmon reads that are not settings fields.
_NOT_FIELDS = frozenset({"CONFIG"})


def unknown_variables(environ: Mapping[str, str], model: type[BaseModel]) -> list[str]:
    """Return one problem per ``NEWSMON_`` variable that names no section or top-level setting."""
    valid = sorted(model.model_fields)
    problems = []
    for name in sorted(environ):
        if not name.upper().startswith(PREFIX):
            continue
        head = name[len(PREFIX) :].split(_DELIMITER, 1)[0].lower()
        if head.upper() in _NOT_FIELDS or head in model.model_fields:
            continue
        problems.append(
            f"{name}: unknown section or setting {head!r}; valid names are {valid} "
            f"(variables are {PREFIX}SECTION{_DELIMITER}FIELD, e.g. {PREFIX}ALERT{_DELIMITER}CONSOLE)"
        )
    return problems


def env_json_problems(environ: Mapping[str, str], field: str) -> list[str]:
    """Return one problem per variable of settings section ``field`` whose value is not valid JSON."""
    problems = []
    for name, value in sorted(environ.items()):
        upper = name.upper()
        if upper != f"{PREFIX}{field.upper()}" and not upper.startswith(
            f"{PREFIX}{field.upper()}{_DELIMITER}"
        ):
            continue
        if not value.lstrip().startswith(("[", "{", '"')):
            continue
        try:
            json.loads(value)
        except json.JSONDecodeError as e:
            problems.append(
                f"{name}: invalid JSON: {e.msg} at character {e.pos + 1}; write a JSON list or object, "
                f"e.g. {name}='{_example(value)}'"
            )
    return problems


def validation_problems(
    e: ValidationError,
    model: type[BaseModel],
    environ: Mapping[str, str],
    config_file: Path | None,
) -> list[str]:
    """Return one line per error of ``e``: where the value came from, the field, the problem, the fix."""
    return [_problem(err, model, environ, config_file) for err in e.errors(include_url=False)]


def _problem(
    err: ErrorDetails, model: type[BaseModel], environ: Mapping[str, str], config_file: Path | None
) -> str:
    loc = tuple(err["loc"])
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    variable = _variable(loc, environ)
    if variable is not None:
        where = variable
    elif config_file is not None:
        where = f"{config_file}:{_yaml_line(config_file, loc)}"
    else:
        where = "settings"
    if err["type"] == "extra_forbidden":
        owner = model_at(model, loc[:-1])
        valid = f"; valid keys are {sorted(owner.model_fields)}" if owner is not None else ""
        problem = f"unknown key {loc[-1]!r}{valid}"
    elif err["type"] == "missing":
        problem = "required, not given"
    else:
        problem = err["msg"]
        if isinstance(err.get("input"), int | float | str) and "url" not in field:
            problem += f" (got {err['input']!r})"
    return f"{where}: {field}: {problem}"


def _variable(loc: Sequence[int | str], environ: Mapping[str, str]) -> str | None:
    """Return the environment variable that set the value at ``loc`` (or a part holding it), if any."""
    names = {name.upper(): name for name in environ}
    for end in range(len(loc), 0, -1):
        parts = loc[:end]
        if any(isinstance(p, int) for p in parts):
            continue
        wanted = PREFIX + _DELIMITER.join(str(p).upper() for p in parts)
        if wanted in names:
            return names[wanted]
    return None


def _yaml_line(path: Path, loc: Sequence[int | str]) -> int:
    """Return the 1-based line of the YAML key at ``loc``, or of its deepest existing parent."""
    try:
        node: yaml.Node | None = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return 1
    line = 1 if node is None else int(node.start_mark.line) + 1
    for key in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(key)]
            if found:
                line, child = int(found[0][0].start_mark.line) + 1, found[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            child = node.value[key]
            line = int(child.start_mark.line) + 1
        if child is None:
            break
        node = child
    return line


def _example(value: str) -> str:
    return '{"desk": {"urls": ["mailto://..."]}}' if value.lstrip().startswith("{") else '["mailto://..."]'
