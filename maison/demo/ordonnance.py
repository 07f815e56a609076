"""The demo's ordonnance numérique scene (issue 6 §2.1), played as a LAP and a LGO would play it.

At the end of the consultation the GP prescribes (a medicine by its CIP13, a device in free text,
a nursing act) with the patient's OUI; the practice software records it in the base, prints the
paper ordonnance with its QR code and, in parallel, deposits its N1 copy in the patient's DMP
(seed 001 L347-349). A pharmacist, signed in with her e-CPS, scans the QR code read back from the
PDF's image, reads the prescription, delivers a generic in place of the medicine and the device
with its LPP code, and records the patient's qualified INS. The GP sees what was delivered because
the patient said OUI; on a second ordonnance, printed NON, he sees nothing and is told why. The
national counters close the scene. The pharmacist and her pharmacy enter the directory as the RPPS
loads them and her e-CPS is activated at the operator's desk (`backoffice`); the rest is the base's
FHIR API, PDSm and OpenID Connect.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from maison.core.identifiers.checksums import luhn_check_digit
from maison.demo import backoffice
from maison.demo.dmp import GP, Scene, enrolled
from maison.etablissement.ordonnance.dmp_copie import DepositRefused, deposit, n1_ordonnance
from maison.etablissement.ordonnance.papier import PaperPatient, PaperPrescriber, number_from_pdf, ordonnance_pdf
from maison.etablissement.ordonnance.prescription import Prescription, prescription_from_fhir
from maison.formats.cda.build import Address, PatientIdentity, Professional
from maison.formats.insi import Individu
from maison.formats.namespace import STRUCTURE, Namespace
from maison.formats.ordonnance import SYS_CIP, SYS_LPP, ext_consent
from maison.house import House
from maison.identite.annuaire import resources as build
from maison.partage.ordonnance import fhir

_SIREN = "99000001" + luhn_check_digit("99000001")
PHARMACIE = "3" + _SIREN + "0001" + luhn_check_digit(_SIREN + "0001")  # IdNatStruct: 3 + SIRET
PHARMACIE_NAME = "PHARMACIE DE LA PLACE"
PHARMACIST_RPPS = "10000000" + "10" + luhn_check_digit("1000000010")
LAP_ROOT = "1.2.250.1.999.8.1"  # the demo practice software's OID arc for the documents it writes
AM_NUMBER = "691234567"  # the practice's N° AM, from the practice software's settings (not in the Annuaire)
PARACETAMOL, GENERIQUE, THERMOMETRE_LPP = "3400930000014", "3400930000021", "1188984"


def play(house: House, base: str, console: Console, individu: Individu, scene: Scene) -> bool:
    """`individu`: the patient the DMP scene followed (qualified earlier); `scene`: the GP's token and practice."""
    gp_auth = {"Authorization": f"Bearer {scene.gp_token}"}
    lap = httpx.Client(base_url=f"{base}/ordonnance", headers=gp_auth, timeout=30)
    checks: dict[str, bool] = {}

    # 1. The GP prescribes, prints, and copies the ordonnance into the DMP.
    paper_gp, author = _prescriber_from_annuaire(base, gp_auth, scene.gp_idnatps, scene.gp_structure)
    t = individu.traits
    paper_patient = PaperPatient(t.nom_naissance, t.prenoms[0], _birth_date(t.date_naissance), 64.5)
    patient = PatientIdentity(
        individu.active.value,
        individu.active.oid,
        t.nom_naissance,
        " ".join(t.prenoms),
        t.sexe,
        t.date_naissance,
        t.lieu_naissance or "99999",
    )
    dmp = httpx.Client(base_url=f"{base}/dmp", headers=gp_auth, timeout=30)
    first, pdf = _prescribe(
        house,
        console,
        lap,
        dmp,
        _envelope(Namespace(house.settings.namespace_base_url), consent=True, full=True),
        scene,
        paper_gp,
        paper_patient,
        patient,
        author,
        checks,
        "oui",
    )
    if first is None:
        return False

    # 2. The pharmacist: her pharmacy and herself in the Annuaire, her e-CPS, her LGO.
    now = "2026-11-01T08:00:00+00:00"
    backoffice.directory(
        house,
        [
            build.organization(
                PHARMACIE,
                PHARMACIE_NAME,
                now,
                siret=PHARMACIE[1:],
                entity="LEGAL-ENTITY",
                secteur="SA33",
                city="LYON",
                postal_code="69002",
                insee="69382",
            )
        ],
        [build.practitioner(PHARMACIST_RPPS, "GIRARD", "Sophie", "DR", "21", "C", None, now)],
        [build.practitioner_role("1999999997", "8" + PHARMACIST_RPPS, PHARMACIE, now, fonction=None, mode="L")],
    )
    redirect = f"{base}/callback"
    client = backoffice.psc_client(house, "Logiciel d'officine de démonstration", redirect)
    token = enrolled(house, base, client, redirect, "8" + PHARMACIST_RPPS)["access_token"]
    lgo = httpx.Client(base_url=f"{base}/ordonnance", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    scanned = number_from_pdf(pdf)  # the counter's scanner: the PDF rendered to an image, its QR code decoded
    checks["scan"] = scanned == first.number
    read = lgo.get(f"/RequestGroup/{scanned}/$dispensation")
    checks["dispensation"] = read.status_code == 200 and len(_of(read.json(), "RequestGroup")) == 1
    console.print(
        f"Pharmacie: Sophie GIRARD scans the QR code of the printed ordonnance → N°{scanned}; "
        f"$dispensation answers {read.status_code} with {len(read.json().get('entry', []))} resources"
    )
    ins = {"system": f"urn:oid:{individu.active.oid}", "value": individu.active.value}
    done = lgo.post(
        f"/RequestGroup/{scanned}/$executer",
        json=_executer(
            _ligne(
                1,
                "substitue",
                produit={
                    "valueCoding": {
                        "system": SYS_CIP,
                        "code": GENERIQUE,
                        "display": "Paracétamol générique 1 000 mg comprimé",
                    }
                },
            ),
            _ligne(
                2,
                "delivre",
                produit={
                    "valueCoding": {
                        "system": SYS_LPP,
                        "code": THERMOMETRE_LPP,
                        "display": "Thermomètre médical électronique",
                    }
                },
            ),
            ins=ins,
            at_delivery=True,
        ),
    )
    checks["executer"] = done.status_code == 201
    if done.status_code != 201:
        console.print(f"[red]$executer refused ({done.status_code}): {done.text[:300]}")
        return False
    [given] = _of(done.json(), "MedicationDispense")
    checks["ins"] = given.get("subject", {}).get("identifier", {}).get("value") == individu.active.value
    console.print(
        f"She delivers a generic in place of line 1 and the thermometer (LPP {THERMOMETRE_LPP}), "
        f"records the patient's INS (QUAL): $executer {done.status_code}"
    )

    # 3. The GP consults: with the patient's OUI he sees the substitution.
    seen = lap.get(f"/RequestGroup/{first.number}/$enveloppe")
    dispensed = _of(seen.json(), "MedicationDispense")
    checks["oui"] = (
        seen.status_code == 200
        and len(dispensed) == 1
        and dispensed[0]["substitution"]["wasSubstituted"] is True
        and dispensed[0]["medicationCodeableConcept"]["coding"][0]["code"] == GENERIQUE
        and len(_of(seen.json(), "SupplyDelivery")) == 1
    )
    console.print(_dispensation_table(seen.json(), first.number))

    # 4. A second ordonnance, the patient says NON: delivered, and the GP does not see it.
    second, pdf2 = _prescribe(
        house,
        console,
        lap,
        dmp,
        _envelope(Namespace(house.settings.namespace_base_url), consent=False, full=False),
        scene,
        paper_gp,
        paper_patient,
        patient,
        author,
        checks,
        "non",
    )
    if second is None:
        return False
    number2 = number_from_pdf(pdf2)
    read2 = lgo.get(f"/RequestGroup/{number2}/$dispensation")
    done2 = lgo.post(f"/RequestGroup/{number2}/$executer", json=_executer(_ligne(1, "delivre"), ins=ins))
    seen2 = lap.get(f"/RequestGroup/{second.number}/$enveloppe")
    refused = lap.get(f"/RequestGroup/{second.number}/$executions")
    code = _issue_code(refused)
    checks["non"] = (
        number2 == second.number
        and read2.status_code == 200
        and done2.status_code == 201
        and seen2.status_code == 200
        and not _of(seen2.json(), "MedicationDispense")
        and refused.status_code == 403
        and code == "execution-non-consentie"
    )
    console.print(
        f"Second ordonnance N°{second.number}, printed NON: delivered ($executer {done2.status_code}); "
        f"the GP reads it with {len(_of(seen2.json(), 'MedicationDispense'))} dispensation shown, "
        f"and $executions answers {refused.status_code} {code}"
    )

    # 5. The national counters (001 L424-462), public.
    counters = httpx.get(f"{base}/ordonnance/$compteurs", timeout=30).json()
    table = Table(title="Ordonnance numérique — compteurs nationaux ($compteurs)")
    for col in ("côté", "compteur", "valeur"):
        table.add_column(col)
    for side, values in counters.items():
        for name, value in values.items():
            table.add_row(side, name, str(value))
    console.print(table)
    checks["compteurs"] = (
        counters["prescripteurs"]["creees"] >= 2
        and counters["executants"]["executees"] >= 2
        and counters["executants"]["consultees"] >= 2
    )
    failed = [name for name, held in checks.items() if not held]
    if failed:
        console.print(f"[red]Ordonnance numérique: failed checks: {', '.join(failed)}")
    return not failed


def _prescribe(
    house: House,
    console: Console,
    lap: httpx.Client,
    dmp: httpx.Client,
    envelope: dict,
    scene: Scene,
    paper_gp: PaperPrescriber,
    paper_patient: PaperPatient,
    patient: PatientIdentity,
    author: Professional,
    checks: dict[str, bool],
    label: str,
) -> tuple[Prescription | None, bytes]:
    """Record in the base, print the PDF, copy it to the DMP; the Prescription as the base answered it."""
    created = lap.post("/RequestGroup", json=envelope, headers={"Idempotency-Key": f"demo-{uuid.uuid4()}"})
    if created.status_code != 201:
        console.print(f"[red]POST /ordonnance/RequestGroup refused ({created.status_code}): {created.text[:300]}")
        return None, b""
    answered_at = parsedate_to_datetime(created.headers["date"]) if "date" in created.headers else datetime.now(UTC)
    prescription = prescription_from_fhir(created.json(), created_at=answered_at)
    pdf = ordonnance_pdf(prescription, paper_gp, paper_patient)
    path = house.settings.data_dir / f"ordonnance-{prescription.number}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    cda = n1_ordonnance(
        prescription, patient, author, pdf, reference_path=house.settings.reference_path, document_root=LAP_ROOT
    )
    try:
        docref = deposit(dmp, cda)
    except DepositRefused as refused:
        console.print(f"[red]{refused.message}")
        return None, b""
    found = dmp.get(
        "/DocumentReference",
        params={"patient.identifier": f"urn:oid:{patient.ins_oid}|{patient.ins}", "status": "current"},
    ).json()
    in_dmp = any(e["resource"]["id"] == docref for e in found.get("entry", []))
    checks[f"dmp-{label}"] = in_dmp and prescription.consent == (label == "oui")
    console.print(
        f"Dr LEROY prescribes {len(prescription.lines)} line(s), patient's {label.upper()}: "
        f"N°{prescription.number} ({created.status_code}); printed {len(pdf):,} bytes → {path}; "
        f"copy in the DMP: DocumentReference/{docref}" + (" (found back)" if in_dmp else " [red](not found)")
    )
    return prescription, pdf


