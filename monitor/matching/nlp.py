"""Sentences, tokens with lemmas, and NER: from spaCy where a pipeline is configured, else plain rules.

spaCy models take seconds and hundreds of MB to load, so each is loaded once per process, on first
use: a process that never sees an article in a language never pays for its model. Languages without
a model still get sentences and tokens (no lemmas, no NER), so the gazetteer and keywords still work.
"""

from __future__ import annotations

import bisect
import importlib.util
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import structlog

from monitor.errors import ConfigError
from monitor.matching.text import (
    Sentence,
    Token,
    fold_with_offsets,
    simple_sentences,
    simple_tokens,
    split_lines,
)
from monitor.models import EntityMention

__all__ = ["Annotation", "Pipelines", "load_pipeline", "plain_annotation"]

log = structlog.get_logger(__name__)

_NER_LABELS = frozenset({"PER", "PERSON", "ORG", "LOC", "GPE", "MISC"})
_SENTENCE_FINAL = ".!?…"
_CLOSERS = "\"'»”’)]"
_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'"})


@dataclass(frozen=True)
class Annotation:
    """What the rules read: sentences of tokens, and NER spans (None when no NER ran)."""

    sentences: list[Sentence]
    ner: list[EntityMention] | None


@cache
def load_pipeline(model: str) -> Any:
    """Load the spaCy pipeline ``model`` once per process, with sentences from its fast ``senter``.

    The dependency parser doubles the cost of an article only to split sentences, which the
    statistical ``senter`` does nearly as well; line breaks fix the rest (see :func:`_sentences`).
    """
    import spacy  # deferred: a process that matches no spaCy language never imports it

    started = time.perf_counter()
    try:
        nlp = spacy.load(model)
    except OSError as e:
        raise ConfigError(f"spaCy model {model!r} cannot be loaded: {e}") from e
    if "senter" in nlp.component_names and "parser" in nlp.pipe_names:
        nlp.disable_pipe("parser")
        nlp.enable_pipe("senter")
    log.info("spacy model loaded", model=model, seconds=round(time.perf_counter() - started, 2))
    return nlp


def _installed(model: str) -> bool:
    """Return whether ``model`` is an installed package or a model folder, without importing it."""
    if Path(model).is_dir():
        return True
    try:
        return importlib.util.find_spec(model) is not None
    except (ImportError, ValueError):
        return False


class Pipelines:
    """The spaCy pipeline of each configured language, loaded lazily."""

    def __init__(self, models: Mapping[str, str]) -> None:
        """Check that every model is installed, without loading it.

        Raises:
            ConfigError: a model package is not installed (nothing is downloaded at run time).
        """
        for language, model in models.items():
            if not _installed(model):
                raise ConfigError(
                    f"match.spacy_models.{language}: spaCy model {model!r} is not installed "
                    f"(pip install it; newsmon never downloads models at run time)"
                )
        self.models = dict(models)

    def has(self, language: str) -> bool:
        """Return whether ``language`` has a spaCy pipeline."""
        return language in self.models

    def annotate(self, text: str, language: str, known: Sequence[EntityMention] = ()) -> Annotation:
        """Annotate ``text``; ``known`` spans (gazetteer names) are fixed before NER runs.

        Fixing them keeps spaCy from cutting "Kim Jong-un" into "Kim Jong" and lets NER label the
        words around them in context. Without a pipeline for ``language``, return plain annotation.
        """
        if language not in self.models:
            return plain_annotation(text)
        from spacy.util import filter_spans

        nlp = load_pipeline(self.models[language])
        # Same length, so offsets hold: spaCy's French tokenizer splits elisions on ' but not on ’.
        plain = text.translate(_APOSTROPHES)
        lines = split_lines(text)
        docs = []
        for start, end in lines:
            # One doc per line: neither a sentence nor an entity may run across a line break.
            doc = nlp.make_doc(plain[start:end])
            spans = [
                doc.char_span(m.start - start, m.end - start, label=m.label, alignment_mode="expand")
                for m in known
                if start <= m.start and m.end <= end
            ]
            doc.set_ents(filter_spans([s for s in spans if s is not None]), default="unmodified")
            docs.append(doc)
        fixed = {(m.start, m.end) for m in known}
        tokens: list[Token] = []
        starts: list[int] = []
        ner: list[EntityMention] = []
        for (start, _), doc in zip(lines, nlp.pipe(docs), strict=True):
            tokens.extend(t for token in doc if not token.is_space for t in _split_token(token, start))
            starts.extend(start + sent.start_char for sent in doc.sents)
            for e in doc.ents:
                s, e_end = start + e.start_char, start + e.end_char
                if e.label_ in _NER_LABELS and (s, e_end) not in fixed and _is_name(text[s:e_end]):
                    ner.append(
                        EntityMention(text=text[s:e_end], label=e.label_, start=s, end=e_end, source="ner")
                    )
        return Annotation(_sentences(text, starts, tokens), ner)


