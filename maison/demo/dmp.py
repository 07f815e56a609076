"""The demo's shared-record scene, over PDSm and Mon espace santé as real software would play it.

A hospital admits, moves and discharges a patient, its GAM announcing each step over MLLP (IHE PAM
France, `flux`); at discharge its DPI builds the lettre de liaison (CDA N1) and the biology report
(an N1 and its CR-BIO N3, XFRM-linked) and hands them to the PFI in HL7 v2 (MDM^T02, ORU^R01),
which feeds the DMP over PDSm and answers the DPI with ZAM^Z01.
The patient's GP, logged in with her e-CPS, finds and reads them (ITI-67, ITI-68). The patient
logs in to Mon espace santé, records a measure, masks the biology report; the GP no longer finds
it; the patient reads who accessed her record. The GP and her practice enter the directory as the
RPPS loads them, the e-CPS and the patient's account are activated at the operators' desks
(`backoffice`); everything else is PDSm, OpenID Connect and Mon espace santé's HTTP API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import orjson
import pyotp
from rich.console import Console
from rich.table import Table

from maison.core.identifiers.checksums import luhn_check_digit
from maison.demo import backoffice
from maison.demo.flux import STAY, Flows
from maison.etablissement.psc.client import sign_in
from maison.formats.cda.build import (
    LOINC,
    SYS_FACILITY,
    SYS_PRACTICE,
    SYS_SPECIALTY,
    Address,
    DocumentHeader,
    PatientIdentity,
    Professional,
    n1_from_pdf,
)
from maison.formats.cda.crbio import (
    SYS_SPECIMEN_TYPE,
    Chapter,
    Quantity,
    ReferenceRange,
    Result,
    Specimen,
    crbio_n3,
    crbio_pdf,
)
from maison.formats.cda.header import Code
from maison.formats.insi import Individu
from maison.formats.pdf import document_pdf
from maison.house import House
from maison.identite.annuaire import resources as build

PASSWORD, EMAIL = "demo-mon-espace-sante-2026", "patient.demo@example.fr"
CABINET, CABINET_NAME = "3" + "99000000" + luhn_check_digit("99000000") + "00017", "CABINET DU DR LEROY"
GP_RPPS = "10000000" + "09" + luhn_check_digit("1000000009")
HOSPITAL_DOCTOR = Code("G15_10/SM26", SYS_SPECIALTY, "Médecin - Qualifié en médecine générale (SM)")
GP = Code("G15_10/SM54", SYS_SPECIALTY, "Médecin - Médecine générale (SM)")
LETTRE = Code("11490-0", LOINC, "Lettre de liaison à la sortie d'un établissement de soins")
BIOLOGIE = Code("11502-2", LOINC, "CR d'examens biologiques")
HOSPITAL_SETTING = Code("ETABLISSEMENT", SYS_PRACTICE, "Etablissement de santé")
HOSPITAL_FACILITY = Code("SA01", SYS_FACILITY, "Etablissement public de santé")
FORMAT_CR_BIO = "urn:ihe:lab:xd-lab:2008"  # ASS_A11: the CR-BIO volet's formatCode
FOR_DMP = {"DESTDMP": "Y", "ACK_RECEPTION": "Y"}  # MetaDMP/MSS: to the DMP, a ZAM of its answer


def _oid() -> str:
    return f"1.2.250.1.999.2.{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"


def enrolled(house: House, base: str, client: tuple[str, str], redirect: str, idnatps: str) -> dict:
    """The professional activates her e-CPS and signs in with it: her tokens."""
    seed = backoffice.ecps_seed(house, idnatps)
    return sign_in(base, *client, redirect, idnatps, otp=pyotp.TOTP(seed).now())


@dataclass
class Scene:
    """What the DMP scene leaves for the MSSanté scene."""

    ok: bool
    letter: bytes = b""
    gp_idnatps: str = "8" + GP_RPPS
    gp_structure: str = CABINET
    gp_token: str = ""
    patient_token: str = ""


def play(house: House, base: str, console: Console, individu: Individu, doctor: Professional, flows: Flows) -> Scene:
    """`individu`: a patient qualified earlier in the demo; `doctor`: the hospital doctor of the
    professional scene (signed in with her e-CPS); `flows`: the hospital's GAM, DPI and PFI over MLLP."""
    t = individu.traits
    patient = PatientIdentity(
        individu.active.value,
        individu.active.oid,
        t.nom_naissance,
        " ".join(t.prenoms),
        t.sexe,
        t.date_naissance,
        t.lieu_naissance or "99999",
    )
    now = "2026-11-01T08:00:00+00:00"
    backoffice.directory(  # the GP's practice and the GP in the Annuaire Santé
        house,
        [
            build.organization(
                CABINET,
                CABINET_NAME,
                now,
                siret=CABINET[1:],
                entity="LEGAL-ENTITY",
                secteur="SA07",
                city="LYON",
                postal_code="69002",
                insee="69382",
            )
        ],
        [build.practitioner(GP_RPPS, "LEROY", "Hugo", "DR", "10", "C", "SM54", now)],
        [build.practitioner_role("1999999998", "8" + GP_RPPS, CABINET, now, fonction=None, mode="L")],
    )
    redirect = f"{base}/callback"
    client = backoffice.psc_client(house, "DPI et logiciel de cabinet de démonstration", redirect)
    hospital = httpx.Client(
        base_url=f"{base}/dmp",
        timeout=30,
        headers={"Authorization": f"Bearer {enrolled(house, base, client, redirect, doctor.idnatps)['access_token']}"},
    )
    gp_token = enrolled(house, base, client, redirect, "8" + GP_RPPS)["access_token"]
    gp = httpx.Client(base_url=f"{base}/dmp", timeout=30, headers={"Authorization": f"Bearer {gp_token}"})
    ins_param = {"patient.identifier": f"urn:oid:{patient.ins_oid}|{patient.ins}", "status": "current"}

    # The hospital informs the patient at admission (002 L535-565), then feeds at discharge.
    for who in (hospital, gp):
        informed = who.post("/Consent", json=_consent(patient))
        informed.raise_for_status()
    discharge = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    admitted = discharge - timedelta(days=4)
    # The GAM announces the stay over MLLP (PAM FR 2.11): admission with her DMP state, a transfer.
    if not (
        flows.gam("A01", "001", "4402", "Médecine interne", admitted, "admission, ZFA INO/IC")
        and flows.gam("A02", "002", "4410", "Pneumologie", admitted + timedelta(days=1), "transfert")
    ):
        return Scene(False)
    letter = n1_from_pdf(
        _header(patient, doctor, LETTRE, "Lettre de liaison à la sortie", discharge, admitted),
        document_pdf(
            "Lettre de liaison à la sortie",
            [
                ("Motif d'hospitalisation", ["Pneumopathie communautaire."]),
                ("Traitement de sortie", ["Amoxicilline 1 g x 3/j pendant 5 jours."]),
                ("Suivi", ["Consultation du médecin traitant sous 7 jours ; glycémie de contrôle."]),
            ],
        ),
    )
    bio_header = _header(
        patient, doctor, BIOLOGIE, "Compte rendu d'examens biologiques", discharge, discharge - timedelta(hours=6)
    )
    chapters = _biology(discharge - timedelta(hours=6))
    bio_pdf = crbio_pdf(bio_header, chapters, reference_path=house.settings.reference_path)
    bio_n1 = n1_from_pdf(bio_header, bio_pdf)
    n3_header = _header(
        patient, doctor, BIOLOGIE, "Compte rendu d'examens biologiques", discharge, discharge - timedelta(hours=6)
    )
    bio_n3 = crbio_n3(n3_header, chapters, reference_path=house.settings.reference_path, pdf=bio_pdf)
    # The DPI hands both to the PFI in HL7 v2 (MDM^T02, ORU^R01 with N1 + N3); the PFI feeds the DMP
    # over PDSm and tells the DPI each outcome in a ZAM^Z01; then the GAM discharges her (A03).
    fed = flows.dpi_sends(
        "lettre de liaison (CDA N1)", [letter], LETTRE.code, LETTRE.display, oru=False, flags=FOR_DMP
    ) and flows.dpi_sends(
        "CR de biologie (N1 + N3 CR-BIO)", [bio_n1, bio_n3], BIOLOGIE.code, BIOLOGIE.display, oru=True, flags=FOR_DMP
    )
    fed = fed and flows.gam("A03", "003", "4410", "Pneumologie", discharge, "sortie")
    z01 = flows.wait_zams("Z01", 2)
    accepted = [z for z in z01 if str(z.segment("OBX")[5]).startswith("Y")]
    if not fed or len(accepted) != 2:
        console.print(f"[red]the PFI did not feed the DMP: {[str(z) for z in z01]}")
        return Scene(False)
    console.print(
        "DMP: the PFI fed 3 documents (lettre de liaison N1, CR de biologie N1 + N3 CR-BIO) over PDSm, "
        f"both tied to stay {STAY}; the DPI received {len(accepted)} ZAM^Z01 (reçu par le DMP)"
    )

    found = gp.get("/DocumentReference", params=ins_param).json()
    table = Table(title=f"DMP de {t.prenoms[0]} {t.nom_naissance} — vu par son médecin traitant (ITI-67)")
    for col in ("document", "type", "format", "taille", "auteur"):
        table.add_column(col)
    for entry in found.get("entry", []):
        r = entry["resource"]
        table.add_row(
            r["content"][0]["attachment"]["title"],
            r["type"]["coding"][0]["code"],
            r["content"][0]["format"]["code"],
            f"{r['content'][0]['attachment']['size']:,}",
            r["contained"][0]["name"][0]["family"] if r.get("contained") else "",
        )
    console.print(table)
    n3 = next(e["resource"] for e in found["entry"] if e["resource"]["content"][0]["format"]["code"] == FORMAT_CR_BIO)
    glucose = gp.get(f"/Binary/{n3['id']}")
    values = re.findall(rb'<value xsi:type="PQ" value="([^"]+)" unit="([^"]+)"', glucose.content)
    console.print(
        f"The GP reads the N3 (ITI-68): {len(glucose.content):,} bytes, results "
        + ", ".join(f"{v.decode()} {u.decode()}" for v, u in values)
    )

    # The patient in Mon espace santé: logs in, records her weight, masks the biology report.
    backoffice.mes_account(house, "patient.demo", patient.ins, patient.birth_date, PASSWORD, EMAIL)
    started = httpx.post(f"{base}/mes/connexion", json={"identifiant": "patient.demo", "motDePasse": PASSWORD}).json()
    code = backoffice.mes_code(house, EMAIL)
    token = httpx.post(f"{base}/mes/connexion/code", json={"transaction": started["transaction"], "code": code}).json()[
        "access_token"
    ]
    me = {"Authorization": f"Bearer {token}"}
    espace = httpx.Client(base_url=f"{base}/espace", headers=me, timeout=30)
    for code_, value, unit in (("8302-2", 168, "cm"), ("29463-7", 64.5, "kg")):
        espace.post(
            "/mesures",
            json={
                "resourceType": "Observation",
                "code": {"coding": [{"system": "http://loinc.org", "code": code_}]},
                "valueQuantity": {"value": value, "code": unit, "system": "http://unitsofmeasure.org"},
                "effectiveDateTime": discharge.isoformat(),
            },
        ).raise_for_status()
    bmi = espace.get("/mesures", params={"code": "imc"}).json()["entry"][0]["resource"]["valueQuantity"]
    console.print(f"Mon espace santé: weight and height recorded, BMI computed {bmi['value']} {bmi['unit']}")
    mine = httpx.Client(base_url=f"{base}/dmp", headers=me, timeout=30)
    bio_uid = next(
        e["resource"]["masterIdentifier"]["value"]
        for e in found.get("entry", [])
        if e["resource"]["type"]["coding"][0]["code"] == BIOLOGIE.code
        and e["resource"]["content"][0]["format"]["code"] == "urn:ihe:iti:xds-sd:pdf:2008"
    )
    masked = mine.patch(
        "/DocumentReference",
        params={"identifier": bio_uid},
        headers={"Content-Type": "application/json-patch+json"},
        content=orjson.dumps(
            [
                {
                    "op": "replace",
                    "path": "/securityLabel",
                    "value": [{"coding": [{"code": "N"}]}, {"coding": [{"code": "MASQUE_PS"}]}],
                }
            ]
        ),
    )
    masked.raise_for_status()
    after = gp.get("/DocumentReference", params=ins_param).json()
    console.print(
        f"The patient masks the biology report (N1 and its N3): the GP now finds {after['total']} "
        f"document(s) instead of {found['total']}"
    )

    history = mine.get("/espace/historique").json()
    table = Table(title="Historique des accès — ce que la patiente lit dans Mon espace santé")
    for col in ("quand", "qui", "action", "résultat"):
        table.add_column(col)
    for entry in history.get("entry", [])[-10:]:
        e = entry["resource"]
        agent = e["agent"][0].get("who", {}).get("identifier", {}).get("value", "?")
        table.add_row(e["recorded"][:19], agent, e["type"]["code"], e["outcome"])
    console.print(table)
    return Scene(
        after["total"] == found["total"] - 2 and bool(values) and history["total"] > 0,
        letter,
        gp_token=gp_token,
        patient_token=token,
    )


