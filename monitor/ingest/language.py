"""Detect an article's language offline, with the model that ships inside the py3langid package.

Used only when neither the item, the feed nor the feeds file names a language: a declared language is the
outlet's word, a detection is a guess. No model is downloaded at run time; the package carries its own.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from monitor.models import Article

__all__ = ["MIN_CONFIDENCE", "detect_language", "detect_text_language"]

# Below this normalised probability the detector is guessing; "unknown" is more honest than a wrong code,
# because matching would then run the wrong language's pipeline on the article.
MIN_CONFIDENCE = 0.8
# A few hundred characters identify a language; reading a whole article only costs time.
_MAX_CHARS = 2000
# Fewer letters than this (a bare headline such as "OK") cannot be identified reliably.
_MIN_LETTERS = 12

_lock = threading.Lock()


def _identifier() -> Any:
    """Return the model, loaded once per process (~0.8 s) by the first polling thread that needs it."""
    with _lock:  # without it, every thread polling at start-up would load its own copy
        return _load()


@functools.cache
def _load() -> Any:
    # Imported here: numpy and the model cost ~1 s, which every `newsmon` command would pay otherwise.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_text_language(text: str) -> str | None:
    """Return the ISO 639-1 code of ``text``'s language, or None when the text is too short or unclear."""
    sample = " ".join(text.split())[:_MAX_CHARS]
    if sum(c.isalpha() for c in sample) < _MIN_LETTERS:
        return None
    code, confidence = _identifier().classify(sample)  # classify keeps no state: safe from many threads
    return str(code) if float(confidence) >= MIN_CONFIDENCE else None


def detect_language(article: Article) -> str | None:
    """Return the language detected from the article's title and text."""
    return detect_text_language(f"{article.title}. {article.body}")
