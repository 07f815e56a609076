"""The observatory's periods: semesters are the funding windows' unit (seed 000 L784-792)."""

from datetime import date

import pytest

from maison.core.errors import InvalidInput
from maison.observatoire.report import Period, Table


def test_semesters_months_and_ranges() -> None:
    s1 = Period.parse("2026-S1")
    assert (s1.start, s1.end) == (date(2026, 1, 1), date(2026, 7, 1))
    s2 = Period.parse("2026-S2")
    assert (s2.start, s2.end) == (date(2026, 7, 1), date(2027, 1, 1))
    assert [m.label for m in s2.months()] == [f"2026-{m:02d}" for m in range(7, 13)]
    dec = Period.parse("2026-12")
    assert (dec.start, dec.end) == (date(2026, 12, 1), date(2027, 1, 1))
    r = Period.parse("2026-01-15..2026-02-03")
    assert (r.start, r.end) == (date(2026, 1, 15), date(2026, 2, 4))
    assert r.contains("2026-02-03T23:59:59+00:00") and not r.contains("2026-02-04")
    assert Period.semester_of(date(2026, 6, 30)).label == "2026-S1"


@pytest.mark.parametrize(
    "text", ["2026-S3", "2026-13", "2026-02-30..2026-03-01", "٢٠٢٦-S1", "2026-03-01..2026-02-01", ""]
)
def test_unreadable_periods_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        Period.parse(text)
    assert exc.value.code == "periode-invalide"


def test_table_rows_as_dicts() -> None:
    t = Table("DS1.1", ("mois", "taux"), (("2026-01", 0.5),), chart="line")
    assert t.as_dicts() == [{"mois": "2026-01", "taux": 0.5}]
