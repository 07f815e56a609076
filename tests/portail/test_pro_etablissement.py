"""`/pro/etablissement/{structure}` over real HTTP, for the hospital's staff: the identitovigilance
desk (statuses, the identity document check, doublons found, merged or dismissed, the cell's incidents,
meetings and procedures, an INS retrieved from INSi). Each action is the service's own (its audit
records); every form checks CSRF; a wrong input is a French 4xx page; a professional of another
structure is refused with the French 403 page, and the refusal is recorded.

The tests of one backend share one house and world (module_live): each desk case is a structure of
its own (its index, alerts, incidents and meetings, counted on its page) and a staff member of it,
signed in through Pro Santé Connect. The PFI page is tested in test_pro_etablissement_pfi.py, a house
per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import count
from types import SimpleNamespace

import httpx
import pytest

from maison.core import audit
from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.ins_traits import Traits
from maison.etablissement.psc.client import sign_in
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.portail.pro_pages import COOKIE
from maison.portail.sessions import Sessions
from tests.partage.world import HOPITAL, HOPITAL_NAME, NOW, PASSWORD, PROS, REDIRECT, SARAH_ID, World, make_world, rpps
from tests.portail.pro_login import log_in
from tests.portail.pro_session import actor_of, csrf, french_error, pro_client

STAFF = PROS["hospitalier"]
DESK = f"/pro/etablissement/{HOPITAL}"
_serial = count(1)


@pytest.fixture(scope="module")
def shared(module_live) -> World:
    world = make_world(module_live.house, module_live, keys=("hospitalier", "generaliste"))
    assert world.inform("hospitalier").status_code == 201
    return world


@pytest.fixture
def world(shared: World) -> World:
    """The module's world, its professionals' PSC tokens renewed when old."""
    return shared.renew()


@pytest.fixture
def house(world: World):
    """The module's one house (module_house), under the name the cases read it by."""
    return world.house


@pytest.fixture(scope="module")
def psc_client(module_live) -> tuple[str, str]:
    """A DPI registered at Pro Santé Connect, through which the desks' staff sign in."""
    return module_live.house.psc.register_client("DPI de test des établissements", [REDIRECT])


@dataclass
class Desk:
    """A structure of the test's own, and a staff member of it with a /pro session on its desk."""

    structure: str
    idnatps: str
    actor: object
    client: httpx.Client

    @property
    def path(self) -> str:
        return f"/pro/etablissement/{self.structure}"


@pytest.fixture
def desk(world: World, psc_client) -> Iterator[Desk]:
    n, house = next(_serial), world.house
    finess = f"7502{n:04d}"
    structure = "1" + finess + luhn_check_digit(finess)
    member = rpps(f"12{n:08d}")
    idnatps = "8" + member
    with house.db.write() as conn:
        put(conn, [build.organization(structure, f"CH DE TEST {n}", NOW, secteur="SA01", city="PARIS")])
        put(conn, [build.practitioner(member, "VIGILANT", "Paul", "DR", "10", "C", None, NOW)])
        put(conn, [build.practitioner_role(f"21{n:08d}", idnatps, structure, NOW, fonction=None, mode="S")])
    house.psc.set_test_password(idnatps, PASSWORD)
    token = sign_in(world.base, *psc_client, REDIRECT, idnatps, password=PASSWORD)["access_token"]
    actor = actor_of(SimpleNamespace(house=house, base=world.base, tokens={"desk": token}), "desk")
    s = house.settings
    sessions = Sessions(house.db, inactivity=s.portail_inactivite_s, lifetime=s.portail_duree_max_s)
    raw, _ = sessions.open("pro", subject=idnatps, acting=idnatps, actor=actor)
    with httpx.Client(base_url=world.base, timeout=60, cookies={COOKIE: raw}) as client:
        yield Desk(structure, idnatps, actor, client)


@pytest.fixture
def index(desk: Desk, house):
    """The desk's index: two records one keying slip apart (a doublon), and a third."""
    return [
        house.patients.admit(desk.actor, desk.structure, ipp, Traits.of(*traits)).id
        for ipp, traits in (
            ("IPP-1", ("DUPONT", "Jean", "M", "1960-01-01")),
            ("IPP-2", ("DUPOND", "Jean", "M", "1960-01-01")),
            ("IPP-3", ("LAMBERT", "Alice", "F", "1985-06-15")),
        )
    ]


def _events(house, action: str) -> list[dict]:
    with house.db.read() as conn:
        return list(audit.events(conn, action_prefix=action))


