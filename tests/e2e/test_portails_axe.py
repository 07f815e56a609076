"""axe-core on every page of the three portals (issue 24's Done-when: "axe-core reports no serious or
critical violation on any page of the three portals"), not only on the pages a journey passes through.

One house served by uvicorn (`module_live`, the DMP's test world of tests/partage/world.py: Sarah, her
daughter Léa whom she represents, one discharge letter of the CHU's), one headless Chromium, one browser
context per role. Each role signs in as a person does, then the pages are CRAWLED: every same-origin
`<a href>` under the role's portal prefix, breadth first, each path pattern once (an id in the path is
one pattern, whatever its value: a hundred documents are one page), at most `CAP` pages, never a logout,
a deletion, a download or a form's POST. Then the error states are produced on purpose: 404, 403, the
CSRF refusal, the expired session, a bad form (400), the login and code pages refusing, Pro Santé
Connect's refused callback, the structure-choice page (its plain and refusing states).

Every page: the status meant (200 or the error's), a `<title>`, one `<main>`, one `<h1>`, and no
serious or critical axe-core violation; all the faults of a role are reported together. A floor of
paths per role is asserted so that a broken crawl (0 links followed) cannot pass.

SQLite only: the pages' markup does not depend on the storage (every portal's own browser test runs
on both backends)."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page

from maison.etablissement.dmp.producer import Produced
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from tests.e2e.test_portail_observatoire import psc_sign_in
from tests.e2e.test_portail_patient import browser  # noqa: F401  (the module's Chromium)
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CABINET, CHILD, HOPITAL, NOW, PASSWORD, PROS, World, make_world, n1, rpps

CAP = 80  # pages crawled per role at most
AGENT = "8" + rpps("3100000002")  # an ARS agent (the role agent-ars of his situation d'exercice)
TWO_PLACES = "urgentiste"  # works at the CHU and at the cabinet: PSC's login asks which
AXE_SOURCE = Axe().axe_script  # the copy axe-playwright-python ships, loaded once per context (init script)
AXE_RUN = "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"
SKIPPED = re.compile(r"/deconnexion|/suppression|/affichage$|\.zip$|/pieces/|/document$|/impression|/annulation")
ID_SEGMENT = re.compile(  # an id: a segment with a digit (an INS, a FINESS, DS1.1), an ordonnance's number, a UUID
    r"^(?=.*\d)[\w.:%-]+$|^[A-Z0-9]{10,}$|^[0-9a-f-]{32,}$"
)


@pytest.fixture(scope="module")
def sqlite_only(database_url: str) -> None:
    """Asked before the house: the PostgreSQL variant is skipped before a house is built for it."""
    if database_url.startswith("postgresql"):
        pytest.skip("SQLite only: the pages' markup does not depend on the storage (see the module's docstring)")


@pytest.fixture(scope="module")
def world(sqlite_only, module_live) -> World:
    """Sarah's letter fed and her information recorded by the CHU; an ARS agent; a doctor with two
    situations d'exercice; the PSC test passwords of those who sign in."""
    house = module_live.house
    world = make_world(house, module_live, keys=("hospitalier",))
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], title="Lettre de liaison de sortie"))])
    assert fed.status_code == 200, fed.text
    assert world.inform("hospitalier").status_code == 201
    with house.db.write() as conn:
        put(conn, [build.organization("ARS-IDF", "ARS ILE-DE-FRANCE", NOW)])
        put(conn, [build.practitioner(AGENT[1:], "LAMBERT", "Agnès", "", "10", "C", None, NOW)])
        put(conn, [build.practitioner_role("3100000002", AGENT, "ARS-IDF", NOW, fonction="agent-ars")])
        put(
            conn,
            [build.practitioner_role("2000000098", PROS[TWO_PLACES].idnatps, CABINET, NOW, fonction=None, mode="L")],
        )
    for idnatps in (AGENT, PROS[TWO_PLACES].idnatps):
        house.psc.set_test_password(idnatps, PASSWORD)
    return world


