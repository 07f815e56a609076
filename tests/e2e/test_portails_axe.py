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

The pages a crawl cannot reach are reached on purpose. The world holds rows for them (`seeded`): a
letter delivered into Sarah's citizen mailbox and a pharmacy of the Annuaire for the forward's picker,
a document she deposited, the CHU's identitovigilance desk filled through its services, its PFI's
worklist entry and DPI document written by the PFI's own store functions (no listener started). The
bris de glace after its justification and the connexion secrète of a minor (its banner) are opened as
the professional does. The forms htmx swaps into a page (an entry's edit form, the withdrawal's
confirmation, the professional and pharmacy pickers' results, INSi's identity card, a feed's answer)
are clicked, and the page is scanned as it then is.

Every page: the status meant (200 or the error's), a `<title>`, one `<main>`, one `<h1>`, and no
serious or critical axe-core violation (nor `landmark-unique`: regions of a role told apart by their
names); all the faults of a role are reported together. A floor of paths per role is asserted so
that a broken crawl (0 links followed) cannot pass.

SQLite only: the pages' markup does not depend on the storage (every portal's own browser test runs
on both backends)."""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import unescape
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page

from maison.core.audit import SYSTEM
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.dmp.producer import Produced
from maison.etablissement.pfi import store as pfi_store
from maison.formats import mime
from maison.formats.pdf import document_pdf
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.partage.mss.mailboxes import CITIZEN
from maison.portail.espace_controles import NOTICES
from tests.e2e.test_mss_smtp import _letter
from tests.e2e.test_portail_observatoire import psc_sign_in
from tests.e2e.test_portail_patient import browser  # noqa: F401  (the module's Chromium)
from tests.identite.helpers import SARAH_NIR
from tests.partage.mss_world import PFI
from tests.partage.world import CABINET, CHILD, HOPITAL, HOPITAL_NAME, NOW, PASSWORD, PROS, World, make_world, n1, rpps
from tests.portail.espace_world import patient_who
from tests.portail.pro_session import actor_of

CAP = 80  # pages crawled per role at most
AGENT = "8" + rpps("3100000002")  # an ARS agent (the role agent-ars of his situation d'exercice)
TWO_PLACES = "urgentiste"  # works at the CHU and at the cabinet: PSC's login asks which
AXE_SOURCE = Axe().axe_script  # the copy axe-playwright-python ships, loaded once per context (init script)
SARAH_BOX = f"{SARAH_NIR.lower()}@patient.mssante.fr"
PHARMACY, PHARMACY_BOX = "1690000001", "pharmacie.bellecour@medecin.mssante.fr"
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
    house.insi.register_structure(HOPITAL, HOPITAL_NAME)  # habilitated to INSi: its answers are shown
    return world


@dataclass(frozen=True)
class Seeded:
    """What the pages that show rows need, made through the services (no browser, no listener)."""

    own_document: str  # a document Sarah deposited herself: the withdrawal is offered
    message: int  # the hospital's letter in her citizen mailbox (its UID)


@pytest.fixture(scope="module")
def seeded(world: World) -> Seeded:
    house = world.house
    own = house.espace.deposit(
        patient_who(SARAH_NIR), "DOCPAT05", "Radio de la cheville", "application/pdf", document_pdf("Radio", [])
    )
    _desks(world)
    return Seeded(own, _message(house))


def _message(house) -> int:
    """The PFI's letter delivered straight into Sarah's citizen mailbox (what the SMTP listener does on
    receipt: a trust space's listeners are not needed to show it), and a pharmacy of the Annuaire with
    its organisational mailbox, for the forward's picker."""
    mss = house.mss
    mss.mailboxes.create(SYSTEM, SARAH_BOX, "mes", CITIZEN, SARAH_NIR, f"Mon espace santé {SARAH_NIR}")
    raw = _letter(to=SARAH_BOX)
    message_id = mime.parse(raw, max_bytes=len(raw) * 2).message_id
    with house.db.write() as conn:
        put(
            conn,
            [
                build.organization(
                    PHARMACY,
                    "PHARMACIE BELLECOUR",
                    NOW,
                    secteur="SA33",
                    city="LYON",
                    postal_code="69002",
                    insee="69382",
                    mailboxes=[build.mailbox(PHARMACY_BOX, "ORG")],
                )
            ],
        )
    return mss.delivery.deliver(SYSTEM, SARAH_BOX, raw, PFI, message_id).uid


def _desks(world: World) -> None:
    """The CHU's desks with rows: two identities one keying slip apart (an open doublon alert), an
    incident, a meeting and a procedure of the cell; a letter waiting on the PFI's worklist with its
    candidates, and a document from the DPI with a failed leg and its ZAM."""
    house, staff = world.house, actor_of(world, "hospitalier")
    admitted = [
        house.patients.admit(staff, HOPITAL, ipp, Traits.of(*traits))
        for ipp, traits in (
            ("IPP-1", ("DUPONT", "Jean", "M", "1960-01-01")),
            ("IPP-2", ("DUPOND", "Jean", "M", "1960-01-01")),
        )
    ]
    house.patients.detect_duplicates(staff, HOPITAL)
    today = date.today().isoformat()
    house.cellule.report_incident(staff, "doublon", "Deux dossiers pour un même patient", admitted[0].id, today)
    house.cellule.record_meeting(staff, today, "Revue des doublons du mois", ["Dr Dubois", "Mme Petit"])
    house.cellule.adopt_procedure(staff, "identification", "Identification à l'admission", today)
    now = datetime.now(UTC).isoformat()
    candidates = [
        {"id": a.id, "ipp": a.ipp, "nom": a.traits.nom_naissance, "prenoms": " ".join(a.traits.prenoms),
         "naissance": a.traits.date_naissance, "statut": a.status.value}
        for a in admitted
    ]  # fmt: skip
    document = str(uuid.uuid4())
    common = {"structure": HOPITAL, "stay_structure": HOPITAL, "stay_number": "24000006"}
    with house.db.write() as conn:
        pfi_store.insert(
            conn,
            pfi_store.pfi_worklist,
            [
                dict(id=str(uuid.uuid4()), structure=HOPITAL, mailbox=PFI, uid=1, message_id="<lettre@chu-test>",
                     unique_id="1.2.250.1.999.1", ins=None, code="903", reason="patient inconnu de l'index",
                     candidates=json.dumps(candidates), sha256="0" * 64, state="a-traiter", created_at=now)
            ],
        )  # fmt: skip
        pfi_store.hl7_record(
            conn,
            dict(id=document, sender="DPI^CHU", control_id="M1", event="T02", action="initial",
                 unique_id="1.2.250.1.999.2", replaced_id="", ins=SARAH_NIR, ins_status="QUAL", patient_class="I",
                 type_code="11490-0", title="Lettre de liaison de sortie", documents="[]", request="{}",
                 received_at=now, **common),
            [
                dict(id=str(uuid.uuid4()), document_id=document, channel=channel, recipient=recipient, state=state,
                     code=code, detail=detail, reference="", updated_at=now, **common)
                for channel, recipient, state, code, detail in (
                    ("dmp", "", "accepte", "", ""),
                    ("mss", "claire.martin@medecin.mssante.fr", "echec", "550", "boîte inconnue"),
                )
            ],
        )  # fmt: skip
        pfi_store.hl7_record_zam(
            conn,
            dict(id=str(uuid.uuid4()), document_id=document, event="Z01", control_id="Z1", message="",
                 answer="AA", sent_at=now),
        )  # fmt: skip


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

    def check(self, page: Page, status: int | None, expected: int = 200, fragment: str = "") -> None:
        """The page as shown: its status, title, main, h1, and axe-core's serious or critical findings
        (and `landmark-unique`: two regions of a role told apart by their names). `fragment`: what htmx
        swapped into it, a page of its own for the scan."""
        where = urlsplit(page.url)
        name = where.path + (f"?{where.query}" if where.query else "") + (f" + {fragment}" if fragment else "")
        if status != expected:
            self.faults.append(f"{name}: status {status}, expected {expected}")
        if not page.title().strip():
            self.faults.append(f"{name}: no <title>")
        for tag in ("main", "h1"):
            if (n := page.locator(tag).count()) != 1:
                self.faults.append(f"{name}: {n} <{tag}>")
        for v in page.evaluate(AXE_RUN):
            if v["impact"] in ("serious", "critical") or v["id"] == "landmark-unique":
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

    def go(self, path: str) -> Page:
        """A page the crawl scanned already, opened again to act in it: not scanned twice."""
        page = self.page
        answer = page.goto(self.base + path)
        assert answer is not None and answer.status == 200, path
        return page

    def swap(self, click: str, shown: str, fragment: str, expected: int = 200) -> Page:
        """Clicks what htmx answers with a fragment, waits for `shown` in the page (no navigation) and
        checks the page as it then is: the fragment among the page's own headings, ids and landmarks."""
        page = self.page
        with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true") as answer:
            page.click(click)
        page.get_by_text(shown).first.wait_for()
        page.locator(".htmx-request").first.wait_for(state="detached")  # a search's other trigger settled
        self.check(page, answer.value.status, expected, fragment)
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
    number: the same template with other rows); a fragment swapped in named after a ` + `."""
    path, plus, fragment = path.partition(" + ")
    return "/".join("{id}" if ID_SEGMENT.match(s) else s for s in urlsplit(path).path.split("/")) + plus + fragment


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
SARAHS_OWN = {  # what her own data shows: her message, her pharmacy, the pages and fragments of her entries
    "/mon-espace/messagerie/{id}",
    "/mon-espace/messagerie/{id} + pharmacies trouvées",
    "/mon-espace/messagerie/{id}/pharmacies",
    "/mon-espace/profil + entrée ajoutée",
    "/mon-espace/profil + formulaire de modification",
    "/mon-espace/profil/allergies/{id}/modification",
    "/mon-espace/agenda + rendez-vous ajouté",
    "/mon-espace/agenda + formulaire de modification",
    "/mon-espace/agenda/{id}/modification",
    "/mon-espace/documents/{id} + confirmation du retrait",
    "/mon-espace/documents/{id} + document retiré",
    "/mon-espace/documents/{id}/retrait",
    "/mon-espace/controles + professionnels trouvés",
    "/mon-espace/controles + règle enregistrée",
    "/mon-espace/controles + médecins trouvés",
    "/mon-espace/controles + médecin traitant enregistré",
    "/mon-espace/controles + accès en urgence enregistré",
    "/mon-espace/controles/professionnels",
}


def messagerie(scan: Scan, seeded: Seeded) -> None:
    """Her message (the crawl reaches it from the inbox) and the pharmacy picker: its results swapped in
    by htmx, its page without JavaScript, the pharmacy chosen, an address not of the Annuaire refused."""
    here = f"/mon-espace/messagerie/{seeded.message}"
    page = scan.go(here)
    page.fill("#pharmacie-nom", "bellecour")
    scan.swap("form[role=search] button[type=submit]", PHARMACY_BOX, "pharmacies trouvées")
    scan.visit(f"{here}/pharmacies?nom=bellecour")
    page = scan.visit(f"{here}?destinataire={PHARMACY_BOX}")
    assert page.input_value("#destinataire") == PHARMACY_BOX
    page = scan.visit(f"{here}?destinataire=inventee%40medecin.mssante.fr")
    assert page.locator("main [role=alert]").count() == 1


def fragments(scan: Scan, seeded: Seeded) -> None:
    """The forms htmx swaps into her pages (each page then scanned whole), and their pages without it."""
    page = scan.go("/mon-espace/profil")
    page.click("text=Ajouter : allergies")
    page.fill("#allergies-libelle", "Pollen")
    scan.swap("#rub-allergies details button[type=submit]", "Entrée ajoutée.", "entrée ajoutée")
    edit = page.get_attribute("#rub-allergies a:has-text('Modifier')", "href")
    scan.swap("#rub-allergies a:has-text('Modifier')", "Modifier : Pollen", "formulaire de modification")
    scan.visit(edit)
    page = scan.go("/mon-espace/agenda")
    page.fill("#rdv-description", "Ophtalmologue")
    page.fill("#rdv-date", "2030-06-01")
    page.fill("#rdv-debut", "09:30")
    scan.swap("#agenda form.formulaire button[type=submit]", "Rendez-vous ajouté.", "rendez-vous ajouté")
    edit = page.get_attribute("#agenda a:has-text('Modifier')", "href")
    scan.swap("#agenda a:has-text('Modifier')", "Modifier le rendez-vous", "formulaire de modification")
    scan.visit(edit)
    scan.go(f"/mon-espace/documents/{seeded.own_document}")
    scan.swap("text=Retirer ce document…", "Confirmer le retrait du document", "confirmation du retrait")
    scan.swap("text=Confirmer le retrait du document", "Document retiré", "document retiré")
    scan.visit("/mon-espace/controles/professionnels?pour=regle&nom=martin")
    page = scan.go("/mon-espace/controles")
    page.fill("#regle-nom", "martin")
    scan.swap("form:has(#regle-nom) button[type=submit]", "Claire MARTIN", "professionnels trouvés")
    scan.swap("#resultats-regle button:has-text('Bloquer')", NOTICES["regle"], "règle enregistrée")
    page.fill("#traitant-nom", "martin")
    scan.swap("form:has(#traitant-nom) button[type=submit]", "Choisir comme médecin traitant", "médecins trouvés")
    scan.swap("#resultats-traitant button", NOTICES["traitant"], "médecin traitant enregistré")
    scan.swap("text=Enregistrer mes choix d'accès en urgence", NOTICES["urgence"], "accès en urgence enregistré")


def test_every_page_of_mon_espace_sante(world, seeded, scan):
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
    messagerie(scan, seeded)
    fragments(scan, seeded)
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
    faultless(scan, PATIENT_FLOOR | SARAHS_OWN)


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


def verified_child(scan: Scan, scanned: bool = True) -> Page:
    """Sarah's daughter found by her INS, verified by INSi: her identity card swapped in (htmx), with
    the connexion secrète a minor's card offers and the form to feed her DMP (scanned once)."""
    page = scan.go("/pro/patients")
    page.fill("#ins", CHILD)
    page.select_option("#oid", OID_INS_NIR_TEST)
    for name, value in (("nom", "GARCIA-HAMMADI"), ("prenoms", "LEA"), ("naissance", "2015-03-03")):
        page.fill(f"#ins-{name}", value)
    page.select_option("#ins-sexe", "F")
    if scanned:
        return scan.swap("text=Vérifier l'INS avec INSi", "Consulter son DMP en connexion secrète", "identité vérifiée")
    page.click("text=Vérifier l'INS avec INSi")
    page.get_by_text("Consulter son DMP en connexion secrète").wait_for()
    return page


def secretly(scan: Scan) -> None:
    """The connexion secrète for a minor (its banner on every page of her dossier): refused first (her
    information not recorded), recorded, a document fed in secret (htmx's answer), her DMP and the
    document's page."""
    verified_child(scan)
    page = scan.submit("text=Consulter son DMP en connexion secrète", 403)
    assert "Connexion secrète active" in page.locator("main").inner_text()
    page.check("#informee")
    scan.submit("text=Enregistrer l'information", 200)
    page = verified_child(scan, scanned=False)
    page.fill("#titre", "Consultation confidentielle")
    pdf = document_pdf("Consultation confidentielle", [("Synthèse", ["Rien à signaler."])])
    page.set_input_files("#fichier", {"name": "note.pdf", "mimeType": "application/pdf", "buffer": pdf})
    page.check("#verifie")
    page.check("#secrete")
    scan.swap("text=Déposer dans le DMP", "en connexion secrète", "document déposé")
    page = scan.submit("text=Voir son DMP", 200)
    assert "Connexion secrète active" in page.locator("main").inner_text()
    page = scan.submit("text=Consultation confidentielle", 200)
    assert "Connexion secrète active" in page.locator("main").inner_text()


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
    page.fill("#motif", "Patiente inconsciente aux urgences")
    page = scan.submit("text=Accéder en bris de glace", 200)
    assert "Accès en bris de glace" in page.locator("main").inner_text()
    secretly(scan)
    page = scan.go("/pro/patients")
    page.fill("#ins", SARAH_NIR[:13] + ("00" if SARAH_NIR[13:] != "00" else "01"))  # her INS, a wrong key
    for name, value in (("nom", "GARCIA-HAMMADI"), ("prenoms", "SARAH-LOU ANNA"), ("naissance", "1977-01-21")):
        page.fill(f"#ins-{name}", value)
    page.select_option("#ins-sexe", "F")
    scan.swap("text=Vérifier l'INS avec INSi", "Recherche impossible", "INS refusé")
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
            "/pro/patients/{id}/dmp/bris-de-glace",
            "/pro/patients + identité vérifiée",
            "/pro/patients + document déposé",
            "/pro/patients + INS refusé",
        },
    )


def test_every_page_of_a_structures_desks(world, seeded, scan):
    psc_log_in(scan, "/pro", PROS["hospitalier"].idnatps, "/pro/patients")
    scan.crawl("/pro/etablissement", ["/pro/etablissement"])
    desks = f"{scan.base}/pro/etablissement/{HOPITAL}"
    pfi, vigilance = (unescape(scan.context.request.get(f"{desks}/{d}").text()) for d in ("pfi", "identitovigilance"))
    for shown in ("Patients de l'index proposés", "Rattacher au dossier n°", "boîte inconnue", "dépôt DMP : AA"):
        assert shown in pfi, shown  # the crawl saw the worklist and the DPI's documents with rows
    for shown in ("DUPOND", "Doublon n°", "Deux dossiers pour un même patient", "Identification à l'admission"):
        assert shown in vigilance, shown
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
