"""An operator publishes its mailboxes in the Annuaire by conditional PATCH; senders find them there;
the liste rouge hides them; citizen mailboxes are never published (SPEC §4, issue 5 §1.3).

The tests of one backend share one house and its world (module_live): each publishes as an operator
of its own, registered in the trust space for domains of its own (so its mailboxes, pending or
published, are its alone), and a citizen mailbox is a patient's of its own. A running operator, which
publishes every pending mailbox of its domains, keeps a house per test in test_mss_annuaire_live.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import httpx
import pytest

from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.core.errors import InvalidInput
from maison.core.identifiers.checksums import luhn_check_digit
from maison.partage.mss import store
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.publication import OWN, AnnuaireAccess, Publication, PublicationRefused, publish_pending
from maison.partage.mss.trust import TrustSpace
from tests.e2e.shared_world import shared_house
from tests.partage.world import CABINET, PROS, make_world
from tests.portail.own_patient import own_patient

_operators = count(1)


@pytest.fixture(scope="module")
def world(module_live):
    """The module's Annuaire: the world's structures and professionals."""
    return make_world(module_live.house, module_live, keys=())


house = shared_house()[0]


@dataclass
class Operator:
    """This test's operator: its id (`name`), its personal (`gp`) and cabinet (`cabinet_box`) addresses
    in the domains it alone serves."""

    name: str
    medecin_domain: str
    gp: str
    cabinet_box: str


@pytest.fixture
def operator() -> Operator:
    n = next(_operators)
    return Operator(
        f"medecins-{n}",
        f"medecin{n}.mssante.fr",
        f"claire.martin@medecin{n}.mssante.fr",
        f"secretariat@cabinet-martin{n}.mssante.fr",
    )


@pytest.fixture
def published(world, module_live, operator: Operator) -> Iterator[tuple[Mailboxes, Publication, httpx.Client]]:
    house = module_live.house
    boxes = Mailboxes(house.db)
    # issue 18 §1.2: the operator publishes the mailboxes of the domains it serves in the trust space
    TrustSpace(house.db).register(
        operator.name,
        "OPERATEUR REGIONAL",
        [operator.medecin_domain, operator.cabinet_box.split("@")[1]],
        "d" * 64,
        "127.0.0.1",
        2525,
        local=True,
    )
    operator_key = issue_key(house.db, operator.name, "operateur-regional", "operateur", "operateur-mss")
    reader = httpx.Client(
        base_url=f"{module_live.url}/annuaire",
        headers={"ESANTE-API-KEY": issue_key(house.db, CABINET, "logiciel-cabinet", "lecteur")},
    )
    publication = Publication(f"{module_live.url}/annuaire", operator_key)
    yield boxes, publication, reader
    publication.close()
    reader.close()


def _found(reader: httpx.Client, rtype: str, address: str) -> int:
    return reader.get(f"/{rtype}", params={"mailbox-mss": address}).json()["total"]


def test_a_personal_mailbox_published_found_then_put_on_the_liste_rouge(published, operator):
    boxes, publication, reader = published
    gp = operator.gp
    box = boxes.create(SYSTEM, gp, operator.name, "PER", PROS["generaliste"].idnatps, "MARTIN Claire")
    assert _found(reader, "Practitioner", gp) == 0
    publication.publish(box)
    assert _found(reader, "Practitioner", gp) == 1  # the sender finds the recipient in the Annuaire
    publication.liste_rouge(box, True)
    assert _found(reader, "Practitioner", gp) == 0  # liste rouge: neither found nor shown
    publication.withdraw(box)
    with pytest.raises(PublicationRefused):  # nothing left to put on the liste rouge
        publication.liste_rouge(box, False)


def test_an_organisational_mailbox_goes_on_the_organization(published, operator):
    boxes, publication, reader = published
    box = boxes.create(SYSTEM, operator.cabinet_box, operator.name, "CAB", CABINET, "Secrétariat du cabinet")
    publication.publish(box, service="Secrétariat")
    assert _found(reader, "Organization", operator.cabinet_box) == 1


def test_citizen_mailboxes_are_never_published(published, house):
    boxes, publication, _reader = published
    patient = own_patient(house, account=False)
    box = boxes.create(SYSTEM, patient.box, "mes", "PAT", patient.ins, f"{patient.family} ALICE")
    with pytest.raises(InvalidInput):
        publication.publish(box)


def test_the_operator_publishes_each_new_mailbox_once_and_never_a_citizen_one(published, operator, house):
    boxes, publication, reader = published
    gp, cabinet_box, name = operator.gp, operator.cabinet_box, operator.name
    boxes.create(SYSTEM, gp, name, "PER", PROS["generaliste"].idnatps, "MARTIN Claire")
    boxes.create(SYSTEM, cabinet_box, name, "CAB", CABINET, "Secrétariat du cabinet", liste_rouge=True)
    patient = own_patient(house, account=False)
    citizen = boxes.create(SYSTEM, patient.box, "mes", "PAT", patient.ins, patient.family)
    assert publish_pending(boxes, name, publication) == (2, 0)
    assert _found(reader, "Practitioner", gp) == 1
    assert _found(reader, "Organization", cabinet_box) == 0  # published on the liste rouge: neither found nor shown
    assert boxes.get(gp).annuaire == "publiee" and boxes.get(citizen.address).annuaire == "non-publiee"
    assert publish_pending(boxes, name, publication) == (0, 0)  # once
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


def test_a_refused_publication_stays_pending_with_the_annuaire_s_reason(published, operator, caplog):
    boxes, publication, _reader = published
    stranger = "8" + "1999999999" + luhn_check_digit("1999999999")  # an IdNatPS the Annuaire does not know
    unknown = f"inconnu@{operator.medecin_domain}"
    boxes.create(SYSTEM, unknown, operator.name, "PER", stranger, "INCONNU")
    with caplog.at_level(logging.WARNING, logger="maison.partage.mss.publication"):
        assert publish_pending(boxes, operator.name, publication) == (0, 1)
    # issue 21 §1.4: every failed publication is said, not only kept in the row
    assert any(unknown in r.getMessage() for r in caplog.records)
    assert boxes.get(unknown).annuaire == "a-publier"  # tried again at the next pass
    assert publish_pending(boxes, operator.name, publication) == (0, 1)


def test_an_operator_given_this_houses_annuaire_publishes_where_the_house_is_served(house):
    """Issue 21 §1.4: registered before `maison serve --port …`, an operator published to the address
    it was registered with; now "this house's Annuaire" is saved as such and read where it is served."""
    mss = house.mss
    AnnuaireAccess(OWN, "cle").save(mss.annuaire_access_path("ici"))
    AnnuaireAccess("https://annuaire.example/fhir", "cle").save(mss.annuaire_access_path("ailleurs"))
    assert mss.annuaire_access("ici") == AnnuaireAccess(f"{house.settings.public_base_url}/annuaire", "cle")
    assert mss.annuaire_access("ailleurs") == AnnuaireAccess("https://annuaire.example/fhir", "cle")
    assert mss.annuaire_access("aucun") is None