@dataclass
class Scan:
    """What one role's browsing found: the pages (pattern → address) and every fault."""

    base: str
    context: BrowserContext
    pages: dict[str, str] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)

    @property
    def page(self) -> Page:
        return self.context.pages[0] if self.context.pages else self.context.new_page()

    def check(self, page: Page, status: int | None, expected: int = 200) -> None:
        """The page as shown: its status, title, main, h1, and axe-core's serious or critical findings."""
        where = urlsplit(page.url)
        name = where.path + (f"?{where.query}" if where.query else "")
        if status != expected:
            self.faults.append(f"{name}: status {status}, expected {expected}")
        if not page.title().strip():
            self.faults.append(f"{name}: no <title>")
        for tag in ("main", "h1"):
            if (n := page.locator(tag).count()) != 1:
                self.faults.append(f"{name}: {n} <{tag}>")
        for v in page.evaluate(AXE_RUN):
            if v["impact"] in ("serious", "critical"):
                self.faults.append(f"{name}: {v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']][:5]}")
        self.pages.setdefault(pattern(name), name)

    def visit(self, path: str, expected: int = 200) -> Page:
        page = self.page
        answer = page.goto(self.base + path)
        self.check(page, answer.status if answer else None, expected)
        return page

    def submit(self, button: str, expected: int) -> Page:
        """Clicks a form's button and checks the page it leads to (a POST's answer, or its redirect's)."""
        page = self.page
        with page.expect_navigation() as navigation:
            page.click(button)
        answer = navigation.value
        self.check(page, answer.status if answer else None, expected)
        return page

    def crawl(self, prefix: str, starts: list[str], skipped: tuple[str, ...] = ()) -> None:
        """Breadth first from `starts`: each new path pattern under `prefix` once, at most CAP pages."""
        queue = deque(starts)
        seen = {pattern(s) for s in starts} | set(self.pages)
        visited = 0
        while queue and visited < CAP:
            page = self.visit(queue.popleft())
            visited += 1
            for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
                link = urlsplit(href)
                path = link.path + (f"?{link.query}" if link.query else "")
                if f"{link.scheme}://{link.netloc}" != self.base or not link.path.startswith(prefix):
                    continue
                if SKIPPED.search(link.path) or link.path.startswith(skipped) or pattern(path) in seen:
                    continue
                seen.add(pattern(path))
                queue.append(path)


def pattern(path: str) -> str:
    """A page's pattern: its path, each id as `{id}`; the query left out (a filter, a period, a page
    number: the same template with other rows)."""
    return "/".join("{id}" if ID_SEGMENT.match(s) else s for s in urlsplit(path).path.split("/"))


@pytest.fixture
def scan(world, browser) -> Iterator[Scan]:  # noqa: F811
    """A role's browser context (its own cookies), closed after the test."""
    context = browser.new_context()
    context.add_init_script(AXE_SOURCE)  # in every page before its own scripts: not one copy sent per scan
    context.new_page()
    yield Scan(world.base, context)
    context.close()


def faultless(scan: Scan, floor: set[str]) -> None:
    missing = floor - set(scan.pages)
    assert not missing, f"the crawl missed {sorted(missing)}; it visited {sorted(scan.pages)}"
    assert scan.faults == [], "\n".join(scan.faults)


def patient_log_in(world: World, scan: Scan, refusals: bool) -> None:
    """Sarah's login to Mon espace santé; with `refusals`, a wrong password then a wrong code first."""
    scan.visit("/mon-espace/connexion")
    page = scan.page
    if refusals:
        page.fill("#identifiant", "sarah.garcia")
        page.fill("#motDePasse", "pas-le-bon-mot-de-passe")
        scan.submit("main button[type=submit]", 401)
    page.fill("#identifiant", "sarah.garcia")
    page.fill("#motDePasse", PASSWORD)
    scan.submit("main button[type=submit]", 200)
    if refusals:
        page.fill("#code", "000000")
        scan.submit("main button[type=submit]", 401)
    code = re.search(r"\b(\d{6})\b", world.house.patient_login.outbox("sarah@example.fr")[-1]["body"]).group(1)
    page.fill("#code", code)
    scan.submit("main button[type=submit]", 200)
    assert page.url.endswith("/mon-espace/dossier"), page.url


PATIENT_FLOOR = {
    "/mon-espace/connexion",
    "/mon-espace/dossier",
    "/mon-espace/documents/{id}",
    "/mon-espace/historique",
    "/mon-espace/profil",
    "/mon-espace/mesures",
    "/mon-espace/agenda",
    "/mon-espace/controles",
    "/mon-espace/espaces",
    "/mon-espace/controles/codes/nouveau",
}


