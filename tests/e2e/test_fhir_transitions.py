"""The identity transitions a DPI drives over FHIR: INSi retrieval, document check, Datamatrix INS.

The tests of one backend share one house (module_live) and its referential; each is the DPI of a
structure of its own (an INS sits on one record per structure: two cases qualifying Sarah in one
structure would be a doublon), with IPPs of its own."""

import io
from collections.abc import Iterator
from itertools import count

import httpx
import pytest

from maison.core.auth import issue_key
from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.etablissement.vigilance.fhir import EXT_BIRTH_LIST, EXT_RELIABILITY, read_insi_answer
from maison.formats.datamatrix import InsDatamatrix, content, render_png
from tests.identite.helpers import IDAM, SARAH, SARAH_NIR, nir, seed_referential

_structures = count(1)


@pytest.fixture(scope="module")
def house(module_house):
    """The module's one house, its referential seeded once."""
    seed_referential(module_house.insi)
    return module_house


@pytest.fixture
def live(house, module_live):
    """The module's one server (module_live): its `.url`."""
    return module_live


@pytest.fixture
def structure(house) -> str:
    """A structure of the test's own, habilitated to INSi as STRUCTURE is (a FINESS of Paris)."""
    finess = f"7501{next(_structures):04d}"
    identifier = "1" + finess + luhn_check_digit(finess)
    house.insi.register_structure(identifier, f"Hôpital de test {identifier}")
    return identifier


