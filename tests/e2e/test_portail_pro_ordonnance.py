"""The professional's tools in a real browser (headless Chromium, axe-core's scan on every page, as
tests/e2e/test_portail_patient.py does), on the house served by uvicorn: the GP searches the Annuaire,
prescribes, prints the ordonnance (the PDF downloaded, its QR code scanned back to the number), sees
what the pharmacist delivered (the patient's OUI); the hospital's staff reads the PFI page and attaches
the waiting document, then runs the identitovigilance desk (doublons found and merged, an incident).
The GP signs in on Pro Santé Connect's own page; the other sessions are opened as that login opens
them (the Actor the house's Authorizer makes of the professional's real PSC token)."""

from __future__ import annotations

import pytest

from maison.core.ins_traits import Traits
from maison.etablissement.ordonnance.papier import number_from_pdf
from maison.portail.pro_pages import COOKIE
from tests.e2e.test_portail_patient import accessible
from tests.e2e.test_portail_patient import browser as browser  # noqa: F401  (a fixture)
from tests.e2e.test_portail_pro import log_in as psc_log_in
from tests.partage.world import CHILD_ID, HOPITAL, PROS, make_world
from tests.portail.pro_session import actor_of, open_session
from tests.portail.test_pro_etablissement_pfi import pfi as pfi  # noqa: F401  (the PFI's world, a fixture)
from tests.portail.test_pro_ordonnance import dispense


@pytest.fixture
def world(house, live):
    world = make_world(house, live, keys=("generaliste", "pharmacien", "hospitalier"))
    assert world.inform("hospitalier").status_code == 201
    return world


def signed_in(browser, world, key: str, javascript: bool = True):
    context = browser.new_context(java_script_enabled=javascript, accept_downloads=True)
    context.add_cookies([{"name": COOKIE, "value": open_session(world, key), "url": world.base}])
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    return context, page, blocked


def prescribe_and_print(page, base: str, patient: tuple[str, str, str]) -> str:
    """Prescribe paracetamol (the patient's OUI), print the PDF for `patient` (name, first name, birth
    date) and scan its QR code back: the ordonnance's number."""
    page.goto(f"{base}/pro/ordonnances/nouvelle")
    accessible(page)
    page.check("#accord-oui")
    page.select_option("#type_1", "medicament")
    page.fill("#libelle_1", "Paracétamol 1 000 mg comprimé")
    page.fill("#code_1", "3400930000014")
    page.fill("#posologie_1", "1 comprimé si fièvre")
    page.fill("#quantite_1", "1")
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer l'ordonnance").click()
    number = page.url.rsplit("/", 1)[1]
    assert page.locator("h1").inner_text() == f"Ordonnance N°{number}"
    accessible(page)
    for field, value in zip(("#nom", "#prenom", "#naissance"), patient, strict=True):
        page.fill(field, value)
    with page.expect_download() as download:
        page.get_by_role("button", name="Imprimer (PDF)").click()
    pdf = open(download.value.path(), "rb").read()
    assert pdf.startswith(b"%PDF") and number_from_pdf(pdf) == number  # the pharmacist's scan finds it
    return number


def test_the_gp_searches_the_annuaire_prescribes_prints_and_sees_the_delivery(world, browser):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    psc_log_in(world, page, "generaliste")  # on Pro Santé Connect's own page, as the GP's browser does
    with page.expect_navigation():
        page.get_by_role("navigation").get_by_role("link", name="Annuaire").click()
    assert page.title() == "Annuaire Santé — Maison Pro"
    accessible(page)
    page.fill("#nom", "leroy")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    accessible(page)
    with page.expect_navigation():
        page.click("text=Anne LEROY")
    assert page.locator("h1").inner_text() == "Dr Anne LEROY"
    accessible(page)

    number = prescribe_and_print(page, world.base, ("GARCIA-HAMMADI", "Sarah", "1977-01-21"))

    dispense(world, number)
    page.reload()
    assert "substitué" in page.locator("main").inner_text()
    accessible(page)
    page.goto(f"{world.base}/pro/ordonnances")
    assert number in page.locator("table").inner_text()
    accessible(page)
    assert blocked == [], blocked
    context.close()


def test_without_javascript_the_gp_still_prescribes(world, browser):
    context, page, _ = signed_in(browser, world, "generaliste", javascript=False)
    page.goto(f"{world.base}/pro/ordonnances/nouvelle")
    page.check("#accord-non")
    page.select_option("#type_1", "acte")
    page.fill("#libelle_1", "Soins infirmiers : pansement quotidien")
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer l'ordonnance").click()
    assert page.locator("h1").inner_text().startswith("Ordonnance N°")
    assert "NON" in page.locator("#executions + p").inner_text()
    context.close()


def test_the_hospital_s_staff_works_the_pfi_and_the_identitovigilance_desk(pfi, browser):
    house = pfi.house
    actor = actor_of(pfi, "hospitalier")
    lea = house.patients.admit(actor, HOPITAL, "IPP-LEA", Traits.of("GARCIA-HAMMADI", "Lea", "F", "2015-03-03"))
    for ipp, family in (("IPP-1", "DUPONT"), ("IPP-2", "DUPOND")):
        house.patients.admit(actor, HOPITAL, ipp, Traits.of(family, "Jean", "M", "1960-01-01"))
    context, page, blocked = signed_in(browser, pfi, "hospitalier")
    page.goto(f"{pfi.base}/pro/etablissement/{HOPITAL}")
    accessible(page)
    with page.expect_navigation():
        page.click("text=Plateforme d'intégration (PFI)")
    assert "Lettre de liaison de sortie" in page.locator("#dpi ~ table").inner_text()
    assert CHILD_ID.ins in page.locator("main").inner_text()
    accessible(page)
    page.fill("#patient-1", str(lea.id))
    with page.expect_navigation():
        page.get_by_role("button", name="Rattacher").click()
    assert "Aucun document dans cet état." in page.locator("main").inner_text()
    accessible(page)

    page.goto(f"{pfi.base}/pro/etablissement/{HOPITAL}/identitovigilance")
    accessible(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Rechercher les doublons et collisions dans l'index").click()
    assert "Doublon n°" in page.locator("#alertes ~ section").first.inner_text()
    accessible(page)
    page.locator("#alertes ~ section input[type=radio]").first.check()
    with page.expect_navigation():
        page.get_by_role("button", name="Fusionner").click()
    assert "Aucune alerte ouverte." in page.locator("main").inner_text()
    page.select_option("#incident-type", "doublon")
    page.fill("#incident-description", "DUPONT saisi deux fois")
    with page.expect_navigation():
        page.get_by_role("button", name="Déclarer").click()
    assert "DUPONT saisi deux fois" in page.locator("#cellule ~ table, main").last.inner_text()
    accessible(page)
    assert blocked == [], blocked
    context.close()


def test_another_structure_s_professional_gets_the_french_403_page(world, browser):
    context, page, _ = signed_in(browser, world, "generaliste")
    answer = page.goto(f"{world.base}/pro/etablissement/{HOPITAL}/pfi")
    assert answer is not None and answer.status == 403
    assert page.locator("h1").inner_text() == "Impossible d'afficher cette page"
    accessible(page)
    context.close()
    assert PROS["generaliste"].structure != HOPITAL