def test_every_page_of_mon_espace_sante(world, scan):
    patient_log_in(world, scan, refusals=True)
    page = scan.page
    page.keyboard.press("Tab")  # the first stop: the skip link, shown once focused
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#contenu"
    assert page.locator("a.evitement").bounding_box()["x"] >= 0
    scan.crawl("/mon-espace", ["/mon-espace/dossier"])
    page = scan.visit("/mon-espace/controles")
    page.fill("#code-pro", PROS["hospitalier"].idnatps)
    page.check("main input[id^=rubrique-]")
    scan.submit("form[action='/mon-espace/controles/codes'] button[type=submit]", 200)  # the code, shown once
    # the error states, on purpose
    scan.visit("/mon-espace/documents/inconnu-0", 404)
    scan.visit("/mon-espace/pas-une-page", 404)  # no route: the house's own 404, as the portal's page
    scan.visit("/mon-espace/connexion/code", 405)  # a form's action opened as a page
    scan.visit("/mon-espace/documents/pas%20un%20id", 400)
    page = scan.visit("/mon-espace/espaces")
    page.eval_on_selector("main input[name=csrf]", "e => e.remove()")
    scan.submit("main button[type=submit]", 403)  # the CSRF refusal
    page = scan.visit("/mon-espace/espaces")
    page.eval_on_selector("main input[type=radio]", "e => { e.value = 'pas-un-ins'; e.checked = true }")
    scan.submit("main button[type=submit]", 400)  # a bad form
    scan.context.clear_cookies()
    scan.visit("/mon-espace/dossier", 401)  # the session gone
    faultless(scan, PATIENT_FLOOR)


def test_every_page_of_a_minors_espace_opened_by_her_representative(world, scan):
    patient_log_in(world, scan, refusals=False)
    page = scan.visit("/mon-espace/espaces")
    page.check(f"main input[value='{CHILD}']")
    scan.submit("main button[type=submit]", 200)
    assert "représentant légal" in page.locator("header").inner_text()
    scan.crawl("/mon-espace", ["/mon-espace/dossier", "/mon-espace/espaces"])  # her choice shown again
    faultless(scan, PATIENT_FLOOR - {"/mon-espace/documents/{id}", "/mon-espace/controles/codes/nouveau"})


def psc_log_in(scan: Scan, base: str, idnatps: str, landing: str) -> Page:
    page = scan.visit(f"{base}/connexion")
    psc_sign_in(page, idnatps, PASSWORD, f"{scan.base}{landing}", scan=False)
    return page


def prescribed(scan: Scan) -> str:
    """An ordonnance made with the new-ordonnance form's own fields (posted by the context's cookies):
    its number, for its page."""
    page = scan.visit("/pro/ordonnances/nouvelle")
    fields = {
        "csrf": page.input_value("main input[name=csrf]"),
        "cle": page.input_value("main input[name=cle]"),
        "accord": "oui",
        "type_1": "medicament",
        "libelle_1": "Paracétamol 1 000 mg comprimé",
        "code_1": "3400930000014",
        "posologie_1": "1 comprimé si fièvre, 3 par jour au plus",
        "quantite_1": "1",
        "renouvellements_1": "0",
    }
    made = scan.context.request.post(f"{scan.base}/pro/ordonnances", form=fields, max_redirects=0)
    assert made.status == 303, made.text()
    return made.headers["location"].rsplit("/", 1)[1]


def test_the_scan_finds_what_it_must(scan):
    """The scan itself: a field without a label and grey on white are found (a silent axe cannot pass)."""
    page = scan.page
    page.goto(f"{scan.base}/portail/style.css")
    page.set_content('<html lang="fr"><title>t</title><main><h1>t</h1><input><p class="x">gris</p></main></html>')
    page.add_style_tag(content=".x { color: #bbb; background: #fff }")
    found = {v["id"] for v in page.evaluate(AXE_RUN) if v["impact"] in ("serious", "critical")}
    assert {"label", "color-contrast"} <= found, found


