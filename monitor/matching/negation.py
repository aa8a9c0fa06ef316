"""Negation: whether a word is negated by the cues before it, counted so two negations cancel.

"Xi n'a pas refusé de rencontrer Poutine" is a meeting (pas, refuser: two negations), "Xi n'a jamais
rencontré Poutine" is not (ne … jamais: one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.matching.terms import TermHit, TermIndex
from monitor.matching.text import Token

__all__ = ["Negation", "is_negated", "within"]


@dataclass(frozen=True)
class Negation:
    """A rule's negation cues in one reading: before a word, particles, and whole-sentence ones."""

    before: TermIndex
    particles: TermIndex
    sentence: TermIndex


def within(tokens: Sequence[Token], cue_end: int, target: int, window: int) -> bool:
    """Return whether a cue ending at ``cue_end`` stands at most ``window`` words before ``target``.

    Punctuation in between ends the clause, so "Xi, qui ne cache pas sa joie, a rencontré Kim" is not
    a negated meeting.
    """
    if not 0 <= target - cue_end <= window:
        return False
    return all(t.is_word for t in tokens[cue_end:target])


def is_negated(
    at: int, befores: Sequence[TermHit], particles: Sequence[TermHit], tokens: Sequence[Token], window: int
) -> bool:
    """Return whether the word at token ``at`` is negated: an odd number of negations before it.

    Each ``before`` cue in the window is one negation, so "n'a pas refusé de rencontrer" (pas,
    refuser) is a meeting. ``particles`` ("ne", "jamais", "aucun") negate only when no ``before``
    cue does: with one they are the same negation ("ne … pas", "sans jamais").
    """
    # one word is one negation, however many cues name it ("aucun" and "aucune" both find "aucune")
    count = len({n.first for n in befores if n.end <= at and within(tokens, n.end, at, window)})
    if count == 0:
        count = int(any(n.end <= at and within(tokens, n.end, at, window) for n in particles))
    return count % 2 == 1
