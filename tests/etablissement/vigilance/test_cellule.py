"""The identitovigilance cell and its semester activity report (seed 004 L341-353, L379), over HTTP.

The tests of one backend share one served house (module_live): each acts for structures of its own
(`ours`: its cell's, a second establishment, an outsider), whose meetings, procedures, incidents and
GHT no other test touches, and reads the refusals and reports recorded after a mark it takes."""

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.core.auth import issue_key
from maison.core.errors import MaisonError
from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.ins_traits import Traits
from maison.etablissement.insi.client import ClientIdentity, InsiClient
from maison.etablissement.vigilance.cellule import REQUIRED_PROCEDURES, Cellule, Semester
from tests.e2e.mss_shared import Trail
from tests.identite.helpers import IDAM, seed_referential

TODAY = date.today()
NOW = str(Semester.of(TODAY))
_serial = itertools.count(1)


def cell(structure: str) -> Actor:
    """The identitovigilance cell of `structure`, acting in the house's services."""
    return Actor(person="899900038441", structure=structure, software=IDAM, role="cellule")


def _structure() -> str:
    """A structure no other test of the module acts for (an establishment's FINESS, with its key)."""
    finess = f"76{next(_serial):06d}"
    return "1" + finess + luhn_check_digit(finess)


@dataclass(frozen=True)
class Structures:
    """A test's structures: its cell's, a second establishment (of its GHT, when it records one), an outsider."""

    own: str
    other: str
    outsider: str


@pytest.fixture
def house(module_live):
    """The module's shared house (what the per-test `house` gave these tests)."""
    return module_live.house


@pytest.fixture
def ours() -> Structures:
    return Structures(_structure(), _structure(), _structure())


@pytest.fixture
def trail(house) -> Trail:
    """The audit records of this test: those after its start."""
    return Trail(house)


@pytest.fixture
def civ(house, module_live, ours):
    def client(structure: str) -> httpx.Client:
        key = issue_key(house.db, structure, IDAM, f"civ-{structure}", "cellule")
        return httpx.Client(base_url=f"{module_live.url}/identitovigilance", headers={"Authorization": f"Bearer {key}"})

    return house, client(ours.own), client


def _adopt_all(http: httpx.Client, on: str = "2020-01-15") -> None:
    for kind in REQUIRED_PROCEDURES:
        assert http.post("/procedures", json={"type": kind, "titre": "", "adopteeLe": on}).status_code == 201


def test_semesters():
    assert (Semester.parse("2026-S1").start, Semester.parse("2026-S1").end) == (date(2026, 1, 1), date(2026, 7, 1))
    assert (Semester.parse("2026-S2").start, Semester.parse("2026-S2").end) == (date(2026, 7, 1), date(2027, 1, 1))
    assert str(Semester.of(date(2026, 6, 30))) == "2026-S1" and str(Semester.of(date(2026, 7, 1))) == "2026-S2"


def test_no_meeting_in_the_semester_is_not_eligible(civ):
    _, http, _ = civ
    _adopt_all(http)
    # 004 L341-343: at least one meeting per semester; one held the semester before does not count
    previous = Semester.of(Semester.parse(NOW).start - timedelta(days=1))
    assert (
        http.post(
            "/reunions",
            json={
                "date": (previous.end - timedelta(days=1)).isoformat(),
                "compteRendu": "revue des doublons",
                "participants": [],
            },
        ).status_code
        == 201
    )
    report = http.get("/rapport", params={"semestre": NOW}).json()
    assert report["eligible"] is False
    assert report["structures"][0]["manques"] == ["aucune réunion de la cellule au cours du semestre"]
    assert len(http.get("/rapport", params={"semestre": str(previous)}).json()["structures"][0]["reunions"]) == 1


def test_missing_procedures_are_named(civ):
    _, http, _ = civ
    http.post("/reunions", json={"date": TODAY.isoformat(), "compteRendu": "CR", "participants": ["DIM"]})
    http.post(
        "/procedures", json={"type": "identification", "titre": "Identification à l'accueil", "adopteeLe": "2021-03-01"}
    )
    part = http.get("/rapport", params={"semestre": NOW}).json()["structures"][0]
    # 004 L379: identification, rapprochement, création and fusion procedures at least
    assert part["eligible"] is False
    assert part["manques"] == [
        "procédure de rapprochement d'identités absente",
        "procédure de création d'identité absente",
        "procédure de fusion d'identités absente",
    ]