def test_every_page_of_the_professionals_portal(world, scan):
    page = scan.visit("/pro/connexion/retour?error=access_denied&state=inconnu", 400)  # no sign-in begun
    scan.visit("/pro/connexion")
    scan.submit("text=Se connecter avec Pro Santé Connect", 200)  # PSC's own login page, the provider's
    page.fill("#idnatps", PROS[TWO_PLACES].idnatps)
    page.fill("#password", PASSWORD)
    scan.submit("button[type=submit]", 200)  # two situations: the structure-choice page
    assert page.url.endswith("/pro/connexion/retour") or "/pro/connexion/retour" in page.url, page.url
    page.eval_on_selector("main input[type=radio]", "e => { e.value = 'pas-une-structure'; e.checked = true }")
    scan.submit("main button[type=submit]", 403)  # the choice page refusing
    page.check(f"main input[value='{HOPITAL}']")
    scan.submit("main button[type=submit]", 200)
    assert page.url.endswith("/pro/patients"), page.url
    starts = [
        "/pro/patients",
        f"/pro/patients/{SARAH_NIR}/dmp",
        f"/pro/ordonnances/{prescribed(scan)}",
        "/pro/annuaire?quoi=professionnel&nom=DURAND",
        "/pro/annuaire?quoi=structure&nom=CHU",
    ]
    scan.crawl("/pro", starts, skipped=("/pro/etablissement",))
    page = scan.visit(f"/pro/patients/{CHILD}/dmp", 403)  # her daughter: the CHU never informed her
    assert page.locator("form[action$='/information']").count() == 1, page.content()  # the form to record it
    page = scan.visit("/pro/patients")
    page.fill("#nom", "GARCIA-HAMMADI")
    page.fill("#prenoms", "SARAH-LOU ANNA")
    page.select_option("#sexe", "F")
    page.fill("#naissance", "1977-01-21")
    with page.expect_response(f"{scan.base}/pro/patients/traits") as searched:
        page.click("text=Interroger INSi")  # htmx swaps INSi's answer in the page
    page.wait_for_load_state("networkidle")
    scan.check(page, searched.value.status)
    scan.visit(f"/pro/patients/{SARAH_NIR}/documents/inconnu-0", 404)
    scan.visit("/pro/pas-une-page", 404)
    scan.visit(f"/pro/etablissement/{CABINET}", 403)  # another structure's desk
    scan.visit("/pro/patients/pas%20un%20ins/dmp", 400)  # a malformed id in the address
    scan.context.clear_cookies()
    scan.visit("/pro/patients", 401)
    faultless(
        scan,
        {
            "/pro/connexion",
            "/pro/connexion/retour",
            "/pro/patients",
            "/pro/patients/{id}/dmp",
            "/pro/patients/{id}/documents/{id}",
            "/pro/annuaire",
            "/pro/ordonnances",
            "/pro/ordonnances/nouvelle",
            "/pro/ordonnances/{id}",
            "/pro/annuaire/professionnels/{id}",
            "/pro/annuaire/structures/{id}",
        },
    )


def test_every_page_of_a_structures_desks(world, scan):
    psc_log_in(scan, "/pro", PROS["hospitalier"].idnatps, "/pro/patients")
    scan.crawl("/pro/etablissement", ["/pro/etablissement"])
    page = scan.submit("header button[type=submit]", 200)  # logged out: the login page says so
    assert "Vous êtes déconnecté." in page.locator("main [role=status]").inner_text()
    faultless(
        scan,
        {"/pro/etablissement/{id}", "/pro/etablissement/{id}/pfi", "/pro/etablissement/{id}/identitovigilance"},
    )


def test_every_page_of_the_observatory(world, scan):
    base = "/observatoire/tableau"
    scan.visit(f"{base}/connexion/retour?error=access_denied&state=inconnu", 400)
    psc_log_in(scan, base, AGENT, base)
    starts = [base] + [f"{base}/{p}?structure={HOPITAL}" for p in ("sunes", "prerequis", "maturin")]
    scan.crawl(base, starts)
    scan.visit(f"{base}/sunes?structure={HOPITAL}&periode=pas-une-periode", 400)
    scan.visit(f"{base}/sunes/explication/XX9.9?structure={HOPITAL}", 400)
    scan.visit(f"{base}/pas-une-page", 404)
    scan.context.clear_cookies()
    scan.visit(f"{base}/national", 401)
    faultless(
        scan,
        {
            f"{base}/connexion",
            base,
            f"{base}/national",
            f"{base}/conformite",
            f"{base}/sunes",
            f"{base}/sunes/explication/{{id}}",
            f"{base}/prerequis",
            f"{base}/maturin",
        },
    )
