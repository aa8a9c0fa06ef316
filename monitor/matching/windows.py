"""Where a rule may look: the stretches spaCy annotates, and runs of consecutive sentences.

A rule reads one sentence at a time unless it says ``scope: sentences``; then a run of up to N
consecutive sentences (the title counting as the first) is read as one. These helpers keep that
bookkeeping out of the engine.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

from monitor.matching.evaluate import CompiledRule
from monitor.matching.text import Sentence

__all__ = ["AnchorIndex", "merge_segments", "reach", "windows"]


def merge_segments(spans: Sequence[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Return ``spans`` sorted and joined where they touch within a line: the stretches to annotate.

    Adjacent sentences go to spaCy together (NER sees some context); a line break is never crossed.
    """
    merged: list[tuple[int, int]] = []
    for s, e in sorted(set(spans)):
        if (merged and s <= merged[-1][1] + 2 and "\n" not in text[merged[-1][1] : s]) or (
            merged and s < merged[-1][1]
        ):
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


class AnchorIndex:
    """Anchors found in a text, by position, to ask which stand in a span."""

    def __init__(self, found: Sequence[tuple[int, str]]) -> None:
        self._ordered = sorted(found)
        self._starts = [pos for pos, _ in self._ordered]

    def within(self, start: int, end: int) -> set[str]:
        """Return the anchors that start in ``[start, end)``."""
        lo, hi = bisect.bisect_left(self._starts, start), bisect.bisect_left(self._starts, end)
        return {key for _, key in self._ordered[lo:hi]}


def reach(rule: CompiledRule) -> int:
    """Return how many consecutive sentences the rule's conditions may spread over."""
    return rule.rule.sentences if rule.rule.scope == "sentences" else 1


def windows(
    sentences: Sequence[Sentence], picked: Sequence[int], size: int, alone: Callable[[Sentence], bool]
) -> list[Sentence]:
    """Return the picked sentences, and with ``size`` > 1 every run of up to ``size`` consecutive ones.

    A run is read as one sentence (its tokens joined), so a rule whose leaders stand in the title and
    whose word of meeting opens the lede fires on the two together. A run is formed only of sentences
    none of which could satisfy the rule ``alone``: such a sentence is judged by itself.
    """
    chosen = [sentences[k] for k in picked]
    if size == 1:
        return chosen
    present = {k for k in picked if not alone(sentences[k])}
    for k in sorted(present):
        for extra in range(1, size):
            if k + extra not in present:
                break
            last = sentences[k + extra]
            tokens = tuple(t for s in sentences[k : k + extra + 1] for t in s.tokens)
            chosen.append(Sentence(sentences[k].start, last.end, tokens))
    return chosen
