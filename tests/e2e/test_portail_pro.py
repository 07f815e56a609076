"""`/pro` in a real browser (headless Chromium, the Debian package; Playwright downloads none), on the
house served by uvicorn: the professional logs in on Pro Santé Connect's own page, finds the patient by
her traits through INSi, reads her DMP and a document, feeds a PDF that becomes an N1 in her DMP; a
professional whose structure never informed her is refused with the reason and opens her DMP in bris de
glace with his justification. axe-core finds no serious or critical violation on any page he visits
(issue 24 §4), nothing the pages load breaks the CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from maison.core import audit
from maison.formats.pdf import document_pdf
from tests.e2e.test_portail_patient import accessible, browser  # noqa: F401 - the fixture
from tests.partage.world import HOPITAL_NAME, PASSWORD, PROS, SARAH_NIR
from tests.portail.test_pro_dmp import world  # noqa: F401 - the fixture: Sarah, her documents, INSi habilitations


def log_in(world, page: Page, key: str, scan: bool = True) -> None:  # noqa: F811
    page.goto(f"{world.base}/pro")
    assert page.title() == "Connexion — Maison Pro"
    accessible(page, scan)
    with page.expect_navigation():
        page.click("text=Se connecter avec Pro Santé Connect")
    assert page.title() == "Pro Santé Connect — connexion"  # the provider's own page
    page.fill("#idnatps", PROS[key].idnatps)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_url(f"{world.base}/pro/patients")
    assert page.title() == "Patients — Maison Pro"
    accessible(page, scan)


def fill_traits(page: Page, prefix: str = "") -> None:
    page.fill(f"#{prefix}nom", "GARCIA-HAMMADI")
    page.fill(f"#{prefix}prenoms", "SARAH-LOU ANNA")
    page.select_option(f"#{prefix}sexe", "F")
    page.fill(f"#{prefix}naissance", "1977-01-21")


def find_sarah(page: Page, scan: bool = True, javascript: bool = True) -> None:
    fill_traits(page)
    if javascript:  # htmx swaps INSi's answer in, no navigation
        page.click("text=Interroger INSi")
        page.wait_for_selector("#resultat dl")
    else:
        with page.expect_navigation():
            page.click("text=Interroger INSi")
    assert SARAH_NIR in page.locator("main dl").inner_text()
    accessible(page, scan)


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "sans-javascript"])
def test_the_professional_finds_the_patient_reads_and_feeds_her_dmp(world, browser, javascript):  # noqa: F811
    scan = javascript  # axe-core is JavaScript: the pages are scanned in the variant that runs it
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(world, page, "hospitalier", scan)
    assert "Dr Paul DURAND" in page.locator("p.qui").inner_text() and HOPITAL_NAME in page.locator("p.qui").inner_text()

    find_sarah(page, scan, javascript)
    with page.expect_navigation():
        page.click("text=Consulter son DMP")
    assert page.locator("h1").inner_text() == f"DMP du patient {SARAH_NIR}"
    assert "Lettre de liaison de sortie" in page.locator("table").inner_text()
    accessible(page, scan)

    with page.expect_navigation():
        page.click("text=Lettre de liaison de sortie")
    assert page.locator("h1").inner_text() == "Lettre de liaison de sortie"
    assert page.locator("iframe.visionneuse").get_attribute("src").endswith("/affichage")
    accessible(page, scan)

    page.goto(f"{world.base}/pro/patients")
    find_sarah(page, scan, javascript)
    page.fill("#titre", "Compte rendu de consultation du portail")
    page.select_option("#type", "11488-4")
    pdf = document_pdf("Compte rendu", [("Synthèse", ["Déposé depuis le navigateur."])])
    page.set_input_files("#fichier", {"name": "compte-rendu.pdf", "mimeType": "application/pdf", "buffer": pdf})
    page.check("#verifie")
    if javascript:  # htmx swaps the form's result in; its link opens her dossier
        page.click("text=Déposer dans le DMP")
        page.wait_for_selector("#alimenter p.confirmation")
        accessible(page, scan)
        with page.expect_navigation():
            page.click("text=Voir son DMP")
    else:
        with page.expect_navigation():
            page.click("text=Déposer dans le DMP")
    assert page.url.endswith(f"/pro/patients/{SARAH_NIR}/dmp?depose=1")
    assert "Document déposé dans le DMP." in page.locator("main").inner_text()
    assert "Compte rendu de consultation du portail" in page.locator("table").inner_text()
    accessible(page, scan)

    with page.expect_navigation():
        page.click("text=Se déconnecter")
    assert page.url.endswith("/pro/connexion?fin=1")
    accessible(page, scan)
    assert blocked == [], blocked
    context.close()


def test_refused_then_bris_de_glace_with_its_justification(world, browser):  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    log_in(world, page, "generaliste")
    page.fill("#ins", SARAH_NIR)  # her INS verified by INSi with the traits of her identity document
    fill_traits(page, "ins-")
    page.click("text=Vérifier l'INS avec INSi")
    page.wait_for_selector("#resultat dl")
    with page.expect_navigation():
        page.click("text=Consulter son DMP")
    assert "pas été informé" in page.locator("p.alerte").inner_text()
    accessible(page)
    motif = "Patiente inconsciente, prise en charge urgente"
    page.fill("#motif", motif)
    with page.expect_navigation():
        page.click("text=Accéder en bris de glace")
    assert "Accès en bris de glace" in page.locator("main").inner_text()
    table = page.locator("table").inner_text()
    assert "Lettre de liaison de sortie" in table and "Compte rendu masqué" not in table
    accessible(page)
    with page.expect_navigation():
        page.click("text=Lettre de liaison de sortie")
    assert "bris de glace" in page.locator("main").inner_text()
    accessible(page)
    context.close()
    with world.house.db.read() as conn:
        emergencies = list(audit.events(conn, patient=SARAH_NIR, action_prefix="securite.bris-de-glace"))
    assert emergencies and motif in str(emergencies[-1]["detail"])
