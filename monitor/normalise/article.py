"""Give an article the language it is read in: the declared one, else a detected one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from monitor.models import Article
from monitor.normalise.language import DEFAULT_CANDIDATES, detect_language

__all__ = ["LanguageSource", "with_language"]

LanguageSource = Literal["declared", "detected", "unknown"]


def with_language(
    article: Article, *, detect: bool = True, candidates: Iterable[str] = DEFAULT_CANDIDATES
) -> tuple[Article, LanguageSource]:
    """Return ``article`` with its language filled in, and where that language came from.

    A declared language (the item's, the feed's or the feeds file's) stays authoritative: it is the
    outlet's word, where a detection is a guess.
    """
    if article.language:
        return article, "declared"
    language = detect_language(article, candidates) if detect else None
    if language is None:
        return article, "unknown"
    return article.model_copy(update={"language": language}), "detected"
