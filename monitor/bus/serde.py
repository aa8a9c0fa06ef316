"""Encode models to message values and back, turning every decoding failure into MessageError."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from monitor.errors import MessageError

__all__ = ["decode", "encode"]

M = TypeVar("M", bound=BaseModel)


def encode(model: BaseModel) -> bytes:
    """Return the JSON bytes of ``model``."""
    return model.model_dump_json().encode("utf-8")


def decode(value: bytes | None, model: type[M]) -> M:
    """Return ``value`` parsed as ``model``.

    Raises:
        MessageError: the value is empty, not JSON, of an unknown schema version, or invalid.
    """
    if not value:
        raise MessageError(f"empty message where a {model.__name__} was expected")
    try:
        return model.model_validate_json(value)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise MessageError(
            f"not a valid {model.__name__}: {where}: {first['msg']} ({e.error_count()} errors)"
        ) from e
