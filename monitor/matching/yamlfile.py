"""Read a YAML file into a pydantic model, failing with ``path:line: field: message``.

A rule author fixes a file faster when told where: every error names the file, the line of the
offending key or value, and the dotted field path. An unknown key lists the valid ones, because a typo
("treshold") is the most common mistake in hand-written YAML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from monitor.errors import RuleError
from monitor.validation import describe_error

__all__ = ["LineIndex", "format_loc", "load_yaml", "validate"]

Loc = tuple[int | str, ...]
M = TypeVar("M", bound=BaseModel)


class LineIndex:
    """Map a field path (``("conditions", 0, "keywords")``) to its 1-based line in the file."""

    def __init__(self, path: Path, lines: dict[Loc, int]) -> None:
        self.path = path
        self._lines = lines

    def line(self, loc: Sequence[int | str]) -> int:
        """Return the line of ``loc``, else of its nearest ancestor that has one (1 for the document)."""
        key = tuple(loc)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return self._lines.get((), 1)

    def error(self, loc: Sequence[int | str], message: str) -> RuleError:
        """Return a RuleError for ``loc`` in this file."""
        where = f"{self.path}:{self.line(loc)}"
        field = format_loc(loc)
        return RuleError(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def format_loc(loc: Sequence[int | str]) -> str:
    """Return ``loc`` as a dotted path with list indexes in brackets: ``conditions[1].keywords.fr``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path, visited: set[int]) -> None:
    # An alias is the same node met a second time. Refused at the first reuse, so a file of nested
    # aliases (a "billion laughs" bomb) costs one pass over its text, not an exponential expansion.
    if id(node) in visited:
        raise RuleError(
            f"{path}:{node.start_mark.line + 1}: {format_loc(loc) or '(root)'}: YAML anchors and aliases "
            "(&name, *name) are not supported in rule files; write the value out"
        )
    visited.add(id(node))
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise RuleError(
                    f"{path}:{key_node.start_mark.line + 1}: {format_loc((*loc, key))}: duplicate key"
                )
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _index(value_node, (*loc, key), lines, path, visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, path, visited)


def load_yaml(path: Path) -> tuple[Any, LineIndex]:
    """Parse ``path`` and return its data and the line of every field.

    Raises:
        RuleError: the file cannot be read, is not YAML, or repeats a key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError(f"{path}: cannot read: {e}") from e
    loader: yaml.SafeLoader | None = None
    try:
        # Inside the try: the constructor already reads the text, and refuses control characters.
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, LineIndex(path, {(): 1})
        lines: dict[Loc, int] = {}
        _index(node, (), lines, path, set())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise RuleError(f"{path}:{line}: invalid YAML: {e.problem or e.context}") from e
    except yaml.YAMLError as e:
        raise RuleError(f"{path}: invalid YAML: {e}") from e
    finally:
        if loader is not None:
            loader.dispose()
    return data, LineIndex(path, lines)


def validate(model: type[M], data: Any, index: LineIndex, *, context: Mapping[str, Any] | None = None) -> M:
    """Validate ``data`` as ``model``, reporting every problem as ``path:line: field: message``.

    Raises:
        RuleError: one line per invalid field.
    """
    try:
        return model.model_validate(data, context=dict(context or {}))
    except ValidationError as e:
        problems = [
            str(index.error(tuple(err["loc"]), describe_error(model, err)))
            for err in e.errors(include_url=False)
        ]
        raise RuleError("\n".join(problems)) from e
