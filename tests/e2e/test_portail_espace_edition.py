"""Mon espace santé's partial updates in a real browser (headless Chromium, htmx on, the CSP of every
page): Sarah adds, edits and deletes an allergy of her profil médical and an appointment of her agenda,
then withdraws a document she deposited after its confirmation — each answer swapped into the page she
is on, the URL unchanged, no script blocked, and axe-core finds no serious or critical violation on the
forms the fragments opened. Without JavaScript, and on both backends, the same forms are tested over
HTTP (tests/portail/test_espace_*_edition.py, test_espace_depot_retrait.py): the browser's part (htmx's
swaps) does not depend on the backend, so it runs on SQLite only."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from maison.formats.pdf import document_pdf
from tests.e2e import test_portail_patient as patient_journey
from tests.e2e.test_portail_patient import accessible, log_in
from tests.portail import espace_world

browser = patient_journey.browser  # headless Chromium, as the patient's first journey launches it


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    """Asked before `house`: the PostgreSQL variant is skipped before a house is migrated for it."""
    if database_url.startswith("postgresql"):
        pytest.skip("SQLite only: the same forms run on PostgreSQL over HTTP (see the module's docstring)")


@pytest.fixture
def world(sqlite_only, house, live):
    return espace_world.make(house, live)


def _swapped(page: Page, click: str, text: str) -> None:
    """Click, then wait for the fragment's words, the page not left."""
    url = page.url
    page.click(click)
    page.wait_for_selector(f"text={text}")
    assert page.url == url


def _profil(page: Page) -> None:
    page.click("nav >> text=Profil médical")
    page.wait_for_url("**/mon-espace/profil")
    page.click("text=Ajouter : allergies")
    page.fill("#allergies-libelle", "Pollen")
    _swapped(page, "#rub-allergies details button[type=submit]", "Entrée ajoutée.")
    _swapped(page, "#rub-allergies a:has-text('Modifier')", "Modifier : Pollen")
    assert page.locator("#modif-allergies-libelle").input_value() == "Pollen"
    accessible(page)
    page.fill("#modif-allergies-libelle", "Pollen de graminées")
    _swapped(page, "#rub-allergies form.formulaire button:has-text('Enregistrer')", "Entrée modifiée.")
    assert "Pollen de graminées" in page.locator("#rub-allergies").inner_text()
    _swapped(page, "#rub-allergies button:has-text('Supprimer')", "Entrée supprimée.")
    assert "Pollen" not in page.locator("#rub-allergies").inner_text()


def _agenda(page: Page) -> None:
    page.click("nav >> text=Agenda")
    page.wait_for_url("**/mon-espace/agenda")
    page.fill("#rdv-description", "Ophtalmologue")
    page.fill("#rdv-date", "2030-06-01")
    page.fill("#rdv-debut", "09:30")
    _swapped(page, "#agenda form.formulaire button[type=submit]", "Rendez-vous ajouté.")
    _swapped(page, "#agenda a:has-text('Modifier')", "Modifier le rendez-vous")
    accessible(page)
    page.fill("#rdv-description", "Ophtalmologue (fond d'œil)")
    _swapped(page, "#agenda form.formulaire button[type=submit]", "Rendez-vous modifié.")
    assert "fond d'œil" in page.locator("section[aria-labelledby=a-venir]").inner_text()
    _swapped(page, "#agenda button:has-text('Supprimer')", "Rendez-vous supprimé.")
    assert "Aucun rendez-vous à venir." in page.locator("#agenda").inner_text()


def _withdrawal(page: Page, base: str) -> None:
    page.goto(f"{base}/mon-espace/depot")
    page.fill("#titre", "Compte rendu à retirer")
    page.select_option("#categorie", "DOCPAT05")
    pdf = document_pdf("Compte rendu", [("Texte", ["Rien"])])
    page.set_input_files("#fichier", {"name": "cr.pdf", "mimeType": "application/pdf", "buffer": pdf})
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    _swapped(page, "text=Retirer ce document…", "Confirmer le retrait du document")
    accessible(page)
    _swapped(page, "text=Confirmer le retrait du document", "Document retiré")
    page.click("text=Retour à mes documents")
    page.wait_for_url("**/mon-espace/dossier")
    assert "Compte rendu à retirer" not in page.locator("main").inner_text()


def test_profil_agenda_and_withdrawal_by_fragments(world, browser):
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(world, page, True)
    _profil(page)
    _agenda(page)
    _withdrawal(page, world.base)
    assert blocked == [], blocked
    context.close()
