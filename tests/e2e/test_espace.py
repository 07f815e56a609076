"""Mon espace santé over HTTP: profil médical, measures and BMI, agenda, the patient's documents, export.

The tests of one backend share one house and its world (module_live): each acts as a patient of its
own (tests/portail/own_patient.py, her login opened), so what one writes to her espace, her DMP or
her trail no other test reads."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from maison.etablissement.dmp.producer import Produced
from maison.formats.pdf import document_pdf
from tests.e2e.shared_world import shared_house, shared_world
from tests.partage.world import PROS, n1
from tests.portail.own_patient import BIRTH, Patient, own_patient

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


module_world, world = shared_world("hospitalier", "generaliste")
house = shared_house()[0]


@pytest.fixture
def patient(house) -> Patient:
    """This test's own patient, her Mon espace santé login open."""
    return own_patient(house)


@pytest.fixture
def alice(world, patient: Patient) -> httpx.Client:
    """Her espace, signed in as she is (her password, then the code sent to her email)."""
    token = world.patient_token(patient.login, patient.email)
    return httpx.Client(base_url=f"{world.base}/espace", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def observation(code: str, value: float, unit: str, when: str = "2026-10-01T08:00:00Z") -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        "effectiveDateTime": when,
    }


def issue_code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def test_only_the_patient_reaches_his_espace(world, alice) -> None:
    assert httpx.get(f"{world.base}/espace/profil").status_code == 401
    doctor = httpx.get(f"{world.base}/espace/profil", headers=world.headers("generaliste"))
    assert doctor.status_code == 403 and issue_code(doctor) == "appelant-non-admis"


def test_profile_identity_comes_from_the_ins_and_rubriques_hold_fhir_entries(world, alice, patient) -> None:
    # 000 L3281-3296: identity and contacts, emergency contacts, wishes, then the narrative rubriques
    assert (
        alice.put(
            "/profil/coordonnees",
            json={
                "telecom": [{"system": "email", "value": "alice@example.fr"}],
                "address": [{"line": ["3 rue des Lilas"], "postalCode": "75013", "city": "PARIS"}],
            },
        ).status_code
        == 200
    )
    contact = alice.post(
        "/profil/contacts-urgence",
        json={
            "resourceType": "RelatedPerson",
            "name": [{"family": "GARCIA", "given": ["Karim"]}],
            "relationship": [{"text": "conjoint"}],
            "telecom": [{"system": "phone", "value": "+33 6 11 22 33 44"}],
        },
    )
    assert contact.status_code == 201, contact.text
    condition = alice.post(
        "/profil/maladies",
        json={"resourceType": "Condition", "code": {"text": "Asthme"}, "onsetDateTime": "1995-04-01"},
    )
    treatment = alice.post(
        "/profil/traitements",
        json={
            "resourceType": "MedicationStatement",
            "medicationCodeableConcept": {"text": "Salbutamol 100 µg"},
            "effectivePeriod": {"start": "2020-01-01"},
            "note": [{"text": "en cas de crise"}],
        },
    )
    allergy = alice.post(
        "/profil/allergies", json={"resourceType": "AllergyIntolerance", "code": {"text": "Pénicilline"}}
    )
    vaccine = alice.post(
        "/profil/vaccinations",
        json={
            "resourceType": "Immunization",
            "vaccineCode": {"text": "Grippe saisonnière"},
            "occurrenceDateTime": "2025-10-15",
        },
    )
    assert [r.status_code for r in (condition, treatment, allergy, vaccine)] == [201] * 4
    assert treatment.json()["status"] == "active" and vaccine.json()["primarySource"] is False
    profile = alice.get("/profil").json()
    identity = profile["entry"][0]["resource"]
    assert identity["identifier"][0]["value"] == patient.ins and identity["name"][0]["family"] == patient.family
    assert identity["birthDate"] == BIRTH and identity["address"][0]["postalCode"] == "75013"
    kinds = sorted(e["resource"]["resourceType"] for e in profile["entry"][1:])
    assert kinds == ["AllergyIntolerance", "Condition", "Immunization", "MedicationStatement", "RelatedPerson"]
    # the patient corrects and removes entries
    id_ = condition.json()["id"]
    assert (
        alice.put(
            f"/profil/maladies/{id_}", json={"resourceType": "Condition", "code": {"text": "Asthme allergique"}}
        ).json()["code"]["text"]
        == "Asthme allergique"
    )
    assert alice.delete(f"/profil/maladies/{id_}").status_code == 204
    assert alice.get("/profil/maladies").json()["total"] == 0
    assert alice.delete(f"/profil/maladies/{id_}").status_code == 404