def _prescriber_from_annuaire(
    base: str, auth: dict, idnatps: str, structure: str
) -> tuple[PaperPrescriber, Professional]:
    """The prescriber zone and the CDA author, from the GP's own entries in the Annuaire Santé."""
    who = httpx.get(f"{base}/annuaire/Practitioner/{idnatps}", headers=auth, timeout=30)
    where = httpx.get(f"{base}/annuaire/Organization/{structure}", headers=auth, timeout=30)
    who.raise_for_status()
    where.raise_for_status()
    person, org = who.json(), where.json()
    name = person["name"][0]
    rpps = next(i["value"] for i in person["identifier"] if i["type"]["coding"][0]["code"] == "RPPS")
    address = (org.get("address") or [{}])[0]
    lines = (
        org["name"],
        *address.get("line", []),
        f"{address.get('postalCode', '')} {address.get('city', '')}".strip(),
    )
    codes = {c["code"] for q in person["qualification"] for c in q["code"]["coding"]}
    specialty = "Médecine générale" if "SM54" in codes else "Médecin"  # the savoir-faire GP.code names
    paper = PaperPrescriber(
        f"Dr {name['family']} {name['given'][0]}", tuple(x for x in lines if x), specialty, rpps, AM_NUMBER
    )
    office = Address(
        " ".join(address.get("line", [])) or "Cabinet médical", address.get("postalCode", ""), address.get("city", "")
    )
    author = Professional(
        idnatps, name["family"], name["given"][0], GP, structure, org["name"], address=office, structure_address=office
    )
    return paper, author


