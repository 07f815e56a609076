"""A running MSSanté operator publishes its mailboxes in the Annuaire (issue 21 §1.4): those created
while it runs, and, when the Annuaire was down at its start, once the Annuaire comes up.

Each test starts the trust space's operators on a house of its own (`house`, `live`): a running
operator publishes every pending mailbox of its domains, so it cannot share a house with the other
publication tests (test_mss_annuaire.py), and its world creates the GP's mailbox at start."""

from __future__ import annotations

import logging
import time

import httpx

from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.identite.psc.api import issuer_for
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.publication import AnnuaireAccess
from tests.conftest import LiveServer, free_port
from tests.e2e.test_mss_annuaire import _found
from tests.partage.mss_world import GP, start_world  # GP: the mailbox the world creates at start
from tests.partage.world import CABINET, make_world


def test_a_running_operator_publishes_the_mailboxes_created_while_it_runs(house, live, tmp_path):
    make_world(house, live, keys=())
    key = issue_key(house.db, "medecins", "maison-mss", "operateur:medecins", "operateur-mss")
    reader = httpx.Client(
        base_url=f"{live.url}/annuaire",
        headers={"ESANTE-API-KEY": issue_key(house.db, CABINET, "logiciel-cabinet", "lecteur")},
    )
    world = start_world(house, tmp_path, issuer_for(live.url), annuaire=AnnuaireAccess(f"{live.url}/annuaire", key))
    cabinet_box = "secretariat.cabinet@medecin.mssante.fr"  # a domain the running operator serves
    try:
        Mailboxes(house.db).create(SYSTEM, cabinet_box, "medecins", "CAB", CABINET, "Secrétariat du cabinet")
        deadline = time.monotonic() + 15
        while _found(reader, "Organization", cabinet_box) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _found(reader, "Organization", cabinet_box) == 1
        assert _found(reader, "Practitioner", GP) == 1  # the GP's mailbox the world created at start, too
    finally:
        world.close()
        reader.close()


def test_a_mailbox_is_published_once_an_annuaire_down_at_first_comes_up(house, live, tmp_path, caplog):
    """Issue 21 §1.4: an operator may start before its Annuaire answers (`maison serve` starts the
    operators beside the HTTP workers): each failed publication is logged with its reason and tried
    again, with a growing delay, until the Annuaire takes it."""
    make_world(house, live, keys=())
    key = issue_key(house.db, "medecins", "maison-mss", "operateur:medecins", "operateur-mss")
    later = free_port()  # where the Annuaire will be served, nothing listening there yet
    reader = httpx.Client(
        base_url=f"{live.url}/annuaire",
        headers={"ESANTE-API-KEY": issue_key(house.db, CABINET, "logiciel-cabinet", "lecteur")},
    )
    access = AnnuaireAccess(f"http://127.0.0.1:{later}/annuaire", key)
    with caplog.at_level(logging.WARNING, logger="maison.partage.mss.publication"):
        world = start_world(house, tmp_path, issuer_for(live.url), annuaire=access)
        try:
            deadline = time.monotonic() + 15
            while not any("injoignable" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
                time.sleep(0.05)
            said = [r.getMessage() for r in caplog.records if "injoignable" in r.getMessage()]
            assert said and f"127.0.0.1:{later}" in said[0] and "ConnectError" in said[0], caplog.text
            assert "nouvel essai" in said[0]
            assert Mailboxes(house.db).get(GP).annuaire == "a-publier" and _found(reader, "Practitioner", GP) == 0
            with LiveServer(house.app(), later):  # the Annuaire comes up
                deadline = time.monotonic() + 30
                while _found(reader, "Practitioner", GP) == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert _found(reader, "Practitioner", GP) == 1
                assert Mailboxes(house.db).get(GP).annuaire == "publiee"
        finally:
            world.close()
            reader.close()
