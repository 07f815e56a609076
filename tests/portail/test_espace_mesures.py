"""`/mon-espace/mesures` over real HTTP: the measures through `Espace.measures`, `add_measure` and
`delete_measure` (what `/espace/mesures` calls), each kind's chart as inline SVG with its title and its
data table, the BMI of the latest weight and height with the WHO class, the service's refusals as
French 4xx pages, another patient's measure refused, CSRF on every form, the audit records. The tests
share one house and world per backend (module_live): what only reads or is refused runs in Sarah's
session (one for the module), her measures left empty; a test that adds measures has a patient of
its own (`patient`, `her`: her session) and counts only her records."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx

from maison.portail.espace_mesures import observation_of, who_class
from maison.portail.web import CSP
from tests.partage.world import CHILD
from tests.portail import espace_world
from tests.portail.espace_world import patient_who, post, records, refused_without_token

PAGE = "/mon-espace/mesures"


shared_world, client = espace_world.shared_world, espace_world.shared_client  # one house per module
world, patient, her = espace_world.renewed_world, espace_world.new_patient, espace_world.her  # a test's own patient


def _add(client, mesure: str, valeur: str, day: date | None = None, heure: str = ""):
    when = (day or date.today()).isoformat()
    return post(client, PAGE, PAGE, mesure=mesure, valeur=valeur, date=when, heure=heure)


def test_an_empty_page_says_so_and_reads_through_the_service(client, world):
    page = client.get(PAGE)
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert "Aucune mesure enregistrée." in page.text and "votre IMC sera calculé" in page.text
    assert '<label for="valeur">Valeur</label>' in page.text
    assert records(world.house, "espace.mesure.lire")  # the read is audited as the API's


def test_weights_and_heights_give_a_chart_a_table_and_the_bmi(her, patient, world):
    client = her
    assert _add(client, "taille:cm", "170", date.today() - timedelta(days=30)).status_code == 303
    assert _add(client, "poids:kg", "75", date.today() - timedelta(days=20)).status_code == 303
    added = _add(client, "poids:kg", "72,5", date.today(), "08:30")
    assert added.status_code == 303 and added.headers["location"] == "/mon-espace/mesures#poids"
    page = client.get(PAGE).text
    weights = page[page.index('id="poids"') : page.index('id="taille"')]
    assert "<svg" in weights and "<title" in weights and "Poids (kg) au fil du temps" in weights
    assert 'role="img"' in weights and "<desc" in weights
    assert '<th scope="col">Date</th>' in weights and "<td>72,5</td>" in weights and "<td>75</td>" in weights
    assert "<polyline" in weights  # two points: a line over time
    # BMI: 72.5 / 1.70² = 25.1 — surpoids for the WHO
    assert "Votre IMC : <strong>25,1 kg/m²</strong> — surpoids" in page
    assert "72,5 ÷ (1,7 × 1,7) = 25,1" in page
    assert 'id="imc"' in page and "calculé" in page  # the service's own BMI series, not deletable
    assert len(records(world.house, "espace.mesure.ajouter", patient.ins)) == 3


def test_units_are_converted_by_the_service(her):
    client = her
    assert _add(client, "glycemie:g/L", "1,1").status_code == 303
    page = client.get(PAGE).text
    assert "Glycémie (mg/dL)" in page and "<td>110</td>" in page


def test_delete_own_measure_but_not_the_bmi_nor_another_patients(her, patient, world):
    client = her
    _add(client, "taille:m", "1,7")
    _add(client, "poids:kg", "70")
    page = client.get(PAGE).text
    ids = re.findall(r'action="/mon-espace/mesures/([^"/]+)/suppression"', page)
    assert len(ids) == 2  # the weight and the height; the BMI has no button
    bmi_id = world.house.espace.measures(patient_who(patient.ins), "imc")[0]["id"]
    refused = post(client, PAGE, f"{PAGE}/{bmi_id}/suppression")
    assert refused.status_code == 404 and "suit le poids et la taille" in refused.text
    theirs = world.house.espace.add_measure(
        patient_who(CHILD),
        {
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "valueQuantity": {"value": 30, "code": "kg"},
            "effectiveDateTime": date.today().isoformat(),
        },
    )
    other = post(client, PAGE, f"{PAGE}/{theirs['id']}/suppression")
    assert other.status_code == 404 and "inconnue" in other.text  # as a missing id: no oracle
    refusal = [r for r in records(world.house, "espace.mesure.supprimer", CHILD) if r["outcome"] != "success"]
    assert refusal and '"autre-patient":true' in refusal[-1]["detail"]
    done = post(client, PAGE, f"{PAGE}/{ids[0]}/suppression")
    assert done.status_code == 303
    assert len(re.findall(r"/suppression", client.get(PAGE).text)) == 1
    assert len(world.house.espace.measures(patient_who(CHILD))) == 1  # hers untouched


def test_every_form_refuses_a_missing_or_wrong_token(her, patient, world):
    client = her
    _add(client, "poids:kg", "70")
    id_ = re.search(r'/mon-espace/mesures/([^"/]+)/suppression', client.get(PAGE).text).group(1)
    refused_without_token(client, PAGE, mesure="poids:kg", valeur="71", date=date.today().isoformat())
    refused_without_token(client, f"{PAGE}/{id_}/suppression")
    assert len(records(world.house, "espace.mesure.ajouter", patient.ins)) == 1


def test_the_who_classes_and_the_form_translation():
    assert [who_class(v) for v in (17.9, 18.5, 24.9, 25, 30, 35, 40)] == [
        "insuffisance pondérale (maigreur)",
        "corpulence normale",
        "corpulence normale",
        "surpoids",
        "obésité modérée (classe I)",
        "obésité sévère (classe II)",
        "obésité morbide ou massive (classe III)",
    ]
    o = observation_of({"mesure": "temperature:Cel", "valeur": "38,2", "date": "2026-01-02", "heure": "07:15"})
    assert o["valueQuantity"] == {"value": 38.2, "system": "http://unitsofmeasure.org", "code": "Cel"}
    assert o["effectiveDateTime"] == "2026-01-02T07:15:00+01:00"  # Paris time, winter


def test_unauthenticated_is_refused_in_french(world):
    answer = httpx.get(f"{world.base}{PAGE}")
    assert answer.status_code == 401 and "reconnectez-vous" in answer.text
