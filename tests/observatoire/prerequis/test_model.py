"""The prerequisites as data: volets, funding windows, scopes, the report's shapes (seed 004, 000)."""

from __future__ import annotations

from datetime import date

import pytest

from maison.core.errors import InvalidInput
from maison.observatoire.prerequis.model import (
    VOLET_1,
    VOLET_2,
    Check,
    Eligibility,
    Prerequisite,
    PrerequisReport,
    Scope,
    window_of,
)
from maison.observatoire.report import Period


def test_volets():
    # 004 L174: six for volet 1; L181: those and PS4.1 for volet 2
    assert [str(p) for p in VOLET_1] == ["PS1.1", "PS1.2", "PS2.1", "PS2.2", "PS3.1", "PS3.2"]
    assert VOLET_2 == (*VOLET_1, Prerequisite.PS4_1)


@pytest.mark.parametrize(
    ("day", "window"),
    [
        (date(2021, 10, 1), 1),  # applied for in 2021 (000 L785)
        (date(2022, 1, 1), 1),
        (date(2022, 6, 30), 1),
        (date(2022, 7, 1), 2),
        (date(2023, 1, 1), 3),
        (date(2023, 12, 31), 4),  # 000 L792
        (date(2024, 1, 1), 5),  # later semesters: further windows
        (date(2024, 7, 1), 6),
        (date(2026, 7, 1), 10),
    ],
)
def test_funding_windows(day, window):
    assert window_of(day) == window


def test_scopes():
    assert Scope.parse("1750000019") == Scope("1750000019")
    assert Scope.parse("ght:GHT-75") == Scope("GHT-75", ght=True) and str(Scope.parse("ght:GHT-75")) == "ght:GHT-75"
    for bad in ("", "ght:", "ght:../x", "1750000019; DROP", "١٧٥٠٠٠٠٠١٩"):
        with pytest.raises(InvalidInput):
            Scope.parse(bad)


def test_report_shapes():
    checks = (
        Check(Prerequisite.PS1_2, "1750000019", (), "declare", ("déclaration 1",)),
        Check(Prerequisite.PS2_2, "1750000019", ("aucune attestation",), "declare"),
    )
    report = PrerequisReport(
        Scope("1750000019"),
        Period.parse("2026-S2"),
        date(2026, 12, 7),
        10,
        ("1750000019",),
        checks,
        (Eligibility(1, ("PS2.2 (1750000019) : aucune attestation",)), Eligibility(2, ())),
    )
    data = report.as_dict()
    assert data["prerequis"][1] == {
        "prerequis": "PS2.2",
        "libelle": "Audit externe de cybersurveillance",
        "structure": "1750000019",
        "atteint": False,
        "source": "declare",
        "manques": ["aucune attestation"],
        "preuves": [],
        "remarques": [],
    }
    assert data["volets"] == [
        {"volet": 1, "eligible": False, "manques": ["PS2.2 (1750000019) : aucune attestation"]},
        {"volet": 2, "eligible": True, "manques": []},
    ]
    prerequisites, volets = report.tables()
    assert prerequisites.rows[1] == ("PS2.2", "1750000019", "non", "declare", "aucune attestation")
    assert [r[:2] for r in volets.rows] == [("volet 1", "non"), ("volet 2", "oui")]
