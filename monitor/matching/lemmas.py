"""Lemma lookup tables for languages without a spaCy model, and the inflected forms of a keyword.

``spacy-lookups-data`` ships, for some thirty languages, plain tables from a word form to its lemma
("met" → "meet", "traf" → "treffen", "reçu" → "recevoir"). They give lemmas where no model runs, and,
read backwards, the forms of a keyword whose first letters differ from it, so the presearch (which
looks for a keyword's first four letters) does not miss "held" when a rule says "hold talks".
Tables are loaded once per process, only for the languages the rules use.
"""

from __future__ import annotations

import importlib.util
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["inflections", "lookup"]

_ANCHOR_CHARS = 4


@cache
def lookup(language: str) -> dict[str, str] | None:
    """Return the form → lemma table of ``language``, or None when none is installed."""
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
    table = lookup(language)
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
