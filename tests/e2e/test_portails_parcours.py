"""The three portals in one journey (issue 24's Done-when), in headless Chromium on a house served by
uvicorn and built by the sandbox (`maison sandbox`'s Builder, through the administrator's acts), each
person in a browser context of their own and signing in with the sandbox's published accounts:

1. the patient (sarah.garcia) logs in to /mon-espace with her password and the one-time code of her
   outbox;
2. a doctor of the sandbox's lab (the biologist: not her médecin traitant, who would still see a
   masked document, CSP L.1111-16) signs in to /pro on Pro Santé Connect's own login page, records
   that his structure informed her, and sees her discharge letter in her DMP;
3. she masks that letter; in /pro it is gone from the list, and opening it by its address is refused;
4. her access history tells her of his refused attempt;
5. he prescribes and prints the ordonnance (the PDF's QR code scanned back to its number);
6. the ARS agent (the sandbox's `agent-ars`) signs in to /observatoire/tableau, reads the CHU's
   SUN-ES indicators and opens DS1.1's explanation.

Then the demo's own house (`the_demo_s_portals_open`, called by tests/demo/test_scenario.py once its
demo played: one demo per run, not two): what `maison demo` printed at its end is followed as is — its
`maison serve` command run (a real process), the patient signed in with the code its outbox command
shows, the GP on /pro, and the ARS agent reads the DS1.1 rate of the demo's hospital (its discharged
stay counted) and opens its explanation.

axe-core finds no serious or critical violation on any page visited. SQLite only: one sandbox build
and three browser sessions take most of the ~40 s budget, and every portal's own browser test
(test_portail_patient, test_portail_pro, test_portail_observatoire) already runs on both backends —
this journey adds the portals' hand-over (the same data seen across them), not a storage path.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from playwright.sync_api import Browser, Page

from maison.identite.ins.model import Environment
from maison.sandbox.builder import Builder
from maison.sandbox.catalogue import Catalogue, catalogue
from tests.e2e.test_portail_observatoire import log_in as observatory_log_in
from tests.e2e.test_portail_observatoire import psc_sign_in
from tests.e2e.test_portail_patient import accessible, browser  # noqa: F401  (Chromium, axe-core's scan)
from tests.e2e.test_portail_pro_ordonnance import prescribe_and_print
from tests.e2e.test_sandbox import _mss_base

LETTER = "Lettre de liaison à la sortie"


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    """Asked before `house`: the PostgreSQL variant is skipped before a house is migrated for it."""
    if database_url.startswith("postgresql"):
        pytest.skip("SQLite only: each portal's own browser test covers PostgreSQL (see the module's docstring)")


@pytest.fixture
def sandbox(sqlite_only, house, live) -> tuple[str, Catalogue]:
    content = catalogue(Environment(house.settings.ins_environment), _mss_base())
    assert Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology).build() is True
    return live.url, content


def new_page(browser: Browser, blocked: list[str], downloads: bool = False) -> Page:  # noqa: F811
    page = browser.new_context(accept_downloads=downloads).new_page()
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def pro_sign_in(page: Page, start: str, idnatps: str, password: str, landing: str) -> None:
    page.goto(start)
    psc_sign_in(page, idnatps, password, landing)
    accessible(page)


def test_patient_professional_and_ars_agent_across_the_three_portals(sandbox, house, browser):  # noqa: F811
    base, content = sandbox
    sarah, doctor, agent = (
        content.patient("sarah.garcia"),
        content.professional("biologiste"),
        content.professional("agent-ars"),
    )
    blocked: list[str] = []

    # 1. the patient signs in with her code
    patient = new_page(browser, blocked)
    patient.goto(f"{base}/mon-espace")
    accessible(patient)
    patient.fill("#identifiant", sarah.identifiant)
    patient.fill("#motDePasse", sarah.motDePasse)
    with patient.expect_navigation():
        patient.click("button[type=submit]")
    accessible(patient)
    code = re.search(r"\b(\d{6})\b", house.patient_login.outbox(sarah.email)[-1]["body"]).group(1)
    patient.fill("#code", code)
    with patient.expect_navigation():
        patient.click("main button[type=submit]")
    assert patient.url.endswith("/mon-espace/dossier")
    accessible(patient)

    # 2. the lab's doctor signs in on PSC's page, records the information, sees the letter
    pro = new_page(browser, blocked, downloads=True)
    pro_sign_in(pro, f"{base}/pro", doctor.idnatps, doctor.motDePasse, f"{base}/pro/patients")
    pro.fill("#ins", sarah.ins)  # her INS verified by INSi with the traits of her identity document
    pro.fill("#ins-nom", sarah.nomNaissance)
    pro.fill("#ins-prenoms", sarah.prenoms)
    pro.select_option("#ins-sexe", sarah.sexe)
    pro.fill("#ins-naissance", sarah.dateNaissance)
    pro.click("text=Vérifier l'INS avec INSi")
    pro.wait_for_selector("#resultat dl")  # htmx swaps INSi's answer and her identity card in
    accessible(pro)
    with pro.expect_navigation():
        pro.click("text=Consulter son DMP")
    assert "pas été informé" in pro.locator("p.alerte").inner_text()  # his structure never informed her
    accessible(pro)
    pro.check("#informee")
    with pro.expect_navigation():
        pro.click("text=Enregistrer l'information")
    assert LETTER in pro.locator("table").inner_text()
    accessible(pro)
    letter_url = base + pro.locator("table a", has_text=LETTER).get_attribute("href")
    dmp_url = pro.url

    # 3. she masks it; he no longer sees it, and opening it is refused
    with patient.expect_navigation():
        patient.click(f"text={LETTER}")
    accessible(patient)
    patient.click("text=Masquer aux professionnels")
    patient.wait_for_selector("text=Document masqué aux professionnels.")
    accessible(patient)
    pro.goto(dmp_url)
    assert LETTER not in pro.locator("main").inner_text()
    accessible(pro)
    refused = pro.goto(letter_url)
    assert refused is not None and refused.status == 404  # masked: answered as missing (CSP R.1111-49)
    assert pro.locator("[role=alert]").count() == 1 and pro.locator("html").get_attribute("lang") == "fr"
    accessible(pro)

    # 4. her history shows his attempt
    patient.goto(f"{base}/mon-espace/historique")
    attempt = patient.locator("tbody tr", has_text=doctor.idnatps).filter(has_text="(refusé)").first
    assert "a ouvert la fiche d'un document (refusé)" in attempt.inner_text()
    assert content.structure(doctor.structure).nom in attempt.inner_text()
    accessible(patient)

    # 5. he prescribes and prints
    prescribe_and_print(pro, base, (sarah.nomNaissance, sarah.prenoms.split()[0], sarah.dateNaissance))

    # 6. the ARS agent reads the CHU's DS1.1 and its explanation
    chu = content.structure("chu").idnatstruct
    ars = new_page(browser, blocked)
    observatory_log_in(ars, base, agent.idnatps, True, agent.motDePasse)
    assert "agent de l'ARS" in ars.locator("main").inner_text()
    ars.fill("#structure", chu)
    with ars.expect_navigation():
        ars.click("text=Afficher les indicateurs")
    assert ars.locator("h1").inner_text().startswith(f"Indicateurs SUN-ES — structure {chu}")
    line = ars.locator("table").first.locator("tr", has=ars.locator("th", has_text="DS1.1"))
    assert line.count() == 1
    accessible(ars)
    with ars.expect_navigation():
        ars.click("#taux-DS1-1")
    assert ars.locator("h1").inner_text().startswith(f"Explication de DS1.1 — {chu}")
    assert "au dénominateur" in ars.locator(".resume").inner_text()
    accessible(ars)
    assert blocked == [], blocked


def printed(text: str) -> dict[str, dict[str, str]]:
    """The demo's portal table as printed: {portail: {label: value}} (a wide console: no folding)."""
    rows: dict[str, dict[str, str]] = {}
    name = ""
    for line in text.rsplit("Les portails sur les données de la démonstration", 1)[-1].splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 3 and cells[1] and cells[1] != "":
            name = cells[0] or name
            rows.setdefault(name, {})[cells[1]] = cells[2]
    return rows


