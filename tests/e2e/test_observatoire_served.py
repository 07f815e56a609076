"""The SUN-ES indicators of a small world made by the real flows (PAM, PFI, DMP, MSSanté — the world
of tests/observatoire/sunes, hand-counted there), served over HTTP by the running house: the JSON
report, the FHIR MeasureReports and the HTML page carry the same hand-counted figures, signed."""

from __future__ import annotations

import httpx
from lxml import html

from maison.core.auth import issue_key
from tests.observatoire.sunes.test_service import CURRENT, FIGURES, build, later_records, world  # noqa: F401
from tests.partage.world import HOPITAL


def test_the_served_figures_are_the_hand_counted_ones(world, house, live, reference_path):  # noqa: F811
    build(world, reference_path)
    later_records(world, reference_path)
    own = {"ESANTE-API-KEY": issue_key(house.db, HOPITAL, "dpi-chu", "dim")}
    params = {"structure": HOPITAL, "periode": CURRENT.label}

    served = httpx.get(f"{live.url}/observatoire/sunes", params=params, headers=own, timeout=60).json()
    lines = {i["indicateur"]: (i["numerateur"], i["denominateur"]) for i in served["contenu"]["indicateurs"]}
    assert lines == FIGURES and served["signature"]["signe"] is True

    bundle = httpx.get(f"{live.url}/observatoire/fhir/MeasureReport", params=params, headers=own, timeout=60).json()
    counted = {}
    for entry in bundle["entry"]:
        group = entry["resource"]["group"][0]
        counts = {p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]}
        code = entry["resource"]["measure"].rsplit("/", 1)[1]
        counted[code] = (counts["numerator"], counts["denominator"])
        if counts["denominator"]:
            assert group["measureScore"]["value"] == round(counts["numerator"] / counts["denominator"], 4)
    assert counted["sunes-ds1-1"] == FIGURES["DS1.1"] and counted["sunes-ds4-2"] == FIGURES["DS4.2"]
    assert "signature" in bundle

    page = httpx.get(f"{live.url}/observatoire/rapport.html", params=params, headers=own, timeout=120)
    parsed = html.fromstring(page.content)
    bars = [t.text_content() for t in parsed.iter("{http://www.w3.org/2000/svg}title", "title")]
    assert "DS1.1 — numérateur : 2" in bars and "DS1.1 — dénominateur : 6" in bars
    assert any(b.startswith(f"{CURRENT.months()[0].label} — DS1.1 : ") for b in bars)  # the rates per month
    [by_service] = [
        t for t in parsed.iter("table") if t.find("caption").text_content().startswith("Taux SUN-ES par service")
    ]
    [row] = by_service.find("tbody").findall("tr")  # every stay of the world left from one unit
    cells = [td.text_content() for td in row.findall("td")]
    assert cells[1] == "33.3" and cells[-1] == "33.3"  # DS1.1 2 of 6, DS4.2 2 of 6: as the whole structure

    why = httpx.get(f"{live.url}/observatoire/sunes/explication/DS1.1", params=params, headers=own, timeout=60)
    items = {i["element"]: i for i in why.json()["contenu"]["elements"]}
    assert items[f"{HOPITAL}/S2"]["compte"] is False and "INS" in items[f"{HOPITAL}/S2"]["raison"]
