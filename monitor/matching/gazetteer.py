"""The gazetteer: watched entities and their aliases, found in text with one Aho-Corasick automaton.

NER alone cannot link "Poutine", "Путин" and "普京" to one person, and spaCy's French model splits
"Kim Jong-un"; a list of aliases per entity does both, in time independent of the number of aliases.
Bare surnames ("Kim", "Xi") are *short aliases*: they name the entity only when the article also
names it in full, another watched name stands right beside them ("Poutine et Kim"), or NER tags the
very span as a person; so "poutine" the dish, "Kim Kardashian" and "Louis XI" are not linked. An
alias several entities share ("Kim" for Kim Jong-un and Kim Yo-jong) names the one of them the article
also names unambiguously, and nobody when that is not exactly one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import ahocorasick
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from monitor.matching.text import fold, fold_with_offsets, is_boundary_free
from monitor.matching.yamlfile import load_yaml, validate
from monitor.models import EntityMention

__all__ = ["AliasHit", "EntitySpec", "Gazetteer", "GazetteerFile", "RoleSpec"]

_ROMAN_NUMERAL = re.compile(r"[IVXLCDM]+")
_NEIGHBOURS = 30
"""Characters between two watched names for them to vouch for each other ("Poutine et Kim")."""


class RoleSpec(BaseModel):
    """A role descriptor that names the entity while it holds the role ("the Chinese president")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    names: list[str] = Field(min_length=1, description="the role as written, any language or script")
    since: date | None = Field(None, description="first day the entity held the role")
    until: date | None = Field(None, description="last day the entity held the role; none while it does")