def _birth_date(text: str) -> date:
    """INS birth dates may be partial (00 for an unknown day or month): printed as the 1st."""
    year, month, day = text.split("-")
    return date(int(year), int(month) or 1, int(day) or 1)


def _envelope(ns: Namespace, *, consent: bool, full: bool) -> dict:
    """What the LAP posts: a medicine by its CIP13, and (full) a device in free text and a nursing act."""
    requests = [
        {
            "resourceType": "MedicationRequest",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": SYS_CIP, "code": PARACETAMOL}],
                "text": "Paracétamol 1 000 mg comprimé",
            },
            "dosageInstruction": [{"text": "1 comprimé si fièvre, 3 par jour au plus"}],
            "dispenseRequest": {"quantity": {"value": 1, "unit": "boîte"}},
        }
    ]
    if full:
        requests += [
            {"resourceType": "DeviceRequest", "intent": "order", "codeCodeableConcept": {"text": "Thermomètre"}},
            {
                "resourceType": "ServiceRequest",
                "intent": "order",
                "code": {"text": "Soins infirmiers : surveillance de la température à domicile"},
                "note": [{"text": "1 passage par jour pendant 3 jours"}],
            },
        ]
    group = {
        "resourceType": "RequestGroup",
        "intent": "order",
        "status": "active",
        "authoredOn": date.today().isoformat(),
        "extension": [{"url": ext_consent(ns), "valueBoolean": consent}],
        "action": [{"resource": {"reference": f"urn:uuid:r{i}"}} for i in range(len(requests))],
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:rg", "resource": group}]
        + [{"fullUrl": f"urn:uuid:r{i}", "resource": r} for i, r in enumerate(requests)],
    }


