"""The ordonnance numérique in FHIR: the prescriber's Bundle read back, refusals named, executions shown."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, date, datetime

import orjson
import pytest

from maison.core.errors import InvalidInput, MalformedRequest
from maison.formats.namespace import Namespace
from maison.formats.ordonnance import EXT_DEVICE_QUANTITY, SYS_CIP, SYS_LOINC, SYS_LPP, SYS_UCUM, ext_consent
from maison.formats.ucum import cisis_units
from maison.partage.ordonnance import fhir
from maison.partage.ordonnance.model import (
    MAX_LINES,
    Draft,
    Execution,
    Line,
    LineExecution,
    LineKind,
    Outcome,
    Prescriber,
    Prescription,
)
from tests.conftest import REFERENCE

UNITS = cisis_units(REFERENCE)
BASE = "https://maison.test/ordonnance/fhir"
NS = Namespace("https://maison.test/ns")
NUMBER = "01527BP22JCNZZYGHZ"
DOLIPRANE = "3400935955838"  # CIP13, EAN-13 key 8
GLUCOSE = "2345-7"  # LOINC, check digit 7


def _envelope() -> dict:
    """Four lines as a prescriber's software posts them: medicine, device, biology, nursing act."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:rg",
                "resource": {
                    "resourceType": "RequestGroup",
                    "status": "active",
                    "intent": "order",
                    "authoredOn": "2025-03-14",
                    "subject": {"display": "Patient"},
                    "extension": [{"url": ext_consent(NS), "valueBoolean": True}],
                    "action": [{"resource": {"reference": f"urn:uuid:{k}"}} for k in ("med", "dm", "bio", "ide")],
                },
            },
            {
                "fullUrl": "urn:uuid:med",
                "resource": {
                    "resourceType": "MedicationRequest",
                    "status": "active",
                    "intent": "order",
                    "medicationCodeableConcept": {
                        "coding": [{"system": SYS_CIP, "code": DOLIPRANE, "display": "DOLIPRANE 1000 mg cp"}]
                    },
                    "dosageInstruction": [{"text": "1 comprimé 3 fois par jour si douleur"}],
                    "dispenseRequest": {
                        "quantity": {"value": 2, "unit": "boîte"},
                        "numberOfRepeatsAllowed": 2,
                        "expectedSupplyDuration": {"value": 3, "system": SYS_UCUM, "code": "wk"},
                    },
                    "substitution": {"allowedBoolean": False},
                },
            },
            {
                "fullUrl": "urn:uuid:dm",
                "resource": {
                    "resourceType": "DeviceRequest",
                    "status": "active",
                    "intent": "order",
                    "codeCodeableConcept": {
                        "coding": [{"system": SYS_LPP, "code": "1188984"}],
                        "text": "Lecteur de glycémie",
                    },
                    "extension": [{"url": EXT_DEVICE_QUANTITY, "valueInteger": 1}],
                },
            },
            {
                "fullUrl": "urn:uuid:bio",
                "resource": {
                    "resourceType": "ServiceRequest",
                    "status": "active",
                    "intent": "order",
                    "code": {
                        "coding": [{"system": SYS_LOINC, "code": GLUCOSE, "display": "Glucose [Moles/volume] in Serum"}]
                    },
                    "quantityQuantity": {"value": 1, "system": SYS_UCUM, "code": "mmol/L", "unit": "mmol/L"},
                    "note": [{"text": "à jeun"}],
                },
            },
            {
                "fullUrl": "urn:uuid:ide",
                "resource": {
                    "resourceType": "ServiceRequest",
                    "status": "active",
                    "intent": "order",
                    "code": {"text": "Soins infirmiers à domicile : pansement tous les deux jours pendant 15 jours"},
                },
            },
        ],
    }


def _prescription(draft, status: str = "active") -> Prescription:
    return Prescription(
        NUMBER,
        Prescriber("810000000001", "1750000000", "Logiciel", "10"),
        datetime(2025, 3, 14, 9, tzinfo=UTC),
        draft.prescribed_on,
        draft.consent,
        draft.lines,
        status,
    )


