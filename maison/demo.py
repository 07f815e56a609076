"""The end-to-end scenario of `maison demo`, played over the real protocols against a running house.

At this stage: seed the national referential, start the services, admit patients in a hospital
through FHIR, call INSi over SOAP 1.2 (with the client's retry rule), qualify identities with an
identity document, detect and merge a planted doublon, print the cell's report; a doctor signs in
with Pro Santé Connect and searches the Annuaire Santé; a hospital feeds the DMP at discharge, the
GP reads, the patient masks a document and reads her access history (demo_dmp); the GP prescribes
an ordonnance numérique, a pharmacist scans and dispenses it, the GP sees the dispensation only
with the patient's OUI (demo_ordonnance). It grows with each service.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import date

import httpx
import sqlalchemy as sa
import uvicorn
from rich.console import Console
from rich.table import Table

from maison import demo_dmp, demo_insi, demo_mss, demo_ordonnance, demo_professionals
from maison.core import audit
from maison.core.auth import KeyScope, issue_key
from maison.core.config import Settings
from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.ins_traits import Traits
from maison.house import House
from maison.identite.ins import store as ins_store
from maison.identite.vigilance.cellule import Semester
from maison.identite.vigilance.fhir import EXT_BIRTH_LIST

FINESS = "75010001" + luhn_check_digit("75010001")
STRUCTURE = "1" + FINESS
IDAM = "MAISON-DPI-DEMO"
DESK = audit.Actor(person="899900038441", structure=STRUCTURE, software=IDAM, role="accueil")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _desk_patient(ipp: str, t: Traits, *, shuffle: bool = False) -> dict:
    """A FHIR Patient as a desk would type it: mixed case, first names maybe in another order."""
    given = list(reversed(t.prenoms)) if shuffle and len(t.prenoms) > 1 else list(t.prenoms)
    resource = {
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
    return resource


def play(settings: Settings, count: int, console: Console) -> int:
    from maison.terminal import print_report, seed_with_progress

    if settings.data_dir.exists() and not settings.database_url:
        shutil.rmtree(settings.data_dir)
    house = House.open(settings)
    console.rule("[bold]Maison — démonstration")
    seed_with_progress(house.db, count, 2026)
    house.insi.register_software(IDAM, "DPI de démonstration", "Maison")
    house.insi.register_structure(STRUCTURE, "CHU de démonstration")
    key = issue_key(house.db, STRUCTURE, IDAM, DESK.person, "accueil", KeyScope.ACCUEIL)

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(house.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    console.print(f"Services on {base}: " + ", ".join(s["path"] for s in httpx.get(base).json()["services"]))
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    insi, stop_insi = demo_insi.start(house, STRUCTURE, IDAM, _free_port(), console)

    with house.db.read() as conn:
        rows = conn.execute(
            sa.select(ins_store.ins_person)
            .where(sa.func.length(ins_store.ins_person.c.prenoms) > 8)
            .order_by(ins_store.ins_person.c.id)
            .limit(6)
        ).all()
    people = [
        Traits(r.nom_naissance, tuple(r.prenoms.split(" ")), r.sexe, r.date_naissance, r.lieu_naissance) for r in rows
    ]
    report = Table(title="Admissions")
    for col in ("IPP", "Nom", "Prénoms", "INSi", "Essais", "Statut"):
        report.add_column(col)
    ids = []
    qualified = []  # the INSi answers that found the patient: who the DMP scene follows
    for i, t in enumerate(people):
        ipp = f"D{i + 1:05d}"
        created = http.post("/fhir/Patient", json=_desk_patient(ipp, t, shuffle=(i == 1)))
        created.raise_for_status()
        pid = int(created.json()["id"])
        lookup = insi.lookup(
            t
            if i != 1
            else Traits(t.nom_naissance, tuple(reversed(t.prenoms)), t.sexe, t.date_naissance, t.lieu_naissance)
        )
        status = "PROV"
        if lookup.result.code.value == "00":
            assert lookup.result.individu is not None  # code 00: one identity found
            qualified.append(lookup.result.individu)
            status = house.patients.record_insi_result(DESK, pid, lookup.result).status.value
            if i % 2 == 0:
                status = house.patients.check_document(DESK, pid, "CN").status.value
        ids.append(pid)
        report.add_row(
            ipp, t.nom_naissance, t.liste_prenoms, lookup.result.code.value, str(len(lookup.attempts)), status
        )
    console.print(report)

    # A planted doublon: the first patient comes back and is typed without accents and with a typo.
    t = people[0]
    typo = t.nom_naissance[:-1] + ("E" if t.nom_naissance[-1] != "E" else "A")
    http.post("/fhir/Patient", json=_desk_patient("D09999", Traits(typo, t.prenoms, t.sexe, t.date_naissance)))
    cell = "/identitovigilance"
    queued = http.post(f"{cell}/detection").json()["alertes"]
    reviews = http.get(f"{cell}/alertes").json()
    console.print(f"Doublon detection over the index: {queued} pair(s) queued for the identitovigilance cell")
    for review in reviews:
        merged = http.post(f"{cell}/alertes/{review['id']}/fusion", json={"conserver": review["patient_a"]}).json()
        console.print(f"  merged record {merged['fusionne']} into {merged['conserve']} (score {review['score']:.2f})")

    # The cell's semester: its procedures, a meeting, an incident, then the activity report (004 L341-345).
    for kind in ("identification", "rapprochement", "creation", "fusion"):
        http.post(f"{cell}/procedures", json={"type": kind, "titre": "", "adopteeLe": "2024-01-15"})
    http.post(
        f"{cell}/reunions",
        json={
            "date": date.today().isoformat(),
            "participants": ["DIM", "Admissions"],
            "compteRendu": "Revue des doublons détectés et des appels INSi sans réponse",
        },
    )
    http.post(
        f"{cell}/incidents",
        json={"type": "doublon", "description": "patient réadmis sous un nom mal orthographié", "patientId": ids[0]},
    )
    civ = http.get(f"{cell}/rapport", params={"semestre": str(Semester.of(date.today()))}).json()
    print_report(civ)

    professionals_ok, site, site_name = demo_professionals.play(house, base, console)
    console.rule("DMP and Mon espace santé")
    doctor = demo_dmp.hospital_doctor(demo_professionals.IDNATPS, site, site_name)
    scene = demo_dmp.play(house, base, console, qualified[0], doctor) if qualified else demo_dmp.Scene(False)
    dmp_ok = scene.ok
    console.rule("MSSanté")
    mss_ok = dmp_ok and demo_mss.play(
        house,
        console,
        qualified[0],
        scene.letter,
        scene.gp_idnatps,
        scene.gp_token,
        scene.gp_structure,
        scene.patient_token,
        base,
    )
    ordonnance_ok = False
    if dmp_ok:
        console.rule("Ordonnance numérique")
        ordonnance_ok = demo_ordonnance.play(house, base, console, qualified[0], scene)

    found = http.get("/fhir/Patient", params={"family": people[0].nom_naissance}).json()
    with house.db.read() as conn:
        intact, _ = audit.verify_chain(conn)
        n_events = conn.execute(sa.select(sa.func.count()).select_from(audit.audit_event)).scalar_one()
    console.print(
        f"PDQm search for {people[0].nom_naissance}: {found['total']} patient(s); "
        f"audit trail: {n_events} records, chain {'intact' if intact else 'BROKEN'}"
    )
    stop_insi()
    server.should_exit = True
    thread.join(timeout=5)
    ok = intact and bool(reviews) and civ["eligible"] and professionals_ok and dmp_ok and mss_ok and ordonnance_ok
    console.rule("[green]done" if ok else "[red]failed")
    return 0 if ok else 1
