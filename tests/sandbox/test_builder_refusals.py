"""The builds of the sandbox the house refuses (issue 21 §2): in a house where RPPS+ numbered someone
first (the published IdNatPS would be wrong), a second build over a catalogue naming other ports, or
over a sandbox an act has broken. Each needs a house of its own — an empty one, or one it breaks — so
these tests keep the per-test house; what reads a good build shares one in test_builder.py."""

from __future__ import annotations

import pytest

from maison.core import auth
from maison.core.actor import Actor, KeyScope
from maison.core.audit import SYSTEM
from maison.core.errors import Conflict
from maison.identite.annuaire import rpps_plus
from maison.identite.annuaire.index import get
from maison.identite.ins.model import Environment
from maison.sandbox.builder import Builder
from maison.sandbox.catalogue import catalogue
from tests.sandbox.test_builder import build


@pytest.fixture
def built(house):
    return build(house)


def test_rpps_plus_numbers_are_the_catalogues_in_every_empty_house(house) -> None:
    """The registry numbers in validation order: a house where RPPS+ numbered someone first would give
    other numbers than the published ones, and the build says so instead of publishing wrong IdNatPS."""
    content = catalogue(Environment(house.settings.ins_environment))
    chu = content.structure("chu")
    house.admin.add_structure(SYSTEM, chu.nom, chu.finess)
    earlier = Actor("admin", chu.idnatstruct, "t", kind="software", scope=KeyScope.ADMINISTRATEUR_STRUCTURE)
    with house.db.write() as conn:
        declaration, _ = rpps_plus.declare(
            conn,
            house.terminology,
            earlier,
            family="AVANT",
            given="ANNE",
            birth_date="1970-01-01",
            civilite="MME",
            role="318",
        )
        rpps_plus.decide(conn, declaration.id, SYSTEM, validate=True)
    with pytest.raises(Conflict) as refused:
        Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology).build()
    assert refused.value.code == "bac-a-sable-rpps-plus"
    with house.db.read() as conn:  # the validation that would have given another number was undone
        assert get(conn, "Practitioner", "8" + rpps_plus.number(2)) is None


def test_a_second_build_writes_nothing_and_a_broken_one_is_refused(built) -> None:
    house, content = built
    assert Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology).built() is True
    assert Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology).build() is False
    moved = catalogue(Environment(house.settings.ins_environment), content.operateursMss[0].relais + 100)
    with pytest.raises(Conflict) as other_ports:  # the catalogue would name ports the house does not use
        Builder(moved, house.admin, house.dmp, house.ordonnance, house.terminology).build()
    assert other_ports.value.code == "bac-a-sable-ports"
    auth.revoke_key(house.db, auth.key_id(content.structures[0].cleApi), revoked_by=SYSTEM)
    with pytest.raises(Conflict) as refused:
        Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology).build()
    assert refused.value.code == "bac-a-sable-incomplet"