def _refused(bundle: dict, code: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        fhir.draft_from_fhir(bundle, units=UNITS, ns=NS)
    assert caught.value.code == code, caught.value.message
    return caught.value


def _resource(bundle: dict, url: str) -> dict:
    """The entry at `url`: its fullUrl where the base serves it, or (what was executed, served only
    inside the envelope) the resource of that type and id, its fullUrl a urn:uuid (issue 20 §4.2)."""
    kind, rid = url.split("/")[-2:]
    for e in bundle["entry"]:
        resource = e["resource"]
        if e["fullUrl"] == url or (resource["resourceType"], resource["id"]) == (kind, rid):
            assert e["fullUrl"] == url or e["fullUrl"].startswith("urn:uuid:")
            return resource
    raise AssertionError(f"{url} not in the Bundle")


def test_four_line_envelope_reads_and_round_trips():
    draft = fhir.draft_from_fhir(_envelope(), units=UNITS, ns=NS)
    assert draft.prescribed_on == date(2025, 3, 14) and draft.consent is True
    med, dm, bio, ide = draft.lines
    assert med == Line(
        1,
        LineKind.MEDICAMENT,
        "DOLIPRANE 1000 mg cp",
        DOLIPRANE,
        SYS_CIP,
        "1 comprimé 3 fois par jour si douleur",
        2.0,
        "boîte",
        2,
        False,
        21,
    )
    assert (dm.kind, dm.code, dm.label, dm.quantity) == (LineKind.DISPOSITIF, "1188984", "Lecteur de glycémie", 1.0)
    assert (bio.kind, bio.code, bio.unit, bio.instructions) == (LineKind.BIOLOGIE, GLUCOSE, "mmol/L", "à jeun")
    assert ide.kind is LineKind.ACTE and ide.label.startswith("Soins infirmiers") and not ide.code

    p = _prescription(draft)
    bundle = fhir.prescription_bundle(p, None, base_url=BASE, ns=NS)
    assert bundle["type"] == "collection"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == [
        "RequestGroup",
        "MedicationRequest",
        "DeviceRequest",
        "ServiceRequest",
        "ServiceRequest",
    ]
    group = bundle["entry"][0]["resource"]
    number = {"system": NS.url(fhir.SYS_NUMBER), "value": NUMBER}
    assert group["identifier"] == [number] and group["groupIdentifier"] == number
    assert group["author"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000001"}
    assert {"url": NS.structure(fhir.EXT_QR), "valueString": NUMBER} in group["extension"]
    request = _resource(bundle, f"{BASE}/MedicationRequest/{NUMBER}-1")
    assert request["groupIdentifier"] == number and request["identifier"][0]["value"] == f"{NUMBER}-1"
    # issue 20 §4.2: R4 ServiceRequest has no groupIdentifier; the number is its requisition
    services = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"]
    assert all(s["requisition"] == number and "groupIdentifier" not in s for s in services)
    # and no empty string anywhere: a line in free text has no coding at all
    assert '""' not in orjson.dumps(bundle).decode() and "[]" not in orjson.dumps(bundle).decode()
    assert request["substitution"] == {"allowedBoolean": False}
    assert fhir.draft_from_fhir(bundle, units=UNITS, ns=NS) == draft  # the base's answer is a valid envelope

    bare = fhir.prescription_bundle(
        _prescription(
            Draft(draft.prescribed_on, False, (Line(1, LineKind.MEDICAMENT, "DOLIPRANE", DOLIPRANE, SYS_CIP),))
        ),
        None,
        base_url=BASE,
        ns=NS,
    )
    request = bare["entry"][1]["resource"]
    assert "dispenseRequest" not in request and "dosageInstruction" not in request  # no empty elements
    assert {"url": ext_consent(NS), "valueBoolean": False} in bare["entry"][0]["resource"]["extension"]

    revoked = fhir.prescription_bundle(_prescription(draft, "annulee"), None, base_url=BASE, ns=NS)
    assert [e["resource"]["status"] for e in revoked["entry"][:3]] == ["revoked", "cancelled", "revoked"]


def test_medication_resource_contained_or_in_the_bundle():
    for where in ("contained", "bundle"):
        bundle = _envelope()
        medication = {
            "resourceType": "Medication",
            "id": "m1",
            "code": {
                "coding": [
                    {
                        "system": "http://data.esante.gouv.fr/ansm/medicament/UCD",
                        "code": "3400890006262",
                        "display": "PARACETAMOL VIC 1000MG CPR",
                    }
                ],
                "text": "PARACETAMOL MYLAN CONSEIL 1000 MG",
            },
        }
        request = bundle["entry"][1]["resource"]
        del request["medicationCodeableConcept"]
        if where == "contained":
            request["contained"], request["medicationReference"] = [medication], {"reference": "#m1"}
        else:
            bundle["entry"].append({"fullUrl": "urn:uuid:m1", "resource": medication})
            request["medicationReference"] = {"reference": "urn:uuid:m1"}
        line = fhir.draft_from_fhir(bundle, units=UNITS, ns=NS).lines[0]
        assert (line.code, line.label) == ("3400890006262", "PARACETAMOL MYLAN CONSEIL 1000 MG")


@pytest.mark.parametrize("where", ["patient-entry", "subject-identifier", "subject-reference", "contained"])
def test_patient_identity_refused(where):
    # seed 000 L3697: the base is created without the patient's identity
    bundle = _envelope()
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "279035121518989"}],
    }
    expected = {
        "patient-entry": "Bundle.entry[5].resource",
        "subject-identifier": "Bundle.entry[1].resource.subject",
        "subject-reference": "Bundle.entry[3].resource.subject",
        "contained": "Bundle.entry[0].resource.contained[0]",
    }[where]
    if where == "patient-entry":
        bundle["entry"].append({"fullUrl": "urn:uuid:p", "resource": patient})
    elif where == "subject-identifier":
        bundle["entry"][1]["resource"]["subject"] = {"identifier": patient["identifier"][0]}
    elif where == "subject-reference":
        bundle["entry"][3]["resource"]["subject"] = {"reference": "Patient/p", "display": "Patient"}
    else:
        bundle["entry"][0]["resource"]["contained"] = [patient]
    assert _refused(bundle, "identite-patient-interdite").expression == expected


