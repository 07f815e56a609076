"""The URLs in Maison's answers (issue 21 §3.3): what Maison invents is under the namespace the
deployment owns (`Settings.namespace_url`, by default `<public URL>/ns`); a gouv.fr URL appears only
where a guide of the reference pack puts one.

Driven over HTTP: an ordonnance prescribed, dispensed and consulted; the DMP's Consent; the
CapabilityStatement of every FHIR base; an Annuaire search. Each case writes only what no other reads
(its own ordonnance, Consent, patient index record, PAT-TROIS's espace, Sarah's one deposit), so the
tests share one house and world per namespace and backend (module_live, parametrized indirectly)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

from maison.formats.namespace import Namespace
from maison.formats.ordonnance import SYS_LPP, ext_consent
from tests.e2e.test_ordonnance_api import envelope, executer, line
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import OID_INS_NIR_TEST, World, make_world

# The gouv.fr URLs the guides define (/work/shared/reference), each with a file of the pack that uses it.
OFFICIAL = {
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/": "pdsm/input/fsh/SearchParameter/PDSm-isArchived.fsh",
    "https://interop.esante.gouv.fr/ig/fhir/annuaire/": "annuaire/input/fsh/SearchParameters/"
    "AsNumberSmartCardSearchParameter.fsh",
    "https://annuaire.esante.gouv.fr": "annuaire/input/fsh/examples/DR/PP16DR-Practitioner.fsh",  # meta.source
    "https://rpps.esante.gouv.fr": "annuaire/input/fsh/profiles/AsPractitionerRoleProfile.fsh",
    "https://rppsrang.esante.gouv.fr": "annuaire/input/fsh/examples/DR/PP19DR-Organization-EG-CH.fsh",
    "https://finess.esante.gouv.fr": "annuaire/input/fsh/examples/AsOrganizationExampleNancy.fsh",
    "https://mos.esante.gouv.fr/NOS/": "eprescription/input/fsh/conceptmaps/"
    "PN13-FHIR-prescmed-patient-avec-INS-conceptmap.fsh",
    "https://smt.esante.gouv.fr/fhir/": "annuaire/input/fsh/aliases.fsh",  # the SMT's terminologies
    "http://data.esante.gouv.fr/ansm/medicament/": "eprescription/input/fsh/aliases.fsh",
    # the CNAM's terminologies (ccam there; the LPP, which no guide of the pack names, follows it)
    "http://data.esante.gouv.fr/cnam/": "cisis/schematrons/profils/terminologies/terminologie/1.2.250.1.213.2.5.rdf",
}
URL = re.compile(r"https?://[^\s\"'<>\\]+")
CUSTOM = "https://fhir.example.org/maison"


pytestmark = pytest.mark.parametrize(
    "module_house", [{"namespace_url": ""}, {"namespace_url": CUSTOM}], ids=["default", "configured"], indirect=True
)


@pytest.fixture(scope="module")
def shared(module_live) -> World:
    """The module's professionals in the Annuaire, signed in to Pro Santé Connect once; Sarah's login."""
    return make_world(module_live.house, module_live, ("generaliste", "pharmacien", "hospitalier"))


@pytest.fixture
def house(module_live):
    """The module's one house (module_house), under the name the cases read it by."""
    return module_live.house


@pytest.fixture
def world(shared: World) -> World:
    """The module's world, its professionals' PSC tokens renewed when old."""
    return shared.renew()


def _answers(world: World) -> list[str]:
    """The bodies of the answers a LAP, a pharmacy, a DMP client and a FHIR client receive."""
    house = world.house
    ns = Namespace(house.settings.namespace_base_url)
    bodies: list[httpx.Response] = []
    prescription = envelope()
    prescription["entry"][0]["resource"]["extension"] = [{"url": ext_consent(ns), "valueBoolean": True}]
    with (
        httpx.Client(base_url=f"{world.base}/ordonnance", headers=world.headers("generaliste")) as gp,
        httpx.Client(base_url=f"{world.base}/ordonnance", headers=world.headers("pharmacien")) as pharmacy,
    ):
        created = gp.post("/RequestGroup", json=prescription)
        assert created.status_code == 201, created.text
        number = created.json()["entry"][0]["resource"]["id"]
        bodies.append(created)
        bodies.append(pharmacy.get(f"/RequestGroup/{number}/$dispensation"))
        device = {"valueCoding": {"system": SYS_LPP, "code": "1188984"}}
        done = pharmacy.post(
            f"/RequestGroup/{number}/$executer",
            json=executer(line(1, "delivre"), line(2, "delivre", produit=device), ins=(SARAH_NIR, "QUAL")),
        )
        assert done.status_code == 201, done.text
        bodies += [done, gp.get(f"/RequestGroup/{number}/$enveloppe"), gp.get(f"/MedicationRequest/{number}-1")]
    bodies.append(world.client("generaliste").get("/Consent", params={"patient.identifier": SARAH_NIR}))
    for base in ("/fhir", "/annuaire", "/dmp", "/ordonnance"):
        bodies.append(httpx.get(f"{world.base}{base}/metadata"))
    bodies.append(httpx.get(f"{world.base}/annuaire/Practitioner", headers=world.headers("generaliste")))
    for r in bodies:
        assert r.status_code in (200, 201), f"{r.request.url}: {r.status_code} {r.text[:300]}"
    return [r.text for r in bodies]


