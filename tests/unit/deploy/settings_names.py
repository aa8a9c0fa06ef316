"""The ``NEWSMON_...`` variable of every setting, to check that deployment files only set real ones."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from monitor.settings import Settings


def _env_names(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[str]:
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _env_names(ann, (*prefix, name))
        else:
            yield "NEWSMON_" + "__".join(p.upper() for p in (*prefix, name))


def setting_env_names() -> set[str]:
    """Return every environment variable newsmon reads (an unknown one stops it at start)."""
    return set(_env_names(Settings))
