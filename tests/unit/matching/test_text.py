"""Folding, tokens and sentences: the ground every comparison stands on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.matching.text import (
    _fold_slowly,
    fold,
    fold_with_offsets,
    is_boundary_free,
    simple_sentences,
    simple_tokens,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Kim Jong-un", "KIM JONG UN"),
        ("Kim Jong‑un", "kim  jong-Un"),  # non-breaking hyphen, double space
        ("Défilé", "defile"),
        ("Poütine", "poutine"),
        ("cœur", "coeur"),
        ("Ｐｕｔｉｎ", "putin"),  # full-width
        ("l’Élysée", "l'elysee"),
    ],
)
def test_fold_ignores_case_accents_dashes_and_spacing(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_fold_keeps_kana_and_hangul_letters() -> None:
    assert fold("プーチン") == "プーチン"
    assert fold("김정은") == "김정은"


def test_offsets_point_back_to_the_original_text() -> None:
    text = "  Le  Défilé—militaire"
    folded, offsets = fold_with_offsets(text)
    start = folded.index("militaire")
    assert text[offsets[start] : offsets[start + len("militaire") - 1] + 1] == "militaire"
    assert len(offsets) == len(folded) + 1


@given(st.text(alphabet=" \n\t\u00a0-–'’aBéÉ.会", max_size=30))
def test_the_fast_fold_is_the_character_by_character_fold(text: str) -> None:
    # fold_with_offsets takes a shortcut for texts that fold one character to one (spaces trimmed at the
    # start and shortened in runs, in C); it must give what folding one character at a time gives.
    assert fold_with_offsets(text) == _fold_slowly(text)


def test_boundary_free_scripts() -> None:
    assert is_boundary_free("普")
    assert is_boundary_free("김")
    assert is_boundary_free("プ")
    assert not is_boundary_free("P")
    assert not is_boundary_free("П")


def test_simple_tokens_split_elisions_and_clitics() -> None:
    words = [t.text for t in simple_tokens("Il n’a pas rencontré Kim. He didn't meet Xi.")]
    assert words[:5] == ["il", "n'", "a", "pas", "rencontre"]
    assert "n't" in words
    assert "did" in words


def test_simple_sentences_respect_titles_and_numbers() -> None:
    text = "M. Dupont a parlé à 3.5 km. « Non », a-t-il dit. Puis rien."
    spans = simple_sentences(text, 0, len(text))
    assert [text[s:e] for s, e in spans] == [
        "M. Dupont a parlé à 3.5 km.",
        "« Non », a-t-il dit.",
        "Puis rien.",
    ]
