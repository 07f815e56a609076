"""The SUN-ES indicators as FHIR R4 Measure and MeasureReport (issue 23 §4): one Measure per DS
line with its seed line and the seed's conditions in words; a summary MeasureReport per indicator
with its populations and its proportion; the Bundle signed, or each report saying why not."""

from __future__ import annotations

import base64

import pytest

from maison.core.errors import NotFound
from maison.formats.namespace import Namespace
from maison.observatoire.measure import measure_of, measure_reports, measures, positioned, signed
from maison.observatoire.signature import Seal

NS = Namespace("https://maison.example.org/ns")
CONTENT = {
    "perimetre": {"type": "ght", "code": "GHT-75", "structures": ["1750000019"]},
    "periode": "2026-S1",
    "indicateurs": [
        {"indicateur": "DS1.1", "numerateur": 2, "denominateur": 6},
        {"indicateur": "DS4.2", "numerateur": 0, "denominateur": 0},
    ],
}


def test_one_measure_per_indicator_with_the_seed_conditions():
    found = measures(NS)
    assert found["total"] == 8 and found["type"] == "searchset"
    ds11 = measure_of("sunes-ds1-1", NS)
    assert ds11["url"] == "https://maison.example.org/ns/fhir/Measure/sunes-ds1-1"
    numerator, denominator = ds11["group"][0]["population"]
    assert numerator["code"]["coding"][0]["code"] == "numerator"
    assert numerator["criteria"]["expression"] == (
        "séjours du dénominateur dont lettre de liaison a alimenté le DMP en CDA R2 N1 avec une INS qualifiée"
    )
    assert "seed 004 L191" in numerator["description"] and "annulés" in denominator["criteria"]["expression"]
    ds42 = measure_of("sunes-ds4-2", NS)["group"][0]["population"][0]["criteria"]["expression"]
    assert "sans condition d'INS" in ds42  # 004 L203 says nothing of the INS
    with pytest.raises(NotFound):
        measure_of("sunes-ds5-1", NS)


def test_a_summary_report_per_indicator_with_its_proportion():
    bundle = measure_reports(CONTENT, "2026-01-01", "2026-07-01", NS)
    first, second = (e["resource"] for e in bundle["entry"])
    assert first["type"] == "summary" and first["period"] == {"start": "2026-01-01", "end": "2026-06-30"}
    assert first["subject"]["identifier"] == {"system": NS.code_system("ght"), "value": "GHT-75"}
    assert first["group"][0]["measureScore"] == {"value": 0.3333}
    assert "measureScore" not in second["group"][0]  # no denominator: no score


def test_the_bundle_is_signed_or_each_report_says_why():
    bundle = positioned(measure_reports(CONTENT, "2026-01-01", "2026-07-01", NS), 42, "ab" * 32, NS)
    assert bundle["entry"][0]["resource"]["extension"][0]["valueInteger"] == 42
    good = signed(bundle, Seal(42, "ab" * 32, "eyJh..c2ln", "kid"), NS)
    assert base64.b64decode(good["signature"]["data"]) == b"eyJh..c2ln"
    bad = signed(bundle, Seal(42, "ab" * 32, None, "kid", "chaîne d'audit rompue à seq 7"), NS)
    assert "signature" not in bad
    assert bad["entry"][1]["resource"]["extension"][-1]["valueString"] == "chaîne d'audit rompue à seq 7"