def test_another_structure_s_professional_is_refused_and_the_refusal_recorded(world):
    with pro_client(world, "generaliste") as other:
        for path in (DESK, f"{DESK}/pfi", f"{DESK}/identitovigilance"):
            refused = other.get(path)
            french_error(refused, 403)
            assert "exerce pas dans la structure" in refused.text
        own = other.get(f"/pro/etablissement/{PROS['generaliste'].structure}")
        assert own.status_code == 200  # his own practice's desks
        entry = other.get("/pro/etablissement")  # the navigation's entry: the desks of his structure
        assert (
            entry.status_code == 303
            and entry.headers["location"] == f"/pro/etablissement/{PROS['generaliste'].structure}"
        )
        page = other.get("/pro/annuaire").text
        french_error(other.post(f"{DESK}/identitovigilance/detection", data={"csrf": csrf(page)}), 403)
    [*_, last] = [
        e for e in _events(world.house, "portail.etablissement") if e["actor_person"] == PROS["generaliste"].idnatps
    ]
    assert last["outcome"] == "failure" and json.loads(last["detail"])["code"] == "hors-structure"
    with httpx.Client(base_url=world.base, timeout=30) as anonymous:
        french_error(anonymous.get(f"{DESK}/identitovigilance"), 401)


def test_the_desk_checks_an_identity_document(desk, index, house):
    shown = desk.client.get(f"{desk.path}/identitovigilance")
    assert shown.status_code == 200, shown.text
    for href, label in (
        ("/pro/patients", "Patients"),
        ("/pro/annuaire", "Annuaire"),
        ("/pro/ordonnances", "Ordonnances"),
    ):
        assert f'<a href="{href}">{label}</a>' in shown.text  # the portal's one navigation
    assert '<a href="/pro/etablissement" aria-current="page">Établissement</a>' in shown.text
    assert "DUPONT" in shown.text and "3 non qualifiées" in shown.text and "provisoire" in shown.text
    assert _events(house, "identitovigilance.search")[-1]["actor_person"] == desk.idnatps
    url = f"{desk.path}/identitovigilance/identites/{index[2]}/piece"
    french_error(desk.client.post(url, data={"piece": "PA"}), 403)
    french_error(desk.client.post(url, data={"csrf": csrf(shown.text), "piece": "XX"}), 400)
    french_error(desk.client.post(url, data={"csrf": csrf(shown.text), "piece": "PC"}), 422)  # low trust: refused
    assert desk.client.post(url, data={"csrf": csrf(shown.text), "piece": "CN"}).status_code == 303
    assert "validée" in desk.client.get(f"{desk.path}/identitovigilance").text
    checked = _events(house, "identitovigilance.document-check") or _events(house, "identitovigilance")
    assert any(e["actor_person"] == desk.idnatps for e in checked)
    french_error(
        desk.client.post(
            f"{desk.path}/identitovigilance/identites/999999/piece", data={"csrf": csrf(shown.text), "piece": "CN"}
        ),
        404,
    )


def test_doublons_are_found_merged_or_dismissed(desk, index, house):
    page = desk.client.get(f"{desk.path}/identitovigilance").text
    assert "Aucune alerte ouverte." in page
    french_error(desk.client.post(f"{desk.path}/identitovigilance/detection", data={"csrf": "x"}), 403)
    assert desk.client.post(f"{desk.path}/identitovigilance/detection", data={"csrf": csrf(page)}).status_code == 303
    page = desk.client.get(f"{desk.path}/identitovigilance").text
    alert = int(page.split("/alertes/", 1)[1].split("/", 1)[0])
    assert f"Doublon n°{alert} : dossier {index[0]} et dossier {index[1]}" in page
    merge = f"{desk.path}/identitovigilance/alertes/{alert}/fusion"
    french_error(desk.client.post(merge, data={"csrf": csrf(page), "conserver": str(index[2])}), 400)  # not of the pair
    french_error(
        desk.client.post(
            f"{desk.path}/identitovigilance/alertes/999999/fusion", data={"csrf": csrf(page), "conserver": "1"}
        ),
        404,
    )
    assert desk.client.post(merge, data={"csrf": csrf(page), "conserver": str(index[0])}).status_code == 303
    page = desk.client.get(f"{desk.path}/identitovigilance").text
    assert "Aucune alerte ouverte." in page, page[page.find("<main") :]
    assert "DUPONT" in page and "DUPOND" not in page  # the absorbed record is no longer a live identity
    merged = _events(house, "identitovigilance.merge")
    assert merged and merged[-1]["actor_person"] == desk.idnatps
    french_error(
        desk.client.post(f"{desk.path}/identitovigilance/alertes/{alert}/ecarter", data={"csrf": csrf(page)}), 404
    )


