"""Describe a pydantic validation error as newsmon's input errors do: the problem and the fix.

Shared by every loader of user-written files and settings (watchlists, feeds, config), so that one
mistake reads the same wherever it is made.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["describe_error", "model_at"]


def _unwrap(tp: Any) -> list[Any]:
    """Return the candidate types ``tp`` stands for once Optional/Union/Annotated are removed."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(tp) for t in _unwrap(arg)]
    if origin is not None and getattr(tp, "__metadata__", None) is not None:
        return _unwrap(get_args(tp)[0])
    return [tp]


def model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """Return the model class that holds the fields at ``loc`` inside ``model``, if one does."""
    current: list[Any] = [model]
    for part in loc:
        following: list[Any] = []
        for tp in current:
            for t in _unwrap(tp):
                origin = get_origin(t)
                if isinstance(t, type) and issubclass(t, BaseModel):
                    field = t.model_fields.get(str(part))
                    if field is not None:
                        following.append(field.annotation)
                elif origin in (list, tuple, set, frozenset) or (
                    isinstance(origin, type) and issubclass(origin, Sequence)
                ):
                    following.extend(get_args(t)[:1])
                elif origin is dict or (isinstance(origin, type) and issubclass(origin, Mapping)):
                    following.extend(get_args(t)[1:2])
        current = following
    for tp in current:
        for t in _unwrap(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                return t
    return None


def describe_error(model: type[BaseModel], err: Mapping[str, Any]) -> str:
    """Return pydantic's error ``err`` (from validating ``model``) in newsmon's words, with the fix.

    ``unknown key; valid keys are [...]`` rather than "Extra inputs are not permitted", and "expected a
    list" rather than "Input should be a valid tuple": the user wrote YAML, not Python.
    """
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        owner = model_at(model, loc[:-1])
        valid = ", ".join(sorted(owner.model_fields)) if owner else "?"
        return f"unknown key; valid keys are [{valid}]"
    if err["type"] in ("tuple_type", "list_type", "set_type"):
        return f"expected a list, such as [a, b] (got {err.get('input')!r})"
    if err["type"] == "literal_error":
        return f"{err['msg']} (got {err.get('input')!r})"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "string_type" and isinstance(err.get("input"), bool):
        msg += " (YAML reads yes/no/on/off/true/false as booleans: quote the word)"
    return msg
