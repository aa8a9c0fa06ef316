"""Text primitives shared by the gazetteer and the rules: folding, tokens, sentences.

Everything that compares words goes through :func:`fold`, so "Poutine", "POUTINE" and "Poütine",
"Kim Jong-un" and "Kim Jong Un", or Traditional "會談" and Simplified "会谈" (OpenCC), compare
equal. The language-independent tokenizer and sentence
splitter here are the fallback for languages without a spaCy pipeline; :mod:`monitor.matching.nlp`
produces the same :class:`Token` and :class:`Sentence` values from spaCy.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "TOKEN_RE",
    "Sentence",
    "Token",
    "fold",
    "fold_with_offsets",
    "is_boundary_free",
    "simple_sentences",
    "simple_tokens",
    "split_lines",
]

_DASHES = frozenset("-‐‑‒–—―−﹣－")
_APOSTROPHES = frozenset("'’ʼ‘`´")
_LIGATURES = {"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae"}
# Accents are stripped from Latin, Greek and Cyrillic letters only: in kana the "accent" (dakuten)
# makes a different letter.
_STRIP_MARKS_BELOW = 0x0530


# Arabic is searched the way its readers search it: without short vowels and tatweel, with the alef
# variants, alef maqsura and ta marbuta written one way each ("عرضًا عسكريًا" = "عرضا عسكريا",
# Egyptian "العسكرى" = "العسكري").
_ARABIC = {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ـ": ""}
_ARABIC_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=1)
def _simplifier() -> Callable[[str], str]:
    """Return OpenCC's Traditional-to-Simplified conversion (character level here: one in, one out)."""
    import opencc

    convert: Callable[[str], str] = opencc.OpenCC("t2s").convert
    return convert


def _simplified(c: str) -> str:
    """Return the Simplified form of a Han character, so "會談" and "会谈" compare equal."""
    converted = _simplifier()(c)
    return converted if len(converted) == 1 else c


@lru_cache(maxsize=8192)
def _fold_char(c: str) -> str:
    if c.isspace() or c in _DASHES:
        return " "
    if c in _APOSTROPHES:
        return "'"
    if c in _LIGATURES:
        return _LIGATURES[c]
    if c in _ARABIC:
        return _ARABIC[c]
    if _ARABIC_MARKS.match(c):
        return ""
    if _HAN.match(c):
        return _simplified(unicodedata.normalize("NFKC", c))
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", c))
    if decomposed and ord(decomposed[0]) < _STRIP_MARKS_BELOW:
        decomposed = "".join(x for x in decomposed if not unicodedata.combining(x))
    return unicodedata.normalize("NFC", decomposed).casefold()


class _OneToOne(dict[int, str]):
    """``str.translate`` table folding each character to one character, or to ``\0`` when it cannot."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        value = folded if len(folded) == 1 and code else "\0"
        self[code] = value
        return value


_ONE_TO_ONE = _OneToOne()
_SPACE_RUN = re.compile(r" {2,}")


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Return ``text`` folded, and for each folded character the offset of its source character.

    Folding lowercases, strips accents, turns dashes and runs of whitespace into one space and unifies
    apostrophes. The offsets (one more than the folded length, ending with ``len(text)``) let a match
    found in the folded text be reported on the original.

    Every article goes through here before anything else, so the common case (each character folds to
    one character) runs in C through ``str.translate``; a text with ligatures, combining accents or
    compatibility characters ("…" → "...") takes the character-by-character path.
    """
    mapped = text.translate(_ONE_TO_ONE)
    if "\0" in mapped:
        return _fold_slowly(text)
    kept = len(mapped) - len(mapped.lstrip(" "))  # a leading run goes entirely
    if mapped.find("  ", kept) == -1:  # no run to shorten: the offsets are one range
        return mapped[kept:], list(range(kept, len(text) + 1))
    pieces: list[str] = []
    offsets: list[int] = []
    for m in _SPACE_RUN.finditer(mapped, kept):
        pieces.append(mapped[kept : m.start() + 1])
        offsets.extend(range(kept, m.start() + 1))
        kept = m.end()
    pieces.append(mapped[kept:])
    offsets.extend(range(kept, len(text) + 1))
    return "".join(pieces), offsets