def test_full_report_counts_what_happened(civ, module_live, ours, trail):
    house, http, _ = civ
    seed_referential(house.insi)
    house.insi.register_structure(ours.own, "Hôpital de test")
    _adopt_all(http)
    assert (
        http.post(
            "/reunions",
            json={
                "date": TODAY.isoformat(),
                "compteRendu": "Bilan du semestre",
                "participants": ["Dr Martin", "Mme Durand (admissions)"],
            },
        ).status_code
        == 201
    )
    index = house.patients
    a = index.admit(cell(ours.own), ours.own, "A1", Traits.of("Lefèvre", "Marie-Thérèse", "F", "1980-03-04"))
    b = index.admit(cell(ours.own), ours.own, "A2", Traits.of("LEFEVRE", "MARIE THERESE", "F", "1980-03-04"))
    c = index.admit(cell(ours.own), ours.own, "A3", Traits.of("DURAND", "LUC", "M", "1970-01-01"))
    assert http.post("/detection").json() == {"alertes": 1}
    [alert] = http.get("/alertes").json()
    merged = http.post(f"/alertes/{alert['id']}/fusion", json={"conserver": a.id})
    assert merged.json() == {"conserve": a.id, "fusionne": b.id}
    index.split(cell(ours.own), c.id, "A4", Traits.of("DURAND", "LUCIE", "F", "1972-02-02"))
    assert (
        http.post(
            "/incidents",
            json={"type": "collision", "description": "deux patients sur le dossier A3", "patientId": c.id},
        ).status_code
        == 201
    )
    assert http.post("/incidents", json={"type": "usurpation", "description": "carte Vitale prêtée"}).status_code == 201
    insi = InsiClient(f"{module_live.url}/insi/lps", ClientIdentity(ours.own, IDAM))
    insi.search_traits("GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21")
    insi.search_traits("INCONNU", ["PAUL"], "M", "1990-01-01")
    insi.search_traits("MARTIN", ["JEAN"], "M", "1980-05-10")

    report = http.get("/rapport", params={"semestre": NOW}).json()
    part = report["structures"][0]
    assert report["eligible"] is True and part["manques"] == []
    # (a) the meetings, (b) the incidents, (c) fusions and dédoublements — 004 L343-345
    assert [m["participants"] for m in part["reunions"]] == [["Dr Martin", "Mme Durand (admissions)"]]
    assert part["incidents_par_type"] == {"collision": 1, "usurpation": 1}
    assert part["corrections"]["fusions"] == 1 and part["corrections"]["dedoublements"] == 1
    assert part["alertes"]["detectees"] == {"doublon": 1} and part["alertes"]["traitees"] == {"fusionne": 1}
    assert part["statuts"]["par_statut"] == {"PROV": 3} and part["statuts"]["total"] == 3
    assert part["insi"] == {"appels": 3, "par_reponse": {"00": 1, "01": 1, "02": 1}}
    assert [e["action"] for e in trail.since("identitovigilance.report")] == ["identitovigilance.report"]


def _ght(house, *members: str) -> None:
    """A GHT of the test's structures, the first its support (a code of its own: the support's)."""
    admin = Actor(person="cli:admin", structure="maison", software="maison-cli", role="administrateur")
    Cellule(house.db).record_ght(admin, f"GHT-{members[0]}", "GHT de test", members[0], list(members[1:]))


def _refusals(trail: Trail) -> list[dict]:
    """The access refusals recorded since the test's mark."""
    return [
        audit.detail_of(e) | {"outcome": e["outcome"], "structure": e["actor_structure"]}
        for e in trail.since("securite.acces-refuse")
    ]