@pytest.mark.parametrize(
    "concept",
    [
        {"code": {"coding": [{"system": "http://snomed.info/sct", "code": "73957001"}]}},
        {
            "category": [{"coding": [{"system": "urn:maison:test", "code": "transport"}]}],
            "code": {"text": "Aller-retour"},
        },
        {"code": {"text": "Transport en ambulance allongé"}},
        {"code": {"text": "Bon de transport : VSL"}},
        {"code": {"text": "TAXI CONVENTIONNÉ pour la dialyse"}},
    ],
)
def test_patient_transport_refused(concept):
    # seed 000 L3663: everything may be prescribed "excepté les transports sanitaires"
    bundle = _envelope()
    bundle["entry"][4]["resource"].update(concept)
    error = _refused(bundle, "transport-exclu")
    assert error.expression.startswith("Bundle.entry[4].resource.")


@pytest.mark.parametrize(
    ("entry", "change", "code", "expression"),
    [
        (
            1,
            {
                "medicationCodeableConcept": {
                    "coding": [{"system": SYS_CIP, "code": "3400935955839"}],
                    "text": "DOLIPRANE",
                }
            },
            "medicament-code",
            "Bundle.entry[1].resource",
        ),
        (
            2,
            {"codeCodeableConcept": {"coding": [{"system": SYS_LPP, "code": "118898"}], "text": "Lecteur"}},
            "dispositif-lpp",
            "Bundle.entry[2].resource",
        ),
        (
            3,
            {"code": {"coding": [{"system": SYS_LOINC, "code": "2345-8", "display": "Glucose"}]}},
            "biologie-loinc",
            "Bundle.entry[3].resource",
        ),
        (
            3,
            {"quantityQuantity": {"value": 1, "system": SYS_UCUM, "code": "mmol//L"}},
            "unite-ucum",
            "Bundle.entry[3].resource.quantityQuantity.code",
        ),
        (
            3,
            {"quantityQuantity": {"value": 1, "system": SYS_UCUM, "code": "IU"}},
            "unite-ucum",
            "Bundle.entry[3].resource.quantityQuantity.code",
        ),
        (
            3,
            {"quantityQuantity": {"value": 1, "unit": "mmol/L"}},
            "unite-ucum",
            "Bundle.entry[3].resource.quantityQuantity.system",
        ),
        (
            4,
            {"code": {"coding": [{"system": "urn:ngap", "code": "AMI"}]}},
            "acte-code",
            "Bundle.entry[4].resource.code.coding",
        ),
        (
            1,
            {"dispenseRequest": {"expectedSupplyDuration": {"value": 1, "code": "mo"}}},
            "duree-traitement",
            "Bundle.entry[1].resource.dispenseRequest.expectedSupplyDuration",
        ),
        (
            0,
            {"extension": []},
            "consentement-absent",
            f"Bundle.entry[0].resource.extension.where(url='{ext_consent(NS)}')",
        ),
        (0, {"authoredOn": "14/03/2025"}, "date-prescription", "Bundle.entry[0].resource.authoredOn"),
        (0, {"intent": "plan"}, "requestgroup-intent", "Bundle.entry[0].resource.intent"),
    ],
)
def test_bad_lines_refused_with_code_and_expression(entry, change, code, expression):
    bundle = _envelope()
    bundle["entry"][entry]["resource"].update(change)
    assert _refused(bundle, code).expression == expression


