"""Dates feedparser cannot read: non-English month names, no year, odd separators."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.ingest.dates import parse_loose_date

NOW = datetime(2025, 9, 10, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mer., 3 sept. 2025", datetime(2025, 9, 3, tzinfo=UTC)),
        ("Mo, 25 Jun", datetime(2025, 6, 25, tzinfo=UTC)),  # no year: the latest 25 June not after now
        ("Dec 31", datetime(2024, 12, 31, tzinfo=UTC)),  # this year's would be in the future
        ("mar., 3 mars 2025 14:30 CEST", datetime(2025, 3, 3, 12, 30, tzinfo=UTC)),  # "mar." is mardi
        ("Di, 31. Dez 2024 23:00 +0100", datetime(2024, 12, 31, 22, 0, tzinfo=UTC)),
        ("10 juin 2025 14h00", datetime(2025, 6, 10, 14, 0, tzinfo=UTC)),
        ("Mo, 3 Mär 2025 07:30:00 +0100", datetime(2025, 3, 3, 6, 30, tzinfo=UTC)),
        ("3 févr. 2025", datetime(2025, 2, 3, tzinfo=UTC)),
        ("sábado, 1 de agosto de 2025", datetime(2025, 8, 1, tzinfo=UTC)),
        ("3 mrt 2025", datetime(2025, 3, 3, tzinfo=UTC)),
        ("June 3, 2025", datetime(2025, 6, 3, tzinfo=UTC)),
    ],
)
def test_reads_month_names_in_several_languages(text: str, expected: datetime) -> None:
    assert parse_loose_date(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "nonsense", "Mon, 32 Jun 2025", "31 juin 2025", "2025", "le 3 du mois", "ju 3"]
)
def test_what_is_no_date_gives_none(text: str) -> None:
    assert parse_loose_date(text, NOW) is None
