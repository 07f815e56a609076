"""The whole demo, played as `maison demo` plays it, on SQLite in a temporary directory.

Why one test for the whole scenario: the scenes hand each other what they made (the qualified
patient, the GP's token, the discharge letter), so a scene alone would need the ones before it.
The referential is seeded with 2 000 identities instead of 100 000: the scenario draws its patients
from the population's first records (the stream's prefix is the same), so the outcomes are those
of `./dev demo`, which this test reads back from what the demo printed.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console

from maison.core import audit
from maison.core.config import Settings
from maison.core.storage import Database
from maison.demo.flux import STAY
from maison.demo.mss import PRACTICE_IDAM
from maison.demo.scenario import IDAM, STRUCTURE, play
from maison.etablissement.pfi import store as pfi_store
from maison.etablissement.sejours import store as sejours_store
from maison.identite.ins import store as ins_store
from tests.e2e.test_admin_sandbox import _port
from tests.e2e.test_portail_patient import browser  # noqa: F401  (Chromium, axe-core's scan)
from tests.e2e.test_portails_parcours import the_demo_s_portals_open

# The demo's audit trail, action by action (`:refused` when refused): the scenario's footprint,
# pinned so that a scene calling a service twice for one act shows here. Against the demo before
# the hospital wing was split off (9d97194, 91 records at 2 000 identities), the differences are:
# - insi.rechercherInsAvecTraitsIdentite 7 -> 8: the hospital's six admissions make 7 searches (the
#   retry rule's attempts), as before; the 8th is the practice's own `$recuperer-ins`, where the old
#   MSSanté scene read INSi's referential in process (no call, no record);
# - identitovigilance.read 0 -> 7: `$recuperer-ins` reads the record whose traits it sends to INSi
#   (the operation did so at 9d97194 too; the old demo called the index in process instead);
# - identitovigilance.reviews 0 -> 2: the alert list is recorded when read (da6b2d6, issue 19 §2.2):
#   the cell's GET /alertes, and the fusion looking its alert up in that list;
# - securite.cle-emise 2 -> 4: the desk's API key and the hospital's INSi certificate as before
#   (now issued by INSi for the index's in-memory transport), plus the practice's API key and INSi
#   certificate (its desk now reaches its index over FHIR);
# - securite.connexion 8 -> 12, mss.lire 1 -> 6, mss.pfi.liste 0 -> 1: the MSSanté scene reads the
#   mailboxes over IMAP as their owners do (the GP's twice and the practice's PFI, the hospital's
#   twice) where it read the operators' tables, and the practice's worklist over HTTP.
# Issue 22 §3.1, the hospital's flows over MLLP: the GAM's A01 (the CH's own record of the patient
# under its IPP, identitovigilance.gam-create, and her ZFA state, sejours.etat-dmp), A02 and A03; the
# DPI's three documents to the PFI (pfi.hl7.document: the letter to the DMP, the biology N1 + N3,
# the letter again to the GP and the patient by MSSanté) and each leg's outcome (pfi.hl7.dmp: two
# accepted; pfi.hl7.mss: sent to the GP and to the patient, read by the GP); dmp.alimenter 3 -> 4,
# the PFI feeding the letter and the biology lot in two PDSm transactions where the DPI fed one;
# securite.cle-emise 4 -> 5, the PFI's software key for the DMP.
DEMO = {
    "annuaire.lire": 3,  # the Annuaire read: a PractitionerRole search, the prescriber and his structure
    "dmp.alimenter": 4,
    "dmp.consulter": 1,
    "dmp.information": 2,
    "dmp.information.lire": 2,
    "dmp.mettre-a-jour": 1,
    "dmp.patient.historique": 1,
    "dmp.rechercher": 4,
    "espace.messagerie.lister": 1,
    "espace.messagerie.repondre": 1,
    "espace.mesure.ajouter": 2,
    "espace.mesure.lire": 1,
    "identitovigilance.admit": 8,
    "identitovigilance.detect-duplicates": 1,
    "identitovigilance.document-check": 4,
    "identitovigilance.gam-create": 1,
    "identitovigilance.incident": 1,
    "identitovigilance.insi-retrieval": 7,
    "identitovigilance.meeting": 1,
    "identitovigilance.merge": 1,
    "identitovigilance.procedure": 4,
    "identitovigilance.read": 7,
    "identitovigilance.report": 1,
    "identitovigilance.reviews": 2,
    "identitovigilance.search": 1,
    "insi.rechercherInsAvecTraitsIdentite": 8,
    "mss.bal.creer": 4,
    "mss.lire": 6,
    "mss.operateur.enregistrer": 3,
    "mss.pfi.integrer": 1,
    "mss.pfi.liste": 1,
    "mss.relayer": 4,
    "mss.remettre": 4,
    "ordonnance.consulter.executant": 2,
    "ordonnance.consulter.prescripteur": 2,
    "ordonnance.consulter.prescripteur:refused": 1,
    "ordonnance.creer": 2,
    "ordonnance.executer": 2,
    "pfi.hl7.dmp": 2,
    "pfi.hl7.document": 3,
    "pfi.hl7.mss": 3,
    "securite.cle-emise": 5,
    "securite.connexion": 12,
    "sejours.A01": 1,
    "sejours.A02": 1,
    "sejours.A03": 1,
    "sejours.etat-dmp": 1,
}
# The sandbox built on the demo's way (`maison sandbox`, issue 21 §2): the administrator's acts, the
# DMP's and the base's records of its dataset, and the keys it issues (structures, MSSanté operators).
SANDBOX = {
    "admin.bal-creee": 8,
    "admin.client-psc-enregistre": 1,
    "admin.compte-mes-ouvert": 8,
    "admin.ecps-active": 10,
    "admin.habilitation-insi": 4,
    "admin.identite-ins-ajoutee": 15,
    "admin.identites-fusionnees": 1,
    "admin.logiciel-enregistre": 1,
    "admin.matricule-remplace": 1,
    "admin.mot-de-passe-test": 10,
    "admin.operateur-mss-enregistre": 2,
    "admin.professionnel-enregistre": 8,  # and 2 through RPPS+, declared then validated
    "admin.structure-enregistree": 6,
    "annuaire.rpps-plus.declarer": 2,
    "annuaire.rpps-plus.valider": 2,
    "dmp.alimenter": 2,
    "dmp.information": 5,
    "dmp.patient.code": 1,
    "dmp.patient.etat": 2,
    "dmp.patient.preferences": 1,
    "mss.bal.creer": 8,
    "mss.operateur.enregistrer": 2,
    "ordonnance.creer": 3,
    "ordonnance.executer": 1,
    "securite.cle-emise": 14,  # each structure's software and administrator keys, the 2 operators'
}
TRAIL = dict(Counter(DEMO) + Counter(SANDBOX))


def test_the_demo_plays_every_scene_with_the_outcomes_of_the_scenario(
    tmp_path: Path,
    reference_path: Path,
    browser,  # noqa: F811
) -> None:
    console = Console(record=True, width=400, force_terminal=False, color_system=None)
    port = _port()  # where the demo's last words say to serve its house (a port of the test's own, not 8080)
    settings = Settings(data_dir=tmp_path / "demo", reference_path=reference_path, port=port)

    assert play(settings, 2_000, console) == 0, console.export_text()[-3000:]

    text = console.export_text()
    admissions = re.findall(r"│ (D\d{5}) │ ([^│]+?) +│ [^│]+│ (\d\d) +│ (\d) +│ (\w+) +│", text)
    assert [(ipp, name, code, tries, status) for ipp, name, code, tries, status in admissions] == [
        ("D00001", "MARCHAL", "00", "1", "QUAL"),
        ("D00002", "BIANCHI", "00", "2", "RECUP"),
        ("D00003", "MARCHAL", "00", "1", "QUAL"),
        ("D00004", "POIRIER", "00", "1", "RECUP"),
        ("D00005", "BESNARD", "00", "1", "QUAL"),
        ("D00006", "D'ANGELO", "00", "1", "RECUP"),
    ]
    expected = [
        "Doublon detection over the index: 1 pair(s) queued for the identitovigilance cell",
        "merged record 7 into 1",
        "e-CPS (MOBILE), exerce à CH TOULON 1 - SITE 1",
        "Sandbox: 16 INSi cases, 10 professionals, 8 patients",
        "GAM → MLLP: ADT^A01 admission, ZFA INO/IC (séjour 26000042, mouvement 001): ACK AA",
        "GAM → MLLP: ADT^A02 transfert (séjour 26000042, mouvement 002): ACK AA",
        "DPI → PFI (MLLP): MDM^T02 lettre de liaison (CDA N1): ACK AA",
        "DPI → PFI (MLLP): ORU^R01 CR de biologie (N1 + N3 CR-BIO): ACK AA",
        "GAM → MLLP: ADT^A03 sortie (séjour 26000042, mouvement 003): ACK AA",
        "DMP: the PFI fed 3 documents (lettre de liaison N1, CR de biologie N1 + N3 CR-BIO) over PDSm",
        "the DPI received 2 ZAM^Z01 (reçu par le DMP)",
        "the hospital's PFI sends the lettre de liaison to 2 mailbox(es)",
        "The GP's MDN reaches the PFI: 1 leg(s) read, ZAM^Z03 at the DPI: 1",
        "The GP reads the N3 (ITI-68):",  # its size varies from run to run (dates, the PDF it embeds)
        "bytes, results 6.2 mmol/L, 12 mg/L",
        "BMI computed 22.9 kg/m2",
        "the GP now finds 1 document(s) instead of 3",
        "The GP's software integrates 1 document(s) by qualified INS (worklist: 0)",
        "the hospital's mailbox now holds 2 message(s)",
        "records the patient's INS (QUAL): $executer 201",
        "$executions answers 403 execution-non-consentie",
        "PDQm search for MARCHAL: 2 patient(s)",
        "chain intact",
        # the last words (issue 24): the three portals on the demo's data, with the sandbox's accounts
        f"./dev maison serve --data-dir {settings.data_dir} --port {port}",
        f"http://127.0.0.1:{port}/mon-espace/connexion",
        f"http://127.0.0.1:{port}/pro/connexion",
        f"http://127.0.0.1:{port}/observatoire/tableau/connexion",
        "sarah.garcia",
        "agent de l'ARS",
        "CH TOULON 1 - SITE 1",
    ]
    flat = " ".join(text.split())
    missing = [line for line in expected if " ".join(line.split()) not in flat]
    assert not missing, missing
    report = re.search(r"│ +1750100018 │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+)% │ +(\w+) │", text)
    assert report is not None and report.groups()[:4] == ("1", "1", "1", "0") and report.group(7) == "oui"
    assert report.group(5) == "7"  # INSi calls: one lookup per admission, 1 + 2 + 1 + 1 + 1 + 1 attempts

    db = Database(settings.effective_database_url)
    try:
        with db.read() as conn:
            trail = list(audit.events(conn))
            (stay,) = conn.execute(sa.select(sejours_store.sej_stay)).all()
            moves = sejours_store.movements(conn, stay.id)
            documents = conn.execute(sa.select(pfi_store.pfi_hl7_document)).all()
            legs = [leg for d in documents for leg in pfi_store.hl7_outcomes(conn, d.id)]
            categories = {row.idam: row.category for row in ins_store.all_software(conn)}
    finally:
        db.dispose()
    # the software registry says each software's row of the maison table (issue 23 §3.1, 001 L199, L203)
    assert (categories[IDAM], categories[PRACTICE_IDAM]) == ("DPI", "LGC")
    # issue 22 §3.1: the GAM's stay, its three movements, and every leg of the DPI's documents tied to it
    assert (stay.number, stay.status, [m.event for m in moves]) == (STAY, "finished", ["A01", "A02", "A03"])
    assert {(d.event, d.stay_number, d.structure) for d in documents} == {
        ("T02", STAY, stay.structure),
        ("R01", STAY, stay.structure),
    }
    assert sorted((leg.channel, leg.state, leg.stay_number) for leg in legs) == [
        ("dmp", "accepte", STAY),
        ("dmp", "accepte", STAY),
        ("mss", "envoye", STAY),
        ("mss", "lu", STAY),
    ], [(leg.channel, leg.state, leg.detail) for leg in legs]
    calls = [e for e in trail if e["action"] == "insi.rechercherInsAvecTraitsIdentite"]
    by_software = Counter((e["actor_structure"], e["actor_software"]) for e in calls)
    assert by_software[(STRUCTURE, IDAM)] == 7 and sum(by_software.values()) == 8, by_software
    assert by_software[next(k for k in by_software if k[1] == PRACTICE_IDAM)] == 1
    tally = Counter(e["action"] + ("" if e["outcome"] == "success" else f":{e['outcome']}") for e in trail)
    # the sandbox's operators publish their mailboxes to the Annuaire when they start (the operator's
    # record and the Annuaire's PATCH) — as many as they had time for before the demo ends, one each
    for published in ("mss.bal.publier", "annuaire.mailbox-patch"):
        assert tally.pop(published, 0) <= SANDBOX["mss.bal.creer"], published
    assert dict(tally) == TRAIL
    certificates = [e for e in trail if e["action"] == "securite.cle-emise" and '"certificat"' in e["detail"]]
    assert sorted(audit.detail_of(e)["idam"] for e in certificates) == sorted([IDAM, PRACTICE_IDAM])
    assert len(list((tmp_path / "demo").glob("ordonnance-*.pdf"))) == 2
    # last (it writes to the trail): what the demo printed opens the three portals on its data
    the_demo_s_portals_open(text, browser)