def maison(*args: str) -> list[str]:
    """A command the demo printed (`./dev maison …`), run with this interpreter's `maison`."""
    return [sys.executable, "-m", "maison", *args]


@contextmanager
def served(text: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The demo's house served by the command it printed (a real `maison serve` process): its URL."""
    command = re.search(r"démonstration \(sa base SQLite\) : (\./dev maison serve .*)$", text, re.M)
    assert command, text[-2000:]
    args = shlex.split(command.group(1))[2:]  # `./dev maison serve --data-dir … --port …`
    port = int(args[args.index("--port") + 1])
    environ = {k: v for k, v in os.environ.items() if k != "MAISON_DATABASE_URL"}
    server = subprocess.Popen(maison(*args), env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/sandbox?_format=json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError("maison serve did not answer on the demo's data")
        yield base, environ
    finally:
        server.terminate()
        server.wait(timeout=30)


def the_demo_s_portals_open(text: str, browser: Browser) -> None:  # noqa: F811
    """Called by tests/demo/test_scenario.py once its demo played (one demo per run, not two): what
    the demo printed at its end opens the three portals on its data."""
    with served(text) as (base, environ):
        journey(base, environ, printed(text), browser)


def journey(base: str, environ: dict[str, str], table: dict[str, dict[str, str]], browser: Browser) -> None:  # noqa: F811
    assert set(table) == {"Mon espace santé", "Espace professionnel", "Observatoire"}, table
    blocked: list[str] = []

    espace = table["Mon espace santé"]
    assert espace["adresse"] == f"{base}/mon-espace/connexion"
    patient = new_page(browser, blocked)
    patient.goto(espace["adresse"])
    patient.fill("#identifiant", espace["identifiant"].split()[0])
    patient.fill("#motDePasse", espace["mot de passe"])
    with patient.expect_navigation():
        patient.click("button[type=submit]")
    outbox = subprocess.run(
        maison(*shlex.split(espace["code à usage unique"])[2:]), env=environ, capture_output=True, text=True, timeout=60
    )
    assert outbox.returncode == 0, outbox.stderr
    code = re.search(r"\b(\d{6})\b", json.loads(outbox.stdout)["messages"][-1]["corps"]).group(1)
    patient.fill("#code", code)
    with patient.expect_navigation():
        patient.click("main button[type=submit]")
    assert patient.url.endswith("/mon-espace/dossier")
    accessible(patient)

    gp = table["Espace professionnel"]
    pro = new_page(browser, blocked)
    pro_sign_in(pro, gp["adresse"], gp["identifiant"].split()[0], gp["mot de passe"], f"{base}/pro/patients")
    assert "MEDECIN" in pro.locator("p.qui").inner_text()

    obs = table["Observatoire"]
    hospital = re.search(r"\((\d+)\) : (\S+), puis", obs["hôpital de la démonstration"])
    assert hospital, obs
    site, dashboard = hospital.groups()
    ars = new_page(browser, blocked)
    assert obs["adresse"] == f"{base}/observatoire/tableau/connexion"
    observatory_log_in(ars, base, obs["identifiant"].split()[0], True, obs["mot de passe"])
    ars.goto(dashboard)
    assert ars.locator("h1").inner_text().startswith(f"Indicateurs SUN-ES — structure {site}")
    line = ars.locator("table").first.locator("tr", has=ars.locator("th", has_text="DS1.1"))
    cells = line.locator("td").all_inner_texts()
    assert int(cells[2]) >= 1, cells  # the demo's discharged stay is in DS1.1's denominator
    accessible(ars)
    with ars.expect_navigation():
        ars.click("#taux-DS1-1")
    assert ars.locator("h1").inner_text().startswith(f"Explication de DS1.1 — {site}")
    assert f"sur {cells[2]} au dénominateur" in ars.locator(".resume").inner_text()
    assert ars.locator("table tbody tr").count() >= 1  # the stay, and why it counted or not
    accessible(ars)
    assert blocked == [], blocked