def test_envelope_structure_refused():
    empty = {"resourceType": "Bundle", "type": "collection", "entry": []}
    assert _refused(empty, "ordonnance-vide").expression == "Bundle.entry"
    no_action = _envelope()
    no_action["entry"] = no_action["entry"][:1]
    no_action["entry"][0]["resource"]["action"] = []
    _refused(no_action, "ordonnance-vide")
    too_many = _envelope()
    too_many["entry"][0]["resource"]["action"] *= MAX_LINES
    _refused(too_many, "ordonnance-trop-de-lignes")
    other = _envelope()
    other["entry"].append({"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Encounter"}})
    assert _refused(other, "ressource-non-prise-en-charge").expression == "Bundle.entry[5].resource"
    other["entry"][5]["resource"] = {"resourceType": "Observation"}  # the guide's, when a line references it
    assert _refused(other, "observation-hors-ordonnance").expression == "Bundle.entry[5].resource"
    dangling = _envelope()
    dangling["entry"][0]["resource"]["action"][1]["resource"]["reference"] = "urn:uuid:nowhere"
    assert _refused(dangling, "action-reference").expression == "Bundle.entry[0].resource.action[1].resource.reference"
    outside = _envelope()
    del outside["entry"][0]["resource"]["action"][3]
    assert _refused(outside, "requete-hors-ordonnance").expression == "Bundle.entry[4].resource"
    twice = _envelope()
    twice["entry"][0]["resource"]["action"][1] = copy.deepcopy(twice["entry"][0]["resource"]["action"][0])
    _refused(twice, "action-en-double")
    with pytest.raises(MalformedRequest) as caught:
        bad = _envelope()
        bad["entry"][1]["resource"]["dispenseRequest"]["numberOfRepeatsAllowed"] = "2"
        fhir.draft_from_fhir(bad, units=UNITS, ns=NS)
    assert caught.value.expression == "Bundle.entry[1].resource.dispenseRequest.numberOfRepeatsAllowed"


def _executer(*parameters: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(parameters)}


def _ligne(numero: int, resultat: str, **parts) -> dict:
    extra = [{"name": name, **value} for name, value in parts.items()]
    return {
        "name": "ligne",
        "part": [{"name": "numero", "valueInteger": numero}, {"name": "resultat", "valueCode": resultat}, *extra],
    }


def _four_lines(substitutable: bool = True) -> Prescription:
    bundle = _envelope()
    bundle["entry"][1]["resource"]["substitution"]["allowedBoolean"] = substitutable
    return _prescription(fhir.draft_from_fhir(bundle, units=UNITS, ns=NS))


def test_execution_parsed_with_substitution_and_ins():
    generic = {"system": SYS_CIP, "code": "3400930000001", "display": "PARACETAMOL GNR 1000 mg cp"}
    lines, ins, at_delivery = fhir.execution_from_fhir(
        _executer(
            _ligne(1, "substitue", quantite={"valueDecimal": 2}, produit={"valueCoding": generic}),
            _ligne(2, "non-delivre", motif={"valueString": "rupture de stock"}),
            {
                "name": "patient",
                "part": [
                    {
                        "name": "ins",
                        "valueIdentifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "279035121518989"},
                    },
                    {"name": "statutIdentite", "valueCode": "QUAL"},
                ],
            },
            {"name": "aLaDelivrance", "valueBoolean": True},
        ),
        _four_lines(),
    )
    assert lines == (
        LineExecution(1, Outcome.SUBSTITUE, 2.0, generic["code"], SYS_CIP, generic["display"]),
        LineExecution(2, Outcome.NON_DELIVRE, reason="rupture de stock"),
    )
    assert (ins.matricule, ins.oid, ins.status) == ("279035121518989", "1.2.250.1.213.1.4.8", "QUAL")
    assert at_delivery is True
    lines, ins, at_delivery = fhir.execution_from_fhir(_executer(_ligne(3, "delivre")), _four_lines())
    assert lines == (LineExecution(3, Outcome.DELIVRE),) and ins is None and at_delivery is False


