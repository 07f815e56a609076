"""The maison table as data (seed 001 L196-216): each row with its seed line, the DUI without the
DMP, the three misaligned rows with both readings."""

from __future__ import annotations

from pathlib import Path

from maison.observatoire.conformite.model import MAISON, Service, judge

SEED = Path("/work/shared/seeds/001_b012269d006303bb.txt")
NAMES = {
    "DRIMBOX": "Drim Box",
    "AGENDA": "Solution d'agenda",
    "OPERATEUR_MSS": "Opérateur MSanté",
    "MES_V1": "Référencement Mes V1 sans échanges",
    "MES_V2": "Référencement Mes V2 avec échanges",
    "DMN_LATM": "DMN V1 - Télésurveillance LATM PECAN",
    "DMN_LPPR": "DMN V1 - LPPR et PECAN DTx",
    "DMN_V2": "Certification DMN V2",
    "TELECONSULTATION": "Certification SI Sociétés de Téléconsultation",
}
ORDER = (Service.INS, Service.PSC, Service.ANNUAIRE, Service.SAS, Service.VIATRAJECTOIRE, Service.DMP,
         Service.MSSANTE, Service.ORDONNANCE)  # fmt: skip
CORE = {Service.INS, Service.PSC, Service.ANNUAIRE, Service.DMP, Service.MSSANTE}


def test_rows_and_their_seed_lines():
    assert set(MAISON["DPI"].readings[0].services) == CORE
    assert MAISON["LGC"].readings[0].services == CORE | {Service.ORDONNANCE}
    assert Service.DMP not in MAISON["DUI"].readings[0].services  # 001 L208
    assert Service.VIATRAJECTOIRE in MAISON["DUI"].readings[0].services
    assert MAISON["AGENDA"].readings[0].services == {Service.ANNUAIRE, Service.SAS}
    assert MAISON["TELECONSULTATION"].readings[0].required() >= {Service.ETHIQUE, Service.ORDONNANCE}
    assert Service.SECURITE in MAISON["SGL"].readings[0].required()
    if SEED.exists():  # each well-formed row is the seed's line, cell for cell
        lines = SEED.read_text(encoding="utf-8").splitlines()
        for requirement in MAISON.values():
            cells = lines[requirement.seed_line - 1].split("\t")
            assert NAMES.get(requirement.category, requirement.category) in cells[:3], requirement.category
            # as printed: the cells under the header's columns; shifted: the cells one column left of them
            starts = {"telle-quelle": 3, "decalee": 2}
            for reading in requirement.readings:
                row = cells[starts[reading.name] :][:11]
                assert (reading.security, reading.interoperability, reading.ethics) == tuple(row[:3])
                ticked = {s for s, c in zip(ORDER, row[3:11], strict=True) if c == "✓"}
                assert reading.services == ticked, requirement.category


def test_the_misaligned_rows_keep_both_readings():
    for category, line in (("OPERATEUR_MSS", 207), ("PDE", 209), ("PDS", 210)):
        requirement = MAISON[category]
        assert requirement.ambiguous and f"L{line}" in requirement.ambiguity
        assert [r.name for r in requirement.readings] == ["telle-quelle", "decalee"]
    assert MAISON["PDE"].readings[1].services == MAISON["DUI"].readings[0].services  # shifted: the DUI's row
    assert Service.ANNUAIRE not in MAISON["PDE"].readings[0].services  # as printed: no Annuaire, a SAS
    assert MAISON["OPERATEUR_MSS"].readings[0].services == CORE  # as printed: the DPI's ticks
    assert Service.SAS in MAISON["OPERATEUR_MSS"].readings[1].services
    assert sum(1 for r in MAISON.values() if r.ambiguous) == 3


def test_a_verdict_per_reading():
    printed, shifted = judge(MAISON["PDE"], {Service.INS, Service.PSC, Service.MSSANTE, Service.ORDONNANCE})
    assert printed.missing == (Service.DMP,)  # as printed the PDE would feed the DMP
    assert shifted.missing == (Service.ANNUAIRE,) and Service.VIATRAJECTOIRE in shifted.not_observable
    [dui] = judge(MAISON["DUI"], {Service.DMP})
    assert dui.beyond == (Service.DMP,) and Service.DMP not in dui.missing
