"""The CI-SIS value sets as the services see them: real files of the reference pack, hostile files, and the fallback."""

from __future__ import annotations

import logging
import shutil
from datetime import date
from pathlib import Path

import pytest

from maison.core.config import Settings
from maison.core.terminology import Terminology
from maison.core.terminology.derive import TARGET, render
from maison.formats.svs import read_value_set

GENDER = "2.16.840.1.113883.5.1"  # HL7 AdministrativeGender
CONFIDENTIALITY = "2.16.840.1.113883.5.25"  # HL7 Confidentiality


@pytest.fixture(scope="session")
def jdv(reference_path: Path) -> Path:
    return reference_path / "cisis" / "jeuxDeValeurs"


@pytest.fixture(scope="session")
def terminology(jdv: Path) -> Terminology:
    return Terminology.from_directory(jdv, read_value_set)


def test_every_readable_file_is_loaded_and_the_empty_ones_are_reported(jdv, terminology):
    files = sorted(jdv.glob("*.xml"))
    empty = {p.name for p in files if p.stat().st_size == 0}
    loaded = {vs.source_file for vs in terminology}
    assert empty == {"ActPharmacySupplyType.xml", "CoverageRoleType.xml", "MediaType.xml"}
    assert empty <= set(terminology.skipped)
    # Two stub files repeat the OID of a fuller file: they are skipped, their names still resolve.
    duplicates = {f for f, reason in terminology.skipped.items() if "déjà fourni" in reason}
    assert duplicates == {"JDV_Evaluation_AGGIR_PA_CISIS.xml", "JDV_Evaluation_AGGIR_PH_CISIS.xml"}
    assert loaded | empty | duplicates == {p.name for p in files}
    assert len(terminology) == 518
    assert sum(len(vs.concepts) for vs in terminology) == 14313


def test_lookup_by_oid_and_by_every_spelling_of_the_name(terminology):
    by_oid = terminology["1.2.250.1.213.1.1.5.590"]
    assert by_oid.name == "JDV_J143_AdministrativeGender_CISIS"
    for name in (
        "JDV_J143_AdministrativeGender_CISIS",
        "JDV_J143-AdministrativeGender-CISIS",
        "JDV_J143_AdministrativeGender_CISIS.tabs",
        "JDV_J143_AdministrativeGender_CISIS.xml",
    ):
        assert terminology[name] is by_oid
    assert terminology["JDV_Evaluation_AGGIR_PA_CISIS"] is terminology["1.2.250.1.213.1.1.5.806"]
    assert len(terminology["1.2.250.1.213.1.1.5.806"].concepts) == 11
    assert terminology.get("JDV_Inexistant_CISIS") is None
    with pytest.raises(KeyError):
        terminology.contains("JDV_Inexistant_CISIS", "F")


def test_known_codes_and_their_display(terminology):
    assert terminology.contains("JDV_J143_AdministrativeGender_CISIS", "F", GENDER)
    assert not terminology.contains("JDV_J143_AdministrativeGender_CISIS", "F", CONFIDENTIALITY)
    assert not terminology.contains("JDV_J143_AdministrativeGender_CISIS", "U")  # the CI-SIS code is UN
    assert terminology.display(GENDER, "UN") == "Inconnu"
    assert terminology.display(CONFIDENTIALITY, "V") == "Très restreint"
    assert terminology.display("1.2.250.1.213.1.1.4.13", "MASQUE_PS") == "Masqué aux professionnels de santé"
    assert terminology.display(GENDER, "X") is None


def test_code_systems_across_all_value_sets(terminology):
    systems = terminology.code_systems()
    assert {"F", "M", "UN"} <= systems[GENDER]
    assert terminology.knows(CONFIDENTIALITY, "N")
    assert not terminology.knows(CONFIDENTIALITY, "Z")


def test_a_retired_value_set_refuses_its_codes_after_its_end(terminology):
    # No concept of the pack carries its own dateFin; JDV_J48_ProfessionNonPS_CISIS is retired as a
    # whole (ValueSet dateFin="20241213120000"), which retires its concepts.
    j48 = "JDV_J48_ProfessionNonPS_CISIS"
    assert terminology.display("1.2.250.1.213.1.6.1.109", "71") == "Ostéopathe"
    assert not terminology.contains(j48, "71", on=date.today())
    assert terminology.contains(j48, "71", on=date(2024, 12, 13))  # the last day still counts
    assert terminology.contains(j48, "71", on=date(2024, 1, 1))
    assert terminology.contains(j48, "71")  # no date asked, no date checked


SVS = """<?xml version="1.0" encoding="UTF-8"?>
<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008">
  <ValueSet id="1.2.3.4" displayName="JDV_Test_CISIS" version="1">
    <ConceptList>
      <Concept code="OLD" codeSystem="1.2.3" displayName="Ancien" dateValid="20100101000000" dateFin="20200630120000"/>
      <Concept code="NEW" codeSystem="1.2.3" displayName="Nouveau" dateValid="20200701000000" dateFin=""/>
    </ConceptList>
  </ValueSet>
</RetrieveValueSetResponse>
"""

HOSTILE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008">
  <ValueSet id="6.6.6" displayName="&b;"><ConceptList/></ValueSet>
</RetrieveValueSetResponse>
"""


def test_concept_validity_dates(tmp_path):
    (tmp_path / "JDV_Test_CISIS.xml").write_text(SVS, encoding="utf-8")
    t = Terminology.from_directory(tmp_path, read_value_set)
    assert t.contains("JDV_Test_CISIS", "OLD", on=date(2020, 6, 30))
    assert not t.contains("JDV_Test_CISIS", "OLD", on=date(2020, 7, 1))
    assert not t.contains("JDV_Test_CISIS", "NEW", on=date(2020, 6, 30))
    assert t.contains("JDV_Test_CISIS", "NEW", "1.2.3", on=date(2030, 1, 1))


def test_hostile_and_foreign_files_are_skipped_with_a_warning(tmp_path, jdv, caplog):
    shutil.copy(jdv / "JDV_J143_AdministrativeGender_CISIS.xml", tmp_path)
    (tmp_path / "bombe.xml").write_text(HOSTILE, encoding="utf-8")
    (tmp_path / "autre.xml").write_text("<racine/>", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="maison.terminology"):
        t = Terminology.from_directory(tmp_path, read_value_set)
    assert [vs.oid for vs in t] == ["1.2.250.1.213.1.1.5.590"]
    assert "DOCTYPE" in t.skipped["bombe.xml"]
    assert "SVS" in t.skipped["autre.xml"]
    assert t.get("6.6.6") is None
    assert "bombe.xml" in caplog.text


def test_fallback_to_the_default_table_without_the_reference_pack(tmp_path):
    t = Terminology.from_settings(Settings(reference_path=tmp_path), read_value_set)
    assert t.origin is None
    assert t.contains("JDV_J143-AdministrativeGender-CISIS", "M", GENDER)
    assert t.contains("1.2.250.1.213.1.1.5.463", "N", CONFIDENTIALITY)
    assert t.display(GENDER, "F") == "Féminin"


def test_settings_with_the_reference_pack_read_the_files(reference_path):
    assert Terminology.from_settings(Settings(reference_path=reference_path), read_value_set).origin is not None


def test_default_table_is_what_derive_generates_now(terminology):
    assert TARGET.read_text(encoding="utf-8") == render(terminology), (
        "defaults.py is stale: run python -m maison.formats.svs"
    )


def test_default_table_agrees_with_the_files(terminology):
    for vs in Terminology.from_defaults():
        assert vs == terminology[vs.oid]
