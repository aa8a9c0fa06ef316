"""The presearch: find, with one automaton pass, which keyword anchors an article holds.

Most articles concern none of the watchlists. Running spaCy costs ~100 ms an article, a pass of
Aho-Corasick well under one; so the engine asks the automata first and runs spaCy only for articles
where some rule can still fire (see :meth:`CompiledRule.can_fire`).
"""

from __future__ import annotations

from collections.abc import Sequence

import ahocorasick

from monitor.matching.evaluate import CompiledRule

__all__ = ["Presearch"]


class Presearch:
    """One automaton per language over the anchors of all rules' keywords."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        anchors: dict[str, set[str]] = {}
        for rule in rules:
            for language in rule.rule.languages:
                anchors.setdefault(language, set()).update(rule.anchors(language))
        self._automata: dict[str, ahocorasick.Automaton] = {}
        for language, keys in anchors.items():
            if not keys:
                continue
            automaton = ahocorasick.Automaton()
            for key in keys:
                automaton.add_word(key, key)
            automaton.make_automaton()
            self._automata[language] = automaton

    def anchors(self, folded: str, language: str) -> set[str]:
        """Return the anchors of ``language`` found at a word start in the folded text ``folded``."""
        automaton = self._automata.get(language)
        if automaton is None:
            return set()
        found: set[str] = set()
        for last, key in automaton.iter(folded):
            first = last - len(key) + 1
            if first == 0 or not folded[first - 1].isalnum():
                found.add(key)
        return found
