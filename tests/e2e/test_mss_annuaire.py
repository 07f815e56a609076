"""An operator publishes its mailboxes in the Annuaire by conditional PATCH; senders find them there;
the liste rouge hides them; citizen mailboxes are never published (SPEC §4, issue 5 §1.3)."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.core.errors import InvalidInput
from maison.core.identifiers.checksums import luhn_check_digit
from maison.identite.psc.api import issuer_for
from maison.partage.mss import store
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.publication import OWN, AnnuaireAccess, Publication, PublicationRefused, publish_pending
from maison.partage.mss.trust import TrustSpace
from tests.conftest import LiveServer, free_port
from tests.partage.mss_world import start_world
from tests.partage.world import CABINET, PROS, SARAH_ID, make_world

GP = "claire.martin@medecin.mssante.fr"
CABINET_BOX = "secretariat@cabinet-martin.mssante.fr"


@pytest.fixture
def published(house, live):
    make_world(house, live, keys=())
    boxes = Mailboxes(house.db)
    # issue 18 §1.2: the operator publishes the mailboxes of the domains it serves in the trust space
    TrustSpace(house.db).register(
        "medecins",
        "OPERATEUR REGIONAL",
        ["medecin.mssante.fr", "cabinet-martin.mssante.fr"],
        "d" * 64,
        "127.0.0.1",
        2525,
        local=True,
    )
    operator_key = issue_key(house.db, "medecins", "operateur-regional", "operateur", "operateur-mss")
    reader = httpx.Client(
        base_url=f"{live.url}/annuaire",
        headers={"ESANTE-API-KEY": issue_key(house.db, CABINET, "logiciel-cabinet", "lecteur")},
    )
    publication = Publication(f"{live.url}/annuaire", operator_key)
    yield boxes, publication, reader
    publication.close()
    reader.close()


def _found(reader: httpx.Client, rtype: str, address: str) -> int:
    return reader.get(f"/{rtype}", params={"mailbox-mss": address}).json()["total"]


def test_a_personal_mailbox_published_found_then_put_on_the_liste_rouge(published):
    boxes, publication, reader = published
    box = boxes.create(SYSTEM, GP, "medecins", "PER", PROS["generaliste"].idnatps, "MARTIN Claire")
    assert _found(reader, "Practitioner", GP) == 0
    publication.publish(box)
    assert _found(reader, "Practitioner", GP) == 1  # the sender finds the recipient in the Annuaire
    publication.liste_rouge(box, True)
    assert _found(reader, "Practitioner", GP) == 0  # liste rouge: neither found nor shown
    publication.withdraw(box)
    with pytest.raises(PublicationRefused):  # nothing left to put on the liste rouge
        publication.liste_rouge(box, False)


def test_an_organisational_mailbox_goes_on_the_organization(published):
    boxes, publication, reader = published
    box = boxes.create(SYSTEM, CABINET_BOX, "medecins", "CAB", CABINET, "Secrétariat du cabinet")
    publication.publish(box, service="Secrétariat")
    assert _found(reader, "Organization", CABINET_BOX) == 1


def test_citizen_mailboxes_are_never_published(published):
    boxes, publication, _reader = published
    box = boxes.create(SYSTEM, f"{SARAH_ID.ins}@patient.mssante.fr", "mes", "PAT", SARAH_ID.ins, "GARCIA-HAMMADI Sarah")
    with pytest.raises(InvalidInput):
        publication.publish(box)


def test_the_operator_publishes_each_new_mailbox_once_and_never_a_citizen_one(published):
    boxes, publication, reader = published
    boxes.create(SYSTEM, GP, "medecins", "PER", PROS["generaliste"].idnatps, "MARTIN Claire")
    boxes.create(SYSTEM, CABINET_BOX, "medecins", "CAB", CABINET, "Secrétariat du cabinet", liste_rouge=True)
    citizen = boxes.create(SYSTEM, f"{SARAH_ID.ins}@patient.mssante.fr", "mes", "PAT", SARAH_ID.ins, "GARCIA-HAMMADI")
    assert publish_pending(boxes, "medecins", publication) == (2, 0)
    assert _found(reader, "Practitioner", GP) == 1
    assert _found(reader, "Organization", CABINET_BOX) == 0  # published on the liste rouge: neither found nor shown
    assert boxes.get(GP).annuaire == "publiee" and boxes.get(citizen.address).annuaire == "non-publiee"
    assert publish_pending(boxes, "medecins", publication) == (0, 0)  # once
    assert publish_pending(boxes, "mes", publication) == (0, 0)  # the citizen mailboxes: never
    with house_db(boxes) as conn:  # even one left "a-publier" by a mailbox created before the state existed
        conn.execute(
            store.mss_mailbox.update()
            .where(store.mss_mailbox.c.address == citizen.address)
            .values(annuaire="a-publier")
        )
    assert publish_pending(boxes, "mes", publication) == (0, 0)


def house_db(boxes: Mailboxes):
    return boxes.db.write()


def test_a_refused_publication_stays_pending_with_the_annuaire_s_reason(published, caplog):
    boxes, publication, _reader = published
    stranger = "8" + "1999999999" + luhn_check_digit("1999999999")  # an IdNatPS the Annuaire does not know
    boxes.create(SYSTEM, "inconnu@medecin.mssante.fr", "medecins", "PER", stranger, "INCONNU")
    with caplog.at_level(logging.WARNING, logger="maison.partage.mss.publication"):
        assert publish_pending(boxes, "medecins", publication) == (0, 1)
    # issue 21 §1.4: every failed publication is said, not only kept in the row
    assert any("inconnu@medecin.mssante.fr" in r.getMessage() for r in caplog.records)
    assert boxes.get("inconnu@medecin.mssante.fr").annuaire == "a-publier"  # tried again at the next pass
    assert publish_pending(boxes, "medecins", publication) == (0, 1)


def test_an_operator_given_this_houses_annuaire_publishes_where_the_house_is_served(house, tmp_path):
    """Issue 21 §1.4: registered before `maison serve --port …`, an operator published to the address
    it was registered with; now "this house's Annuaire" is saved as such and read where it is served."""
    mss = house.mss
    AnnuaireAccess(OWN, "cle").save(mss.annuaire_access_path("ici"))
    AnnuaireAccess("https://annuaire.example/fhir", "cle").save(mss.annuaire_access_path("ailleurs"))
    assert mss.annuaire_access("ici") == AnnuaireAccess(f"{house.settings.public_base_url}/annuaire", "cle")
    assert mss.annuaire_access("ailleurs") == AnnuaireAccess("https://annuaire.example/fhir", "cle")
    assert mss.annuaire_access("aucun") is None


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