def test_wishes(alice) -> None:
    body = {
        "directivesAnticipees": {"redigees": True, "lieu": "chez mon médecin traitant"},
        "donOrganes": "favorable",
        "personneDeConfiance": {
            "name": [{"family": "GARCIA"}],
            "telecom": [{"system": "phone", "value": "0611223344"}],
        },
    }
    assert alice.put("/profil/volontes", json=body).status_code == 200
    wishes = alice.get("/profil/volontes").json()
    assert wishes["donOrganes"] == "favorable" and wishes["directivesAnticipees"]["redigees"] is True
    refused = alice.put("/profil/volontes", json={"donOrganes": "peut-etre"})
    assert refused.status_code == 400 and issue_code(refused) == "volontes-invalides"


def test_measures_are_normalised_and_the_bmi_is_computed(alice) -> None:
    # 000 L3306-3317: weight kg, height m, BMI computed automatically, waist cm, temperature, glycaemia...
    weight = alice.post("/mesures", json=observation("29463-7", 70000, "g", "2026-10-01T08:00:00Z"))
    assert weight.status_code == 201 and weight.json()["valueQuantity"] == {
        "value": 70.0,
        "unit": "kg",
        "system": UCUM,
        "code": "kg",
    }
    assert alice.get("/mesures", params={"code": "imc"}).json()["total"] == 0  # no height yet
    height = alice.post("/mesures", json=observation("8302-2", 175, "cm", "2026-09-01T08:00:00Z"))
    assert height.json()["valueQuantity"]["value"] == 1.75
    bmi = alice.get("/mesures", params={"code": "imc"}).json()["entry"]
    assert [e["resource"]["valueQuantity"]["value"] for e in bmi] == [22.9]  # 70 / 1.75²
    assert {d["reference"] for d in bmi[0]["resource"]["derivedFrom"]} == {
        f"Observation/{weight.json()['id']}",
        f"Observation/{height.json()['id']}",
    }
    alice.post("/mesures", json=observation("29463-7", 80, "kg", "2026-11-01T08:00:00Z"))
    assert [
        e["resource"]["valueQuantity"]["value"] for e in alice.get("/mesures", params={"code": "imc"}).json()["entry"]
    ] == [22.9, 26.1]
    glucose = alice.post("/mesures", json=observation("2339-0", 5.5, "mmol/L"))
    assert (
        glucose.json()["valueQuantity"]["value"] == pytest.approx(99.088)
        and glucose.json()["valueQuantity"]["unit"] == "mg/dL"
    )
    temperature = alice.post("/mesures", json=observation("8310-5", 98.6, "[degF]"))
    assert temperature.json()["valueQuantity"]["value"] == pytest.approx(37.0)
    # removing the height removes the BMIs it made
    assert alice.delete(f"/mesures/{height.json()['id']}").status_code == 204
    assert alice.get("/mesures", params={"code": "imc"}).json()["total"] == 0


def test_agenda(alice) -> None:
    start = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    event = {
        "resourceType": "Appointment",
        "status": "booked",
        "description": "Consultation cardiologie",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "participant": [{"actor": {"display": "Dr MARTIN"}, "status": "accepted"}],
    }
    created = alice.post("/agenda", json=event)
    assert created.status_code == 201, created.text
    alice.post(
        "/agenda", json={**event, "description": "Prise de sang", "start": "2027-01-10T08:00:00+01:00", "end": None}
    )
    listed = alice.get("/agenda", params={"debut": "2026-12-01", "fin": "2027-01-01"}).json()
    assert [e["resource"]["description"] for e in listed["entry"]] == ["Consultation cardiologie"]
    moved = alice.put(f"/agenda/{created.json()['id']}", json={**event, "status": "cancelled"})
    assert moved.json()["status"] == "cancelled"
    backwards = alice.post("/agenda", json={**event, "end": (start - timedelta(hours=1)).isoformat()})
    assert backwards.status_code == 400 and issue_code(backwards) == "periode-invalide"
    for end in ("", False):  # an end given is a dateTime (it was ignored before, issue 21 §3.1)
        odd = alice.post("/agenda", json={**event, "end": end})
        assert odd.status_code == 400 and issue_code(odd) == "date-invalide", odd.text
    assert alice.delete(f"/agenda/{created.json()['id']}").status_code == 204
    assert alice.get("/agenda").json()["total"] == 1


