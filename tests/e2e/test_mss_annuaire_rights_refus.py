"""An MSSanté operator writes only its own mailboxes in the Annuaire (issue 18 §1.2): every other way of
writing outside its perimeter, and an operator unknown to the trust space or a mere reader, refused
with a 403 OperationOutcome, the practitioner untouched. Nothing is written, so the cases of one
backend share one house, trust space and published directory (module_live). What an operator may
write is tested in test_mss_annuaire_rights.py."""

from __future__ import annotations

import httpx
import pytest

from maison.core import audit
from maison.core.auth import issue_key
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.vocabulary import EXT_MAILBOX
from tests.e2e.test_mss_annuaire_rights import (
    A_BOX,
    B_BOX,
    DOCTOR,
    _addresses,
    _operation,
    _patch,
    _refused,
    operator_a,
)


@pytest.fixture(scope="module")
def operators(module_live):
    a = operator_a(module_live.house, module_live)
    yield a
    a.close()


# the module's one house under the names the cases ask for (not conftest's per-test house)
@pytest.fixture
def house(module_live):
    return module_live.house


@pytest.fixture
def live(module_live):
    return module_live


@pytest.mark.parametrize(
    "operation",
    [
        # B's address written otherwise: its liste rouge, its whole ContactPoint, in capitals
        _operation(
            "replace",
            f"Practitioner.telecom.where(value = '{B_BOX}').extension('{EXT_MAILBOX}').extension('listeRouge').value",
            valueBoolean=True,
        ),
        _operation(
            "replace",
            f"Practitioner.telecom.where(value = '{B_BOX}')",
            valueContactPoint=build.mailbox(B_BOX, "PER", liste_rouge=True),
        ),
        _operation("delete", f"Practitioner.telecom.where(value = '{B_BOX.upper()}')"),
        _operation("insert", "Practitioner.telecom", valueContactPoint=build.mailbox("X@B.MSSANTE.FR", "PER")),
        # a sub-domain of B's, or a domain nobody serves
        _operation("insert", "Practitioner.telecom", valueContactPoint=build.mailbox("x@evil.b.mssante.fr", "PER")),
        _operation("insert", "Practitioner.telecom", valueContactPoint=build.mailbox("x@nobody.mssante.fr", "PER")),
        # A's own domain, but an address A never opened, or A's GP mailbox put on another practitioner
        _operation("insert", "Practitioner.telecom", valueContactPoint=build.mailbox("faux@a.mssante.fr", "PER")),
        _operation("insert", "Practitioner.telecom", valueContactPoint=build.mailbox(A_BOX, "PER")),
        # a telecom entry that is no mailbox at all
        _operation("insert", "Practitioner.telecom", valueContactPoint={"system": "phone", "value": "0102030405"}),
    ],
)
def test_every_other_way_of_writing_outside_its_perimeter_is_refused(operators, house, operation):
    before = _addresses(house, DOCTOR)
    response = _patch(operators, DOCTOR, operation)
    assert _refused(response), response.text
    assert _addresses(house, DOCTOR) == before


def test_an_operator_unknown_to_the_trust_space_and_a_reader_write_nothing(operators, house, live):
    stranger = httpx.Client(
        base_url=f"{live.url}/annuaire",
        headers={
            "ESANTE-API-KEY": issue_key(house.db, "operateur-x", "x", "operateur:operateur-x", "operateur-mss"),
            "Content-Type": "application/fhir+json",
        },
    )
    delete = _operation("delete", f"Practitioner.telecom.where(value = '{B_BOX}')")
    assert _refused(_patch(stranger, DOCTOR, delete))
    reader = httpx.Client(
        base_url=f"{live.url}/annuaire",
        headers={
            "ESANTE-API-KEY": issue_key(house.db, "1750000019", "dpi", "accueil"),
            "Content-Type": "application/fhir+json",
        },
    )
    assert _refused(_patch(reader, DOCTOR, delete))
    assert _addresses(house, DOCTOR) == [B_BOX]
    with house.db.read() as conn:  # (the reader's refusal is the route guard's, recorded through the journal)
        refused = [e["actor_structure"] for e in audit.events(conn, action_prefix="securite.acces-refuse")]
    assert "operateur-x" in refused
    stranger.close()
    reader.close()
