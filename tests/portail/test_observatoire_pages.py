"""`/observatoire/tableau`, the observatory as a dashboard (issue 24 §3), on the house's app: each page
for each kind of reader — an ARS or ANS agent, the structure's own staff, a GHT's support, another
structure — allowed or refused with the French 403 page (the service decides, as for the
API, and records the refusal); every read audited as the API's is; the home page lists exactly what
its reader may read, each entry a page that answers, paged and filtered by a name or an identifier;
the explanation paginated and filtered, in place
for htmx (the fragment) and as a whole page without JavaScript; bad parameters a French 400, an
unknown structure a 404, no session a 401 — never a 500.

One house and world per backend for the whole module (`module_house`): every test only reads, is
refused, or opens sessions of its own; what a test counts in the trail is what it added itself."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from lxml import html

from maison.core import audit
from maison.core.actor import Actor
from maison.core.auth import issue_key
from maison.core.authz import psc_actor
from maison.core.errors import InvalidInput
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.observatoire.service import Readable
from maison.portail.observatoire_liste import LIST_PAGE_SIZE, Entry, entries, page_of
from maison.portail.observatoire_pages import BASE, COOKIE, OBSERVATOIRE, PAGE_SIZE
from maison.portail.sessions import Sessions
from maison.portail.web import CSP
from tests.observatoire.sunes.test_service import CURRENT, PREVIOUS, World
from tests.partage.world import HOPITAL, rpps

CLINIQUE, CABINET, AUTRE = "1750000027", "399999999900019", "1920000019"  # AUTRE: another GHT's support
NOW = "2026-11-01T08:00:00+00:00"
STAYS = PAGE_SIZE + 10  # two pages of explanation


# who signs in, as the Annuaire knows them: (RPPS, structure, fonction) — an agent's situation d'exercice
# carries the role the observatory reads (agent-ars, agent-ans: no national nomenclature names it)
PEOPLE = {
    "ars": (rpps("3000000001"), "ARS-IDF", "agent-ars"),
    "ans": (rpps("3000000002"), "ANS", "agent-ans"),
    "hopital": (rpps("3000000003"), HOPITAL, None),  # the structure's own staff, and the GHT's support
    "clinique": (rpps("3000000004"), CLINIQUE, None),  # a GHT member, not its support
    "cabinet": (rpps("3000000005"), CABINET, None),  # another structure
}


def actor_of(house, who: str) -> Actor:
    """The Actor the Pro Santé Connect login builds (psc_connexion: `core.authz.psc_actor` on UserInfo)."""
    info = house.psc.userinfo({"preferred_username": "8" + PEOPLE[who][0], "authMode": ""})
    return psc_actor({"azp": OBSERVATOIRE.client_id}, info, None)


@pytest.fixture(scope="module")
def house_with_stays(module_house):
    house = module_house
    with house.db.write() as conn:
        put(conn, [build.organization(HOPITAL, "CHU DE TEST", NOW, secteur="SA01")])
        put(conn, [build.organization(CLINIQUE, "CLINIQUE DE TEST", NOW, secteur="SA01")])
        put(conn, [build.organization(CABINET, "CABINET", NOW, siret=CABINET[1:], entity="LEGAL-ENTITY")])
        put(conn, [build.organization(AUTRE, "CH AUTRE", NOW, secteur="SA01")])
        put(conn, [build.organization("ARS-IDF", "ARS ILE-DE-FRANCE", NOW), build.organization("ANS", "ANS", NOW)])
        for i, (number, structure, fonction) in enumerate(PEOPLE.values()):
            put(conn, [build.practitioner(number, f"AGENT{i}", "Camille", "", "10", "C", None, NOW)])
            put(conn, [build.practitioner_role(f"30000000{i:02d}", "8" + number, structure, NOW, fonction=fonction)])
    admin = Actor("administrateur", "maison", "console", role="administrateur")
    house.cellule.record_ght(admin, "GHT-75", "GHT de test", HOPITAL, [HOPITAL, CLINIQUE])
    house.cellule.record_ght(admin, "GHT-92", "Un autre GHT", AUTRE, [AUTRE])
    world = World(house, receiver=None)  # the GAM's PAM messages only: stays, no document fed
    start = CURRENT.start
    for n in range(STAYS):
        world.stay(f"S{n}", f"P{n}", start + timedelta(days=1), start + timedelta(days=2))
    world.stay("OPEN", "PX", start + timedelta(days=3), None)  # not discharged: out of every denominator
    return house


@pytest.fixture(scope="module")
def app(house_with_stays):
    return house_with_stays.app()


@pytest.fixture
def client(app):
    return TestClient(app)  # cookies of its own: one test's logins are not the next one's


def log_in(house, client: TestClient, who: str) -> str:
    """A session of the observatory opened as the Pro Santé Connect login opens it; its CSRF token."""
    s = house.settings
    sessions = Sessions(house.db, inactivity=s.portail_inactivite_s, lifetime=s.portail_duree_max_s)
    actor = actor_of(house, who)
    raw, session = sessions.open("observatoire", subject=actor.person, acting=actor.person, actor=actor)
    client.cookies.set(COOKIE, raw)
    return session.csrf


def mark(house) -> int:
    """The trail's last seq now: what a test counts is what comes after it (the house is shared)."""
    house.insi.journal.close()  # the trail's journal written through
    with house.db.read() as conn:
        return audit.last_seq(conn)


