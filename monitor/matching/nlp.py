"""Sentences, tokens with lemmas, NER and parses: from spaCy where a pipeline is configured, else plain rules.

spaCy models take seconds and hundreds of MB to load, so each is loaded once per process, on first
use: a process that never sees an article in a language never pays for its model. Languages without
a model still get sentences and tokens, and lemmas from spaCy's lookup tables (``spacy-lookups-data``:
"met" → "meet", "traf" → "treffen") where the tables cover the language, so keywords and the gazetteer
still work. Only the segments of an article that can change a decision are annotated (see
:meth:`MatchEngine.analyse`), and a sentence is parsed only when a rule asks for it.
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
from monitor.matching.lemmas import lookup
from monitor.matching.syntax import Node, Parse
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
    The parser stays loaded, disabled: :meth:`Pipelines.parse` runs it on single sentences.
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
    log.info("nlp.model_loaded", model=model, seconds=round(time.perf_counter() - started, 2))
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

    def __init__(self, models: Mapping[str, str], *, lookup_lemmas: bool = True) -> None:
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
        self.lookup_lemmas = lookup_lemmas

    def has(self, language: str) -> bool:
        """Return whether ``language`` has a spaCy pipeline."""
        return language in self.models

    def annotate(
        self,
        text: str,
        language: str,
        known: Sequence[EntityMention] = (),
        segments: Sequence[tuple[int, int]] | None = None,
    ) -> Annotation:
        """Annotate the ``segments`` of ``text`` (default: every line); ``known`` spans are fixed before NER.

        Fixing them keeps spaCy from cutting "Kim Jong-un" into "Kim Jong" and lets NER label the
        words around them in context. Without a pipeline for ``language``, return plain annotation.
        A segment never crosses a line break.
        """
        spans = list(segments) if segments is not None else split_lines(text)
        if language not in self.models:
            table = lookup(language) if self.lookup_lemmas else None
            return plain_annotation(text, spans, table)
        from spacy.util import filter_spans

        nlp = load_pipeline(self.models[language])
        # Same length, so offsets hold: spaCy's French tokenizer splits elisions on ' but not on ’.
        plain = text.translate(_APOSTROPHES)
        docs = []
        for start, end in spans:
            doc = nlp.make_doc(plain[start:end])
            fixed_spans = [
                doc.char_span(m.start - start, m.end - start, label=m.label, alignment_mode="expand")
                for m in known
                if start <= m.start and m.end <= end
            ]
            doc.set_ents(filter_spans([s for s in fixed_spans if s is not None]), default="unmodified")
            docs.append(doc)
        fixed = {(m.start, m.end) for m in known}
        tokens: list[Token] = []
        starts: list[int] = []
        ner: list[EntityMention] = []
        for (start, _), doc in zip(spans, nlp.pipe(docs), strict=True):
            tokens.extend(t for token in doc if not token.is_space for t in _split_token(token, start))
            starts.extend(start + sent.start_char for sent in doc.sents)
            for e in doc.ents:
                s, e_end = start + e.start_char, start + e.end_char
                if e.label_ in _NER_LABELS and (s, e_end) not in fixed and _is_name(text[s:e_end]):
                    ner.append(
                        EntityMention(text=text[s:e_end], label=e.label_, start=s, end=e_end, source="ner")
                    )
        return Annotation(_sentences(text, starts, tokens, spans), ner)

    def parse(self, text: str, start: int, end: int, language: str) -> Parse | None:
        """Return the dependency parse of ``text[start:end]`` (one sentence), or None without a parser.

        The sentence is parsed as one: the parser would otherwise split it again and leave the names
        before the split without a head. Names are not merged into one token first: the small models
        then tag "Xi Jinping" an adjective and the parse falls apart.
        """
        if language not in self.models:
            return None
        nlp = load_pipeline(self.models[language])
        if "parser" not in nlp.component_names:
            return None
        doc = nlp.make_doc(text[start:end].translate(_APOSTROPHES))
        for token in doc[1:]:
            token.is_sent_start = False
        for name in ("tok2vec", "morphologizer", "tagger", "parser"):
            if name in nlp.component_names:
                doc = nlp.get_pipe(name)(doc)
        return Parse(
            tuple(
                Node(
                    start + t.idx,
                    start + t.idx + len(t.text),
                    t.head.i,
                    t.dep_,
                    t.pos_,
                    any(c.dep_ == "case" for c in t.children),
                )
                for t in doc
            )
        )


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


def _sentences(
    text: str, starts: Sequence[int], tokens: Sequence[Token], spans: Sequence[tuple[int, int]]
) -> list[Sentence]:
    """Cut each of ``spans`` at those of ``starts`` that follow a sentence-final mark.

    spaCy's splitter joins a title to the paragraph under it and sometimes splits at a comma; a line
    break always ends a sentence (no span crosses one), and a split not after ``.!?…`` is undone.
    """
    ordered = sorted(starts)
    cuts: list[tuple[int, int]] = []
    for span_start, span_end in spans:
        cut = span_start
        lo = bisect.bisect_right(ordered, span_start)
        hi = bisect.bisect_left(ordered, span_end)
        for s in ordered[lo:hi]:
            if _ends_sentence(text[cut:s]):
                cuts.append((cut, s))
                cut = s
        cuts.append((cut, span_end))
    return _attach(text, cuts, tokens)


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


def plain_annotation(
    text: str, segments: Sequence[tuple[int, int]] | None = None, lemmas: Mapping[str, str] | None = None
) -> Annotation:
    """Annotate ``segments`` of ``text`` (default: every line) without a model: final punctuation ends
    a sentence, and a token's lemma comes from the ``lemmas`` lookup table, else is its own surface.
    """
    spans = [
        span
        for s, e in (segments if segments is not None else split_lines(text))
        for span in simple_sentences(text, s, e)
    ]
    tokens = [t for s, e in spans for t in simple_tokens(text, s, e)]
    if lemmas is not None:
        tokens = [_lemmatized(t, text, lemmas) for t in tokens]
    return Annotation(_attach(text, spans, tokens), None)


def _lemmatized(token: Token, text: str, table: Mapping[str, str]) -> Token:
    raw = text[token.start : token.end]
    lemma = table.get(raw) or table.get(raw.lower())
    if not isinstance(lemma, str):
        return token
    folded = _fold_word(lemma)[0].strip()
    return Token(token.text, folded, token.start, token.end) if folded else token
