"""An operator publishes its mailboxes in the Annuaire by conditional PATCH; senders find them there;
the liste rouge hides them; citizen mailboxes are never published (SPEC §4, issue 5 §1.3)."""

from __future__ import annotations

import httpx
import pytest

from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.core.errors import InvalidInput
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.publication import Publication, PublicationRefused
from tests.partage.world import CABINET, PROS, SARAH_ID, make_world

GP = "claire.martin@medecin.mssante.fr"
CABINET_BOX = "secretariat@cabinet-martin.mssante.fr"


@pytest.fixture
def published(house, live):  # type: ignore[no-untyped-def]
    make_world(house, live, keys=())
    boxes = Mailboxes(house.db)
    operator_key = issue_key(house.db, "medecins", "operateur-regional", "operateur", "operateur-mss")
    reader = httpx.Client(base_url=f"{live.url}/annuaire",
                          headers={"ESANTE-API-KEY": issue_key(house.db, CABINET, "logiciel-cabinet", "lecteur")})
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
