"""Read the calendar days a sentence says something happened on, in French and English: pure, no clock.

Two reports of "the leaders met" are the same event only if they speak of the same day: "jeudi" in an
article published on Thursday 4 September is 4 September, "le 3 septembre 2025" is 3 September. The
reference day is the article's own publication day, never today, so a replay of old news reads the
same days as it did live.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from monitor.alerting.text import fold

__all__ = ["sentence_dates"]

_MONTHS = {
    "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7, "aout": 8,
    "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
    "janv": 1, "fevr": 2, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
}  # fmt: skip
_WEEKDAYS = {
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
}  # fmt: skip
_RELATIVE = {
    "avant-hier": -2, "apres-demain": 2, "aujourd'hui": 0, "hier": -1, "demain": 1,
    "day before yesterday": -2, "yesterday": -1, "today": 0, "tomorrow": 1,
}  # fmt: skip
# Words that put a weekday ahead of the publication day rather than behind it ("vont se rencontrer
# jeudi", "will meet on Thursday"); without them a weekday is the last one on or before publication.
_FUTURE = frozenset(
    {"va", "vont", "ira", "iront", "devrait", "devraient", "doit", "doivent", "prochain", "prochaine"}
    | {"prochainement", "will", "shall", "next", "upcoming"}
)

_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:er|st|nd|rd|th)?\s+({_MONTH})\b\.?(?:\s+(\d{{4}})\b)?")
_MONTH_DAY = re.compile(rf"\b({_MONTH})\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?")
_WEEKDAY = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")\b")
_RELATIVE_RE = re.compile(r"(?<![\w-])(" + "|".join(sorted(_RELATIVE, key=len, reverse=True)) + r")(?![\w-])")
_WORD = re.compile(r"[\w']+")

# A day-and-month without a year further than this past the publication belongs to the year before
# ("le 28 décembre" in an article of 2 January).
_YEAR_ROLLOVER = timedelta(days=180)


def sentence_dates(sentence: str, reference: date | None) -> frozenset[date]:
    """Return the days ``sentence`` names, absolute or relative to ``reference`` (its publication day).

    Relative words (weekdays, "hier", "yesterday") and day-months without a year need ``reference``;
    without it only full dates are read. A bare month or year ("en septembre 2023") names no day.
    """
    text = fold(sentence)
    found: set[date] = set()
    spans: list[tuple[int, int]] = []
    for m in _ISO.finditer(text):
        _add(found, int(m.group(1)), int(m.group(2)), int(m.group(3)))
        spans.append(m.span())
    for pattern, day_group, month_group in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        for m in pattern.finditer(text):
            if any(start <= m.start() < end for start, end in spans):
                continue
            spans.append(m.span())
            year = int(m.group(3)) if m.group(3) else None
            month, day = _MONTHS[m.group(month_group)], int(m.group(day_group))
            if year is not None:
                _add(found, year, month, day)
            elif reference is not None:
                _add_near(found, reference, month, day)
    if reference is None:
        return frozenset(found)
    future = bool(_FUTURE & set(_WORD.findall(text)))
    for m in _WEEKDAY.finditer(text):
        weekday = _WEEKDAYS[m.group(1)]
        if future:
            found.add(reference + timedelta(days=(weekday - reference.weekday()) % 7))
        else:
            found.add(reference - timedelta(days=(reference.weekday() - weekday) % 7))
    for m in _RELATIVE_RE.finditer(text):
        found.add(reference + timedelta(days=_RELATIVE[m.group(1)]))
    return frozenset(found)


def _add(found: set[date], year: int, month: int, day: int) -> None:
    try:
        found.add(date(year, month, day))
    except ValueError:  # "31 février", "2025-13-40": not a day
        return


def _add_near(found: set[date], reference: date, month: int, day: int) -> None:
    for year in (reference.year, reference.year - 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return
        if candidate - reference <= _YEAR_ROLLOVER:
            found.add(candidate)
            return