def _upload(category: str, data: bytes, content_type: str = "application/pdf", title: str = "Compte rendu") -> dict:
    return {
        "resourceType": "DocumentReference",
        "type": {"coding": [{"code": category}]},
        "description": title,
        "content": [{"attachment": {"contentType": content_type, "data": base64.b64encode(data).decode()}}],
    }


def test_the_patient_deposits_documents_in_his_categories(world, alice, patient) -> None:
    # 000 L3267-3269: an item reserved to the patient in each major class (JDV_J07 DOCPAT01-09)
    categories = {c["code"] for c in alice.get("/documents/categories").json()}
    assert {"DOCPAT01", "DOCPAT03", "DOCPAT05", "DOCPAT09"} <= categories
    pdf = document_pdf("CR de consultation à l'étranger", [("Texte", ["Consultation à Madrid."])])
    created = alice.post("/documents", json=_upload("DOCPAT03", pdf, title="CR de consultation à Madrid"))
    assert created.status_code == 201, created.text
    id_ = created.headers["Location"].rsplit("/", 1)[1]
    dmp = httpx.Client(base_url=f"{world.base}/dmp", headers=alice.headers, timeout=30)
    found = dmp.get(
        "/DocumentReference", params={"patient.identifier": patient.ins, "status": "current", "type": "DOCPAT03"}
    ).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [id_]
    fiche = found["entry"][0]["resource"]
    assert fiche["category"][0]["coding"][0]["code"] == "10"  # ASS_X04: DOCPAT03 → compte rendu
    assert fiche["content"][0]["attachment"]["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
    assert dmp.get(f"/Binary/{id_}").content == pdf
    # the patient withdraws what he deposited, not what a professional wrote
    assert alice.delete(f"/documents/{id_}").status_code == 204
    assert dmp.get(f"/DocumentReference/{id_}").status_code == 404
    world.inform("hospitalier", patient.ins)
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], patient=patient.identity))])
    professional_doc = fed.json()["entry"][1]["response"]["location"].split("/")[1]
    refused = alice.delete(f"/documents/{professional_doc}")
    assert refused.status_code == 403 and issue_code(refused) == "document-non-depose"


def test_sharing_the_profile_files_its_synthesis_in_the_dmp_and_replaces_the_previous(world, alice, patient) -> None:
    # 000 L3300: the synthesis of the profil médical saved in the DMP in its dedicated category (DOCPAT08)
    alice.post("/profil/allergies", json={"resourceType": "AllergyIntolerance", "code": {"text": "Arachide"}})
    first = alice.post("/profil/$partager")
    second = alice.post("/profil/$partager")
    assert first.status_code == second.status_code == 201
    dmp = httpx.Client(base_url=f"{world.base}/dmp", headers=alice.headers, timeout=30)
    current = dmp.get(
        "/DocumentReference", params={"patient.identifier": patient.ins, "status": "current", "type": "DOCPAT08"}
    ).json()["entry"]
    assert [e["resource"]["id"] for e in current] == [second.headers["Location"].rsplit("/", 1)[1]]
    assert (
        current[0]["resource"]["relatesTo"][0]["target"]["reference"]
        == f"DocumentReference/{first.headers['Location'].rsplit('/', 1)[1]}"
    )
    pdf = dmp.get(current[0]["resource"]["content"][0]["attachment"]["url"].removeprefix(f"{world.base}/dmp")).content
    assert pdf.startswith(b"%PDF-")


def test_the_export_holds_everything_the_patient_may_see(world, alice, patient) -> None:
    # 003 L1418, 000 L1067: everything back, in a usable, documented format
    world.inform("hospitalier", patient.ins)
    letter = n1(PROS["hospitalier"], patient=patient.identity)
    hidden = n1(PROS["hospitalier"], patient=patient.identity, title="Résultat à annoncer")
    world.provide("hospitalier", [Produced(letter), Produced(hidden, visibility=("INVISIBLE_PATIENT",))])
    alice.post("/profil/maladies", json={"resourceType": "Condition", "code": {"text": "Asthme"}})
    alice.post("/mesures", json=observation("29463-7", 70, "kg"))
    alice.post("/agenda", json={"resourceType": "Appointment", "description": "Kiné", "start": "2026-12-01T10:00:00Z"})
    response = alice.get("/export")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    bundle = orjson.loads(archive.read("mon-espace-sante/mon-espace-sante.json"))
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and "Condition" in kinds and "Observation" in kinds and "Appointment" in kinds
    references = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert len(references) == 1  # the document awaiting its consultation d'annonce is not exported (R.1111-53)
    path = f"mon-espace-sante/{references[0]['content'][0]['attachment']['url']}"
    assert archive.read(path) == letter
    listing = archive.read("mon-espace-sante/SHA256SUMS").decode().splitlines()
    sums = dict(reversed(line.split("  ")) for line in listing)
    for name, digest in sums.items():
        assert hashlib.sha256(archive.read(f"mon-espace-sante/{name}")).hexdigest() == digest
    assert {"mon-espace-sante/LISEZMOI.txt", "mon-espace-sante/historique-acces.json"} <= names
    history = orjson.loads(archive.read("mon-espace-sante/historique-acces.json"))
    assert any(e["resource"]["resourceType"] == "AuditEvent" for e in history["entry"])