def test_no_gouv_fr_url_that_a_guide_does_not_define(world):
    urls = {u for body in _answers(world) for u in URL.findall(body)}
    foreign = sorted(
        u
        for u in urls
        if (urlsplit(u).hostname or "").endswith("gouv.fr") and not any(u.startswith(p) for p in OFFICIAL)
    )
    assert foreign == []


def test_maisons_urls_are_under_the_configured_namespace(house, world):
    ns = house.settings.namespace_base_url
    assert ns == (CUSTOM if house.settings.namespace_url else f"{world.base}/ns")
    bodies = "\n".join(_answers(world))
    ours = {u for u in URL.findall(bodies) if u.startswith(ns + "/")}
    expected = {
        f"{ns}/fhir/StructureDefinition/ordonnance-consentement-execution",
        f"{ns}/fhir/StructureDefinition/ordonnance-qr-code",
        f"{ns}/fhir/StructureDefinition/ordonnance-resultat-execution",
        f"{ns}/ordonnance/numero",
        f"{ns}/ordonnance/ligne",
        f"{ns}/ordonnance/execution",
        f"{ns}/fhir/CodeSystem/dmp-acces",
        f"{ns}/fhir/StructureDefinition/dmp-etat-information",
        f"{ns}/fhir/StructureDefinition/dmp-peut-alimenter",
        f"{ns}/fhir/OperationDefinition/executer",
        f"{ns}/fhir/OperationDefinition/rpps-plus",
        f"{ns}/fhir/OperationDefinition/recuperer-ins",
    }
    assert expected <= ours
    if house.settings.namespace_url:  # nothing of Maison's left under the default
        assert f"{world.base}/ns/" not in bodies


@pytest.mark.parametrize(
    ("url", "taken"),
    [
        ("{ns}/fhir/StructureDefinition/dmp-motif-opposition-alimentation", True),
        ("urn:maison:dmp:motif-opposition-alimentation", True),  # as Maison named it before: still understood
        ("https://elsewhere.example/ns/fhir/StructureDefinition/dmp-motif-opposition-alimentation", False),
    ],
)
def test_the_opposition_motif_is_read_under_the_namespace_or_its_former_name(house, world, url, taken):
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "patient": {"identifier": {"system": f"urn:oid:{OID_INS_NIR_TEST}", "value": SARAH_NIR}},
        "provision": {
            "type": "permit",
            "provision": [
                {"type": "deny", "action": [{"coding": [{"code": "alimentation"}]}]},
                {"type": "permit", "action": [{"coding": [{"code": "consultation"}]}]},
            ],
        },
        "extension": [{"url": url.format(ns=house.settings.namespace_base_url), "valueString": "séjour confidentiel"}],
    }
    r = world.client("hospitalier").post("/Consent", json=consent)
    if taken:
        assert r.status_code == 201, r.text
    else:  # another server's extension is not Maison's motif: the opposition has none (002 L559)
        assert r.status_code == 400 and r.json()["issue"][0]["details"]["coding"][0]["code"] == "motif-legitime-absent"