def _consent(patient: PatientIdentity) -> dict:
    return {
        "resourceType": "Consent",
        "status": "active",
        "patient": {"identifier": {"system": f"urn:oid:{patient.ins_oid}", "value": patient.ins}},
        "provision": {
            "type": "permit",
            "provision": [
                {"type": "permit", "action": [{"coding": [{"code": "alimentation"}]}]},
                {"type": "permit", "action": [{"coding": [{"code": "consultation"}]}]},
            ],
        },
    }


def _header(
    patient: PatientIdentity, doctor: Professional, type_: Code, title: str, created: datetime, start: datetime
) -> DocumentHeader:
    oid = _oid()
    return DocumentHeader(
        oid,
        oid + ".0",
        1,
        type_,
        title,
        created,
        patient,
        doctor,
        type_,
        start,
        created,
        HOSPITAL_SETTING,
        HOSPITAL_FACILITY,
    )


def _biology(collected: datetime) -> list[Chapter]:
    blood = Specimen(
        ("1.2.250.1.999.3", collected.strftime("%Y%m%d%H%M")), Code("BLD", SYS_SPECIMEN_TYPE, "Sang total"), collected
    )
    glucose = Result(
        Code("14749-6", LOINC, "Glucose [Moles/volume] in Serum or Plasma"),
        Quantity(Decimal("6.2"), "mmol/L"),
        collected,
        ReferenceRange(Decimal("4.1"), Decimal("5.9")),
        interpretation="H",
    )
    crp = Result(
        Code("1988-5", LOINC, "C reactive protein [Mass/volume] in Serum or Plasma"),
        Quantity(Decimal("12"), "mg/L"),
        collected,
        ReferenceRange(None, Decimal("5")),
        interpretation="H",
    )
    return [Chapter(Code("18719-5", LOINC, "Biochimie"), "Biochimie", [glucose, crp], specimen=blood)]


def hospital_doctor(idnatps: str, structure: str, structure_name: str) -> Professional:
    address = Address("Rue de l'Hôpital", "75013", "PARIS", "1")
    return Professional(
        idnatps,
        "MARTIN",
        "Claire",
        HOSPITAL_DOCTOR,
        structure,
        structure_name,
        address=address,
        telecom="tel:0140000000",
        structure_address=address,
        structure_telecom="tel:0140000000",
    )
