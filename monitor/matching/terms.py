"""Keyword terms: matched on lemmas, surfaces and a little inflection, one sentence at a time.

A term is one or more words ("rencontrer", "défilé militaire", "poignée de main"). A word of a term
matches a token when it equals the token's folded lemma or surface; when it ends with ``*`` and is a
prefix of either ("переговор*"); or, for words of five letters or more, when the surface extends it by
at most three letters ("rencontre" → "rencontrés"). The last rule covers plurals and participles where
no lemmatizer runs, or where it errs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.matching.text import TOKEN_RE, Token, fold, is_boundary_free

__all__ = ["Term", "TermHit", "TermIndex", "anchor"]

_MIN_STEM = 5
_MAX_SUFFIX = 3
_ANCHOR_CHARS = 4
_CACHE_SIZE = 16_384
"""Token forms whose candidates an index remembers; past it, it starts over (news vocabulary is open)."""


@dataclass(frozen=True, slots=True)
class Term:
    """A compiled term: the text as written and its folded words."""

    source: str
    words: tuple[str, ...]

    @classmethod
    def parse(cls, source: str) -> Term:
        """Compile ``source``; raise ValueError when it holds no word or misplaces a ``*``."""
        words = tuple(part for word in fold(source).split() for part in _split_word(word))
        if not words:
            raise ValueError(f"term {source!r} is empty")
        for word in words:
            if "*" in word[:-1] or word == "*":
                raise ValueError(f"term {source!r}: '*' may only end a word, after at least one letter")
        return cls(source, words)

    def match_at(self, tokens: Sequence[Token], i: int) -> int | None:
        """Return the index after the last token if the term matches at ``tokens[i]``, else None."""
        if i + len(self.words) > len(tokens):
            return None
        for k, word in enumerate(self.words):
            if not word_matches(word, tokens[i + k]):
                return None
        return i + len(self.words)


def _split_word(word: str) -> list[str]:
    """Split a folded word the way text is tokenized: one token per CJK character ("会谈" → 会, 谈)."""
    if not any(is_boundary_free(c) for c in word):
        return [word]
    star = word.endswith("*")
    parts = [m.group() for m in TOKEN_RE.finditer(word.rstrip("*"))]
    if star and parts:
        parts[-1] += "*"
    return parts


def word_matches(word: str, token: Token) -> bool:
    """Return whether the folded term ``word`` matches ``token`` (see the module docstring)."""
    if word.endswith("*"):
        stem = word[:-1]
        return token.text.startswith(stem) or token.lemma.startswith(stem)
    if word == token.text or word == token.lemma:
        return True
    return (
        len(word) >= _MIN_STEM and token.text.startswith(word) and len(token.text) - len(word) <= _MAX_SUFFIX
    )


def anchor(term: Term) -> str:
    """Return the text that must occur at a word start for ``term`` to possibly match: the presearch key.

    The first four letters of the first word survive most inflection ("rencontrer" → "rencontreront");
    irregular forms whose first letters differ from the lemma ("recevoir" → "reçu") need their own term.
    """
    first = term.words[0].rstrip("*")
    if first and is_boundary_free(first[0]):
        # Characters are words of their own: the anchor is the term's first characters, run together.
        run = ""
        for word in term.words:
            char = word.rstrip("*")
            if len(char) != 1 or not is_boundary_free(char):
                break
            run += char
        return run[:_ANCHOR_CHARS]
    return first[:_ANCHOR_CHARS]


@dataclass(frozen=True, slots=True)
class TermHit:
    """A term found in a sentence: token range ``[first, end)``."""

    term: Term
    first: int
    end: int


class TermIndex:
    """A set of terms, indexed by their first word so a sentence is scanned once.

    The terms that may start at a token depend only on its folded surface and lemma, and each rule
    scans the same sentences with several indexes: the answer is remembered per form, so a word seen
    before costs one dict lookup instead of the key and prefix search.
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms = tuple(terms)
        # Terms are indexed by their place in ``terms`` (the rule file's order): candidates come out
        # in that order, whatever order the lookup keys (a set) were tried in. Evidence lists its
        # terms in hit order, and a match must read the same in every run.
        self._exact: dict[str, list[int]] = {}
        self._prefix: dict[str, list[int]] = {}
        for n, term in enumerate(self.terms):
            first = term.words[0]
            if first.endswith("*"):
                self._prefix.setdefault(first[:-1], []).append(n)
            else:
                self._exact.setdefault(first, []).append(n)
        self._prefix_lengths = sorted({len(p) for p in self._prefix})
        self._seen: dict[tuple[str, str], tuple[Term, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.terms)

    def find(self, tokens: Sequence[Token]) -> list[TermHit]:
        """Return every term occurrence in ``tokens``, in order."""
        hits: list[TermHit] = []
        seen = self._seen
        for i, token in enumerate(tokens):
            form = (token.text, token.lemma)
            candidates = seen.get(form)
            if candidates is None:
                candidates = self._candidates(token) if token.is_word else ()
                if len(seen) >= _CACHE_SIZE:
                    seen.clear()
                seen[form] = candidates
            for term in candidates:
                end = term.match_at(tokens, i)
                if end is not None:
                    hits.append(TermHit(term, i, end))
        return hits

    def _candidates(self, token: Token) -> tuple[Term, ...]:
        """Return the terms whose first word may match ``token``, each once (see :func:`word_matches`)."""
        keys = {token.text, token.lemma}
        for cut in range(1, _MAX_SUFFIX + 1):
            if len(token.text) - cut >= _MIN_STEM:
                keys.add(token.text[:-cut])
        found: set[int] = set()
        for key in keys:
            found.update(self._exact.get(key, ()))
        for length in self._prefix_lengths:
            for key in {token.text[:length], token.lemma[:length]}:
                found.update(self._prefix.get(key, ()))
        return tuple(self.terms[n] for n in sorted(found))