def test_ght_report_needs_every_establishment(civ, ours):
    house, http, client = civ
    _ght(house, ours.own, ours.other)
    other = client(ours.other)
    for cell in (http, other):
        _adopt_all(cell)
    http.post("/reunions", json={"date": TODAY.isoformat(), "compteRendu": "CR", "participants": []})
    # 004 L349: the support establishment checks the prerequisite for every establishment
    report = http.get("/rapport", params=[("semestre", NOW), ("structure", ours.own), ("structure", ours.other)]).json()
    assert [p["eligible"] for p in report["structures"]] == [True, False] and report["eligible"] is False
    other.post("/reunions", json={"date": TODAY.isoformat(), "compteRendu": "CR", "participants": []})
    report = http.get("/rapport", params=[("semestre", NOW), ("structure", ours.own), ("structure", ours.other)]).json()
    assert report["eligible"] is True
    # a structure outside the GHT cannot read it
    refused = client(ours.outsider).get("/rapport", params=[("semestre", NOW), ("structure", ours.own)])
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"


def test_another_structures_report_only_for_the_cell_of_its_ght(civ, module_live, ours, trail):
    """Issue 18 §1.3, the exact chain over HTTP: A names B as a second structure."""
    house, _, client = civ
    b = client(ours.other)
    assert (
        b.post(
            "/incidents",
            json={"type": "collision", "description": "Mme DUPONT Jeanne sur le dossier de Mme DUPOND Jeanne"},
        ).status_code
        == 201
    )
    params = [("semestre", NOW), ("structure", ours.outsider), ("structure", ours.other)]
    # A (ours.outsider) is in no GHT with B: refused, whatever its role, and recorded
    refused = client(ours.outsider).get("/rapport", params=params)
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "hors-ght"
    assert "DUPONT" not in refused.text
    assert _refusals(trail)[-1]["code"] == "hors-ght" and _refusals(trail)[-1]["outcome"] == "failure"
    # A and B in one GHT (recorded by the administrator), A's cell: the GHT report
    _ght(house, ours.other, ours.outsider)
    report = client(ours.outsider).get("/rapport", params=params)
    assert report.status_code == 200, report.text
    assert [p["structure"] for p in report.json()["structures"]] == [ours.outsider, ours.other]
    # same GHT, but a key of A's front desk: refused
    desk_key = issue_key(house.db, ours.outsider, IDAM, "accueil-A", "accueil")
    desk = httpx.Client(
        base_url=f"{module_live.url}/identitovigilance", headers={"Authorization": f"Bearer {desk_key}"}
    )
    wrong_role = desk.get("/rapport", params=params)
    assert wrong_role.status_code == 403 and "DUPONT" not in wrong_role.text
    assert wrong_role.json()["issue"][0]["details"]["coding"][0]["code"] == "role-cellule-requis"
    assert desk.get("/rapport", params={"semestre": NOW}).status_code == 200  # its own structure's report
    # a structure of the GHT cannot reach a third structure by naming it
    third = client(ours.own).get("/rapport", params=[("semestre", NOW), ("structure", ours.other)])
    assert third.status_code == 403
    assert [r["code"] for r in _refusals(trail)] == ["hors-ght", "role-cellule-requis", "hors-ght"]


def test_an_incident_on_another_structures_patient_is_not_found(civ, ours, trail):
    house, _, client = civ
    theirs = house.patients.admit(cell(ours.own), ours.own, "B1", Traits.of("MARTIN", "PAUL", "M", "1960-01-01"))
    outsider = client(ours.outsider)
    probe = outsider.post("/incidents", json={"type": "collision", "description": "x", "patientId": theirs.id})
    missing = outsider.post("/incidents", json={"type": "collision", "description": "x", "patientId": 987654})
    assert probe.status_code == missing.status_code == 404
    assert probe.json()["issue"][0]["details"]["coding"] == missing.json()["issue"][0]["details"]["coding"]
    assert probe.json()["issue"][0]["details"]["text"] == f"patient {theirs.id} inconnu"
    assert [r.get("structure_du_patient") for r in _refusals(trail)] == [ours.own, None]