def reads(house, action: str, after: int) -> list[dict]:
    house.insi.journal.close()
    with house.db.read() as conn:
        return [e for e in audit.events(conn, action_prefix=action) if e["action"] == action and e["seq"] > after]


def refusals(house, what: str, after: int) -> list[dict]:
    return [
        e
        for e in reads(house, "securite.acces-refuse", after)
        if audit.detail_of(e).get("action") == f"observatoire.{what}"
    ]


def french_error(answer, status: int) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CSP
    page = html.fromstring(answer.content)
    assert page.get("lang") == "fr" and page.findtext(".//h1") == "Impossible d'afficher cette page"
    assert page.xpath('//a[text()="Revenir à l\'accueil"]/@href') == [BASE]  # the observatory's own home
    return page.xpath("string(//p[@role='alert'])")


OWN = {"structure": HOPITAL, "periode": CURRENT.label}
PAGES = {  # page -> (path, parameters, readers allowed besides the agents)
    "sunes": ("/sunes", OWN, {"hopital"}),
    "explication": ("/sunes/explication/DS1.1", OWN, {"hopital"}),
    "sunes-ght": ("/sunes", {"ght": "GHT-75", "periode": CURRENT.label}, {"hopital"}),
    "prerequis": ("/prerequis", OWN, {"hopital"}),
    "maturin": ("/maturin", OWN, {"hopital"}),
    "national": ("/national", {"periode": CURRENT.label}, set()),
    "conformite": ("/conformite", {"periode": CURRENT.label}, set()),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_by_each_reader(house_with_stays, client, name):
    path, params, allowed = PAGES[name]
    for who in PEOPLE:
        log_in(house_with_stays, client, who)
        answer = client.get(BASE + path, params=params)
        if who in ("ars", "ans") or who in allowed:
            assert answer.status_code == 200, (who, answer.text)
            page = html.fromstring(answer.content)
            assert page.get("lang") == "fr" and len(page.findall(".//h1")) == 1
            assert page.xpath("//form[@action='/observatoire/tableau/deconnexion']//input[@name='csrf']")
            assert answer.headers["content-security-policy"] == CSP
        else:
            message = french_error(answer, 403)
            assert "réservé" in message, (who, message)
    client.cookies.clear()
    assert "reconnectez-vous" in french_error(client.get(BASE + path, params=params), 401)


def test_a_refusal_is_recorded_as_the_api_records_it(house_with_stays, client):
    before = mark(house_with_stays)
    log_in(house_with_stays, client, "cabinet")
    assert client.get(f"{BASE}/sunes", params=OWN).status_code == 403
    log_in(house_with_stays, client, "hopital")
    assert client.get(f"{BASE}/national").status_code == 403
    [sunes] = refusals(house_with_stays, "sunes", before)
    [national] = refusals(house_with_stays, "national", before)
    assert sunes["actor_person"] == "8" + PEOPLE["cabinet"][0] and sunes["actor_structure"] == CABINET
    assert national["actor_structure"] == HOPITAL
    assert reads(house_with_stays, "observatoire.sunes", before) == []  # nothing read, nothing computed


def test_the_sunes_page_shows_each_rate_by_semester_with_its_target_and_links_it_to_its_explanation(
    house_with_stays, client
):
    before = mark(house_with_stays)
    log_in(house_with_stays, client, "ars")
    answer = client.get(f"{BASE}/sunes", params=OWN)
    page = html.fromstring(answer.content)
    [line] = page.xpath("(//table)[1]/tbody/tr[th[starts-with(., 'DS1.1')]]")
    cells = [td.text_content().strip() for td in line.findall("td")]
    assert cells[1:3] == ["0", str(STAYS)]  # no lettre de liaison fed: 0 of the discharged stays
    assert cells[3].startswith("0,0 %") and cells[4] == f"{house_with_stays.settings.sunes_cible_ds1_1} %"
    assert cells[5] == "non"
    [link] = line.xpath(".//a")
    assert link.get("href") == f"{BASE}/sunes/explication/DS1.1?structure={HOPITAL}&periode={CURRENT.label}"
    semesters = page.xpath("(//table)[2]/thead//th/text()")
    assert semesters[-2:] == [CURRENT.label, "Cible"] and PREVIOUS.label in semesters and len(semesters) == 6
    [earlier] = page.xpath(f"(//table)[2]//tr[th='DS1.1']//a[contains(@href, 'periode={PREVIOUS.label}')]")
    assert earlier.text_content().startswith("non calculable")  # no stay in the previous semester
    assert page.xpath("//figure/svg[@role='img']/title")  # the semester's bars (lxml.html: no SVG namespace)
    assert "signé" in page.xpath("string(//p[@class='sceau'])")
    # one read per semester shown, recorded as GET /observatoire/sunes records it
    records = reads(house_with_stays, "observatoire.sunes", before)
    assert len(records) == 4 and {r["actor_person"] for r in records} == {"8" + PEOPLE["ars"][0]}
    assert audit.detail_of(records[-1])["perimetre"] == f"structure:{HOPITAL}"


def test_the_page_reads_are_the_api_reads(house_with_stays, client):
    """The same service call: the record of a page's read is the record of the API's read."""
    before = mark(house_with_stays)
    key = {"ESANTE-API-KEY": issue_key(house_with_stays.db, HOPITAL, "logiciel-test", "porteur")}
    assert client.get("/observatoire/sunes/explication/DS1.1", params=OWN, headers=key).status_code == 200
    log_in(house_with_stays, client, "hopital")
    assert client.get(f"{BASE}/sunes/explication/DS1.1", params=OWN).status_code == 200
    api, portal = reads(house_with_stays, "observatoire.sunes", before)
    strip = ("perimetre", "structures", "periode", "indicateur")
    assert {k: audit.detail_of(api)[k] for k in strip} == {k: audit.detail_of(portal)[k] for k in strip}
    assert portal["actor_person"] == "8" + PEOPLE["hopital"][0] and portal["actor_structure"] == HOPITAL


def test_the_explanation_is_paginated_and_filtered(house_with_stays, client):
    log_in(house_with_stays, client, "hopital")
    first = html.fromstring(client.get(f"{BASE}/sunes/explication/DS1.1", params=OWN).content)
    rows = first.xpath("//table/tbody/tr")
    assert len(rows) == PAGE_SIZE
    assert f"0 compté sur {STAYS} au dénominateur ; 1 hors dénominateur" in " ".join(
        first.xpath("string(//p[@class='resume'])").split()
    )
    reasons = {r.findtext("th"): [td.text_content() for td in r.findall("td")] for r in rows}
    assert reasons[f"{HOPITAL}/S0"][:3] == ["oui", "non", "aucune lettre de liaison"]
    assert re.fullmatch(r"\d+", reasons[f"{HOPITAL}/S0"][3])  # the stay's audit record
    [following] = first.xpath("//nav[@aria-label=\"Pages de l'explication\"]//a[@rel='next']/@href")
    second = html.fromstring(client.get(following).content)
    assert len(second.xpath("//table/tbody/tr")) == STAYS + 1 - PAGE_SIZE
    assert "Page 2 sur 2" in second.xpath("string(//nav[@class='pagination'])")
    outside = html.fromstring(client.get(f"{BASE}/sunes/explication/DS1.1", params={**OWN, "filtre": "hors"}).content)
    [(element, *cells)] = [[c.text_content() for c in r] for r in outside.xpath("//table/tbody/tr")]
    assert element == f"{HOPITAL}/OPEN" and cells[0] == "non" and "non terminé" in cells[2]


@pytest.mark.parametrize(
    ("path", "params", "status", "wanted"),
    [
        ("/sunes", {"structure": HOPITAL, "periode": "2026-S3"}, 400, "illisible"),
        ("/sunes", {"structure": HOPITAL, "periode": "2026-05"}, 400, "un semestre est attendu"),
        ("/sunes", {"structure": HOPITAL, "ght": "GHT-75"}, 400, "soit structure, soit ght"),
        ("/sunes", {"periode": "2026-S1"}, 400, "soit structure, soit ght"),
        ("/sunes", {"structure": "1999999998"}, 404, "inconnue"),
        ("/sunes", {"ght": "GHT-INCONNU"}, 404, "inconnu"),
        ("/sunes/explication/DS9.9", OWN, 400, "inconnu"),
        ("/sunes/explication/DS1.1", {**OWN, "page": "3"}, 400, "en compte 2"),
        ("/sunes/explication/DS1.1", {**OWN, "page": "x"}, 400, "numéro de page"),
        ("/sunes/explication/DS1.1", {**OWN, "page": "0"}, 400, "numéro de page"),
        ("/sunes/explication/DS1.1", {**OWN, "filtre": "tout"}, 400, "filtre"),
        ("/national", {"periode": "2026-13"}, 400, "illisible"),
    ],
)
def test_bad_parameters_are_french_pages_never_500(house_with_stays, client, path, params, status, wanted):
    log_in(house_with_stays, client, "ars")
    assert wanted in french_error(client.get(BASE + path, params=params), status)


def test_the_national_series_are_charts_with_their_tables(house_with_stays, client):
    before = mark(house_with_stays)
    log_in(house_with_stays, client, "ans")
    answer = client.get(f"{BASE}/national")  # the last twelve months by default
    page = html.fromstring(answer.content)
    charts = page.xpath("//figure/svg[@role='img']")  # lxml.html parses inline SVG without its namespace
    assert charts, answer.text
    for chart in charts:  # each chart named, described, and followed by its data table
        assert chart.findtext("title") and chart.find("desc") is not None
        table = chart.getparent().xpath("following::table[1]")[0]
        assert table.find("caption").text_content() in chart.findtext("title")
        assert table.xpath("thead//th[@scope='col']")
    months = page.xpath('//table[starts-with(caption, "Part des échanges portant l\'INS")]/tbody/tr/th/text()')
    assert len(months) == 12 and months[-1] == date.today().strftime("%Y-%m")
    assert len(reads(house_with_stays, "observatoire.national", before)) == 1


def test_conformity_maturin_and_prerequisites(house_with_stays, client):
    before = mark(house_with_stays)
    log_in(house_with_stays, client, "ars")
    conformity = html.fromstring(client.get(f"{BASE}/conformite").content)
    assert conformity.xpath("//table[starts-with(caption, 'Conformité à la maison')]")
    log_in(house_with_stays, client, "hopital")
    maturin = html.fromstring(client.get(f"{BASE}/maturin", params={**OWN, "type": "CHU"}).content)
    summary = " ".join(maturin.xpath("string(//p[@class='resume'])").split())
    assert re.search(r"Score [\d,]+ sur 100 \(\d+ critères? atteints? sur \d+ applicables?\) : niveau [ABCD]", summary)
    assert maturin.xpath("//select[@id='type']/option[@selected]/@value") == ["CHU"]
    prerequis = html.fromstring(client.get(f"{BASE}/prerequis", params=OWN).content)
    volets = [li.text_content() for li in prerequis.xpath("//ul[@class='volets']/li")]
    assert volets[0].startswith("Volet 1 : non éligible") and "PS1.1" in volets[0]
    assert prerequis.xpath("//table[starts-with(caption, 'Prérequis SUN-ES')]/tbody/tr")
    assert len(reads(house_with_stays, "observatoire.maturin", before)) == 1
    assert len(reads(house_with_stays, "observatoire.prerequis", before)) == 1


def test_the_home_page_and_the_menu_follow_the_reader(house_with_stays, client):
    log_in(house_with_stays, client, "ars")
    agent = html.fromstring(client.get(BASE).content)
    assert agent.xpath("//nav//a/text()") == ["Accueil", "Statistiques nationales", "Conformité des logiciels"]
    assert agent.xpath("//input[@id='structure']/@value") == []
    log_in(house_with_stays, client, "hopital")
    staff = html.fromstring(client.get(BASE).content)
    assert staff.xpath("//input[@id='structure']/@value") == [HOPITAL]
    assert "Indicateurs SUN-ES" in staff.xpath("//nav//a/text()")
    own = html.fromstring(client.get(f"{BASE}/sunes", params={"structure": HOPITAL}).content)
    assert own.xpath("//nav//a[@aria-current='page']/text()") == ["Indicateurs SUN-ES"]


def test_sessions_of_other_portals_and_the_logout(house_with_stays, client):
    s = house_with_stays.settings
    sessions = Sessions(house_with_stays.db, inactivity=s.portail_inactivite_s, lifetime=s.portail_duree_max_s)
    staff = actor_of(house_with_stays, "hopital")
    raw, _ = sessions.open("pro", subject=staff.person, acting=staff.person, actor=staff)
    client.cookies.set(COOKIE, raw)  # a /pro session is no observatory session: to the login
    home = client.get(BASE, follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == f"{BASE}/connexion"
    assert "reconnectez-vous" in french_error(client.get(f"{BASE}/sunes", params=OWN), 401)
    login = client.get(f"{BASE}/connexion")
    assert login.status_code == 200 and "Se connecter avec Pro Santé Connect" in login.text
    raw, _ = sessions.open("observatoire", subject="x", acting="x")  # no Actor: not a login's session
    client.cookies.set(COOKIE, raw)
    french_error(client.get(BASE), 401)
    csrf = log_in(house_with_stays, client, "ars")
    assert "CSRF" in french_error(client.post(f"{BASE}/deconnexion", data={"csrf": "faux"}), 403)
    done = client.post(f"{BASE}/deconnexion", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{BASE}/connexion?fin=1"
    assert client.get(BASE, follow_redirects=False).status_code == 303


# --- the home page's list: what its reader may read, by the service's one rule --------------------

SUNES = f"{BASE}/sunes?"
LISTS = {  # reader -> the links of the list (GHTs, then structures), and its members named without a link
    "ars": ({"ght=GHT-75", "ght=GHT-92", f"structure={HOPITAL}", f"structure={CLINIQUE}", f"structure={AUTRE}"}, set()),
    "ans": ({"ght=GHT-75", "ght=GHT-92", f"structure={HOPITAL}", f"structure={CLINIQUE}", f"structure={AUTRE}"}, set()),
    "hopital": ({"ght=GHT-75", f"structure={HOPITAL}"}, {CLINIQUE}),  # the support: its GHT and itself
    "clinique": ({f"structure={CLINIQUE}"}, set()),  # a member, not the support: itself only
    "cabinet": ({f"structure={CABINET}"}, set()),  # no stay, no GHT: itself still
}


def listed(page) -> tuple[set[str], set[str]]:
    """The list's links (their scope, the period left out) and the members it names without one."""
    [lisibles] = page.xpath("//div[@id='lisibles']")
    links = set()
    for href in lisibles.xpath(".//a/@href"):
        assert href.startswith(SUNES) and href.endswith(f"&periode={CURRENT.label}"), href
        links.add(href[len(SUNES) :].rsplit("&", 1)[0])
    unlinked = {" ".join(li.text_content().split()) for li in lisibles.xpath(".//ul/li/ul/li[not(a)]")}
    return links, unlinked


@pytest.mark.parametrize("who", list(LISTS))
def test_each_reader_sees_exactly_what_it_may_read_and_each_link_answers(house_with_stays, client, who):
    log_in(house_with_stays, client, who)
    answer = client.get(BASE)
    assert answer.status_code == 200, answer.text
    page = html.fromstring(answer.content)
    links, unlinked = listed(page)
    wanted, named = LISTS[who]
    assert links == wanted
    assert unlinked == {f"CLINIQUE DE TEST ({c})" for c in named}  # a member its support reads only in the GHT
    if who in ("ars", "ans", "hopital"):  # named as the Annuaire names them
        assert f"CHU DE TEST ({HOPITAL})" in page.xpath("string(//div[@id='lisibles'])")
    for href in set(page.xpath("//div[@id='lisibles']//a/@href")):
        followed = client.get(href)
        assert followed.status_code == 200, (who, href, followed.text)
        assert html.fromstring(followed.content).findtext(".//h1").startswith("Indicateurs SUN-ES")


@pytest.mark.parametrize(
    "reader",
    [
        Actor("8" + rpps("3000000009"), "", "psc", kind="professional"),  # a professional in no structure
        Actor("patient", "", "mes", kind="patient", patient="1234567890123"),  # a patient's session, forged
    ],
    ids=["sans-structure", "patient"],
)
def test_a_reader_who_may_read_nothing_is_refused_and_recorded(house_with_stays, client, reader):
    before = mark(house_with_stays)
    s = house_with_stays.settings
    sessions = Sessions(house_with_stays.db, inactivity=s.portail_inactivite_s, lifetime=s.portail_duree_max_s)
    raw, _ = sessions.open("observatoire", subject=reader.person, acting=reader.person, actor=reader)
    client.cookies.set(COOKIE, raw)
    assert "réservée aux structures et aux agents ARS/ANS" in french_error(client.get(BASE), 403)
    [refused] = refusals(house_with_stays, "liste", before)
    assert refused["actor_person"] == reader.person and refused["outcome"] == "failure"


def test_the_semester_choice_and_the_list_answer_a_fragment_to_htmx(house_with_stays, client):
    log_in(house_with_stays, client, "hopital")
    params = {"periode": PREVIOUS.label}
    whole = client.get(BASE, params=params)
    assert whole.headers["vary"] == "HX-Request"
    page = html.fromstring(whole.content)
    assert page.xpath("//select[@id='semestre']/option[@selected]/@value") == [PREVIOUS.label]
    assert page.xpath("//form[@hx-get='/observatoire/tableau'][@action='/observatoire/tableau']")  # no JS: the page
    assert all(h.endswith(f"periode={PREVIOUS.label}") for h in page.xpath("//div[@id='lisibles']//a/@href"))
    part = client.get(BASE, params=params, headers={"HX-Request": "true"})
    assert part.status_code == 200 and part.headers["vary"] == "HX-Request"
    assert "<html" not in part.text and "<h1" not in part.text  # only the list…
    fragment = html.fromstring(f"<div>{part.text}</div>")
    assert fragment.xpath("//div[@id='lisibles']//a/@href")
    assert fragment.xpath("//p[@id='etat-lisibles'][@hx-swap-oob='innerHTML']//strong/text()") == [PREVIOUS.label]
    assert part.text.lstrip().startswith("<title>Accueil — Observatoire</title>")  # …and the page's new title
    restored = client.get(BASE, params=params, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.text  # htmx restoring its history asks for the whole page
    assert "un semestre est attendu" in french_error(client.get(BASE, params={"periode": "2026-05"}), 400)


def test_the_explanation_pages_and_filters_in_place(house_with_stays, client):
    log_in(house_with_stays, client, "hopital")
    here = f"{BASE}/sunes/explication/DS1.1"
    page = html.fromstring(client.get(here, params={**OWN, "taille": "25"}).content)
    assert page.xpath("//form[@hx-get][@action]//select[@id='taille']/option[@selected]/@value") == ["25"]
    [following] = page.xpath("//a[@id='page-suivante']/@href")
    assert "taille=25" in following and "filtre=tous" in following and "page=2" in following
    assert page.xpath("//a[@id='page-suivante']/@hx-get") == [following]
    assert page.xpath("//p[@id='etat-explication'][@role='status']/text()") == [
        f"Éléments 1 à 25 sur {STAYS + 1} (tous), page 1 sur 3."
    ]
    part = client.get(following, headers={"HX-Request": "true"})
    assert "<html" not in part.text and "<h1" not in part.text
    fragment = html.fromstring(f"<div>{part.text}</div>")
    [liste] = fragment.xpath("//div[@id='explication-liste']")
    assert len(liste.xpath(".//tbody/tr")) == 25 and liste.xpath(".//a[@id='page-precedente']")
    assert fragment.xpath("//p[@id='etat-explication'][@hx-swap-oob]/text()") == [
        f"Éléments 26 à 50 sur {STAYS + 1} (tous), page 2 sur 3."
    ]
    filtered = client.get(here, params={**OWN, "filtre": "hors"}, headers={"HX-Request": "true"})
    rows = html.fromstring(f"<div>{filtered.text}</div>").xpath("//div[@id='explication-liste']//tbody/tr/th/text()")
    assert rows == [f"{HOPITAL}/OPEN"]
    assert "taille" in french_error(client.get(here, params={**OWN, "taille": "501"}), 400)


def test_the_semesters_of_the_sunes_page_swap_in_place(house_with_stays, client):
    log_in(house_with_stays, client, "hopital")
    page = html.fromstring(client.get(f"{BASE}/sunes", params=OWN).content)
    [earlier] = page.xpath("//a[@id='semestre-precedent']")
    assert earlier.get("href") == earlier.get("hx-get") and earlier.get("hx-target") == "#contenu"
    part = client.get(earlier.get("href"), headers={"HX-Request": "true"})
    assert part.text.lstrip().startswith(f"<title>SUN-ES {HOPITAL} {PREVIOUS.label} — Observatoire</title>")
    fragment = html.fromstring(f"<div>{part.text}</div>")
    assert fragment.findtext(".//h1") == f"Indicateurs SUN-ES — structure {HOPITAL} — {PREVIOUS.label}"
    assert "<html" not in part.text and "Se déconnecter" not in part.text  # the main content only


@pytest.mark.parametrize(
    ("who", "path", "params", "drawn"),
    [
        ("ars", "/national", {}, True),
        ("ars", "/conformite", {}, False),  # no software with a key in this world: no row, no bar
        ("hopital", "/maturin", OWN, False),  # MATURIN-H's and the prerequisites' tables have no chart
        ("hopital", "/prerequis", OWN, False),
        ("hopital", "/sunes", OWN, True),
    ],
)
def test_every_chart_has_its_data_table(house_with_stays, client, who, path, params, drawn):
    """Each SVG chart is named, described, and its values given as a table (the SUN-ES page's table
    comes first, its chart after, and says so; elsewhere the table follows its chart)."""
    log_in(house_with_stays, client, who)
    page = html.fromstring(client.get(BASE + path, params=params).content)
    assert bool(page.xpath("//figure/svg")) is drawn
    assert page.xpath("//table/caption")
    for chart in page.xpath("//figure/svg"):
        assert chart.get("role") == "img" and chart.findtext("title") and chart.find("desc") is not None
        caption = chart.getparent().findtext("figcaption")
        if path == "/sunes":
            assert "tableau ci-dessus" in caption and chart.getparent().xpath("preceding::table[1]/caption")
        else:
            [table] = chart.getparent().xpath("following::table[1]")
            assert "tableau qui suit" in caption and table.find("caption").text_content() in chart.findtext("title")
            assert table.xpath("tbody/tr")


# --- the home page's list paged and filtered (some 3 000 structures at national scale) -------------

MANY = Readable(
    {"GHT-01": ["1300000001", "1300000002"], "GHT-02": ["1300000003"]},
    [f"13{n:08d}" for n in range(1, 121)],  # the GHTs' members among them, as `readable` lists them
)
MANY_NAMES = {"1300000002": "Hôpital Nord", "1300000077": "CLINIQUE DES ÉTANGS"}


def test_the_list_is_the_ghts_then_the_structures_in_none_cut_into_pages():
    items = entries(MANY, MANY_NAMES)
    assert [e.code for e in items[:3]] == ["GHT-01", "GHT-02", "1300000004"]  # members only in their GHT
    assert len(items) == 2 + 117 and items[0] == Entry("ght", "GHT-01", ("1300000001", "1300000002"))
    first, last = page_of(items, 1), page_of(items, 3)
    assert (len(first.entries), first.pages, first.total, first.first) == (LIST_PAGE_SIZE, 3, 119, 1)
    assert [e.code for e in first.ghts] == ["GHT-01", "GHT-02"] and len(first.structures) == 48
    assert (len(last.entries), last.first, last.ghts) == (19, 101, [])
    assert page_of([], 1).pages == 1  # nothing kept: one page, empty
    with pytest.raises(InvalidInput, match="la liste en compte 3"):
        page_of(items, 4)


def test_the_filter_reads_names_and_identifiers_without_accents_or_case():
    assert entries(MANY, MANY_NAMES, "hopital nord") == [Entry("ght", "GHT-01", ("1300000002",), partial=True)]
    assert entries(MANY, MANY_NAMES, "ght-0") == [
        Entry("ght", "GHT-01", ("1300000001", "1300000002")),  # the GHT's code: all its members
        Entry("ght", "GHT-02", ("1300000003",)),
    ]
    assert entries(MANY, MANY_NAMES, "etangs") == [Entry("structure", "1300000077")]
    assert [e.code for e in entries(MANY, MANY_NAMES, "130000011")] == [f"130000011{n}" for n in range(10)]
    assert entries(MANY, MANY_NAMES, "inconnue") == []


def pager(tree) -> dict[str, str]:
    """The list's page links by their `rel` (prev, next)."""
    return {a.get("rel"): a.get("href") for a in tree.xpath("//nav[@aria-label='Pages de la liste']//a")}


def test_the_home_page_pages_its_list_in_place_and_without_javascript(house_with_stays, client, monkeypatch):
    monkeypatch.setattr(house_with_stays.observatoire, "readable", lambda actor: MANY)  # 119 entries, cheaply
    log_in(house_with_stays, client, "ars")
    params = {"periode": PREVIOUS.label}
    page = html.fromstring(client.get(BASE, params=params).content)
    assert len(page.xpath("//div[@id='lisibles']/ul/li")) == LIST_PAGE_SIZE
    assert "entrées 1 à 50 sur 119, page 1 sur 3" in page.xpath("string(//p[@id='etat-lisibles'])")
    assert set(pager(page)) == {"next"}
    following = pager(page)["next"]
    assert following == f"{BASE}?periode={PREVIOUS.label}&page=2"  # the semester kept
    assert page.xpath("//a[@id='lisibles-suivante']/@hx-get") == [following]
    part = client.get(following, headers={"HX-Request": "true"})
    assert "<html" not in part.text and "<h1" not in part.text
    fragment = html.fromstring(f"<div>{part.text}</div>")
    assert len(fragment.xpath("//div[@id='lisibles']/ul/li")) == LIST_PAGE_SIZE
    assert "entrées 51 à 100 sur 119, page 2 sur 3" in fragment.xpath("string(//p[@id='etat-lisibles'][@hx-swap-oob])")
    assert set(pager(fragment)) == {"prev", "next"}
    whole = html.fromstring(client.get(f"{BASE}?periode={PREVIOUS.label}&page=3").content)  # the same, no JS
    assert len(whole.xpath("//div[@id='lisibles']/ul/li")) == 19 and set(pager(whole)) == {"prev"}
    assert "la liste en compte 3" in french_error(client.get(BASE, params={**params, "page": "4"}), 400)
    assert "numéro de page" in french_error(client.get(BASE, params={**params, "page": "0"}), 400)


def test_the_home_page_filters_its_list_as_the_agent_types(house_with_stays, client):
    log_in(house_with_stays, client, "ars")
    page = html.fromstring(client.get(BASE).content)
    [form] = page.xpath("//form[@hx-get='/observatoire/tableau'][@action='/observatoire/tableau']")
    assert "keyup changed delay:300ms" in form.get("hx-trigger") and form.xpath(".//input[@name='filtre']")
    params = {"periode": PREVIOUS.label, "filtre": "clinique de"}
    part = client.get(BASE, params=params, headers={"HX-Request": "true"})
    fragment = html.fromstring(f"<div>{part.text}</div>")
    assert fragment.xpath("//div[@id='lisibles']//a/@href") == [
        f"{SUNES}ght=GHT-75&periode={PREVIOUS.label}",
        f"{SUNES}structure={CLINIQUE}&periode={PREVIOUS.label}",  # the member that matches, named
    ]
    assert "correspondant au filtre" in fragment.xpath("string(//div[@id='lisibles'])")
    whole = html.fromstring(client.get(BASE, params={"filtre": AUTRE}).content)  # no JS: the whole page
    assert whole.xpath("//input[@id='filtre-lisibles']/@value") == [AUTRE]
    assert listed(whole)[0] == {"ght=GHT-92", f"structure={AUTRE}"}
    none = html.fromstring(client.get(BASE, params={"filtre": "introuvable"}).content)
    assert "Aucune structure ni aucun GHT ne correspond" in none.xpath("string(//div[@id='lisibles'])")
    assert "100 au plus" in french_error(client.get(BASE, params={"filtre": "x" * 101}), 400)