def test_the_urns_maison_invented_are_now_under_the_namespace(house, world, reference_path):
    """Issue 21 §3.3: what was `urn:maison:…` (an unregistered URN namespace) — the house's error codes,
    the index's IPP systems and `insi-reponse`, Mon espace santé's rubrique tag, wishes and the
    vaccination's source document, the access history's action codes and chained hash — is rendered
    under the deployment's namespace; no answer carries `urn:maison` any more."""
    from maison.core.auth import issue_key
    from tests.e2e.test_espace import pat_trois_with_a_vaccination_note
    from tests.identite.helpers import IDAM, STRUCTURE

    ns = house.settings.namespace_base_url
    bodies: list[httpx.Response] = []
    # the patient index: a Patient with its IPP, INSi's answer to $recuperer-ins, then errors of every kind
    house.insi.register_software(IDAM, "Maison DPI", "Maison")
    house.insi.register_structure(STRUCTURE, "Hôpital de test")
    dpi = httpx.Client(
        base_url=f"{world.base}/fhir",
        headers={"Authorization": f"Bearer {issue_key(house.db, STRUCTURE, IDAM, '801234567897', 'accueil')}"},
    )
    patient = {
        "resourceType": "Patient",
        "identifier": [{"type": {"coding": [{"code": "PI"}]}, "value": "NS1"}],
        "name": [{"use": "official", "family": "GARCIA-HAMMADI", "given": ["SARAH-LOU"]}],
        "gender": "female",
        "birthDate": "1977-01-21",
    }
    admitted = dpi.post("/Patient", json=patient)
    bodies += [admitted, dpi.post(f"/Patient/{admitted.json()['id']}/$recuperer-ins")]
    bodies += [
        dpi.get("/Patient/0"),  # the house's handler (404)
        dpi.get("/Patient", headers={"Accept": "application/fhir+xml"}),  # the FHIR format middleware (406)
        httpx.post(f"{world.base}/insi/json/rechercherInsAvecTraitsIdentite", json={}),  # INSi's JSON mirror
        httpx.get(f"{world.base}/insi/lps"),  # INSi's own 404
    ]
    # Mon espace santé: wishes, a typed vaccination, the professional's note, the history of accesses
    token = pat_trois_with_a_vaccination_note(world, house, reference_path)
    espace = httpx.Client(base_url=f"{world.base}/espace", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert espace.put("/profil/volontes", json={"donOrganes": "favorable"}).status_code == 200
    vaccine = {
        "resourceType": "Immunization",
        "vaccineCode": {"text": "Fièvre jaune"},
        "occurrenceDateTime": "2019-06-01",
    }
    assert espace.post("/profil/vaccinations", json=vaccine).status_code == 201
    bodies += [espace.get("/profil"), espace.get("/profil/vaccinations")]
    bodies.append(httpx.get(f"{world.base}/dmp/espace/historique", headers={"Authorization": f"Bearer {token}"}))

    text = "\n".join(r.text for r in bodies)
    assert "urn:maison" not in text
    ours = {u for u in URL.findall(text) if u.startswith(ns + "/")}
    assert {
        f"{ns}/fhir/CodeSystem/erreur",
        f"{ns}/ipp/{STRUCTURE}",
        f"{ns}/fhir/StructureDefinition/insi-reponse",
        f"{ns}/fhir/CodeSystem/insi-code-cr",
        f"{ns}/fhir/StructureDefinition/espace-volontes",
        f"{ns}/fhir/CodeSystem/espace-rubrique",
        f"{ns}/fhir/StructureDefinition/espace-document-source",
        f"{ns}/fhir/CodeSystem/audit-action",
        f"{ns}/fhir/StructureDefinition/audit-chaine",
    } <= ours
    errors = [r for r in bodies if r.status_code >= 400]
    assert len(errors) == 4 and all(
        r.json()["issue"][0]["details"]["coding"][0]["system"] == f"{ns}/fhir/CodeSystem/erreur" for r in errors
    )


def test_a_deposit_of_the_patient_names_mon_espace_sante_by_an_oid(house, world):
    """XDS SubmissionSet.sourceId is an OID (IHE ITI TF-3 §4.2.3.3; MHD ihe-sourceId); Mon espace santé's was
    `urn:maison:mon-espace-sante`."""
    import base64

    import sqlalchemy as sa

    from maison.formats.pdf import document_pdf
    from maison.partage.dmp.store import dmp_submission

    espace = httpx.Client(
        base_url=f"{world.base}/espace", headers={"Authorization": f"Bearer {world.patient_token()}"}, timeout=30
    )
    pdf = document_pdf("CR de consultation", [("Texte", ["Consultation à Madrid."])])
    upload = {
        "resourceType": "DocumentReference",
        "type": {"coding": [{"code": "DOCPAT03"}]},
        "description": "CR",
        "content": [{"attachment": {"contentType": "application/pdf", "data": base64.b64encode(pdf).decode()}}],
    }
    assert espace.post("/documents", json=upload).status_code == 201
    with house.db.read() as conn:
        [source] = conn.execute(
            sa.select(dmp_submission.c.source_id).where(dmp_submission.c.ins == SARAH_NIR)
        ).scalars()  # her one deposit: the other cases feed PAT-TROIS's DMP, not hers
    assert re.fullmatch(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+", source) and len(source.removeprefix("urn:oid:")) <= 64