def test_the_cell_declares_an_incident_that_its_report_shows(desk, index, house):
    page = desk.client.get(f"{desk.path}/identitovigilance").text
    assert "aucune réunion de la cellule au cours du semestre" in page
    url = f"{desk.path}/identitovigilance/incidents"
    french_error(desk.client.post(url, data={"type": "doublon", "description": "x"}), 403)
    french_error(desk.client.post(url, data={"csrf": csrf(page), "type": "meteo", "description": "x"}), 400)
    french_error(
        desk.client.post(url, data={"csrf": csrf(page), "type": "doublon", "description": "x", "patient": "abc"}), 400
    )
    done = desk.client.post(
        url,
        data={"csrf": csrf(page), "type": "doublon", "description": "DUPONT saisi deux fois", "patient": str(index[0])},
    )
    assert done.status_code == 303
    page = desk.client.get(f"{desk.path}/identitovigilance").text
    assert "DUPONT saisi deux fois" in page and "<dt>Incidents déclarés</dt><dd>1</dd>" in page
    assert _events(house, "identitovigilance.incident")[-1]["actor_person"] == desk.idnatps
    french_error(desk.client.get(f"{desk.path}/identitovigilance", params={"semestre": "2026-S3"}), 400)


def test_the_cell_records_its_meetings_and_procedures(desk, index, house):
    page = desk.client.get(f"{desk.path}/identitovigilance").text
    meetings, procedures = f"{desk.path}/identitovigilance/reunions", f"{desk.path}/identitovigilance/procedures"
    today = date.today().isoformat()
    french_error(desk.client.post(meetings, data={"date": today, "compteRendu": "revue"}), 403)
    french_error(desk.client.post(meetings, data={"csrf": csrf(page), "date": "hier", "compteRendu": "revue"}), 400)
    future = (date.today() + timedelta(days=3)).isoformat()
    french_error(desk.client.post(meetings, data={"csrf": csrf(page), "date": future, "compteRendu": "revue"}), 400)
    done = desk.client.post(
        meetings, data={"csrf": csrf(page), "date": today, "compteRendu": "revue des doublons", "participants": "A, B"}
    )
    assert done.status_code == 303
    french_error(desk.client.post(procedures, data={"csrf": csrf(page), "type": "accueil", "adopteeLe": today}), 400)
    for kind in ("identification", "rapprochement", "creation", "fusion"):
        assert (
            desk.client.post(procedures, data={"csrf": csrf(page), "type": kind, "adopteeLe": today}).status_code == 303
        )
    page = desk.client.get(f"{desk.path}/identitovigilance").text
    assert "<dt>Réunions</dt><dd>1</dd>" in page and "fonctionnement conforme" in page
    assert "procédure de fusion d&#39;identités" in page
    assert _events(house, "identitovigilance.meeting")[-1]["actor_person"] == desk.idnatps
    assert _events(house, "identitovigilance.procedure")[-1]["actor_person"] == desk.idnatps


def test_the_desk_retrieves_an_ins_from_insi_as_the_professional_s_structure(world, house):
    house.insi.register_structure(HOPITAL, HOPITAL_NAME)  # habilitated to INSi, as a DPI's structure is
    actor = actor_of(world, "hospitalier")
    sarah = house.patients.admit(
        actor, HOPITAL, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21")
    )
    nobody = house.patients.admit(actor, HOPITAL, "IPP-X", Traits.of("INCONNU", "Personne", "M", "1950-01-01"))
    with httpx.Client(
        base_url=world.base, timeout=60
    ) as staff:  # signed in on Pro Santé Connect: the portal's software
        assert log_in(staff, "/pro", STAFF.idnatps).status_code == 303
        page = staff.get(f"{DESK}/identitovigilance").text
        url = f"{DESK}/identitovigilance/identites/{sarah.id}/insi"
        french_error(staff.post(url, data={"csrf": "faux"}), 403)
        assert staff.post(url, data={"csrf": csrf(page)}).status_code == 303
        page = staff.get(f"{DESK}/identitovigilance").text
        assert "récupérée" in page and SARAH_ID.ins[:13] in page
        refused = staff.post(f"{DESK}/identitovigilance/identites/{nobody.id}/insi", data={"csrf": csrf(page)})
        assert refused.status_code == 422 and "Impossible d'afficher cette page" in refused.text
    assert house.patients.get(actor, sarah.id).status.value == "RECUP"
