"""Keyword terms: lemmas, light inflection, wildcards and multi-word terms."""

from __future__ import annotations

import pytest

from monitor.matching.terms import Term, TermIndex, anchor
from monitor.matching.text import Token, simple_tokens


def _found(term: str, text: str) -> bool:
    return bool(TermIndex([Term.parse(term)]).find(simple_tokens(text)))


@pytest.mark.parametrize("text", ["une rencontre", "des rencontres", "ils se sont rencontrés", "rencontrer"])
def test_inflection_without_lemmas(text: str) -> None:
    assert _found("rencontre", text)


def test_short_words_need_an_exact_match() -> None:
    assert not _found("char", "la charte")
    assert _found("char", "un char")


def test_wildcard_and_multiword_terms() -> None:
    assert _found("переговор*", "переговоры прошли")
    assert _found("défilé militaire", "les défilés militaires")
    assert not _found("défilé militaire", "un défilé de mode militaire")


def test_lemma_match() -> None:
    tokens = [Token("rencontreront", "rencontrer", 0, 13)]
    assert TermIndex([Term.parse("rencontrer")]).find(tokens)
    assert TermIndex([Term.parse("rencontrer")]).find(tokens)[0].first == 0


def test_anchor_is_the_first_four_letters() -> None:
    assert anchor(Term.parse("Rencontrer")) == "renc"
    assert anchor(Term.parse("meet*")) == "meet"


@pytest.mark.parametrize("bad", ["", "  ", "*", "ren*contre"])
def test_bad_terms_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="term"):
        Term.parse(bad)
