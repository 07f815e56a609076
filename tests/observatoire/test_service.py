"""Who reads the observatory's reports (issue 23 §4), decided on the actor: an ARS or ANS agent any,
a structure its own (a GHT: its support), the house itself any; a patient, another structure, a GHT's
member that is not its support are refused and the refusal recorded. Concurrent requests fold once
at a time."""

from __future__ import annotations

import threading
import time

import pytest

from maison.core import audit
from maison.core.actor import Actor, Credential
from maison.core.errors import Forbidden, InvalidInput, NotFound
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.observatoire.report import Period
from maison.observatoire.sunes.model import Scope

HOPITAL, CLINIQUE, CABINET = "1750000019", "1750000027", "399999999900019"
S1 = Period.parse("2026-S1")


def pro(structure: str, role: str = "") -> Actor:
    return Actor("810000000001", structure, "dpi", kind="professional", role=role, credential=Credential.PSC)


PATIENT = Actor("1770175056021", "", "mon-espace-sante", kind="patient", patient="1770175056021")
ARS = pro("ARS-IDF", "agent-ars")  # a PSC situation d'exercice carrying the role
ADMIN = Actor("administrateur", "maison", "console", role="administrateur")


@pytest.fixture
def obs(house):
    with house.db.write() as conn:
        for code in (HOPITAL, CLINIQUE, CABINET):
            put(conn, [build.organization(code, f"STRUCTURE {code}", "2026-11-01T08:00:00+00:00")])
    house.cellule.record_ght(ADMIN, "GHT-75", "GHT de test", HOPITAL, [HOPITAL, CLINIQUE])
    return house.observatoire


def refusals(house) -> list[dict]:
    with house.db.read() as conn:
        return [e for e in audit.events(conn, action_prefix="securite.acces-refuse")]


def test_an_agent_reads_every_report_and_a_structure_its_own(obs):
    assert obs.sunes(ARS, Scope.structure(HOPITAL), S1).kind == "sunes"
    assert obs.national(ARS, Period.parse("2026-05")).kind == "national"
    assert obs.conformite(pro("ANS", "agent-ans"), S1).kind == "conformite"
    assert obs.sunes(pro(HOPITAL), Scope.structure(HOPITAL), S1).seal.signed
    assert obs.maturin(pro(HOPITAL), HOPITAL, S1).content["structure"] == HOPITAL
    assert obs.sunes(pro(HOPITAL), Scope.ght("GHT-75"), S1).content["perimetre"]["structures"] == [HOPITAL, CLINIQUE]


@pytest.mark.parametrize(
    ("actor", "scope"),
    [
        (PATIENT, Scope.structure(HOPITAL)),
        (pro(CABINET), Scope.structure(HOPITAL)),  # another structure
        (pro(HOPITAL, "medecin-dim"), Scope.structure(CLINIQUE)),
        (pro(CLINIQUE), Scope.ght("GHT-75")),  # a member, not the GHT's support
    ],
)
def test_others_are_refused_and_recorded(house, obs, actor, scope):
    with pytest.raises(Forbidden) as refused:
        obs.sunes(actor, scope, S1)
    assert refused.value.code == "observatoire-interdit" and refused.value.http_status == 403
    [record] = refusals(house)
    assert record["actor_person"] == actor.person and audit.detail_of(record)["action"] == "observatoire.sunes"


def test_national_and_conformity_are_the_agents_only(obs):
    for read in (lambda a: obs.national(a, S1), lambda a: obs.conformite(a, S1)):
        with pytest.raises(Forbidden):
            read(pro(HOPITAL))


def test_the_house_itself_reads_without_a_credential(obs):
    house_actor = Actor("cli:exploitant", "maison", "maison-cli")
    assert house_actor.credential is None
    assert obs.national(house_actor, S1).kind == "national"


def test_scope_errors_are_400_and_404(obs):
    with pytest.raises(InvalidInput):
        obs.sunes(ARS, Scope.structure("pas-un-finess"), S1)
    with pytest.raises(NotFound):
        obs.sunes(ARS, Scope.structure("1999999998"), S1)
    with pytest.raises(NotFound):
        obs.sunes(ARS, Scope.ght("GHT-INCONNU"), S1)


def test_concurrent_requests_fold_one_at_a_time(obs):
    room, inside, most = obs.sunes_room, [0], [0]
    real = room.compute

    def slow(*args, **kwargs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        try:
            return real(*args, **kwargs)
        finally:
            inside[0] -= 1

    room.compute = slow
    threads = [threading.Thread(target=obs.sunes, args=(ARS, Scope.structure(HOPITAL), S1)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1  # never two folds (and computations) of SUN-ES at once in the process


def test_replier_folds_every_room_to_the_head(house, obs):
    done = obs.fold()
    with house.db.read() as conn:
        head = audit.last_seq(conn)
    assert set(done) == {"sunes", "national", "conformite", "prerequis"}
    assert done["sunes"] == done["national"] == head
    assert obs.fold() == done  # nothing new: nothing moves
