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

from monitor.matching.evaluate import CompiledRule, entity_key
from monitor.matching.text import is_boundary_free

__all__ = ["Presearch"]


class Presearch:
    """One automaton over all keyword anchors, and the rules filed by trigger key."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        anchors: set[str] = set()
        self._by_key: dict[str, list[int]] = {}
        for n, rule in enumerate(rules):
            anchors.update(rule.anchors())
            for key in rule.triggers():
                self._by_key.setdefault(key, []).append(n)
        self._automaton: ahocorasick.Automaton | None = None
        if anchors:
            self._automaton = ahocorasick.Automaton()
            for key in anchors:
                self._automaton.add_word(key, (key, not is_boundary_free(key[0])))
            self._automaton.make_automaton()

    def anchors(self, folded: str) -> list[tuple[int, str]]:
        """Return each anchor found in the folded text, with its folded start offset.

        Anchors of every language are looked for: rules try all their languages' words on an article.
        Anchors match at a word start, except in scripts written without spaces.
        """
        automaton = self._automaton
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
