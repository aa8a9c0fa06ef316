"""The gazetteer: watched entities and their aliases, found in text with one Aho-Corasick automaton.

NER alone cannot link "Poutine", "Путин" and "普京" to one person, and spaCy's French model splits
"Kim Jong-un"; a list of aliases per entity does both, in time independent of the number of aliases.
Bare surnames ("Kim", "Xi") are *short aliases*: they name the entity only when the article also
names it in full or NER tags the very span as a person, so "poutine" the dish, "Kim Kardashian" and
"Louis XI" are not linked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ahocorasick
from pydantic import BaseModel, ConfigDict, Field

from monitor.matching.text import fold, fold_with_offsets, is_boundary_free
from monitor.matching.yamlfile import load_yaml, validate
from monitor.models import EntityMention

__all__ = ["AliasHit", "EntitySpec", "Gazetteer", "GazetteerFile"]

_ROMAN_NUMERAL = re.compile(r"[IVXLCDM]+")


class EntitySpec(BaseModel):
    """One watched entity of ``entities.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="stable id used by rules and matches")
    name: str = Field(min_length=1, description="display name")
    type: Literal["PER", "ORG", "LOC", "MISC"] = "PER"
    description: str = ""
    aliases: list[str] = Field(min_length=1, description="full names, any language or script")
    short_aliases: list[str] = Field(default_factory=list, description="ambiguous forms that need support")


class GazetteerFile(BaseModel):
    """The whole of ``entities.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entities: list[EntitySpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class AliasHit:
    """An alias found in the text, before short aliases are confirmed."""

    entity_id: str
    start: int
    end: int
    short: bool


@dataclass(frozen=True, slots=True)
class _Alias:
    entity_id: str
    short: bool
    length: int
    left_boundary: bool
    right_boundary: bool


class Gazetteer:
    """Find the watched entities in a text."""

    def __init__(self, entities: Sequence[EntitySpec]) -> None:
        self._entities = {e.id: e for e in entities}
        self._automaton = ahocorasick.Automaton()
        for entity in entities:
            for alias, short in [(a, False) for a in entity.aliases] + [
                (a, True) for a in entity.short_aliases
            ]:
                key = fold(alias)
                if not key:
                    continue
                self._automaton.add_word(
                    key,
                    _Alias(
                        entity.id,
                        short,
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

        Raises:
            RuleError: ``path:line: field: message`` for a bad file, a duplicate id or a shared alias.
        """
        data, index = load_yaml(path)
        spec = validate(GazetteerFile, data, index)
        ids: set[str] = set()
        owners: dict[str, str] = {}
        for i, entity in enumerate(spec.entities):
            if entity.id in ids:
                raise index.error(("entities", i, "id"), f"duplicate entity id {entity.id!r}")
            ids.add(entity.id)
            for field, aliases in (("aliases", entity.aliases), ("short_aliases", entity.short_aliases)):
                for j, alias in enumerate(aliases):
                    key = fold(alias)
                    if not key:
                        raise index.error(("entities", i, field, j), "alias is empty once folded")
                    if key in owners:
                        raise index.error(
                            ("entities", i, field, j),
                            f"alias {alias!r} already belongs to {owners[key]!r}; an alias names one entity",
                        )
                    owners[key] = entity.id
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
            hits.append(AliasHit(alias.entity_id, offsets[first], offsets[end - 1] + 1, alias.short))
        hits.sort(key=lambda h: h.start)
        return hits

    def resolve(
        self, text: str, hits: Iterable[AliasHit], ner: Sequence[EntityMention] | None = None
    ) -> list[EntityMention]:
        """Return the mentions among ``hits`` that name their entity.

        A full alias always does. A short alias does when it is capitalised, is not part of a longer
        name (a capitalised word after it, a longer NER span around it, a Roman numeral), and either the
        article names the same entity in full or NER (``ner``, when a pipeline ran) tags exactly that
        span PER.
        """
        hits = list(hits)
        named_in_full = {h.entity_id for h in hits if not h.short}
        starts = {h.start for h in hits}
        mentions: list[EntityMention] = []
        for hit in hits:
            if hit.short and not self._short_holds(text, hit, hits, starts, named_in_full, ner):
                continue
            mentions.append(
                EntityMention(
                    text=text[hit.start : hit.end],
                    label=self._entities[hit.entity_id].type,
                    start=hit.start,
                    end=hit.end,
                    entity_id=hit.entity_id,
                    source="gazetteer",
                )
            )
        return mentions

    def _short_holds(
        self,
        text: str,
        hit: AliasHit,
        hits: Sequence[AliasHit],
        starts: set[int],
        named_in_full: set[str],
        ner: Sequence[EntityMention] | None,
    ) -> bool:
        surface = text[hit.start : hit.end]
        if surface[:1].islower():
            return False  # "une poutine": names are capitalised in cased scripts
        if _ROMAN_NUMERAL.fullmatch(surface) and not text[max(0, hit.start - 20) : hit.end + 20].isupper():
            return False  # "Louis XI", "Jean XXIII"
        if _continues_into_name(text, hit.end, starts):
            return False  # "Kim Kardashian", "Kim Yo-jong", "Xi Mingze"
        if ner is not None:
            for span in ner:
                if (
                    span.start <= hit.start
                    and hit.end <= span.end
                    and _names_someone_else(text, span, hit, hits)
                ):
                    return False
        if hit.entity_id in named_in_full:
            return True
        return ner is not None and any(
            span.label == "PER" and span.start == hit.start and span.end == hit.end for span in ner
        )


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
