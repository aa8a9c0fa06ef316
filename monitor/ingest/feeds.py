"""The feeds file: which feeds to poll, validated at load with file:line:field errors.

Format (YAML)::

    feeds:
      - id: france24_fr             # unique, [A-Za-z0-9_.-]
        url: https://www.france24.com/fr/rss
        language: fr                # optional hint, ISO 639-1 ('fr-FR' is read as 'fr')
        tags: [international]       # optional, copied onto every article
        poll_interval_s: 600        # optional, a fixed interval instead of the adaptive one
        expected_period_s: 3600     # optional, how often it publishes; default: learned from its items
        full_text: true             # optional, overrides ingest.full_text for this feed
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.errors import ConfigError
from monitor.masking import redact
from monitor.validation import describe_error

__all__ = ["ALLOWED_SCHEMES", "FeedConfig", "load_feeds", "normalise_language"]

ALLOWED_SCHEMES = ("http", "https", "file")

_LANGUAGE = re.compile(r"^[a-z]{2}$")


def normalise_language(code: str | None) -> str | None:
    """Return the ISO 639-1 part of a language tag ('fr-FR' → 'fr'), or None when there is none.

    Feeds write 'en-us', 'fr_FR', 'FR' or 'x-default'; matching needs one two-letter code.
    """
    if not code:
        return None
    primary = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return primary if _LANGUAGE.match(primary) else None


class FeedConfig(BaseModel):
    """One feed to poll, as written in the feeds file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="unique id, used in metrics and logs"
    )
    url: str
    language: str | None = Field(None, description="ISO 639-1 hint, used when the feed declares none")
    tags: tuple[str, ...] = ()
    poll_interval_s: float | None = Field(None, gt=0, description="fixed interval, not the adaptive one")
    expected_period_s: float | None = Field(
        None, gt=0, description="seconds between two items; silent for long past it, the feed is stale"
    )
    full_text: bool | None = Field(None, description="fetch article pages for full text; None: the setting")

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise ValueError(
                f"scheme {parts.scheme or '(none)'!r} not allowed; valid schemes are {list(ALLOWED_SCHEMES)}"
            )
        if parts.scheme.lower() != "file" and not parts.hostname:
            raise ValueError("URL has no host")
        if parts.scheme.lower() == "file" and not parts.path:
            raise ValueError("file URL has no path")
        return url

    @field_validator("language")
    @classmethod
    def _check_language(cls, language: str | None) -> str | None:
        if language is None:
            return None
        code = normalise_language(language)
        if code is None:
            raise ValueError(f"{language!r} is not a language code such as 'fr' or 'en-GB'")
        return code

    @property
    def display_url(self) -> str:
        """Return the URL with its credentials and secret query values (``?token=``) masked.

        This is what logs, errors and ``feeds check`` show: a feed URL may carry an access token.
        """
        return redact(self.url)


def load_feeds(path: Path) -> list[FeedConfig]:
    """Read and validate the feeds file at ``path``.

    Every problem is reported at once, one per line, as ``path:line: feeds[i].field: message``, so a
    user fixes the file in one pass.

    Raises:
        ConfigError: the file is missing, is not YAML, or holds an invalid or duplicate feed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read feeds file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: feeds file is not UTF-8: {e}") from e
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {e.problem or e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e

    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        raise ConfigError(f"{path}:{_line(root, ())}: expected a mapping with a 'feeds:' list")
    unknown = sorted(str(k) for k in data if k != "feeds")
    if unknown:
        raise ConfigError(
            f"{path}:{_line(root, (unknown[0],))}: unknown key {unknown[0]!r}; valid keys are ['feeds']"
        )

    feeds: list[FeedConfig] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for i, item in enumerate(data["feeds"]):
        where = ("feeds", i)
        if not isinstance(item, dict):
            problems.append(f"{path}:{_line(root, where)}: feeds[{i}]: expected a mapping with id and url")
            continue
        try:
            feed = FeedConfig.model_validate(item)
        except ValidationError as e:
            for err in e.errors(include_url=False):
                loc = tuple(err["loc"])
                field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
                line = _line(root, (*where, *loc))
                problems.append(f"{path}:{line}: feeds[{i}]{field}: {describe_error(FeedConfig, err)}")
            continue
        line = _line(root, (*where, "id"))
        if feed.id in first_line:
            problems.append(
                f"{path}:{line}: feeds[{i}].id: duplicate feed id {feed.id!r}"
                f" (first at line {first_line[feed.id]})"
            )
            continue
        first_line[feed.id] = line
        feeds.append(feed)
    if problems:
        raise ConfigError("\n".join(problems))
    return feeds


def _line(node: yaml.Node | None, loc: Sequence[str | int]) -> int:
    """Return the 1-based line of the node at ``loc``, or of its deepest existing parent.

    A missing field is reported at the line of the mapping that lacks it.
    """
    if node is None:
        return 1
    for key in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1
