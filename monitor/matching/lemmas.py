"""Lemma lookup tables for languages without a spaCy model, and the inflected forms of a keyword.

``spacy-lookups-data`` ships, for some thirty languages, plain tables from a word form to its lemma
("met" → "meet", "traf" → "treffen", "reçu" → "recevoir"). They give lemmas where no model runs, and,
read backwards, the forms of a keyword whose first letters differ from it, so the presearch (which
looks for a keyword's first four letters) does not miss "held" when a rule says "hold talks".
Tables are loaded once per process, only for the languages the rules use. Where spaCy ships no table
(Ukrainian, Arabic, ...), simplemma's dictionaries give the lemmas ("зустрівся" → "зустрітися").
"""

from __future__ import annotations

import importlib.util
import unicodedata
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

__all__ = ["inflections", "lookup"]

_ANCHOR_CHARS = 4


class _Simplemma(Mapping[str, str]):
    """simplemma's lemmatiser seen as a form → lemma table (``get`` is all the tokenizer asks)."""

    def __init__(self, language: str) -> None:
        import simplemma

        self._language = language
        self._lemmatize = lru_cache(maxsize=65536)(simplemma.lemmatize)

    def __getitem__(self, form: str) -> str:
        lemma = self._lemmatize(form, lang=self._language)
        if not isinstance(lemma, str):
            raise KeyError(form)
        return lemma

    def __iter__(self) -> Iterator[str]:
        return iter(())  # a lemmatiser, not a list: nothing to enumerate

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True  # a lemmatiser is there even though it lists nothing


def _simplemma(language: str) -> Mapping[str, str] | None:
    """Return simplemma's lemmatiser for ``language``, or None where it has no dictionary."""
    if importlib.util.find_spec("simplemma") is None:
        return None
    from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

    return _Simplemma(language) if language in SUPPORTED_LANGUAGES else None


@cache
def lookup(language: str) -> Mapping[str, str] | None:
    """Return the form → lemma table of ``language``: spaCy's, else simplemma's, else None."""
    table = _spacy_table(language)
    return table if table is not None else _simplemma(language)


def _spacy_table(language: str) -> dict[str, str] | None:
    """Return spaCy's form → lemma table of ``language``, or None when none is installed."""
    if importlib.util.find_spec("spacy_lookups_data") is None:
        return None
    import spacy_lookups_data  # type: ignore[import-untyped]
    from spacy.util import load_language_data

    tables: Any = getattr(spacy_lookups_data, "id_" if language == "id" else language, None)
    path = tables.get("lemma_lookup") if isinstance(tables, dict) else None
    if path is None:
        return None
    try:
        data = load_language_data(Path(path))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _quick_fold(word: str) -> str:
    """Fold like :func:`monitor.matching.text.fold` for one word, fast enough for a whole table."""
    decomposed = unicodedata.normalize("NFD", word.lower().replace("’", "'"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


@cache
def _irregular(language: str) -> dict[str, frozenset[str]]:
    """Return, per folded lemma, its folded forms that do not start with the lemma's first letters."""
    table = _spacy_table(language)  # read backwards: only a real table lists the irregular forms
    if not table:
        return {}
    forms: dict[str, set[str]] = {}
    for form, lemma in table.items():
        if not isinstance(lemma, str) or form[:_ANCHOR_CHARS].lower() == lemma[:_ANCHOR_CHARS].lower():
            continue
        f, lem = _quick_fold(form), _quick_fold(lemma)
        if f[:_ANCHOR_CHARS] != lem[:_ANCHOR_CHARS]:
            forms.setdefault(lem, set()).add(f)
    return {lemma: frozenset(fs) for lemma, fs in forms.items()}


def inflections(language: str, word: str) -> frozenset[str]:
    """Return the folded forms of the folded lemma ``word`` whose first four letters differ from it."""
    return _irregular(language).get(word, frozenset())
