"""The demo's admissions scene: a hospital's desk admits patients and its identitovigilance cell
works, all over FHIR/HTTP, with INSi over SOAP and mutual TLS.

Six people of the synthetic population walk in. The desk creates each record in the patient index
(FHIR `Patient`, mixed case, first names maybe in another order), then asks the index to retrieve
the INS (`$recuperer-ins`): the index calls INSi over SOAP with its structure's certificate and the
client's retry rule (each first name, then the list), once per admission, and its answer tells the
DPI what INSi answered (code CR, searches made), which the desk shows; for every other patient the
index records the identity document the desk checked (`$verifier-piece`), which qualifies the
identity. A planted doublon (the
first patient back under a misspelt name) is detected and merged by the cell, which then records
its semester (procedures, a meeting, an incident) and prints its activity report.

Who walks in is drawn from the population the referential was seeded with (`maison.seeding`):
the demo knows its synthetic people as their author does, it does not read INSi's tables.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date

import httpx
from rich.console import Console
from rich.table import Table

from maison.core.ins_traits import Traits
from maison.etablissement.vigilance.api import traits_from_patient
from maison.etablissement.vigilance.cellule import Semester
from maison.etablissement.vigilance.fhir import CS_ID_TYPE, EXT_BIRTH_LIST, EXT_RELIABILITY, read_insi_answer
from maison.formats.insi import Individu, InsRef
from maison.seeding.population import generate

CELL = "/identitovigilance"


@dataclass
class Admitted:
    """What the scene leaves to the next ones."""

    people: list[Traits]
    qualified: list[Individu] = field(default_factory=list)  # the qualified identities, as the index shows them
    ok: bool = False


def arrivals(count: int, seed: int, n: int = 6) -> list[Traits]:
    """The first `n` people of the seeded population with a long list of first names (the cases
    where the order of first names matters), in the order they were registered."""
    long_names = (p.traits for p in generate(count, seed) if len(p.traits.liste_prenoms) > 8)
    return list(itertools.islice(long_names, n))


def desk_patient(ipp: str, t: Traits, *, shuffle: bool = False) -> dict:
    """A FHIR Patient as a desk would type it: mixed case, first names maybe in another order."""
    given = list(reversed(t.prenoms)) if shuffle and len(t.prenoms) > 1 else list(t.prenoms)
    return {
        "resourceType": "Patient",
        "identifier": [
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]},
                "value": ipp,
            }
        ],
        "name": [
            {
                "use": "official",
                "family": t.nom_naissance.title(),
                "given": [given[0].title()],
                "extension": [{"url": EXT_BIRTH_LIST, "valueString": " ".join(g.title() for g in given)}],
            }
        ],
        "gender": {"M": "male", "F": "female"}[t.sexe],
        "birthDate": t.date_naissance.replace("-00", ""),
    }


def identity_status(patient: dict) -> str:
    """The identity's status (PROV, RECUP, QUAL…) from the FR Core reliability extension."""
    for ext in patient.get("extension", []):
        if ext["url"] == EXT_RELIABILITY:
            for part in ext["extension"]:
                if part["url"] == "identityStatus":
                    return part["valueCoding"]["code"]
    return ""


def qualified_identity(patient: dict) -> Individu | None:
    """A qualified identity as the index shows it (its INS is shared only then, FR Core Patient INS):
    what the next scenes follow the patient by."""
    for identifier in patient.get("identifier", []):
        kind = identifier.get("type", {}).get("coding", [{}])[0]
        if kind.get("system") == CS_ID_TYPE and kind.get("code") in ("INS-NIR", "INS-NIA"):
            value, oid = identifier["value"], identifier["system"].removeprefix("urn:oid:")
            active = InsRef(value[:13], value[13:], kind["code"].removeprefix("INS-"), oid)
            return Individu(active, (), traits_from_patient(patient)[1])
    return None


def recover_ins(http: httpx.Client, pid: int) -> tuple[str, int, dict | None]:
    """`$recuperer-ins`: INSi's code CR and searches as the index tells them, and the Patient it
    recorded (None when the transition was refused, e.g. INSi found no one)."""
    answer = http.post(f"/fhir/Patient/{pid}/$recuperer-ins")
    if answer.status_code != 422:
        answer.raise_for_status()
    told = read_insi_answer(answer.json())
    assert told is not None, answer.text  # the index always says what INSi answered
    code, attempts = told
    return code, attempts, answer.json() if answer.status_code == 200 else None


def play(http: httpx.Client, people: list[Traits], console: Console) -> Admitted:
    """`http`: the desk's client of the house (its structure's API key)."""
    from maison.terminal import print_report

    admitted = Admitted(people)
    report = Table(title="Admissions")
    for col in ("IPP", "Nom", "Prénoms", "INSi", "Essais", "Statut"):
        report.add_column(col)
    ids = []
    for i, t in enumerate(people):
        ipp = f"D{i + 1:05d}"
        created = http.post("/fhir/Patient", json=desk_patient(ipp, t, shuffle=(i == 1)))
        created.raise_for_status()
        pid = int(created.json()["id"])
        code, attempts, recorded = recover_ins(http, pid)  # the one INSi lookup of this admission
        status = identity_status(recorded or created.json())
        if recorded is not None and i % 2 == 0:
            checked = http.post(
                f"/fhir/Patient/{pid}/$verifier-piece",
                json={"resourceType": "Parameters", "parameter": [{"name": "typePiece", "valueCode": "CN"}]},
            )
            checked.raise_for_status()
            status = identity_status(checked.json())
            identity = qualified_identity(checked.json())
            if identity is not None:
                admitted.qualified.append(identity)
        ids.append(pid)
        report.add_row(ipp, t.nom_naissance, t.liste_prenoms, code, str(attempts), status)
    console.print(report)

    # A planted doublon: the first patient comes back and is typed without accents and with a typo.
    t = people[0]
    typo = t.nom_naissance[:-1] + ("E" if t.nom_naissance[-1] != "E" else "A")
    http.post("/fhir/Patient", json=desk_patient("D09999", Traits(typo, t.prenoms, t.sexe, t.date_naissance)))
    queued = http.post(f"{CELL}/detection").json()["alertes"]
    reviews = http.get(f"{CELL}/alertes").json()
    console.print(f"Doublon detection over the index: {queued} pair(s) queued for the identitovigilance cell")
    for review in reviews:
        merged = http.post(f"{CELL}/alertes/{review['id']}/fusion", json={"conserver": review["patient_a"]}).json()
        console.print(f"  merged record {merged['fusionne']} into {merged['conserve']} (score {review['score']:.2f})")

    # The cell's semester: its procedures, a meeting, an incident, then the activity report (004 L341-345).
    for kind in ("identification", "rapprochement", "creation", "fusion"):
        http.post(f"{CELL}/procedures", json={"type": kind, "titre": "", "adopteeLe": "2024-01-15"})
    http.post(
        f"{CELL}/reunions",
        json={
            "date": date.today().isoformat(),
            "participants": ["DIM", "Admissions"],
            "compteRendu": "Revue des doublons détectés et des appels INSi sans réponse",
        },
    )
    http.post(
        f"{CELL}/incidents",
        json={"type": "doublon", "description": "patient réadmis sous un nom mal orthographié", "patientId": ids[0]},
    )
    civ = http.get(f"{CELL}/rapport", params={"semestre": str(Semester.of(date.today()))}).json()
    print_report(civ, console)
    admitted.ok = bool(reviews) and civ["eligible"]
    return admitted
