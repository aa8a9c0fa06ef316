"""Who takes part in what: a dependency parse of one sentence, and the test that ties a name to a keyword.

Co-occurrence is not a relation: "Le sommet de l'OTAN a condamné le soutien de Kim Jong-un à Vladimir
Poutine" names two leaders and a summit, but the leaders do not meet. The parse says that Kim is the
complement of "soutien" (support), a noun of its own, while the summit is the subject of "condamné".
A mention takes part in a keyword's event when the keyword governs it, or both hang from the same
predicate with the mention as a direct argument, not buried inside another noun phrase.

Parsing costs about as much as the rest of the pipeline together, so the engine asks for a parse only
for a sentence that already satisfies a rule on the surface, and only for rules that ask for it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import cached_property

__all__ = ["Node", "Parse"]

# Links that stay inside one name or one list of names: "Kim Jong-un et Vladimir Poutine", "les
# dirigeants, Xi Jinping, ...", "le président chinois Xi Jinping".
_NAME_LINKS = frozenset({"flat", "flat:name", "flat:foreign", "fixed", "appos", "conj", "compound", "nn"})
# Links from a predicate to a complement that can carry the event ("ont tenu des entretiens", "sont
# apparus ensemble", "a participé au sommet"), as opposed to its subject.
_COMPLEMENT_STEPS = 2
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Node:
    """One token of a parsed sentence: its span in the analysed text and its syntactic head."""

    start: int
    end: int
    head: int
    """Index of the head node; the root is its own head."""
    dep: str
    pos: str
    has_case: bool
    """Whether a preposition marks it ("de Kim", "à Poutine"): a complement, not a title's name."""


@dataclass(frozen=True)
class Parse:
    """The dependency tree of one sentence."""

    nodes: tuple[Node, ...]

    @cached_property
    def _starts(self) -> list[int]:
        return [n.start for n in self.nodes]

    def head_of(self, start: int, end: int) -> int | None:
        """Return the node that heads the span ``[start, end)`` (its head lies outside), or None."""
        lo = max(0, bisect.bisect_right(self._starts, start) - 1)
        hi = bisect.bisect_left(self._starts, end)
        inside = [i for i in range(lo, hi) if self.nodes[i].start < end and start < self.nodes[i].end]
        for i in inside:
            if self.nodes[i].head not in inside or self.nodes[i].head == i:
                return i
        return inside[0] if inside else None

    def _ancestors(self, i: int) -> list[int]:
        out: list[int] = []
        while len(out) < _MAX_DEPTH:
            head = self.nodes[i].head
            if head == i:
                break
            out.append(head)
            i = head
        return out

    def _argument(self, i: int) -> int:
        """Climb from a name to the phrase that fills a role: through lists, appositions and titles."""
        for _ in range(_MAX_DEPTH):
            node = self.nodes[i]
            if node.head == i:
                return i
            head = self.nodes[node.head]
            title = node.dep.startswith("nmod") and not node.has_case and head.pos in ("NOUN", "PROPN")
            if node.dep in _NAME_LINKS or title:
                i = node.head
                continue
            return i
        return i

    def related(self, mention: tuple[int, int], keyword: tuple[int, int]) -> bool:
        """Return whether the mention at ``mention`` takes part in the event the ``keyword`` span names.

        True when the keyword is an ancestor of the mention's phrase ("Xi a rencontré Poutine", "le
        sommet entre Kim et Xi"), lies inside it ("Kim, en visite à Pékin"), or is a complement of
        the predicate the phrase is an argument of ("ils ont tenu des entretiens"). Falsy when the
        mention hangs from another noun ("le soutien de Kim").
        """
        m, k = self.head_of(*mention), self.head_of(*keyword)
        if m is None or k is None:
            return False
        a = self._argument(m)
        if k == a or k in self._ancestors(a):
            return True
        if a in self._ancestors(k):
            return True
        governor = self.nodes[a].head
        return governor != a and governor in self._ancestors(k)[:_COMPLEMENT_STEPS]