def test_a_closed_espace_is_read_only_and_every_access_is_audited(world, house, alice, patient) -> None:
    alice.post("/profil/allergies", json={"resourceType": "AllergyIntolerance", "code": {"text": "Latex"}})
    dmp = httpx.Client(base_url=f"{world.base}/dmp", headers=alice.headers, timeout=30)
    assert dmp.put("/espace/etat", json={"etat": "closed"}).status_code == 204
    refused = alice.post("/profil/allergies", json={"resourceType": "AllergyIntolerance", "code": {"text": "x"}})
    assert refused.status_code == 409 and issue_code(refused) == "espace-ferme"
    # a document too: the DMP's deposit checks the dossier's state inside its group commit
    pdf = document_pdf("CR", [("Texte", ["Déposé après la fermeture."])])
    deposit = alice.post("/documents", json=_upload("DOCPAT03", pdf))
    assert deposit.status_code == 409 and issue_code(deposit) == "espace-ferme"
    assert alice.get("/profil/allergies").json()["total"] == 1
    export = zipfile.ZipFile(io.BytesIO(alice.get("/export").content))
    assert b"closed" in export.read("mon-espace-sante/documents-non-exportes.txt")  # the DMP's rule, said
    assert b"Latex" in export.read("mon-espace-sante/mon-espace-sante.json")
    from maison.core import audit

    with house.db.read() as conn:
        actions = [e["action"] for e in audit.events(conn, patient=patient.ins, action_prefix="espace.")]
    assert {"espace.profil.modifier", "espace.profil.lire", "espace.exporter"} <= set(actions)


def pat_trois_with_a_vaccination_note(world, house, reference_path) -> str:
    """PAT-TROIS (the CI-SIS examples' patient) in the referential, the official VAC-NOTE example fed to
    her DMP, her Mon espace santé account open: her patient token."""
    from maison.core.ins_traits import Traits
    from tests.e2e.test_dmp_n1_n3 import PAT_TROIS_INS
    from tests.partage.world import PASSWORD

    house.insi.referential.register(
        Traits.of("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"), PAT_TROIS_INS
    )
    world.inform("hospitalier", PAT_TROIS_INS)
    note = (reference_path / "cisis" / "ExemplesCDA" / "VAC-NOTE_2023.01.xml").read_bytes()
    assert world.provide("hospitalier", [Produced(note)]).status_code == 200
    house.patient_login.open_account("pat.trois", PAT_TROIS_INS, "1979-03-28", PASSWORD, email="pat3@example.fr")
    return world.patient_token("pat.trois", "pat3@example.fr")


def test_vaccinations_show_the_patients_and_the_professionals_together(world, house, reference_path) -> None:
    # 000 L3293: "l'ensemble des vaccins, saisis par l'utilisateur ainsi que ceux saisis par le professionnel"
    token = pat_trois_with_a_vaccination_note(world, house, reference_path)
    patient = httpx.Client(base_url=f"{world.base}/espace", timeout=30, headers={"Authorization": f"Bearer {token}"})
    patient.post(
        "/profil/vaccinations",
        json={
            "resourceType": "Immunization",
            "vaccineCode": {"text": "Fièvre jaune"},
            "occurrenceDateTime": "2019-06-01",
        },
    )
    listed = [e["resource"] for e in patient.get("/profil/vaccinations").json()["entry"]]
    typed = [i for i in listed if not i["primarySource"]]
    recorded = [i for i in listed if i["primarySource"]]
    assert [i["vaccineCode"]["text"] for i in typed] == ["Fièvre jaune"]
    tetanus = next(i for i in recorded if i["vaccineCode"]["coding"][0]["code"] == "68747507")
    assert tetanus["occurrenceDateTime"] == "2009-09-28" and tetanus["lotNumber"] == "4456672"
    assert tetanus["vaccineCode"]["coding"][0]["system"] == "urn:oid:1.2.250.1.213.2.3.1"  # CIS
    assert tetanus["extension"][0]["valueReference"]["reference"].startswith("DocumentReference/")