@pytest.mark.parametrize(
    ("parameters", "error", "code", "expression"),
    [
        ([_ligne(5, "delivre")], InvalidInput, "ligne-inconnue", "Parameters.parameter[0].part[0].valueInteger"),
        (
            [_ligne(1, "delivre"), _ligne(1, "partiel", quantite={"valueDecimal": 1})],
            InvalidInput,
            "ligne-en-double",
            "Parameters.parameter[1].part[0].valueInteger",
        ),
        ([_ligne(1, "perdu")], InvalidInput, "resultat-inconnu", "Parameters.parameter[0].part[1].valueCode"),
        (
            [_ligne(1, "substitue", produit={"valueCoding": {"system": SYS_CIP, "code": "3400930000001"}})],
            InvalidInput,
            "non-substituable",
            "Parameters.parameter[0]",
        ),
        ([_ligne(2, "adapte")], InvalidInput, "execution-motif", "Parameters.parameter[0]"),
        ([], InvalidInput, "execution-vide", "Parameters.parameter"),
        (
            [{"name": "ligne", "part": [{"name": "numero", "valueInteger": 1}]}],
            MalformedRequest,
            "parametre-part",
            "Parameters.parameter[0].part",
        ),
        (
            [_ligne(1, "delivre", quantite={"valueString": "2"})],
            MalformedRequest,
            "structure",
            "Parameters.parameter[0].part[2]",
        ),
        (
            [{"name": "numero", "valueInteger": 1}],
            MalformedRequest,
            "parametre-inconnu",
            "Parameters.parameter[0].name",
        ),
    ],
)
def test_execution_refused(parameters, error, code, expression):
    with pytest.raises(error) as caught:
        fhir.execution_from_fhir(_executer(*parameters), _four_lines(substitutable=False))
    assert (caught.value.code, caught.value.expression) == (code, expression)


def test_executions_rendered_as_dispense_delivery_and_task():
    p = _four_lines()
    generic = LineExecution(1, Outcome.SUBSTITUE, 2.0, "3400930000001", SYS_CIP, "PARACETAMOL GNR 1000 mg cp")
    counter = Execution(
        "e1",
        NUMBER,
        "810000000002",
        "1750000001",
        "LGO",
        "21",
        datetime(2025, 3, 15, 10, tzinfo=UTC),
        True,
        (generic, LineExecution(2, Outcome.NON_DELIVRE, reason="rupture")),
        ins="279035121518989",
        ins_oid="1.2.250.1.213.1.4.8",
    )
    lab = Execution(
        "e2",
        NUMBER,
        "810000000003",
        "1750000002",
        "SIL",
        "10",
        datetime(2025, 3, 16, 8, tzinfo=UTC),
        False,
        (LineExecution(3, Outcome.DELIVRE), LineExecution(4, Outcome.ADAPTE, reason="tous les 3 j")),
    )
    bundle = fhir.prescription_bundle(p, [counter, lab], base_url=BASE, ns=NS)
    assert [e["resource"]["resourceType"] for e in bundle["entry"][5:]] == [
        "MedicationDispense",
        "SupplyDelivery",
        "Task",
        "Task",
    ]
    dispense = _resource(bundle, f"{BASE}/MedicationDispense/e1-1")
    ins = {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "279035121518989"}}
    assert dispense["status"] == "completed" and dispense["subject"] == ins
    assert dispense["substitution"]["wasSubstituted"] is True and dispense["substitution"]["type"]["coding"][0]["code"]
    assert dispense["medicationCodeableConcept"]["coding"][0]["code"] == "3400930000001"
    assert dispense["authorizingPrescription"] == [{"reference": f"{BASE}/MedicationRequest/{NUMBER}-1"}]
    assert dispense["performer"][0]["actor"]["identifier"]["value"] == "810000000002"
    assert dispense["quantity"]["value"] == 2 and dispense["whenHandedOver"].startswith("2025-03-15T10:00")
    assert {"url": NS.structure(fhir.EXT_OUTCOME), "valueCode": "substitue"} in dispense["extension"]
    delivery = _resource(bundle, f"{BASE}/SupplyDelivery/e1-2")
    assert delivery["status"] == "abandoned" and delivery["patient"] == ins
    assert {"url": NS.structure(fhir.EXT_REASON), "valueString": "rupture"} in delivery["extension"]
    assert delivery["suppliedItem"]["itemCodeableConcept"]["coding"][0] == {
        "system": SYS_LPP,
        "code": "1188984",
        "display": "Lecteur de glycémie",
    }
    task = _resource(bundle, f"{BASE}/Task/e2-4")
    assert task["status"] == "completed" and task["focus"] == {"reference": f"{BASE}/ServiceRequest/{NUMBER}-4"}
    assert task["output"][0]["valueCode"] == "adapte" and task["note"] == [{"text": "tous les 3 j"}]
    assert "for" not in task
    declined = fhir.prescription_bundle(
        p,
        [
            Execution(
                "e3",
                NUMBER,
                "810000000002",
                "s",
                "LGO",
                "21",
                datetime(2025, 3, 17, tzinfo=UTC),
                False,
                (LineExecution(1, Outcome.NON_DELIVRE, reason="refus du patient"),),
            )
        ],
        base_url=BASE,
        ns=NS,
    )
    dispense = _resource(declined, f"{BASE}/MedicationDispense/e3-1")
    assert dispense["status"] == "declined" and "whenHandedOver" not in dispense
    assert dispense["note"] == [{"text": "refus du patient"}] and "subject" not in dispense
    assert len(fhir.prescription_bundle(p, [], base_url=BASE, ns=NS)["entry"]) == 5


