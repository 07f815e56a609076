"""The observatory's dashboard in a real browser (headless Chromium) on the house served by uvicorn
(issue 24's Done-when: "the observatory shows the DS1.1 rate of the demo's hospital and explains it").

The hospital's semester is the small world of tests/observatoire/sunes, made by the real flows (PAM
stays, the DPI's documents through the PFI, DMP feeds, MSSanté sends) and hand-counted there: DS1.1
is 2 stays of 6. An ARS agent — a professional of the Annuaire whose situation d'exercice carries the
role agent-ars — signs in through Pro Santé Connect (the portal's code flow, PSC's own login page and
a test account's password), asks for the hospital's indicators, sees DS1.1 at 33,3 % against its
target, clicks it and reads which stays counted and why; then the national series' charts. A
structure's staff member reads his own hospital but is refused another's with the French 403 page.
axe-core finds no serious or critical violation on any page of the portal, with and without
JavaScript the pages read the same (the scan needs JavaScript, so it runs in the first variant)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from tests.e2e.test_portail_patient import accessible, browser  # noqa: F401  (Chromium, axe-core's scan)
from tests.observatoire.sunes.test_service import CURRENT, FIGURES, PREVIOUS, later_records, world  # noqa: F401
from tests.observatoire.sunes.test_service import build as build_world
from tests.partage.world import HOPITAL, NOW, PASSWORD, PROS, rpps

AGENT = "8" + rpps("3100000001")
BASE = "/observatoire/tableau"


@pytest.fixture
def dashboard(world, house, live, reference_path):  # noqa: F811
    build_world(world, reference_path)
    later_records(world, reference_path)
    with house.db.write() as conn:
        put(conn, [build.organization("ARS-IDF", "ARS ILE-DE-FRANCE", NOW)])
        put(conn, [build.practitioner(AGENT[1:], "LAMBERT", "Agnès", "", "10", "C", None, NOW)])
        put(conn, [build.practitioner_role("3100000001", AGENT, "ARS-IDF", NOW, fonction="agent-ars")])
    house.psc.set_test_password(AGENT, PASSWORD)
    house.psc.set_test_password(PROS["generaliste"].idnatps, PASSWORD)
    return live.url


def psc_sign_in(page: Page, idnatps: str, password: str, landing: str, scan: bool = True) -> None:
    """From a portal's login page (shown) to `landing`, through Pro Santé Connect's own login page."""
    accessible(page, scan)
    with page.expect_navigation():
        page.click("text=Se connecter avec Pro Santé Connect")
    assert page.title() == "Pro Santé Connect — connexion"  # the provider's page: not the portal's
    page.fill("#idnatps", idnatps)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_url(landing)


def log_in(page: Page, base: str, idnatps: str, scan: bool, password: str = PASSWORD) -> None:
    """From the dashboard's address to its home page, through Pro Santé Connect's login page."""
    page.goto(f"{base}{BASE}")
    assert page.url.endswith(f"{BASE}/connexion") and page.title() == "Connexion — Observatoire"
    psc_sign_in(page, idnatps, password, f"{base}{BASE}", scan)
    assert page.title() == "Accueil — Observatoire"


def in_place(page: Page, javascript: bool, control: str, shown: str) -> None:
    """Use `control` until `shown` is there: with JavaScript htmx swaps it in place (the page's own
    state survives: no navigation), without it the form or link loads the whole page."""
    if javascript:
        page.evaluate("window.maisonSansNavigation = true")
        page.click(control)
        page.wait_for_selector(shown)
        assert page.evaluate("window.maisonSansNavigation") is True
    else:
        with page.expect_navigation():
            page.click(control)
        assert page.locator(shown).count() >= 1


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "sans-javascript"])
def test_an_agent_sees_the_ds11_rate_of_the_hospital_and_its_explanation(dashboard, browser, javascript):  # noqa: F811
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, dashboard, AGENT, javascript)
    assert "agent de l'ARS" in page.locator("main").inner_text()
    accessible(page, javascript)
    assert page.locator(f"#lisibles a[href*='structure={HOPITAL}']").count() >= 1  # the list of what she reads
    page.select_option("#semestre", PREVIOUS.label)
    in_place(page, javascript, "form.filtre button[type=submit]", f"#lisibles a[href$='periode={PREVIOUS.label}']")
    assert f"?periode={PREVIOUS.label}" in page.url  # htmx pushed the address: a link to share

    page.fill("#structure", HOPITAL)
    page.select_option("#periode", CURRENT.label)
    with page.expect_navigation():
        page.click("text=Afficher les indicateurs")
    assert page.locator("h1").inner_text() == f"Indicateurs SUN-ES — structure {HOPITAL} — {CURRENT.label}"
    line = page.locator("table").first.locator("tr", has=page.locator("th", has_text="DS1.1"))
    numerator, denominator = FIGURES["DS1.1"]
    cells = line.locator("td").all_inner_texts()
    assert cells[1:3] == [str(numerator), str(denominator)]
    assert cells[3].startswith("33,3 %") and cells[4].endswith("%")  # the rate against its target (a setting)
    assert page.locator("figure svg[role=img] title").count() >= 1  # the semester's chart
    accessible(page, javascript)

    with page.expect_navigation():
        page.click("#taux-DS1-1")
    assert page.locator("h1").inner_text() == f"Explication de DS1.1 — {HOPITAL} — {CURRENT.label}"
    assert f"{numerator} comptés sur {denominator} au dénominateur" in page.locator(".resume").inner_text()
    rows = {
        r.locator("th").inner_text(): r.locator("td").all_inner_texts() for r in page.locator("table tbody tr").all()
    }
    assert rows[f"{HOPITAL}/S1"][1] == "oui"  # S1's letter, N1 with a qualified INS
    assert rows[f"{HOPITAL}/S2"][1] == "non" and "sans INS qualifiée" in rows[f"{HOPITAL}/S2"][2]
    assert rows[f"{HOPITAL}/S2"][3]  # the audit records that prove it
    accessible(page, javascript)
    page.goto(f"{dashboard}{BASE}/sunes/explication/DS1.1?structure={HOPITAL}&periode={CURRENT.label}&taille=2")
    in_place(page, javascript, "#page-suivante", "caption:has-text('éléments 3 à 4')")
    assert page.locator("#explication-liste tbody tr").count() == 2 and "page=2" in page.url
    accessible(page, javascript)

    with page.expect_navigation():
        page.click("nav >> text=Statistiques nationales")
    charts = page.locator("figure svg[role=img]")
    assert charts.count() >= 2  # the DMP's feeds by month, the INS share…
    assert page.locator("table caption", has_text="DMP : alimentations").count() == 1  # each chart's table
    accessible(page, javascript)

    with page.expect_navigation():
        page.click("nav >> text=Conformité des logiciels")
    assert page.locator("table caption", has_text="Conformité à la maison").count() == 1
    accessible(page, javascript)
    assert blocked == [], blocked  # nothing the pages load breaks the CSP (no inline script or style)
    context.close()


def test_a_structure_reads_its_own_and_is_refused_another(dashboard, browser):  # noqa: F811
    """The GP's cabinet is no hospital: its own prerequisites and MATURIN-H yes, the hospital's no."""
    page = browser.new_context().new_page()
    log_in(page, dashboard, PROS["generaliste"].idnatps, True)
    with page.expect_navigation():
        page.click("main >> text=Prérequis et éligibilité aux volets")
    assert page.locator("h1").inner_text().startswith(f"Prérequis SUN-ES — {PROS['generaliste'].structure}")
    accessible(page)
    with page.expect_navigation():
        page.click("nav >> text=MATURIN-H")
    assert "niveau" in page.locator(".resume").inner_text()
    accessible(page)
    answer = page.goto(f"{dashboard}{BASE}/sunes?structure={HOPITAL}&periode={CURRENT.label}")
    assert answer.status == 403 and page.title() == "Erreur 403 — Observatoire"
    assert "réservé à la structure et aux agents ARS/ANS" in page.locator("[role=alert]").inner_text()
    accessible(page)
    with page.expect_navigation():
        page.click("text=Revenir à l'accueil")
    with page.expect_navigation():
        page.click("text=Se déconnecter")
    assert "Vous êtes déconnecté." in page.locator("main").inner_text()
    page.context.close()
