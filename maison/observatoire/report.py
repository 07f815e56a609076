"""What every report of the observatory shares: its period and the tables it prints.

The SUN-ES indicators are counted per semester, the funding windows' unit (seed 000 L784-792;
SPEC.md §6); the national statistics per month (seed 003 L316-322, L1740-1750). A `Period` is a
half-open range of days [start, end) named as people write it: `2026-S1`, `2026-05`, or
`2026-01-01..2026-03-31` (both days included, as a person reads a range).

Each report gives its figures as data (`as_dict`, JSON) and as `Table`s, which `maison indicateurs`
prints with rich, writes as CSV, and draws in the HTML report (the `chart` hint says how).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from maison.core.errors import InvalidInput

_SEMESTER = re.compile(r"^(\d{4})-S([12])$", re.ASCII)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$", re.ASCII)
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$", re.ASCII)


def _day(text: str) -> date:
    if not text.isascii():  # date.fromisoformat reads no other digits, but say it plainly
        raise InvalidInput(f"date {text!r} illisible", code="periode-invalide")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"date {text!r} illisible", code="periode-invalide") from None


@dataclass(frozen=True)
class Period:
    """Days [start, end): `start` included, `end` excluded."""

    start: date
    end: date
    label: str

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2026-S1` (January–June), `2026-S2`, `2026-05`, or `2026-01-01..2026-03-31`."""
        text = text.strip()
        if m := _SEMESTER.match(text):
            year, half = int(m[1]), int(m[2])
            start = date(year, 1 if half == 1 else 7, 1)
            end = date(year, 7, 1) if half == 1 else date(year + 1, 1, 1)
            return cls(start, end, text)
        if m := _MONTH.match(text):
            return cls.month(int(m[1]), int(m[2]))
        if m := _RANGE.match(text):
            start, last = _day(m[1]), _day(m[2])
            if last < start:
                raise InvalidInput(f"période {text!r} : la fin précède le début", code="periode-invalide")
            return cls(start, last + timedelta(days=1), text)
        raise InvalidInput(
            f"période {text!r} illisible : 2026-S1, 2026-05 ou 2026-01-01..2026-03-31 attendu", code="periode-invalide"
        )

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return cls(date(year, month, 1), end, f"{year:04d}-{month:02d}")

    @classmethod
    def semester_of(cls, day: date) -> Period:
        return cls.parse(f"{day.year:04d}-S{1 if day.month <= 6 else 2}")

    def months(self) -> list[Period]:
        """The calendar months the period touches, in order (the monthly series' rows)."""
        out, year, month = [], self.start.year, self.start.month
        while date(year, month, 1) < self.end:
            out.append(Period.month(year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def contains(self, instant: str) -> bool:
        """An ISO date or timestamp (as the stores and the audit trail write them) within the period."""
        return self.start.isoformat() <= instant[:10] < self.end.isoformat()

    @property
    def bounds(self) -> tuple[str, str]:
        """ISO strings for SQL ranges: `start <= column < end` on ISO dates and timestamps alike."""
        return self.start.isoformat(), self.end.isoformat()


@dataclass(frozen=True)
class Table:
    """A table of a report. `chart`: how the HTML report draws it — "bar" or "line" (first column on
    the x axis, each numeric column a series), or None for a table only."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]
    chart: str | None = None
    notes: tuple[str, ...] = field(default=())

    def as_dicts(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]
