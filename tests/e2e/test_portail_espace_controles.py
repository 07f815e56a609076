"""Mon espace santé's messagerie, controls, export and history in a real browser (headless Chromium,
as tests/e2e/test_portail_patient.py runs it), on the house served by uvicorn and a real MSSanté
trust space: the patient reads the message her hospital sent, answers it and picks her pharmacy from
the Annuaire to forward it to, finds a nurse in the Annuaire as she types and blocks him (the DMP then
refuses him), opens the confirmation of closing without confirming, creates a delegation code, sees
the export page, and finds the emergency doctor's bris de glace in her history under a banner of its
own. axe-core finds no serious or critical violation on any of these pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from maison.etablissement.dmp.producer import Produced
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.identite.psc.api import issuer_for
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.e2e.test_portail_patient import accessible, browser, log_in  # noqa: F401 — browser: the fixture
from tests.identite.helpers import SARAH_NIR
from tests.partage.mss_world import PFI, PFI_PASSWORD, start_world
from tests.partage.world import NOW, PROS, make_world, n1

SARAH_BOX = f"{SARAH_NIR}@patient.mssante.fr"
PHARMACY_BOX = "pharmacie.bellecour@medecin.mssante.fr"
BDG = {"X-Mode-Acces": "bris_de_glace", "X-Motif-Acces": "patiente inconsciente aux urgences"}


@pytest.fixture
def world(house, live, tmp_path):
    world = make_world(house, live, keys=("hospitalier", "infirmier", "urgentiste"))
    assert (
        world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], title="Lettre de liaison"))]).status_code == 200
    )
    world.inform("infirmier")
    assert world.search("urgentiste", **BDG).status_code == 200  # the emergency doctor breaks the glass
    pharmacy = build.organization(
        "1690000001",
        "PHARMACIE BELLECOUR",
        NOW,
        secteur="SA33",
        city="LYON",
        postal_code="69002",
        mailboxes=[build.mailbox(PHARMACY_BOX, "ORG")],
    )  # a pharmacie d'officine the Annuaire lists with its organisational mailbox
    with house.db.write() as conn:
        put(conn, [pharmacy])
    mss = start_world(house, tmp_path, issuer_for(live.url))
    with _client(mss, "chu-test") as smtp:
        smtp.login(PFI, PFI_PASSWORD)
        smtp.sendmail(PFI, [SARAH_BOX], _letter(to=SARAH_BOX))
    assert _delivered(house, SARAH_BOX)
    yield world
    mss.close()


def _go(page: Page, label: str) -> None:
    with page.expect_navigation():
        page.click(f"nav >> text={label}")


def test_the_patient_answers_blocks_and_sees_the_bris_de_glace(world, browser):  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(world, page, True)

    # the messagerie: read the hospital's message, download nothing, answer it
    _go(page, "Messagerie")
    assert page.title() == "Ma messagerie — Mon espace santé" and PFI in page.locator("table").inner_text()
    accessible(page)
    with page.expect_navigation():
        page.click("table a")
    assert "Lettre de liaison de votre patiente." in page.locator(".texte-message").inner_text()
    assert page.locator("a[href$='/pieces/0']").inner_text() == "Télécharger IHE_XDM.ZIP"
    accessible(page)
    page.fill("#reponse", "Merci docteur, bien reçu.")
    with page.expect_navigation():
        page.click("text=Envoyer la réponse")
    assert page.locator("[role=status]").inner_text() == "Votre réponse a été envoyée au professionnel."
    accessible(page)
    assert [r for r in _delivered(world.house, PFI) if r.sender == SARAH_BOX]

    # the forward: her pharmacy found in the Annuaire as she types (htmx), chosen, the form filled
    page.locator("#pharmacie-nom").press_sequentially("bellecour")
    page.locator("#pharmacies-resultats li", has_text="PHARMACIE BELLECOUR").wait_for()
    accessible(page)
    with page.expect_navigation():
        page.locator("#pharmacies-resultats button", has_text="Choisir").click()
    assert page.input_value("#destinataire") == PHARMACY_BOX
    assert "PHARMACIE BELLECOUR" in page.locator("#transfert-titre ~ [role=status]").inner_text()
    accessible(page)

    # the controls: block the nurse, who is then refused by the DMP
    _go(page, "Mes réglages")
    assert page.locator("h1").inner_text() == "Mes réglages de confidentialité"
    accessible(page)
    # she finds him in the Annuaire as she types (htmx), and blocks him from the results (htmx)
    page.locator("#regle-nom").press_sequentially("petit")
    page.locator("#resultats-regle li", has_text="Dr Luc PETIT").wait_for()
    accessible(page)
    page.locator("#resultats-regle button", has_text="Bloquer").click()
    page.locator("#controle-regles [role=status]").wait_for()
    assert page.url.endswith("/mon-espace/controles")  # a partial update: no navigation
    row = page.locator("#regles-titre ~ table tbody tr").first.inner_text()
    assert "Dr Luc PETIT" in row and "Bloqué" in row
    accessible(page)
    refused = world.search("infirmier")
    assert refused.status_code == 403 and "bloque-par-patient" in refused.text

    # closing asks for a confirmation first; the patient goes back without confirming
    with page.expect_navigation():
        page.click("text=Fermer mon espace santé…")
    assert page.locator("h1").inner_text() == "Fermer mon espace santé"
    accessible(page)
    with page.expect_navigation():
        page.click("main >> text=Annuler")
    assert "ouvert" in page.locator("#etat-titre + p").inner_text()

    # a delegation code for the nurse's colleague, shown once
    page.fill("#code-pro", PROS["urgentiste"].idnatps)
    page.check("#rubrique-dmp")
    with page.expect_navigation():
        page.click("text=Créer le code")
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", page.locator(".code-delegation").inner_text())
    accessible(page)

    page.goto(f"{world.base}/mon-espace/export")
    assert page.locator("a[href$='.zip']").count() == 1
    accessible(page)

    # the history: the bris de glace under its own banner, the doctor and the hospital named
    _go(page, "Historique des accès")
    banner = page.locator("section.bandeau-urgence")
    assert banner.locator("h2").inner_text() == "⚠ Accès en urgence à votre dossier (1)"
    assert "Dr Nina FAURE" in banner.inner_text() and "CHU DE TEST" in banner.inner_text()
    assert "patiente inconsciente aux urgences" in banner.inner_text()
    assert page.locator("tr.urgence .bris").first.inner_text().lower() == "accès en urgence (bris de glace)"
    accessible(page)
    assert blocked == [], blocked  # nothing the pages load breaks the CSP
    context.close()
