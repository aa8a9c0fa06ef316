"""Read the dates feedparser gives up on: month names in French, German, Spanish, Italian, Portuguese, Dutch.

Feeds written by hand or by local CMSs put "mer., 3 sept. 2025" or "Mo, 25 Jun" in ``pubDate``. These are
still the outlet's own date, better than the fetch time the ingestor falls back to otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["parse_loose_date"]

_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "janvier", "januar", "janner", "enero", "gennaio", "janeiro", "januari"),
    2: ("february", "fevrier", "februar", "febrero", "febbraio", "fevereiro", "februari"),
    3: ("march", "mars", "marz", "marzo", "marco", "maart", "mrt"),
    4: ("april", "avril", "abril", "aprile"),
    5: ("may", "mai", "mayo", "maggio", "maio", "mei"),
    6: ("june", "juin", "juni", "junio", "giugno", "junho"),
    7: ("july", "juillet", "juli", "julio", "luglio", "julho"),
    8: ("august", "aout", "agosto", "augustus"),
    9: ("september", "septembre", "septiembre", "setiembre", "settembre", "setembro"),
    10: ("october", "octobre", "oktober", "octubre", "ottobre", "outubro"),
    11: ("november", "novembre", "noviembre", "novembro"),
    12: ("december", "decembre", "dezember", "diciembre", "dicembre", "dezembro"),
}
_ZONES = {"z": 0, "ut": 0, "utc": 0, "gmt": 0, "wet": 0, "bst": 60, "cet": 60, "mez": 60, "cest": 120,
          "mesz": 120, "eet": 120, "eest": 180, "est": -300, "edt": -240, "cst": -360, "cdt": -300,
          "mst": -420, "mdt": -360, "pst": -480, "pdt": -420}  # fmt: skip
_TOKEN = re.compile(
    r"(?P<time>\d{1,2}[:h]\d{2}(?::\d{2})?)|(?P<offset>[+-]\d{2}:?\d{2})|(?P<num>\d+)|(?P<word>[^\W\d_]+)"
)
# A day is at most this far ahead of the fetch before it is taken for last year's (for dates with no year).
_FUTURE_SLACK = timedelta(days=1)


def _fold(word: str) -> str:
    """Return ``word`` lower-cased without accents: 'Févr' → 'fevr', 'März' → 'marz'."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ß", "ss")


def _month(word: str) -> int | None:
    """Return the month a name or abbreviation (3+ letters) stands for, if exactly one does."""
    folded = _fold(word)
    if len(folded) < 3:
        return None
    found = {n for n, names in _MONTHS.items() for name in names if name.startswith(folded)}
    return found.pop() if len(found) == 1 else None


def parse_loose_date(text: str, now: datetime) -> datetime | None:
    """Return the UTC datetime written in ``text`` ("mer., 3 sept. 2025", "Mo, 25 Jun 14:05 CEST"), or None.

    The month is the name right after the day number (or right before it, as in "June 3"), so a weekday
    abbreviation that looks like a month ("mar." for mardi) is not mistaken for one. A date without a year
    is the latest such day not after ``now``; a missing time is midnight; a missing zone is UTC.
    """
    tokens = [(m.lastgroup or "", m.group()) for m in _TOKEN.finditer(text)]
    day = month = year = None
    hour = minute = second = 0
    offset_min = 0
    for i, (kind, value) in enumerate(tokens):
        if kind == "time":
            parts = [int(p) for p in re.split(r"[:h]", value)]
            hour, minute, second = (*parts, 0)[:3]
        elif kind == "offset":
            digits = value[1:].replace(":", "")
            offset_min = (int(digits[:2]) * 60 + int(digits[2:])) * (-1 if value[0] == "-" else 1)
        elif kind == "num" and len(value) == 4 and year is None:
            year = int(value)
        elif kind == "num" and len(value) <= 2 and day is None:
            day = int(value)
            # "3 sept.", "1 de agosto" (a connecting word between), or "June 3"
            candidates = [*tokens[i + 1 : i + 3], *tokens[max(0, i - 1) : i]]
            month = next((m for k, w in candidates if k == "word" and (m := _month(w))), None)
        elif kind == "word" and _fold(value) in _ZONES:
            offset_min = _ZONES[_fold(value)]
    if day is None or month is None:
        return None
    zone = timezone(timedelta(minutes=offset_min))
    try:
        if year is not None:
            return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)
        for candidate in (now.year, now.year - 1):
            when = datetime(candidate, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)
            if when <= now + _FUTURE_SLACK:
                return when
    except ValueError:  # 31 June, 25:00, year 0: a date that does not exist is no date
        return None
    return None