def _fold_slowly(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` one character at a time: the general case of :func:`fold_with_offsets`."""
    out: list[str] = []
    offsets: list[int] = []
    previous_space = True  # also drops leading whitespace
    for i, c in enumerate(text):
        folded = _fold_char(c)
        if folded == " ":
            if previous_space:
                continue
            previous_space = True
        elif folded:
            previous_space = False
        for ch in folded:
            out.append(ch)
            offsets.append(i)
    offsets.append(len(text))
    return "".join(out), offsets


def fold(text: str) -> str:
    """Return ``text`` folded for comparison (see :func:`fold_with_offsets`), without edge spaces."""
    return fold_with_offsets(text)[0].strip()


def is_boundary_free(ch: str) -> bool:
    """Return whether ``ch`` belongs to a script written without spaces between words (CJK, kana, Hangul).

    Aliases in those scripts match inside longer runs ("普京总统"), and Korean attaches particles to
    names ("김정은이"), so no word boundary is required at their edges.
    """
    o = ord(ch)
    return (
        0x1100 <= o <= 0x11FF  # Hangul jamo
        or 0x2E80 <= o <= 0x9FFF  # CJK radicals, kana, CJK ideographs
        or 0xA960 <= o <= 0xA97F
        or 0xAC00 <= o <= 0xD7FF  # Hangul syllables
        or 0xF900 <= o <= 0xFAFF
        or 0xFF66 <= o <= 0xFF9F  # half-width kana
        or 0x20000 <= o <= 0x3FFFF
    )


@dataclass(frozen=True, slots=True)
class Token:
    """One word or punctuation mark: folded surface and lemma, and its span in the analysed text."""

    text: str
    lemma: str
    start: int
    end: int

    @property
    def is_word(self) -> bool:
        """Return whether the token holds a letter or digit (is not punctuation)."""
        return any(c.isalnum() for c in self.text)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence: its span in the analysed text and its tokens."""

    start: int
    end: int
    tokens: tuple[Token, ...]


_BOUNDARY_FREE = (
    "\u1100-\u11ff\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff"
)
# English clitic "n't" first, so "didn't" gives "did" + "n't"; French elision keeps the apostrophe on
# the first word, so "n'a" gives "n'" + "a" as spaCy does. Each character of a script written without
# spaces is a token of its own: without a segmenter, "会谈" is found as the two tokens 会 + 谈.
_WORD = rf"(?:(?![{_BOUNDARY_FREE}])\w)+"
TOKEN_RE = re.compile(rf"[{_BOUNDARY_FREE}]|{_WORD}(?=n't)|n't|{_WORD}'?|[^\w\s]")


def simple_tokens(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Split ``text[start:end]`` into folded tokens whose lemma is their folded surface."""
    end = len(text) if end is None else end
    folded, offsets = fold_with_offsets(text[start:end])
    tokens: list[Token] = []
    for m in TOKEN_RE.finditer(folded):
        s, e = offsets[m.start()] + start, offsets[m.end() - 1] + start + 1
        tokens.append(Token(m.group(), m.group(), s, e))
    return tokens


_LINE_RE = re.compile(r"[^\n]+")


def split_lines(text: str) -> list[tuple[int, int]]:
    """Return the spans of the non-blank lines of ``text``: no sentence crosses a line break.

    Titles, bullet points and photo captions carry no final period; a line break is the only sign
    that they end.
    """
    spans: list[tuple[int, int]] = []
    for m in _LINE_RE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            spans.append((s, e))
    return spans


_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s+[\"'«“(\[]?\s*\w)|[。！？]+[」』”’）)]*")
_CJK_FINAL = "。！？"
_ABBREVIATION_RE = re.compile(
    r"(?:\b\w|\b(?:M|Mme|Mlle|Mr|Mrs|Ms|Dr|St|Ste|Pr|Prof|Gen|Gén|Sen|Rep|etc|vs))\.$"
)


def simple_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split one line ``text[start:end]`` into sentence spans on final punctuation.

    A period after a single letter or a common title ("M.", "Dr.") does not end a sentence, and the next
    sentence must start with a letter or digit, so "3.5" and "..." inside a sentence stay whole.
    """
    spans: list[tuple[int, int]] = []
    s = start
    for m in _SENTENCE_END_RE.finditer(text, start, end):
        if m.group()[0] not in _CJK_FINAL:  # Chinese and Japanese have no case and no space to look at
            if m.group().startswith(".") and _ABBREVIATION_RE.search(text, s, m.start() + 1):
                continue
            following = text[m.end() : end].lstrip().lstrip('"«“([').lstrip()[:1]
            if not (following.isupper() or following.isdigit()):
                continue
        if m.end() >= end:
            break
        spans.append((s, m.end()))
        s = m.end()
        while s < end and text[s].isspace():
            s += 1
    if s < end:
        spans.append((s, end))
    return spans