def test_search_bundle():
    p = _four_lines()
    found = fhir.search_bundle([p], base_url=BASE, total=7, ns=NS)
    assert (found["type"], found["total"]) == ("searchset", 7)
    assert found["entry"][0]["fullUrl"] == f"{BASE}/RequestGroup/{NUMBER}"
    assert found["entry"][0]["resource"]["resourceType"] == "RequestGroup"
    assert found["entry"][0]["search"] == {"mode": "match"}


_JUNK = [None, 1, 1.5, "x", [], {}, [1], {"a": 1}, True, -1, 10**30, "2026-13-45", {"reference": 5}]


def _mutated(document: dict, rnd) -> dict:
    """`document` with one to three values replaced by junk of another JSON type, or removed."""
    document = copy.deepcopy(document)
    slots: list = []

    def walk(node) -> None:
        keys = node.keys() if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else ()
        for key in list(keys):
            slots.append((node, key))
            walk(node[key])

    walk(document)
    for _ in range(rnd.randint(1, 3)):
        node, key = rnd.choice(slots)
        if isinstance(node, dict) and rnd.random() < 0.2:
            node.pop(key, None)
        elif isinstance(node, dict) or key < len(node):
            node[key] = rnd.choice(_JUNK)
    return document


def test_hostile_bodies_are_refused_never_crash():
    """Wrong JSON types anywhere in an envelope or a $executer body: a MaisonError (OperationOutcome
    400), never an exception that would become a 500."""
    import random

    from maison.core.errors import MaisonError

    rnd, prescription = random.Random(6), _four_lines()
    execution = _executer(
        _ligne(1, "substitue", produit={"valueCoding": {"system": SYS_CIP, "code": "3400930000021"}}),
        _ligne(2, "delivre"),
    )
    for _ in range(1500):
        for parse in (
            lambda: fhir.draft_from_fhir(_mutated(_envelope(), rnd), units=UNITS, ns=NS),
            lambda: fhir.execution_from_fhir(_mutated(execution, rnd), prescription),
        ):
            try:
                parse()
            except MaisonError:
                pass


def _claradol_from_the_guide() -> dict:
    """The guide's example Presc-CLARADOL-DoseDiffParHoraire (fsh/instances), as JSON: a searchset
    envelope, a posology in structure only (two doses a day at set times, per os, for five days), the
    prescriber's Practitioner; put in a RequestGroup with Maison's consent, and without the patient
    (the base takes no identity, 000 L3697)."""
    ucd = "http://data.esante.gouv.fr/ansm/medicament/UCD"
    edqm = "http://standardterms.edqm.eu"

    def dose(time: str, count: int) -> dict:
        return {
            "sequence": 1,
            "timing": {
                "repeat": {
                    "boundsPeriod": {"start": "2021-08-12T14:08:00Z", "end": "2021-08-17T14:07:59Z"},
                    "timeOfDay": [time],
                }
            },
            "route": {"coding": [{"system": edqm, "code": "20053000", "display": "Voie orale"}], "text": "Voie orale"},
            "doseAndRate": [{"doseQuantity": {"value": count, "unit": "Comprimé", "system": edqm, "code": "15054000"}}],
        }

    request = {
        "resourceType": "MedicationRequest",
        "meta": {"profile": ["https://hl7.fr/fhir/fr/medication/StructureDefinition/fr-inpatient-medicationrequest"]},
        "status": "active",
        "intent": "order",
        "priority": "routine",
        "medicationCodeableConcept": {
            "coding": [{"system": ucd, "code": "3400891705256", "display": "CLARADOL 500MG CPR"}],
            "text": "CLARADOL® 500 mg, cpr séc",
        },
        "authoredOn": "2021-08-12T14:08:35.552Z",
        "requester": {"reference": "Practitioner/smart-Practitioner-71482713"},
        "dosageInstruction": [dose("07:00:00", 2), dose("18:00:00", 1)],
    }
    group = {
        "resourceType": "RequestGroup",
        "status": "active",
        "intent": "order",
        "authoredOn": "2021-08-12",
        "groupIdentifier": {"system": "https://somehospital.fr/Prescrption-ID", "value": "Presc-14641"},
        "extension": [{"url": ext_consent(NS), "valueBoolean": True}],
        "action": [{"resource": {"reference": "MedicationRequest/m1"}}],
    }
    practitioner = {"resourceType": "Practitioner", "id": "smart-Practitioner-71482713"}
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": group}, {"resource": {**request, "id": "m1"}}, {"resource": practitioner}],
    }


