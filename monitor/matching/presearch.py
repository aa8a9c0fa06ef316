"""The presearch: which rules can fire on an article, in time that does not grow with the number of rules.

Most articles concern none of the watchlists, and a desk may run thousands of them. One Aho-Corasick
pass finds the keyword anchors an article holds (the gazetteer's pass finds its names); each rule is
filed under a few *trigger* keys, one of which every article it can fire on must contain (see
:meth:`CompiledRule.triggers`). The rules filed under the keys present are the only ones looked at,
so an article costs the same whether 10 or 10,000 rules watch other names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import ahocorasick

from monitor.matching.evaluate import ANY, CompiledRule, entity_key
from monitor.matching.text import is_boundary_free

__all__ = ["Presearch"]


class Presearch:
    """An automaton per language over its keyword anchors, one over all, and the rules by trigger key."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        anchors: dict[str, set[str]] = {ANY: set()}
        listed = [set(rule.rule.languages) for rule in rules]
        self._covered: frozenset[str] = frozenset(set.intersection(*listed)) if listed else frozenset()
        self._by_key: dict[str, list[int]] = {}
        for n, rule in enumerate(rules):
            anchors[ANY].update(rule.anchors())
            for language in rule.rule.languages:
                anchors.setdefault(language, set()).update(rule.anchors(language))
            for key in rule.triggers():
                self._by_key.setdefault(key, []).append(n)
        self._automata: dict[str, ahocorasick.Automaton] = {}
        for language, keys in anchors.items():
            if not keys:
                continue
            automaton = ahocorasick.Automaton()
            for key in keys:
                automaton.add_word(key, (key, not is_boundary_free(key[0])))
            automaton.make_automaton()
            self._automata[language] = automaton

    def covers(self, language: str) -> bool:
        """Return whether every rule lists words for ``language`` (its anchors are then all it needs)."""
        return language in self._covered

    def anchors(self, folded: str, language: str = ANY) -> list[tuple[int, str]]:
        """Return each anchor of ``language`` (default: of all languages) in the folded text, with offsets.

        Anchors match at a word start, except in scripts written without spaces.
        """
        automaton = self._automata.get(language)
        if automaton is None:
            return []
        found: list[tuple[int, str]] = []
        for last, (key, boundary) in automaton.iter(folded):
            first = last - len(key) + 1
            if not boundary or first == 0 or not folded[first - 1].isalnum():
                found.append((first, key))
        return found

    def candidates(self, entity_ids: Iterable[str], anchors: Iterable[str]) -> list[int]:
        """Return the indexes, in rule order, of the rules filed under a key present in the article."""
        filed = self._by_key
        picked: set[int] = set()
        for key in [entity_key(e) for e in entity_ids] + list(anchors):
            picked.update(filed.get(key, ()))
        return sorted(picked)
