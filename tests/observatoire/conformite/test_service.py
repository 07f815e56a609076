"""Every registered software's conformity row (issue 23 §3.1; seed 001 L196-216), from activity
built through the real services: counts, first and last dates, audit references, verdicts."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.core.blobs import Blobs
from maison.core.errors import InvalidInput
from maison.etablissement.dmp.producer import Produced
from maison.etablissement.psc.client import sign_in
from maison.etablissement.vigilance.service import PatientIndex
from maison.identite.ins.model import CallContext, TraitsQuery
from maison.observatoire.conformite.fold import fold
from maison.observatoire.conformite.model import IdentityKind, Service
from maison.observatoire.conformite.service import Conformite
from maison.observatoire.report import Period
from maison.partage.mss.delivery import Delivery
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.ordonnance.model import Draft, LineExecution, Outcome
from maison.partage.ordonnance.service import Base
from tests.identite.helpers import SARAH, STRUCTURE
from tests.partage.ordonnance.test_service import PARACETAMOL
from tests.partage.world import PASSWORD, PROS, REDIRECT, make_world, n1

ADMIN = Actor("administrateur", "maison", "maison-admin")
MSS = Actor(person="operateur:op-test", structure="op-test", software="maison-mss")
SARAH_Q = TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21")
DPI_BOX, DUI_BOX, DR_BOX = "dpi@chu.mssante.fr", "dui@ehpad.mssante.fr", "dr.martin@medecin.mssante.fr"


def _seqs(db, prefix: str, software: str) -> list[int]:
    with db.read() as conn:
        return [e["seq"] for e in audit.events(conn, action_prefix=prefix) if e["actor_software"] == software]


def _world(house, live, tmp_path):
    admin = house.admin
    admin.register_software(ADMIN, "DPI-ALPHA-01", "DPI de test", "Éditeur A", "5.2", "dpi")
    admin.register_software(ADMIN, "LGC-BETA-01", "LGC Beta", "Éditeur B", "2.0", "LGC")
    admin.register_software(ADMIN, "LGO-DELTA-01", "LGO Delta", "Éditeur F", "3.0", "LGO")
    admin.register_software(ADMIN, "DUI-GAMMA-01", "DUI Gamma", "Éditeur C", "1.1", "DUI")
    admin.register_software(ADMIN, "SGL-ZERO-01", "SGL Zéro", "Éditeur D", "9", "SGL")
    admin.habilitate_insi(ADMIN, STRUCTURE, "Hôpital de test")
    world = make_world(house, live, ("hospitalier",))
    client = admin.register_psc_client(ADMIN, "DPI de test", [REDIRECT])  # the PSC client of the DPI
    pro = PROS["hospitalier"]
    world.tokens["hospitalier"] = sign_in(
        live.url, client["client_id"], client["client_secret"], REDIRECT, pro.idnatps, password=PASSWORD
    )["access_token"]
    for box, owner in ((DPI_BOX, "chu"), (DUI_BOX, "ehpad"), (DR_BOX, "cabinet")):
        Mailboxes(house.db).create(MSS, box, owner, "APP", "1750000019", box, password="mot-de-passe-bal")
    conformite = Conformite(house.db, house.insi)
    conformite.declare_identity(ADMIN, "DPI-ALPHA-01", IdentityKind.BAL, DPI_BOX.upper())
    conformite.declare_identity(ADMIN, "DUI-GAMMA-01", IdentityKind.BAL, DUI_BOX)
    return world, conformite, Delivery(house.db, Blobs(tmp_path / "blobs")), client["client_id"]


def test_every_registered_software_has_its_row(house, live, tmp_path):
    world, conformite, delivery, client_id = _world(house, live, tmp_path)
    # the DPI: INSi twice (00) and the INS associated on the second, a PSC-authenticated N1 feed, MSSanté
    desk = Actor("agent-accueil", STRUCTURE, "DPI de test", kind="professional", role="accueil")
    patients = PatientIndex(house.db)
    local = patients.admit(desk, STRUCTURE, "IPP-0001", SARAH)
    for _ in range(2):
        answer = house.insi.search_by_traits(CallContext(STRUCTURE, "DPI-ALPHA-01"), SARAH_Q)
    patients.record_insi_result(desk, local.id, answer)
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))])
    assert fed.status_code == 200, fed.text
    directory = httpx.get(f"{live.url}/annuaire/Practitioner", headers=world.headers("hospitalier"), timeout=30)
    assert directory.status_code == 200, directory.text  # the DPI reads the Annuaire with its PSC token
    delivery.deliver(MSS, DR_BOX, b"Subject: CR\r\n\r\nCR\r\n", DPI_BOX, "<1@chu>")
    delivery.deliver(MSS, DPI_BOX, b"Subject: re\r\n\r\nmerci\r\n", DR_BOX, "<2@cabinet>")
    # the LGC: INSi once, two ordonnances created
    house.insi.search_by_traits(CallContext(STRUCTURE, "LGC-BETA-01"), SARAH_Q)
    gp = Actor("810000000002", "399999999900019", "LGC Beta", kind="professional", profession="10")
    base = Base(house.db)
    prescriptions = [base.create(gp, Draft(date.today(), True, (PARACETAMOL,))) for _ in range(2)]
    # a third with a PSC token of the LGC's client registered under another name (the actor authz makes
    # of it: the token's azp as its software), declared the LGC's by the administrator
    cabinet = house.admin.register_psc_client(ADMIN, "Cabinet Beta", ["https://cabinet.example.fr/cb"])
    conformite.declare_identity(ADMIN, "LGC-BETA-01", IdentityKind.CLIENT_PSC, cabinet["client_id"])
    by_psc = Actor("810000000002", "399999999900019", cabinet["client_id"], kind="professional", profession="10")
    prescriptions.append(base.create(by_psc, Draft(date.today(), True, (PARACETAMOL,))))
    # an LGO dispenses one of them
    pharmacist = Actor("810000000004", "399999999800011", "LGO Delta", kind="professional", profession="21")
    base.execute(pharmacist, prescriptions[0].number, [LineExecution(1, Outcome.DELIVRE)])
    base.journal.close()
    # the DUI: an MSSanté message only
    delivery.deliver(MSS, DR_BOX, b"Subject: transmission\r\n\r\nx\r\n", DUI_BOX, "<3@ehpad>")

    report = conformite.compute(ADMIN, Period.semester_of(date.today()))
    db, today = house.db, date.today().isoformat()

    dpi = report.row("DPI-ALPHA-01")
    assert dpi.category == "DPI" and f"logiciel:{client_id}" in dpi.identities
    insi = _seqs(db, "insi.", "DPI-ALPHA-01")
    assert dpi.exercises["insi.appel"].count == 2 and dpi.exercises["insi.cr00"].count == 2
    assert (dpi.exercises["insi.cr00"].first_seq, dpi.exercises["insi.cr00"].last_seq) == (insi[0], insi[1])
    assert dpi.exercises["insi.cr00"].first_at[:10] == today == dpi.exercises["insi.cr00"].last_at[:10]
    feed = _seqs(db, "dmp.alimenter", client_id)
    assert len(feed) == 1
    assert dpi.exercises["dmp.n1"].count == 1 and dpi.exercises["dmp.n1"].first_seq == feed[0]
    assert "dmp.n3" not in dpi.exercises
    [association] = _seqs(db, "identitovigilance.insi-retrieval", "DPI de test")
    assert dpi.exercises["ins.association"].count == 1 and dpi.exercises["ins.association"].last_seq == association
    assert dpi.exercises["psc.jeton"].count >= 1 and dpi.exercises["psc.jeton"].first_seq in _seqs(db, "", client_id)
    assert dpi.exercises["mss.envoi"].count == 1 and dpi.exercises["mss.reception"].count == 1
    [verdict] = dpi.verdicts
    [read] = _seqs(db, "annuaire.lire", client_id)
    assert dpi.exercises["annuaire.acces"].count == 1 and dpi.exercises["annuaire.acces"].first_seq == read
    assert set(verdict.exercised) == {Service.INS, Service.PSC, Service.ANNUAIRE, Service.DMP, Service.MSSANTE}
    assert verdict.missing == () and verdict.conforme  # 001 L199: everything the DPI's row ticks
    assert set(verdict.not_observable) == {Service.SECURITE, Service.INTEROPERABILITE}

    lgc = report.row("LGC-BETA-01")
    assert lgc.exercises["ordonnance.creation"].count == 3
    creations = _seqs(db, "ordonnance.creer", "LGC Beta")
    [with_token] = _seqs(db, "ordonnance.creer", cabinet["client_id"])
    assert (lgc.exercises["ordonnance.creation"].first_seq, lgc.exercises["ordonnance.creation"].last_seq) == (
        creations[0],
        with_token,
    )
    assert lgc.exercises["psc.jeton"].count == 1 and lgc.exercises["psc.jeton"].first_seq == with_token
    [verdict] = lgc.verdicts
    assert set(verdict.exercised) == {Service.INS, Service.PSC, Service.ORDONNANCE}
    assert set(verdict.missing) == {Service.ANNUAIRE, Service.DMP, Service.MSSANTE}

    lgo = report.row("LGO-DELTA-01")
    [dispensed] = _seqs(db, "ordonnance.executer", "LGO Delta")
    assert lgo.exercises["ordonnance.dispensation"].count == 1 and "ordonnance.creation" not in lgo.exercises
    assert lgo.exercises["ordonnance.dispensation"].first_seq == dispensed
    assert Service.ORDONNANCE in lgo.verdicts[0].exercised  # 001 L204: the LGO's ordonnance is dispensing

    dui = report.row("DUI-GAMMA-01")
    [verdict] = dui.verdicts
    assert Service.DMP not in verdict.missing and Service.DMP not in verdict.exercised  # 001 L208: no DMP
    assert verdict.exercised == (Service.MSSANTE,) and Service.VIATRAJECTOIRE in verdict.not_observable
    assert set(verdict.missing) == {Service.INS, Service.PSC, Service.ANNUAIRE, Service.ORDONNANCE}

    sgl = report.row("SGL-ZERO-01")
    assert sgl.exercises == {}
    assert set(sgl.verdicts[0].missing) == {Service.INS, Service.PSC, Service.ANNUAIRE, Service.DMP, Service.MSSANTE}

    assert {t.title.split(" —")[0] for t in report.tables()} == {
        "Conformité à la maison",
        "Services exercés par logiciel",
    }
    assert report.as_dict()["logiciels"][0]["verdicts"]
    with db.read() as conn:  # computing the report is audited
        assert any(e["action"] == "observatoire.conformite" for e in audit.events(conn, action_prefix="observatoire."))

    # the fold in two steps (above: compute folded once; now more records) equals the fold from 0
    house.insi.search_by_traits(CallContext(STRUCTURE, "SGL-ZERO-01"), SARAH_Q)
    locations = [e["response"]["location"] for e in fed.json()["entry"]]
    [reference] = [loc.split("/_history")[0] for loc in locations if loc.startswith("DocumentReference/")]
    deleted = world.client("hospitalier").delete(f"/{reference}")
    assert deleted.status_code == 204, deleted.text
    stepwise = conformite.compute(ADMIN, Period.semester_of(date.today())).as_dict()
    assert len(_seqs(db, "dmp.supprimer", client_id)) == 1
    assert stepwise["logiciels"][0]["exercice"]["dmp.n1"]["nombre"] == 1  # deleted later: still exercised
    fold(db, from_zero=True)
    again = conformite.compute(ADMIN, Period.semester_of(date.today())).as_dict()
    assert stepwise["logiciels"] == again["logiciels"]
    sgl = next(row for row in again["logiciels"] if row["idam"] == "SGL-ZERO-01")
    assert sgl["exercice"]["insi.appel"]["nombre"] == 1
    # another period sees nothing
    assert conformite.compute(ADMIN, Period.parse("2020-S1")).row("DPI-ALPHA-01").exercises == {}


def test_declarations(house):
    with pytest.raises(InvalidInput) as refused:  # the registry's category is a row of the maison table
        house.admin.register_software(ADMIN, "X-01", "X", "Éditeur X", "1", "FRIGO")
    assert refused.value.code == "categorie-inconnue"
    house.insi.register_software("PDE-01", "PDE", "Éditeur E", "1", "PDE")
    conformite = Conformite(house.db, house.insi)
    conformite.declare_service(ADMIN, "PDE-01", Service.SECURITE, "certificat HDS n° 42")
    with pytest.raises(InvalidInput):
        conformite.declare_service(ADMIN, "PDE-01", Service.DMP, "on l'alimente")  # observed, not declared
    with pytest.raises(InvalidInput):
        conformite.declare_service(ADMIN, "INCONNU", Service.SAS, "x")
    house.insi.register_software("SANS-01", "Sans catégorie", "Éditeur S", "1")
    report = conformite.compute(ADMIN, Period.semester_of(date.today()))
    assert report.row("SANS-01").verdicts == () and report.row("SANS-01").as_dict()["categorie"] is None
    row = report.row("PDE-01")
    assert [v.reading for v in row.verdicts] == ["telle-quelle", "decalee"] and "L209" in row.ambiguity
    assert Service.SECURITE in row.verdicts[1].declared