class EntitySpec(BaseModel):
    """One watched entity of ``entities.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="stable id used by rules and matches")
    name: str = Field(min_length=1, description="display name")
    names: dict[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")], str] = Field(
        default_factory=dict,
        description="display name per language (ISO 639-1), for alerts to a desk of that language",
    )
    type: Literal["PER", "ORG", "LOC", "MISC"] = "PER"
    description: str = ""
    aliases: list[str] = Field(min_length=1, description="full names, any language or script")
    short_aliases: list[str] = Field(default_factory=list, description="ambiguous forms that need support")
    roles: list[RoleSpec] = Field(
        default_factory=list, description="role descriptors: they name the entity where the article names it"
    )


class GazetteerFile(BaseModel):
    """The whole of ``entities.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entities: list[EntitySpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class AliasHit:
    """An alias found in the text, before short and shared aliases are confirmed."""

    entity_ids: tuple[str, ...]
    """The entities the alias may name: one, unless several entities list it."""
    start: int
    end: int
    short: bool
    periods: tuple[tuple[date | None, date | None], ...] = ()
    """For a role descriptor, the days its entity held the role; empty for a name."""

    @property
    def role(self) -> bool:
        """Return whether the hit is a role descriptor ("le président chinois"), not a name."""
        return bool(self.periods)

    @property
    def entity_id(self) -> str:
        """Return the first entity the alias may name (the only one unless it is shared)."""
        return self.entity_ids[0]

    @property
    def shared(self) -> bool:
        """Return whether several entities list this alias."""
        return len(self.entity_ids) > 1


@dataclass(frozen=True, slots=True)
class _Alias:
    entity_ids: tuple[str, ...]
    short: bool
    periods: tuple[tuple[date | None, date | None], ...]
    length: int
    left_boundary: bool
    right_boundary: bool


class Gazetteer:
    """Find the watched entities in a text."""

    def __init__(self, entities: Sequence[EntitySpec]) -> None:
        self._entities = {e.id: e for e in entities}
        owners: dict[str, dict[str, bool]] = {}
        periods: dict[str, list[tuple[date | None, date | None]]] = {}
        for entity in entities:
            for alias, short in [(a, False) for a in entity.aliases] + [
                (a, True) for a in entity.short_aliases
            ]:
                key = fold(alias)
                if key:
                    held = owners.setdefault(key, {})
                    held[entity.id] = held.get(entity.id, False) or short
            for role in entity.roles:
                for name in role.names:
                    key = fold(name)
                    if key and key not in owners:
                        owners[key] = {entity.id: True}
                        periods.setdefault(key, []).append((role.since, role.until))
        self._automaton = ahocorasick.Automaton()
        for key, held in owners.items():
            self._automaton.add_word(
                key,
                _Alias(
                    tuple(held),
                    any(held.values()),  # short for one owner: it needs support whoever it names
                    tuple(periods.get(key, ())) if len(held) == 1 else (),
                    len(key),
                    not is_boundary_free(key[0]),
                    not is_boundary_free(key[-1]),
                ),
            )
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        """Read ``path`` (``entities.yaml``).

        An alias may be shared by several entities, but an entity lists each alias once.

        Raises:
            RuleError: ``path:line: field: message`` for a bad file, a duplicate id or a repeated alias.
        """
        data, index = load_yaml(path)
        spec = validate(GazetteerFile, data, index)
        ids: set[str] = set()
        for i, entity in enumerate(spec.entities):
            if entity.id in ids:
                raise index.error(("entities", i, "id"), f"duplicate entity id {entity.id!r}")
            ids.add(entity.id)
            seen: dict[str, str] = {}
            for field, aliases in (("aliases", entity.aliases), ("short_aliases", entity.short_aliases)):
                for j, alias in enumerate(aliases):
                    key = fold(alias)
                    if not key:
                        raise index.error(("entities", i, field, j), "alias is empty once folded")
                    if key in seen:
                        raise index.error(
                            ("entities", i, field, j),
                            f"alias {alias!r} repeats {seen[key]!r} of the same entity once folded",
                        )
                    seen[key] = alias
        return cls(spec.entities)

    @property
    def ids(self) -> frozenset[str]:
        """Return the ids of all entities."""
        return frozenset(self._entities)

    def entity(self, entity_id: str) -> EntitySpec:
        """Return the entity ``entity_id``."""
        return self._entities[entity_id]

    def scan(self, text: str, prefolded: tuple[str, list[int]] | None = None) -> list[AliasHit]:
        """Return every alias in ``text``, longest first where they overlap, in text order.

        Matching ignores case and accents and needs word boundaries, except at the edge of an alias
        written in a script without spaces (CJK, kana, Hangul). ``prefolded`` is
        ``fold_with_offsets(text)`` when the caller already has it.
        """
        if self._empty:
            return []
        folded, offsets = prefolded or fold_with_offsets(text)
        candidates: list[tuple[int, int, _Alias]] = []
        for last, alias in self._automaton.iter(folded):
            first = last - alias.length + 1
            if alias.left_boundary and first > 0 and folded[first - 1].isalnum():
                continue
            if alias.right_boundary and last + 1 < len(folded) and folded[last + 1].isalnum():
                continue
            candidates.append((first, last + 1, alias))
        candidates.sort(key=lambda c: (c[0] - c[1], c[2].short, c[0]))
        taken: list[tuple[int, int]] = []
        hits: list[AliasHit] = []
        for first, end, alias in candidates:
            if any(first < e and s < end for s, e in taken):
                continue
            taken.append((first, end))
            hits.append(
                AliasHit(alias.entity_ids, offsets[first], offsets[end - 1] + 1, alias.short, alias.periods)
            )
        hits.sort(key=lambda h: h.start)
        return hits

    def resolve(
        self,
        text: str,
        hits: Iterable[AliasHit],
        ner: Sequence[EntityMention] | None = None,
        on: date | None = None,
    ) -> list[EntityMention]:
        """Return the mentions among ``hits`` that name their entity.

        A full alias of one entity always does. A shared alias names the one of its entities that the
        article names by an unshared full alias, and nobody if that is not exactly one. A short alias
        does when it is capitalised, is not part of a longer name (a capitalised word after it, a longer
        NER span around it, a Roman numeral), and either the article names the same entity in full or
        NER (``ner``, when a pipeline ran) tags exactly that span PER. A role descriptor ("the North
        Korean leader") names its entity when the article names that entity in full too and, given the
        article's day ``on``, the entity held the role that day.
        """
        hits = list(hits)
        named_in_full = {h.entity_id for h in hits if not h.short and not h.shared}
        roles = [h for h in hits if h.role]
        if roles:
            hits = [h for h in hits if not h.role] + [
                h for h in roles if h.entity_id in named_in_full and _held(h.periods, on)
            ]
            hits.sort(key=lambda h: h.start)
        starts = {h.start for h in hits}
        mentions: list[EntityMention] = []
        for hit in hits:
            entity_id = hit.entity_id
            if hit.shared:
                named = [e for e in hit.entity_ids if e in named_in_full]
                if len(named) != 1:
                    continue
                entity_id = named[0]
            if (
                hit.short
                and not hit.role
                and not self._short_holds(text, hit, entity_id, hits, starts, named_in_full, ner)
            ):
                continue
            mentions.append(
                EntityMention(
                    text=text[hit.start : hit.end],
                    label=self._entities[entity_id].type,
                    start=hit.start,
                    end=hit.end,
                    entity_id=entity_id,
                    source="gazetteer",
                )
            )
        return mentions

    def _short_holds(
        self,
        text: str,
        hit: AliasHit,
        entity_id: str,
        hits: Sequence[AliasHit],
        starts: set[int],
        named_in_full: set[str],
        ner: Sequence[EntityMention] | None,
    ) -> bool:
        if not _looks_like_the_name(text, hit, starts):
            return False
        if ner is not None:
            for span in ner:
                if (
                    span.start <= hit.start
                    and hit.end <= span.end
                    and _names_someone_else(text, span, hit, hits)
                ):
                    return False
        if entity_id in named_in_full:
            return True
        if any(
            other.entity_id != entity_id
            and not other.shared
            and -_NEIGHBOURS <= other.start - hit.end <= _NEIGHBOURS + hit.end - hit.start
            and (not other.short or _looks_like_the_name(text, other, starts))
            for other in hits
        ):
            return True  # "Poutine et Kim", "le sommet Kim-Xi": two watched names vouch for each other
        return ner is not None and any(
            span.label == "PER" and span.start == hit.start and span.end == hit.end for span in ner
        )


def _held(periods: Sequence[tuple[date | None, date | None]], on: date | None) -> bool:
    """Return whether ``on`` falls in one of the periods (any day does when ``on`` is unknown)."""
    return on is None or any(
        (since is None or since <= on) and (until is None or on <= until) for since, until in periods
    )


def _looks_like_the_name(text: str, hit: AliasHit, starts: set[int]) -> bool:
    """Return whether a short alias is written as a name and is not the start of another one."""
    surface = text[hit.start : hit.end]
    if surface[:1].islower():
        return False  # "une poutine": names are capitalised in cased scripts
    if _ROMAN_NUMERAL.fullmatch(surface) and not text[max(0, hit.start - 20) : hit.end + 20].isupper():
        return False  # "Louis XI", "Jean XXIII"
    return not _continues_into_name(text, hit.end, starts)  # "Kim Kardashian", "Kim Yo-jong"


def _continues_into_name(text: str, end: int, starts: set[int]) -> bool:
    """Return whether a capitalised word follows ``end`` directly, and is not itself a watched alias."""
    i = end
    if i < len(text) and text[i] in " -‐‑":
        i += 1
        if i < len(text) and text[i].isupper() and text[i].isalpha():
            return i not in starts
    return False


def _names_someone_else(text: str, span: EntityMention, hit: AliasHit, hits: Sequence[AliasHit]) -> bool:
    """Return whether ``span`` holds a capitalised word besides ``hit`` that no other alias explains.

    NER's "Kim Kardashian" or "Ludmila Poutine" is another person; "Kim, Xi et Poutine" or "sommet
    Kim-Xi" is several watched ones; "Xi et du président" is NER overreaching, not a different name.
    """
    for m in re.finditer(r"\w{3,}", text[span.start : span.end]):
        s, e = span.start + m.start(), span.start + m.end()
        if (hit.start <= s and e <= hit.end) or not m.group()[0].isupper():
            continue
        if not any(h.start <= s and e <= h.end for h in hits):
            return True
    return False