@pytest.mark.parametrize(
    "path,body,code",
    [
        (
            "/reunions",
            {"date": (TODAY + timedelta(days=3)).isoformat(), "compteRendu": "x", "participants": []},
            "date-future",
        ),
        ("/reunions", {"date": "21/11/2026", "compteRendu": "x", "participants": []}, "date-format"),
        ("/reunions", {"date": TODAY.isoformat(), "compteRendu": " ", "participants": []}, "compte-rendu-absent"),
        ("/incidents", {"type": "panne", "description": "x"}, "incident-type"),
        ("/incidents", {"type": "collision", "description": "x", "patientId": 999999}, "patient-inconnu"),
        ("/incidents", {"type": "collision", "description": "x", "date": 20261121}, "date-format"),
        ("/incidents", {"type": "collision", "description": "x", "date": "hier"}, "date-format"),
        ("/reunions", {"date": "2026-11-01", "compteRendu": 3, "participants": []}, "champ-absent"),
        ("/procedures", {"type": "archivage", "adopteeLe": "2020-01-01"}, "procedure-type"),
    ],
)
def test_bad_declarations_are_refused(civ, path, body, code):
    _, http, _ = civ
    response = http.post(path, json=body)
    assert response.status_code in (400, 404, 422)
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == code


def test_unauthenticated_and_bad_semester(civ, module_live):
    _, http, _ = civ
    assert httpx.get(f"{module_live.url}/identitovigilance/rapport", params={"semestre": NOW}).status_code == 401
    bad = http.get("/rapport", params={"semestre": "2026-S3"})
    assert bad.status_code == 400 and bad.json()["issue"][0]["details"]["coding"][0]["code"] == "semestre"


def test_cli_report(house, database_url, ours):
    import orjson
    from typer.testing import CliRunner

    from maison.cli import app

    result = CliRunner().invoke(
        app,
        ["rapport-civ", "--structure", ours.own, "--semestre", NOW, "--json"],
        env={"MAISON_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.output)
    assert report["eligible"] is False and report["semestre"] == NOW
    assert "aucune réunion de la cellule au cours du semestre" in report["structures"][0]["manques"]
    bad = CliRunner().invoke(
        app, ["rapport-civ", "--structure", ours.own, "--semestre", "S2"], env={"MAISON_DATABASE_URL": database_url}
    )
    assert bad.exit_code != 0
    # several structures: only those of one GHT, which the administrator records
    ght_report = ["rapport-civ", "--structure", ours.own, "--structure", ours.other, "--semestre", NOW, "--json"]
    outside = CliRunner().invoke(app, ght_report, env={"MAISON_DATABASE_URL": database_url})
    assert outside.exit_code != 0 and "hors du GHT" in outside.output
    recorded = CliRunner().invoke(
        app,
        ["ght", "--code", f"GHT-{ours.own}", "--support", ours.own, "--membre", ours.other],
        env={"MAISON_DATABASE_URL": database_url},
    )
    assert recorded.exit_code == 0, recorded.output
    inside = CliRunner().invoke(app, ght_report, env={"MAISON_DATABASE_URL": database_url})
    assert inside.exit_code == 0, inside.output


def test_ght_members_and_functioning_read_without_patients(house, ours):
    """The reads the observatory's PS1.1 takes (004 L341-353): a GHT's members, support first; the
    days of a cell's meetings in a range and the procedures adopted before its end."""
    cellule, own, other = Cellule(house.db), ours.own, ours.other
    code = f"GHT-{own}"
    admin = Actor(person="system:admin", structure="maison", software="maison")
    assert cellule.record_ght(admin, code, "GHT Paris", other, [own, other]) == [other, own]
    assert cellule.ght(code) == (other, [other, own])
    with pytest.raises(MaisonError) as unknown:
        cellule.ght("GHT-00")
    assert unknown.value.code == "ght-inconnu"
    cellule.record_meeting(cell(own), "2026-02-10", "revue des doublons", [])
    cellule.record_meeting(cell(own), "2026-07-01", "revue", [])
    cellule.adopt_procedure(cell(own), "fusion", "", "2026-03-01")
    cellule.adopt_procedure(cell(own), "creation", "", "2026-08-01")
    meetings, adopted = cellule.functioning(own, date(2026, 1, 1), date(2026, 7, 1))
    assert meetings == ["2026-02-10"] and adopted == {"fusion": "2026-03-01"}