def _is_name(text: str) -> bool:
    """Return whether an NER span can be a name: elided words ("n'", "qu'") the model tags are not."""
    return sum(c.isalnum() for c in text) >= 2 and not text.endswith(("'", "’"))


@lru_cache(maxsize=65536)
def _fold_word(text: str) -> tuple[str, list[int]]:
    """Fold one token's text: words repeat, so caching saves most of the folding of a document."""
    return fold_with_offsets(text)


def _split_token(token: Any, offset: int) -> list[Token]:
    """Return ``token`` as folded tokens; one spaCy token may fold to several words ("tête-à-tête")."""
    folded, offsets = _fold_word(token.text)
    words = folded.split()
    start = offset + token.idx
    end = start + len(token.text)
    if not words:  # a dash folds to a space, but still separates clauses
        return [Token(token.text, token.text, start, end)]
    lemma = _fold_word(token.lemma_)[0].strip() or folded.strip()
    if len(words) == 1:
        return [Token(words[0], lemma, start, end)]
    out: list[Token] = []
    pos = 0
    for word in words:
        first = folded.index(word, pos)
        pos = first + len(word)
        out.append(Token(word, word, start + offsets[first], start + offsets[pos - 1] + 1))
    return out


def _ends_sentence(fragment: str) -> bool:
    return fragment.rstrip().rstrip(_CLOSERS)[-1:] in tuple(_SENTENCE_FINAL)


def _sentences(text: str, starts: Sequence[int], tokens: Sequence[Token]) -> list[Sentence]:
    """Cut ``text`` at line breaks and at those of ``starts`` that follow a sentence-final mark.

    spaCy's splitter joins a title to the paragraph under it and sometimes splits at a comma; a line
    break always ends a sentence, and a split not after ``.!?…`` is undone.
    """
    ordered = sorted(starts)
    spans: list[tuple[int, int]] = []
    for line_start, line_end in split_lines(text):
        cut = line_start
        lo = bisect.bisect_right(ordered, line_start)
        hi = bisect.bisect_left(ordered, line_end)
        for s in ordered[lo:hi]:
            if _ends_sentence(text[cut:s]):
                spans.append((cut, s))
                cut = s
        spans.append((cut, line_end))
    return _attach(text, spans, tokens)


def _attach(text: str, spans: Sequence[tuple[int, int]], tokens: Sequence[Token]) -> list[Sentence]:
    token_starts = [t.start for t in tokens]
    sentences: list[Sentence] = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s >= e:
            continue
        lo, hi = bisect.bisect_left(token_starts, s), bisect.bisect_left(token_starts, e)
        sentences.append(Sentence(s, e, tuple(tokens[lo:hi])))
    return sentences


def plain_annotation(text: str) -> Annotation:
    """Annotate ``text`` without a model: lines, then final punctuation; tokens are their own lemmas."""
    spans = [span for s, e in split_lines(text) for span in simple_sentences(text, s, e)]
    return Annotation(_attach(text, spans, simple_tokens(text)), None)