def test_the_guides_envelope_with_a_structured_posology():
    """Issue 20 §4.4: creation accepts what the guide documents — a searchset envelope, the
    prescriber's Practitioner, and a posology given in structure only, which is kept (said in
    French) rather than lost."""
    draft = fhir.draft_from_fhir(_claradol_from_the_guide(), units=UNITS, ns=NS)
    [line] = draft.lines
    assert line.code == "3400891705256" and line.kind is LineKind.MEDICAMENT
    assert line.instructions == (
        "2 Comprimé, à 07:00, du 2021-08-12 au 2021-08-17, voie : Voie orale\n"
        "1 Comprimé, à 18:00, du 2021-08-12 au 2021-08-17, voie : Voie orale"
    )
    said = fhir.dosage_text(
        {
            "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d", "when": ["PCM"]}},
            "asNeededBoolean": True,
        }
    )
    assert said == "3 fois par jour, après le petit-déjeuner, si besoin"
    assert fhir.dosage_text({"timing": "n'importe quoi", "doseAndRate": "x"}) == ""  # wrong types: nothing read


def _observation(code: str, value: float, unit: str, rid: str) -> dict:
    """An Observation as the guide's examples write it (TradPN13FHIR-Presc-perfusion-6-composants),
    without the subject: the base takes no patient identity (000 L3697)."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {"code": "vital-signs", "system": "http://terminology.hl7.org/CodeSystem/observation-category"}
                ]
            }
        ],
        "code": {"coding": [{"code": code, "system": SYS_LOINC}]},
        "effectiveDateTime": "2023-05-03T11:30:00+02:00",
        "valueQuantity": {"value": value, "unit": unit, "system": SYS_UCUM, "code": unit},
    }


def _with_observations_from_the_guide() -> dict:
    """The guide's envelope with its context Observations (TradPN13FHIR-Presc-UCD-Paracetamol-exemple,
    -perfusion-6-composants): a Medication entry and Observation entries named `#{id}` by the
    MedicationRequest (medicationReference, supportingInformation), the UF given by identifier only."""
    envelope = _claradol_from_the_guide()
    request = envelope["entry"][1]["resource"]
    del request["medicationCodeableConcept"]
    request["medicationReference"] = {"reference": "#medication-paracetamol"}
    request["supportingInformation"] = [
        {"identifier": {"system": "https://somehospital.fr/UF", "value": "2571"}},
        {"reference": "#observation-1"},
        {"reference": "#observation-2"},
        {"reference": "#observation-3"},
    ]
    medication = {
        "resourceType": "Medication",
        "id": "medication-paracetamol",
        "code": {
            "coding": [{"system": "http://data.esante.gouv.fr/ansm/medicament/UCD", "code": "9245580"}],
            "text": "PARACETAMOL MYLAN CONSEIL 1000 MG, COMPRIME",
        },
    }
    envelope["entry"] += [
        {"resource": medication},
        {"resource": _observation("8302-2", 181.0, "cm", "observation-1")},
        {"resource": _observation("29463-7", 79, "kg", "observation-2")},
        {"resource": {**_observation("33558-8", 0, "umol/L", "observation-3"), "category": []}},
    ]
    return envelope


def test_the_guides_observations_are_kept_and_referenced_by_their_line():
    """Issue 20 §4.4: the guide's envelope with its Observations (weight, height, the PN13
    renseignements complémentaires) is read; the envelope gives them back as R4 Observations that the
    MedicationRequest references by supportingInformation, and a line read alone carries them contained."""
    draft = fhir.draft_from_fhir(_with_observations_from_the_guide(), units=UNITS, ns=NS)
    assert [(o.code, o.value, o.unit, o.lines) for o in draft.observations] == [
        ("8302-2", 181.0, "cm", (1,)),
        ("29463-7", 79.0, "kg", (1,)),
        ("33558-8", 0.0, "umol/L", (1,)),
    ]
    assert draft.observations[0].effective == "2023-05-03T11:30:00+02:00"
    p = dataclasses.replace(_prescription(draft), observations=draft.observations)
    bundle = fhir.prescription_bundle(p, None, base_url=BASE, ns=NS)
    observations = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    weight = observations[1]["resource"]
    assert weight["code"] == {"coding": [{"system": SYS_LOINC, "code": "29463-7", "display": "Poids"}], "text": "Poids"}
    assert weight["valueQuantity"] == {"value": 79, "unit": "kg", "system": SYS_UCUM, "code": "kg"}
    assert weight["subject"] == {"display": fhir.NO_IDENTITY} and weight["status"] == "final"
    assert "category" not in observations[2]["resource"]  # 33558-8 is no vital sign
    [request] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    assert request["supportingInformation"] == [{"reference": e["fullUrl"]} for e in observations]
    alone = fhir.line_request(p, 1, BASE, NS)
    assert alone is not None
    assert [c["id"] for c in alone["contained"]] == ["o1", "o2", "o3"]
    assert alone["supportingInformation"] == [{"reference": f"#o{k}"} for k in (1, 2, 3)]


def _observation_changed(change) -> dict:
    envelope = _with_observations_from_the_guide()
    change(envelope["entry"][5]["resource"], envelope)  # the weight
    return envelope


def _drop(key: str):
    return lambda o, _e: o.pop(key)


def _set(key: str, value):
    return lambda o, _e: o.__setitem__(key, value)


def _quantity(**value):
    return lambda o, _e: o["valueQuantity"].update(value)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda o, _e: o["code"]["coding"][0].update(code=GLUCOSE), "observation-code"),  # not in the guide
        (lambda o, _e: o["code"]["coding"][0].update(system="http://snomed.info/sct"), "observation-code"),
        (_drop("valueQuantity"), "observation-valeur"),
        (lambda o, _e: o.update(valueString="79 kg", valueQuantity={}), "observation-valeur"),
        (lambda o, _e: o["valueQuantity"].pop("value"), "observation-valeur"),
        (_quantity(value=-3), "observation-valeur"),
        (_quantity(system="http://example.org/unites"), "observation-unite"),  # not UCUM
        (lambda o, _e: [o["valueQuantity"].pop(k) for k in ("system", "code")], "observation-unite"),
        (_quantity(code="cm"), "observation-unite"),  # a length is no weight
        (_quantity(code="kilogramme"), "observation-unite"),  # not a UCUM unit at all
        (_set("status", "entered-in-error"), "observation-statut"),
        (_set("effectiveDateTime", "2023-05-03T11:30"), "observation-date"),  # no seconds, no zone
        (_set("effectivePeriod", {"start": "2023-05-03"}), "observation-date"),
        (_set("subject", {"reference": "Patient/p1"}), "identite-patient-interdite"),
        (lambda _o, e: e["entry"][1]["resource"]["supportingInformation"].pop(2), "observation-hors-ordonnance"),
        (
            lambda _o, e: e["entry"][1]["resource"]["supportingInformation"].append({"reference": "Observation/x"}),
            "observation-reference",
        ),
    ],
)
def test_an_observation_the_guide_does_not_document_is_refused_precisely(change, code):
    """Issue 20 §4.4: a code outside the guide's ConceptMap, a missing value, a non-UCUM or wrong unit,
    an unusable status or date, an Observation no line references or a reference to nothing: refused
    with a code of its own."""
    error = _refused(_observation_changed(change), code)
    assert error.expression and error.expression.startswith("Bundle.entry[")


def test_a_requestgroup_posted_alone_carries_its_observations_contained():
    """Issue 20 §4.4: the RequestGroup alone holds its requests and the Observations they reference
    contained (R4 references.html#contained); one no request references is refused like an entry."""
    envelope = _with_observations_from_the_guide()
    group = envelope["entry"][0]["resource"]
    request = {**envelope["entry"][1]["resource"], "id": "m1"}
    request["medicationCodeableConcept"] = {"coding": [{"system": SYS_CIP, "code": DOLIPRANE}], "text": "DOLIPRANE"}
    del request["medicationReference"]
    request["supportingInformation"] = [{"reference": "#observation-2"}]
    weight = envelope["entry"][5]["resource"]
    alone = {**group, "contained": [request, weight], "action": [{"resource": {"reference": "#m1"}}]}
    draft = fhir.draft_from_fhir(alone, units=UNITS, ns=NS)
    assert [(o.code, o.lines) for o in draft.observations] == [("29463-7", (1,))]
    alone["contained"].append(envelope["entry"][4]["resource"])  # the height, referenced by nothing
    _refused(alone, "observation-hors-ordonnance")


def test_hostile_observations_are_refused_never_crash():
    """Wrong JSON types anywhere in the guide's envelope with its Observations: a MaisonError, never
    an exception that would become a 500."""
    import random

    from maison.core.errors import MaisonError

    rnd, envelope = random.Random(20), _with_observations_from_the_guide()
    for _ in range(1500):
        try:
            fhir.draft_from_fhir(_mutated(envelope, rnd), units=UNITS, ns=NS)
        except MaisonError:
            pass
