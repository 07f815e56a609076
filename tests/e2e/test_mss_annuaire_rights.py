"""An MSSanté operator writes only its own mailboxes in the Annuaire (issue 18 §1.2): mailboxes of the
domains it serves in the trust space, on the carrier of their holder; every refusal a 403
OperationOutcome and a security event in the trail. The other ways of writing outside its perimeter,
all refused, share one house per backend in test_mss_annuaire_rights_refus.py."""

from __future__ import annotations

import httpx
import orjson
import pytest

from maison.core import audit
from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.vocabulary import SYS_IDNATPS
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.publication import Publication
from maison.partage.mss.trust import TrustSpace
from tests.partage.world import PROS, make_world

B_BOX = "paul.durand@b.mssante.fr"  # operator B's real mailbox, of the hospital doctor
A_BOX = "claire.martin@a.mssante.fr"  # operator A's mailbox, of the GP
DOCTOR, GP = PROS["hospitalier"].idnatps, PROS["generaliste"].idnatps


@pytest.fixture
def operators(house, live):
    a = operator_a(house, live)
    yield a
    a.close()


def operator_a(house, live) -> httpx.Client:
    """Operators A and B in the trust space, B's doctor's mailbox published by B: A's Annuaire client."""
    make_world(house, live, keys=())
    trust, boxes = TrustSpace(house.db), Mailboxes(house.db)
    for name, domain in (("operateur-a", "a.mssante.fr"), ("operateur-b", "b.mssante.fr")):
        trust.register(name, name.upper(), [domain], name[-1] * 64, "127.0.0.1", 2525, local=True)
    boxes.create(SYSTEM, B_BOX, "operateur-b", "PER", DOCTOR, "DURAND Paul")
    boxes.create(SYSTEM, A_BOX, "operateur-a", "PER", GP, "MARTIN Claire")
    by_b = Publication(
        f"{live.url}/annuaire",
        issue_key(house.db, "operateur-b", "maison-mss", "operateur:operateur-b", "operateur-mss"),
    )
    by_b.publish(boxes.get(B_BOX))  # B publishes its real address
    by_b.close()
    return httpx.Client(
        base_url=f"{live.url}/annuaire",
        headers={
            "ESANTE-API-KEY": issue_key(
                house.db, "operateur-a", "maison-mss", "operateur:operateur-a", "operateur-mss"
            ),
            "Content-Type": "application/fhir+json",
        },
    )


def _operation(kind: str, path: str, **value) -> dict:
    parts = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    if value:
        parts.append({"name": "value", **value})
    return {"name": "operation", "part": parts}


def _patch(client: httpx.Client, idnatps: str, *operations: dict) -> httpx.Response:
    return client.patch(
        "/Practitioner",
        params={"identifier": f"{SYS_IDNATPS}|{idnatps}"},
        content=orjson.dumps({"resourceType": "Parameters", "parameter": list(operations)}),
    )


def _addresses(house, idnatps: str) -> list[str]:
    from maison.identite.annuaire.index import get, mailboxes

    with house.db.read() as conn:
        return [m["address"] for m in mailboxes(get(conn, "Practitioner", idnatps) or {})]


def _refused(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["resourceType"] == "OperationOutcome"


def test_operator_a_cannot_delete_or_add_in_operator_b_s_domain_but_writes_its_own(operators, house):
    a = operators
    assert _addresses(house, DOCTOR) == [B_BOX]
    # A deletes B's real address: refused, the address stays
    assert _refused(_patch(a, DOCTOR, _operation("delete", f"Practitioner.telecom.where(value = '{B_BOX}')")))
    assert _addresses(house, DOCTOR) == [B_BOX]
    # A adds an address in B's domain: refused
    stolen = build.mailbox("paul.durand2@b.mssante.fr", "PER")
    assert _refused(_patch(a, DOCTOR, _operation("insert", "Practitioner.telecom", valueContactPoint=stolen)))
    assert _addresses(house, DOCTOR) == [B_BOX]
    # A publishes its own domain's mailbox for its own holder: accepted
    own = _patch(a, GP, _operation("insert", "Practitioner.telecom", valueContactPoint=build.mailbox(A_BOX, "PER")))
    assert own.status_code == 200, own.text
    assert _addresses(house, GP) == [A_BOX]
    with house.db.read() as conn:
        refusals = list(audit.events(conn, action_prefix="securite.acces-refuse"))
    assert len(refusals) == 2 and all(
        r["outcome"] == "failure" and r["actor_structure"] == "operateur-a" for r in refusals
    )
