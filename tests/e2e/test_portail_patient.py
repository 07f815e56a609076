"""Mon espace santé's pages in a real browser (headless Chromium, the Debian package `./dev test`
installs; Playwright downloads no browser here), on the house served by uvicorn as the other browser
test does: the patient logs in with the code from her outbox, sees her documents, opens one, masks it
— with and without JavaScript — and axe-core (the copy `axe-playwright-python` ships) finds no
serious or critical violation on any page she visited (issue 24 §4; RGAA AA is the aim)."""

from __future__ import annotations

import re
import shutil

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, sync_playwright

from maison.etablissement.dmp.producer import Produced
from tests.partage.world import PASSWORD, PROS, make_world, n1

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = Axe()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "chromium is needed (./dev test installs the Debian package)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def world(house, live):
    world = make_world(house, live, keys=("hospitalier", "generaliste"))
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], title="Lettre de liaison de sortie"))])
    assert fed.status_code == 200, fed.text
    world.inform("generaliste")
    return world


def accessible(page: Page, scan: bool = True) -> None:
    """axe-core on the page as shown: no violation of serious or critical impact. axe is JavaScript:
    with scripts off it cannot run (`scan` False: the same pages are scanned by the htmx variant)."""
    if not scan:
        return
    found = AXE.run(page).response["violations"]
    grave = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
    assert grave == [], f"{page.url}: {grave}"


def log_in(world, page: Page, scan: bool) -> None:
    page.goto(f"{world.base}/mon-espace")
    assert page.title() == "Connexion — Mon espace santé"
    accessible(page, scan)
    page.fill("#identifiant", "sarah.garcia")
    page.fill("#motDePasse", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    accessible(page, scan)
    code = re.search(r"\b(\d{6})\b", world.house.patient_login.outbox("sarah@example.fr")[-1]["body"]).group(1)
    page.fill("#code", code)
    with page.expect_navigation():
        page.click("main button[type=submit]")


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "sans-javascript"])
def test_the_patient_logs_in_reads_and_masks_a_document(world, browser, javascript):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(world, page, javascript)
    assert page.url.endswith("/mon-espace/dossier") and page.title() == "Mes documents — Mon espace santé"
    assert page.locator("main h2").first.inner_text() == "Compte rendu"  # its TRE_A03 class (formats.xds_codes)
    accessible(page, javascript)

    with page.expect_navigation():
        page.click("text=Lettre de liaison de sortie")
    assert page.locator("h1").inner_text() == "Lettre de liaison de sortie"
    assert page.locator("iframe.visionneuse").get_attribute("src").endswith("/affichage")
    accessible(page, javascript)

    if javascript:  # htmx swaps the masking box in place, the page stays
        page.click("text=Masquer aux professionnels")
        page.wait_for_selector("text=Document masqué aux professionnels.")
        assert page.url.endswith(page.url.split("/")[-1])
    else:  # the form posts, the server redirects back to the page (PRG)
        with page.expect_navigation():
            page.click("text=Masquer aux professionnels")
    assert page.locator("#masquage strong").inner_text().startswith("Ce document est masqué")
    accessible(page, javascript)
    assert world.search("generaliste").json()["total"] == 0  # the professional no longer finds it

    page.goto(f"{world.base}/mon-espace/historique")
    assert "a modifié la visibilité" in page.locator("table").inner_text()
    assert PROS["generaliste"].idnatps in page.locator("table").inner_text()
    accessible(page, javascript)
    assert blocked == [], blocked  # nothing the pages load breaks the CSP (no inline script or style)
    context.close()