@pytest.fixture
def dpi(house, live, structure) -> Iterator[httpx.Client]:
    key = issue_key(house.db, structure, IDAM, "801234567897", "accueil")
    with httpx.Client(base_url=f"{live.url}/fhir", headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def _admit(http: httpx.Client, ipp: str, family: str, given: str, gender: str, birth: str) -> int:
    resource = {
        "resourceType": "Patient",
        "identifier": [{"type": {"coding": [{"code": "PI"}]}, "value": ipp}],
        "name": [
            {
                "use": "official",
                "family": family,
                "given": given.split(" "),
                "extension": [{"url": EXT_BIRTH_LIST, "valueString": given}],
            }
        ],
        "gender": gender,
        "birthDate": birth,
    }
    response = http.post("/Patient", json=resource)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _status(patient: dict) -> tuple[str, str]:
    ext = next(e for e in patient["extension"] if e["url"] == EXT_RELIABILITY)["extension"]
    values = {e["url"]: e["valueCoding"]["code"] for e in ext if "valueCoding" in e}
    return values["identityStatus"], values["methodCollection"]


def _ins(patient: dict) -> list[str]:
    return [i["value"] for i in patient["identifier"] if i.get("use") == "official"]


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def test_insi_retrieval_then_document_check_qualifies(dpi):
    pid = _admit(dpi, "T1", "Garcia-Hammadi", "Anna Sarah-Lou", "female", "1977-01-21")
    recup = dpi.post(f"/Patient/{pid}/$recuperer-ins")
    assert recup.status_code == 200, recup.text
    assert _status(recup.json()) == ("RECUP", "INSI")
    assert _ins(recup.json()) == []  # the matricule is shared only once qualified (000 L2007-2009)
    # what INSi answered, told to the DPI so it need not call INSi itself: 00 at the retry rule's second
    # search (Anna alone finds no one, Sarah-Lou alone finds her)
    assert read_insi_answer(recup.json()) == ("00", 2)
    checked = dpi.post(
        f"/Patient/{pid}/$verifier-piece",
        json={"resourceType": "Parameters", "parameter": [{"name": "typePiece", "valueCode": "CN"}]},
    )
    assert _status(checked.json())[0] == "QUAL" and _ins(checked.json()) == [SARAH_NIR]


def test_inconclusive_insi_is_refused_with_advice(dpi):
    unknown = _admit(dpi, "T2", "Inconnu", "Paul", "male", "1990-01-01")
    refused = dpi.post(f"/Patient/{unknown}/$recuperer-ins")
    assert refused.status_code == 422 and _code(refused) == "insi-01"
    assert "provisoire" in refused.json()["issue"][0]["diagnostics"]
    assert read_insi_answer(refused.json()) == ("01", 1)  # on the refusal's issue: code CR, searches made
    homonym = _admit(dpi, "T3", "Martin", "Jean", "male", "1980-05-10")
    ambiguous = dpi.post(f"/Patient/{homonym}/$recuperer-ins")
    assert _code(ambiguous) == "insi-02" and read_insi_answer(ambiguous.json()) == ("02", 1)


def test_low_trust_document_and_bad_parameters(dpi):
    pid = _admit(dpi, "T4", "Garcia-Hammadi", "Sarah-Lou", "female", "1977-01-21")
    weak = dpi.post(
        f"/Patient/{pid}/$verifier-piece",
        json={"resourceType": "Parameters", "parameter": [{"name": "typePiece", "valueCode": "PC"}]},
    )
    assert weak.status_code == 422 and _code(weak) == "piece-faible-confiance"
    assert _code(dpi.post(f"/Patient/{pid}/$verifier-piece", json={"resourceType": "Patient"})) == "resource-type"
    assert _code(dpi.post(f"/Patient/{pid}/$verifier-piece", json={"resourceType": "Parameters"})) == "piece-absente"
    assert (
        _code(dpi.post(f"/Patient/{pid}/$verifier-piece", json={"resourceType": "Parameters", "parameter": ["CN"]}))
        == "parameters"
    )
    assert (
        _code(
            dpi.post(
                f"/Patient/{pid}/$verifier-piece",
                json={"resourceType": "Parameters", "parameter": [{"name": "typePiece", "valueCode": ["CN"]}]},
            )
        )
        == "piece-absente"
    )


@pytest.mark.parametrize("as_image", [True, False])
def test_datamatrix_scan_verified_by_insi_is_recup_cb(dpi, as_image):
    pid = _admit(dpi, f"T5{int(as_image)}", "GARCIA-HAMMADI", "SARAH-LOU ANNA", "female", "1977-01-21")
    label = InsDatamatrix(SARAH_NIR, OID_INS_NIR_TEST, SARAH)
    if as_image:
        png = io.BytesIO()
        render_png(label, png)
        scanned = dpi.post(
            f"/Patient/{pid}/$lire-datamatrix", content=png.getvalue(), headers={"Content-Type": "image/png"}
        )
    else:
        scanned = dpi.post(
            f"/Patient/{pid}/$lire-datamatrix", content=content(label), headers={"Content-Type": "text/plain"}
        )
    assert scanned.status_code == 200, scanned.text
    assert _status(scanned.json()) == ("RECUP", "CB")  # the Datamatrix alone never qualifies


def test_datamatrix_with_another_ins_is_refused(dpi):
    # 000 L2042: only INSi gives an INS — a Datamatrix INS that INSi does not confirm is not used
    pid = _admit(dpi, "T6", "GARCIA-HAMMADI", "SARAH-LOU ANNA", "female", "1977-01-21")
    forged = InsDatamatrix(nir("2770101154004"), OID_INS_NIR_TEST, SARAH)  # Sarah's traits, someone else's INS
    refused = dpi.post(
        f"/Patient/{pid}/$lire-datamatrix", content=content(forged), headers={"Content-Type": "text/plain"}
    )
    assert refused.status_code == 422 and _code(refused) == "datamatrix-ins-different"
    garbage = dpi.post(
        f"/Patient/{pid}/$lire-datamatrix", content=b"\x89PNG\r\n\x1a\nnot a png", headers={"Content-Type": "image/png"}
    )
    assert garbage.status_code == 400 and garbage.json()["resourceType"] == "OperationOutcome"
    wrong_type = dpi.post(
        f"/Patient/{pid}/$lire-datamatrix", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert _code(wrong_type) == "media-type"


def test_software_unknown_to_insi_cannot_retrieve(house, live, dpi, structure):
    pid = _admit(dpi, "T7", "Garcia-Hammadi", "Sarah-Lou", "female", "1977-01-21")
    key = issue_key(house.db, structure, "LOGICIEL-NON-HOMOLOGUE", "801234567897")
    other = httpx.Client(base_url=f"{live.url}/fhir", headers={"Authorization": f"Bearer {key}"})
    refused = other.post(f"/Patient/{pid}/$recuperer-ins")
    assert refused.status_code == 401 and _code(refused) == "logiciel-inconnu"


def test_oversized_bodies_are_refused_before_parsing(dpi, live):
    big = b"x" * 1_100_000  # above max_body_bytes (1 MB)
    for path, kind in [
        ("/Patient", "application/fhir+json"),
        ("/Patient/1/$lire-datamatrix", "image/png"),
        ("/Patient/1/$verifier-piece", "application/fhir+json"),
    ]:
        response = dpi.post(path, content=big, headers={"Content-Type": kind})
        assert response.status_code == 413, path
        assert response.json()["resourceType"] == "OperationOutcome"
    cell = httpx.post(
        f"{live.url}/identitovigilance/incidents",
        content=big,
        headers={"Authorization": dpi.headers["Authorization"], "Content-Type": "application/json"},
    )
    assert cell.status_code == 413


def test_another_structures_patient_answers_like_a_missing_one_and_is_audited(dpi, house, live):
    # issue 18 §2.2/§2.5: the same answer for "not there" and "not yours", and the attempt in the trail
    from maison.core import audit

    pid = _admit(dpi, "T9", "Garcia-Hammadi", "Anna Sarah-Lou", "female", "1977-01-21")
    with house.db.read() as conn:  # the other cases' refusals to the same neighbour come before this one's
        before = len(list(audit.events(conn, action_prefix="identitovigilance.")))
    other = httpx.Client(
        base_url=f"{live.url}/fhir",
        headers={"ESANTE-API-KEY": issue_key(house.db, "1690000035", "dpi-voisin", "curieux", "accueil")},
    )
    calls = [
        lambda p: other.get(f"/Patient/{p}"),
        lambda p: other.post(f"/Patient/{p}/$recuperer-ins"),
        lambda p: other.post(
            f"/Patient/{p}/$verifier-piece",
            json={"resourceType": "Parameters", "parameter": [{"name": "typePiece", "valueCode": "CN"}]},
        ),
    ]
    for call in calls:
        theirs, missing = call(pid), call(pid + 10_000)
        assert theirs.status_code == missing.status_code == 404
        # the same words but the id asked (the URLs of the answer carry digits of their own: the namespace's port)
        assert theirs.text.replace(f"patient {pid} ", "patient N ") == missing.text.replace(
            f"patient {pid + 10_000} ", "patient N "
        )
        assert _code(theirs) == "patient-inconnu"
    with house.db.read() as conn:
        refused = [
            r
            for r in list(audit.events(conn, action_prefix="identitovigilance."))[before:]
            if r["outcome"] == "failure" and r["actor_person"] == "curieux"
        ]
    assert len(refused) == 3 and {r["patient"] for r in refused} == {"T9"}
    assert dpi.get(f"/Patient/{pid}").status_code == 200  # its own structure still reads it


def test_update_put_as_an_identity_source_sends_it(dpi, house, live):
    """Issue 20 §4.5: PUT (FHIR update) under the rules of the other operations — identitovigilance
    (INSi's traits are not changed, VALI goes back to PROV, the IPP stays), audit, and structures."""
    from maison.core import audit

    with house.db.read() as conn:  # the other cases' updates come before this one's
        before = len(list(audit.events(conn, action_prefix="identitovigilance.")))
    pid = _admit(dpi, "U1", "Martin", "Louise", "female", "1990-05-04")
    patient = dpi.get(f"/Patient/{pid}").json()
    assert "versionId" not in patient["meta"]  # no vread of past versions: no version claimed (§4.4)
    # a PAM source re-sends the record unchanged: nothing changes
    assert dpi.put(f"/Patient/{pid}", json=patient).json() == patient
    # corrected traits: the record takes them, the answer is the new record
    official = next(n for n in patient["name"] if n["use"] == "official")
    official.update(family="MARTIN-DUVAL", extension=[{"url": EXT_BIRTH_LIST, "valueString": "LOUISE MARIE"}])
    updated = dpi.put(f"/Patient/{pid}", json=patient)
    assert updated.status_code == 200, updated.text
    assert next(n for n in updated.json()["name"] if n["use"] == "official")["family"] == "MARTIN-DUVAL"
    assert dpi.get(f"/Patient/{pid}").json() == updated.json()
    # an update does not change the IPP, names its id, and reaches no other structure's record
    wrong_ipp = {**patient, "identifier": [{"type": {"coding": [{"code": "PI"}]}, "value": "U2"}]}
    assert _code(dpi.put(f"/Patient/{pid}", json=wrong_ipp)) == "ipp-different"
    assert _code(dpi.put(f"/Patient/{pid}", json={**patient, "id": "999"})) == "id-different"
    assert dpi.put(f"/Patient/{pid + 10_000}", json={**patient, "id": str(pid + 10_000)}).status_code == 404
    other = httpx.Client(
        base_url=f"{live.url}/fhir",
        headers={"ESANTE-API-KEY": issue_key(house.db, "1690000035", "dpi-voisin", "curieux", "accueil")},
    )
    assert other.put(f"/Patient/{pid}", json=patient).status_code == 404
    # INSi's traits are not changed by a source
    qualified = _admit(dpi, "U3", "GARCIA-HAMMADI", "ANNA SARAH-LOU", "female", "1977-01-21")
    assert dpi.post(f"/Patient/{qualified}/$recuperer-ins").status_code == 200
    record = dpi.get(f"/Patient/{qualified}").json()
    assert dpi.put(f"/Patient/{qualified}", json=record).status_code == 200  # unchanged: accepted
    renamed = {**record, "gender": "male"}
    refused = dpi.put(f"/Patient/{qualified}", json=renamed)
    assert refused.status_code == 422 and _code(refused) == "traits-insi"
    with house.db.read() as conn:
        actions = [r["action"] for r in list(audit.events(conn, action_prefix="identitovigilance."))[before:]]
    assert "identitovigilance.traits-update" in actions and "identitovigilance.update-unchanged" in actions


def test_conditional_update_by_ipp_as_a_patient_identity_feed(dpi, house, live, structure):
    """Issue 20 §4.5: a PAM / ITI-104 source updates by IPP (`PUT Patient?identifier=`): the record of
    that IPP is updated, none is admitted, and the same rules hold."""
    from maison.etablissement.vigilance.fhir import ipp_system

    patient = {
        "resourceType": "Patient",
        "identifier": [{"type": {"coding": [{"code": "PI"}]}, "value": "P7"}],
        "name": [{"use": "official", "family": "Petit", "given": ["Anne"]}],
        "gender": "female",
        "birthDate": "1985-07-14",
    }
    ns = house.namespace
    created = dpi.put("/Patient", params={"identifier": f"{ipp_system(ns, structure)}|P7"}, json=patient)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    # the IPP's system is under the deployment's namespace (issue 21 §3.3); as Maison named it before, understood
    [ipp] = [i for i in created.json()["identifier"] if i["type"]["coding"][0]["code"] == "PI"]
    assert ipp["system"] == f"{house.settings.namespace_base_url}/ipp/{structure}"
    legacy = dpi.put("/Patient", params={"identifier": f"urn:maison:ipp:{structure}|P7"}, json=patient)
    assert legacy.status_code == 200 and legacy.json()["id"] == pid, legacy.text
    assert created.headers["location"].endswith(f"/fhir/Patient/{pid}")
    patient["name"][0]["family"] = "PETIT-MARTIN"
    updated = dpi.put("/Patient", params={"identifier": "P7"}, json=patient)
    assert updated.status_code == 200 and updated.json()["id"] == pid
    assert next(n for n in updated.json()["name"] if n["use"] == "official")["family"] == "PETIT-MARTIN"
    assert _code(dpi.put("/Patient", params={"identifier": "P8"}, json=patient)) == "ipp-different"
    assert _code(dpi.put("/Patient", params={"family": "PETIT"}, json=patient)) == "critere-conditionnel"
    assert _code(dpi.put("/Patient", params={"identifier": "P7"}, json={**patient, "id": "999999"})) == "id-different"
    # another structure's same IPP is another record: its own feed admits its own
    other = httpx.Client(
        base_url=f"{live.url}/fhir",
        headers={"ESANTE-API-KEY": issue_key(house.db, "1690000035", "dpi-voisin", "curieux", "accueil")},
    )
    assert other.put("/Patient", params={"identifier": "P7"}, json=patient).json()["id"] != pid
