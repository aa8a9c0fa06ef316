"""Text normalisation for event dedup: fold case and accents, keep content words, cut word shingles. Pure.

Outlets write the same news with different accents, case, dashes and inflections ("Kim Jong Un" /
"Kim Jong-un", "rencontré" / "rencontre"): comparing folded, truncated content words makes those
agree without a language model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["STEM_CHARS", "content_tokens", "fold", "shingles", "words"]

#: Content words are cut to this many characters: a crude stemmer that is good enough for French and
#: English inflections (rencontre/rencontré/rencontrer) and costs nothing.
STEM_CHARS = 5

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    """
    le la les un une des de du d l et en au aux dans sur pour par avec sans sous que qui quoi dont ou
    ce cet cette ces son sa ses leur leurs il elle ils elles on nous vous se s n ne pas plus est sont
    ete etre avait avaient ont lors apres avant entre tres aussi comme mais donc car ainsi deux
    tout tous toute toutes meme autre autres selon depuis dont cela celui celle ceux leurs notre nos
    the of and to in on for with at by from as is was were be been has have had that this it its an or
    but not are their they he she his her will would after before into over about than then there
    """.strip()
    .replace("\n", " ")
    .split(" ")
) - {""}


def fold(text: str) -> str:
    """Return ``text`` lower-cased, without accents, with typographic apostrophes and dashes made ASCII."""
    text = text.replace("\u2019", "'").replace("\u2011", "-").replace("\u2010", "-").lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Return the folded words of ``text``, in order, stop words included (for shingles)."""
    return _WORD.findall(fold(text))


def content_tokens(texts: Iterable[str]) -> frozenset[str]:
    """Return the stems of the content words of ``texts``: no stop words, numbers or short words."""
    return frozenset(
        w[:STEM_CHARS]
        for text in texts
        for w in _WORD.findall(fold(text))
        if len(w) > 2 and not w.isdigit() and w not in _STOPWORDS
    )


def shingles(tokens: list[str], size: int = 3) -> set[bytes]:
    """Return the ``size``-word shingles of ``tokens``: what near-duplicate texts share most of."""
    if len(tokens) < size:
        return {" ".join(tokens).encode("utf-8")} if tokens else set()
    return {" ".join(tokens[i : i + size]).encode("utf-8") for i in range(len(tokens) - size + 1)}
