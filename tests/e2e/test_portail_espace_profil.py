"""Mon espace santé's profil, documents, measures and agenda in a real browser (headless Chromium, as
tests/e2e/test_portail_patient.py runs it, on the house served by uvicorn): Sarah logs in with the code
from her outbox, uploads a PDF of her own, adds her height and weight and sees the weight's chart and
her BMI, fills her profil médical, adds an appointment, then opens her daughter's espace as her legal
representative — and axe-core finds no serious or critical violation on any page she visited."""

from __future__ import annotations

from playwright.sync_api import Page

from maison.formats.pdf import document_pdf
from tests.e2e import test_portail_patient as patient_journey
from tests.e2e.test_portail_patient import accessible, log_in
from tests.partage.world import CHILD
from tests.portail import espace_world

browser = patient_journey.browser  # headless Chromium, as the patient's first journey launches it
world = espace_world.world


def submit(page: Page, form: str) -> None:
    with page.expect_navigation():
        page.click(f"{form} button[type=submit]")


def test_upload_measures_chart_bmi_profil_agenda_and_a_minors_espace(world, browser):
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(world, page, True)
    assert page.url.endswith("/mon-espace/dossier")
    assert "Espace santé de Sarah-Lou GARCIA-HAMMADI" in page.locator(".pour-qui").inner_text()

    # her own document: the upload form, then the document's page
    with page.expect_navigation():
        page.click("text=Ajouter un document")
    assert page.title() == "Ajouter un document — Mon espace santé"
    accessible(page)
    page.fill("#titre", "Bilan sanguin de mars")
    page.select_option("#categorie", "DOCPAT05")
    pdf = document_pdf("Bilan sanguin", [("Résultats", ["Glycémie 0,95 g/L"])])
    page.set_input_files("#fichier", {"name": "bilan.pdf", "mimeType": "application/pdf", "buffer": pdf})
    submit(page, "main form")
    assert page.locator("h1").inner_text() == "Bilan sanguin de mars"
    accessible(page)
    page.goto(f"{world.base}/mon-espace/dossier")
    assert "Bilan sanguin de mars" in page.locator("main").inner_text()
    accessible(page)

    # measures: height then weight — the weight's chart over time and the BMI
    page.click("nav >> text=Mesures")
    page.wait_for_url("**/mon-espace/mesures")
    accessible(page)
    for mesure, valeur in (("taille:cm", "170"), ("poids:kg", "75"), ("poids:kg", "72,5")):
        page.select_option("#mesure", mesure)
        page.fill("#valeur", valeur)
        submit(page, "section[aria-labelledby=ajout-titre] form")
    chart = page.locator("#poids ~ figure svg[role=img]")
    assert chart.count() == 1 and "Poids (kg) au fil du temps" in chart.locator("title").first.inner_html()
    assert page.locator("#poids ~ table td").first.inner_text() in ("75", "72,5")
    assert "Votre IMC : 25,1 kg/m² — surpoids" in page.locator(".imc").inner_text()
    accessible(page)

    # profil médical: an allergy, her wishes
    page.click("nav >> text=Profil médical")
    page.wait_for_url("**/mon-espace/profil")
    accessible(page)
    page.click("text=Ajouter : allergies")
    page.fill("#allergies-libelle", "Pénicilline")
    page.click("section[aria-labelledby=allergies] form.formulaire button[type=submit]")
    page.wait_for_selector("#rub-allergies >> text=Entrée ajoutée.")  # htmx: the section swapped, no navigation
    assert "Pénicilline" in page.locator("section[aria-labelledby=allergies]").inner_text()
    page.select_option("#don", "favorable")
    submit(page, "section[aria-labelledby=volontes] form")
    assert page.locator("#don").input_value() == "favorable"
    accessible(page)

    # agenda: an appointment
    page.click("nav >> text=Agenda")
    page.wait_for_url("**/mon-espace/agenda")
    page.fill("#rdv-description", "Consultation de suivi")
    page.fill("#rdv-avec", "Dr Martin")
    page.fill("#rdv-date", "2030-06-01")
    page.fill("#rdv-debut", "09:30")
    page.click("section[aria-labelledby=ajout-rdv] form button[type=submit]")
    page.wait_for_selector("#agenda >> text=Rendez-vous ajouté.")  # htmx: the agenda's content swapped
    assert "Consultation de suivi" in page.locator("section[aria-labelledby=a-venir]").inner_text()
    accessible(page)

    # her daughter's espace, as her legal representative
    page.click("text=Changer d'espace")
    page.wait_for_url("**/mon-espace/espaces")
    accessible(page)
    page.check(f"input[value='{CHILD}']")
    submit(page, "main form")
    header = page.locator(".pour-qui").inner_text()
    assert "Espace santé de Lea GARCIA-HAMMADI" in header and "représentant légal" in header
    page.goto(f"{world.base}/mon-espace/mesures")
    assert "Aucune mesure enregistrée." in page.locator("main").inner_text()  # hers, not her mother's
    accessible(page)
    assert blocked == [], blocked
    context.close()
