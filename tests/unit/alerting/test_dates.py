"""dates.sentence_dates: the days a French or English sentence names, relative to its publication day."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.alerting.dates import sentence_dates

THURSDAY = date(2025, 9, 4)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Xi Jinping a rencontré jeudi à Pékin Kim Jong Un", {date(2025, 9, 4)}),
        ("Kim s'était entretenu mercredi avec Poutine", {date(2025, 9, 3)}),
        ("The two leaders met on Monday in Beijing", {date(2025, 9, 1)}),
        ("Ils vont se retrouver lundi prochain", {date(2025, 9, 8)}),
        ("They will meet on Saturday", {date(2025, 9, 6)}),
        ("le défilé du 3 septembre 2025 à Pékin", {date(2025, 9, 3)}),
        ("le 1er septembre, à Tianjin", {date(2025, 9, 1)}),
        ("on September 3, 2025 in Beijing", {date(2025, 9, 3)}),
        ("hier soir, à Pékin", {date(2025, 9, 3)}),
        ("avant-hier", {date(2025, 9, 2)}),
        ("yesterday", {date(2025, 9, 3)}),
        ("published 2025-09-02 by the agency", {date(2025, 9, 2)}),
        ("en septembre 2023, au cosmodrome de Vostochny", set()),
        ("la guerre de Corée (1950-1953)", set()),
        ("le 31 février", set()),
    ],
)
def test_days_named_in_a_sentence(sentence: str, expected: set[date]) -> None:
    assert sentence_dates(sentence, THURSDAY) == expected


def test_a_day_without_year_far_ahead_belongs_to_the_year_before() -> None:
    assert sentence_dates("le 28 décembre", date(2026, 1, 2)) == {date(2025, 12, 28)}


def test_without_a_publication_day_only_full_dates_are_read() -> None:
    assert sentence_dates("jeudi, le 3 septembre 2025, et hier", None) == {date(2025, 9, 3)}
