"""The order of the demo's scenes, the house they play against, and the closing checks.

The house is opened on a fresh directory, the national referential seeded with a synthetic
population (`maison.seeding`) and the sandbox's dataset built (`maison sandbox`: the test data a
vendor's bench relies on, served at /sandbox), and every service served over HTTP on a port of the demo's own
(the MSSanté operators beside it; the patient index reaches INSi over SOAP in memory, each
structure presenting the certificate INSi issued it, `maison.etablissement.insi.transport`).
Then the scenes play, each over the protocols: admissions and identitovigilance, Pro Santé
Connect and the Annuaire Santé, the hospital's flows over MLLP (the GAM's stay and movements, the
DPI's documents to the PFI in HL7 v2 and its ZAM back), the DMP and Mon espace santé, MSSanté,
the ordonnance numérique.
The demo closes with a PDQm search and the audit trail's verification, as `maison audit verify`
does it, and ends with the three portals' addresses on its data and the sandbox accounts to sign in
with (`portails`).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time

import httpx
import uvicorn
from rich.console import Console

from maison.core import audit_anchor
from maison.core.actor import KeyScope
from maison.core.config import Settings
from maison.core.identifiers.checksums import luhn_check_digit
from maison.demo import admissions, backoffice, dmp, flux, mss, ordonnance, portails, professionals
from maison.house import House

FINESS = "75010001" + luhn_check_digit("75010001")
STRUCTURE = "1" + FINESS
IDAM = "MAISON-DPI-DEMO"
DESK = "899900038441"  # the admission desk's agent, in whose name the desk's key is issued
SEED = 2026


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_ports(count: int) -> int:
    """A first port with `count` free ones from it: the sandbox's MSSanté operators listen there."""
    while True:
        first = _free_port()
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first


def play(settings: Settings, count: int, console: Console) -> int:
    from maison.terminal import seed_with_progress

    if not settings.database_url:  # a fresh embedded database, and no checkpoint signed over an older one's trail
        shutil.rmtree(settings.data_dir, ignore_errors=True)
        settings.effective_checkpoint_path.unlink(missing_ok=True)
    port = _free_port()
    as_served = settings  # where `maison serve` serves the demo's house once the demo is over
    if not settings.public_url:  # the house's configured origin (PSC's issuer) is where the demo serves it
        settings = settings.with_overrides(port=port)
    house = House.open(settings)
    console.rule("[bold]Maison — démonstration")
    seed_with_progress(house.db, count, SEED)
    sandbox = backoffice.sandbox(house, _free_ports(13))  # the vendors' test data on its way (issue 21 §2)
    backoffice.habilitate_insi(house, STRUCTURE, "CHU de démonstration", IDAM, "DPI de démonstration", "DPI")
    key = backoffice.api_key(house, STRUCTURE, IDAM, DESK, "accueil", KeyScope.ACCUEIL)

    server = uvicorn.Server(uvicorn.Config(house.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    console.print(f"Services on {base}: " + ", ".join(s["path"] for s in httpx.get(base).json()["services"]))
    served = httpx.get(f"{base}/sandbox", params={"_format": "json"}).json()
    sandbox_ok = served["version"] == sandbox.version and len(served["insi"]) == len(sandbox.insi)
    console.print(
        f"Sandbox: {len(served['insi'])} INSi cases, {len(served['professionnels'])} professionals, "
        f"{len(served['patients'])} patients and their test credentials — catalogue at {base}/sandbox"
    )
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    flows: flux.Flows | None = None
    try:
        admitted = admissions.play(http, admissions.arrivals(count, SEED), console)
        professionals_ok, site, site_name = professionals.play(house, base, console)
        console.rule("DMP and Mon espace santé")
        doctor = dmp.hospital_doctor(professionals.IDNATPS, site, site_name)
        qualified = admitted.qualified
        if qualified:  # the hospital's GAM, DPI and PFI over MLLP (issue 22 §3.1)
            flows = flux.Flows(house, base, site, qualified[0], console)
            scene = dmp.play(house, base, console, qualified[0], doctor, flows)
        else:
            scene = dmp.Scene(False)
        console.rule("MSSanté")
        mss_ok = (
            scene.ok
            and flows is not None
            and mss.play(
                house,
                console,
                qualified[0],
                scene.letter,
                scene.gp_idnatps,
                scene.gp_token,
                scene.gp_structure,
                scene.patient_token,
                base,
                flows,
            )
        )
        if flows is not None:
            flows.show_zams()
        ordonnance_ok = False
        if scene.ok:
            console.rule("Ordonnance numérique")
            ordonnance_ok = ordonnance.play(house, base, console, qualified[0], scene)

        family = admitted.people[0].nom_naissance
        found = http.get("/fhir/Patient", params={"family": family}).json()
    finally:
        if flows is not None:
            flows.close()
        server.should_exit = True
        thread.join(timeout=5)
    trail = audit_anchor.verify(
        house.db, settings.effective_checkpoint_path, audit_anchor.Signer(settings.keystore()).public
    )
    console.print(
        f"PDQm search for {family}: {found['total']} patient(s); "
        f"audit trail: {trail.records} records, chain {'intact' if trail.intact else 'BROKEN'}"
    )
    house.close()
    ok = trail.intact and sandbox_ok and admitted.ok and professionals_ok and scene.ok and mss_ok and ordonnance_ok
    console.rule("[green]done" if ok else "[red]failed")
    portails.show(console, as_served, sandbox, site, site_name)
    return 0 if ok else 1