def _executer(*lines: dict, ins: dict | None = None, at_delivery: bool = False) -> dict:
    params: list[dict[str, Any]] = [
        {"name": "ligne", "part": [{"name": k, **v} for k, v in line.items()]} for line in lines
    ]
    if ins:
        params.append(
            {
                "name": "patient",
                "part": [{"name": "ins", "valueIdentifier": ins}, {"name": "statutIdentite", "valueCode": "QUAL"}],
            }
        )
    if at_delivery:
        params.append({"name": "aLaDelivrance", "valueBoolean": True})
    return {"resourceType": "Parameters", "parameter": params}


def _ligne(n: int, outcome: str, **more: dict) -> dict:
    return {"numero": {"valueInteger": n}, "resultat": {"valueCode": outcome}, **more}


def _of(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == kind]


def _issue_code(response: httpx.Response) -> str:
    try:
        return response.json()["issue"][0]["details"]["coding"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def _dispensation_table(bundle: dict, number: str) -> Table:
    """What the GP's software shows of the dispensation: one row per line executed."""
    table = Table(title=f"Ordonnance N°{number} — délivrance vue par le prescripteur (accord OUI)")
    for col in ("ligne", "ressource", "résultat", "produit délivré", "code"):
        table.add_column(col)
    for r in bundle["entry"]:
        r = r["resource"]
        if r["resourceType"] not in ("MedicationDispense", "SupplyDelivery", "Task"):
            continue
        # the base's own extensions, by the path Maison gives them under whatever namespace it serves
        ext = {e["url"].rpartition(f"/{STRUCTURE}/")[2]: e for e in r.get("extension", [])}
        outcome = ext[fhir.EXT_OUTCOME]["valueCode"]
        if r["resourceType"] == "MedicationDispense":
            request = r["authorizingPrescription"][0]["reference"]
            concept = r["medicationCodeableConcept"]
            if r.get("substitution", {}).get("wasSubstituted"):
                outcome += " (substitution)"
        elif r["resourceType"] == "SupplyDelivery":
            request = ext[fhir.EXT_REQUEST]["valueReference"]["reference"]
            concept = r["suppliedItem"]["itemCodeableConcept"]
        else:
            request, concept = r["basedOn"][0]["reference"], {}
        coding = (concept.get("coding") or [{}])[0]
        table.add_row(
            request.rsplit("-", 1)[1],
            r["resourceType"],
            outcome,
            concept.get("text") or coding.get("display", ""),
            coding.get("code", ""),
        )
    return table
