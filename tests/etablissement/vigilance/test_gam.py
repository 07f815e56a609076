"""Identities announced by the GAM (issue 22 §1.2), under the index's rules unchanged."""

import pytest

from maison.core.actor import Actor
from maison.core.errors import NotFound, TransitionRefused
from maison.core.ins_traits import Traits
from maison.etablissement.vigilance import gam
from maison.etablissement.vigilance.model import Status
from maison.etablissement.vigilance.service import PatientIndex

HOSP = "000897406"
GAM = Actor(person="system:gam:GAM^CHU-X", structure=HOSP, software="GAM")
TRAITS = Traits.of("PAT-TROIS", "DOMINIQUE", "F", "1979-03-28", "63220")
INS = "279035121518989"


def _announce(index: PatientIndex, ipp: str, status: str, *, traits=TRAITS, ins=INS, attributes=frozenset()):
    announced = gam.Announced(HOSP, ipp, traits, status, attributes, ins, "1.2.250.1.213.1.4.10")
    with index.db.write() as conn:
        return gam.announce(index, conn, GAM, announced)


@pytest.fixture
def index(db):
    return PatientIndex(db)


def test_the_claimed_status_is_checked_not_taken(index):
    assert (_announce(index, "A", "QUAL").status, _announce(index, "A", "QUAL").shareable_ins) == (Status.QUAL, INS)
    assert _announce(index, "B", "RECUP", ins=None).status is Status.PROV  # no INS: nothing retrieved
    assert _announce(index, "C", "QUAL", attributes=frozenset({"douteuse"})).status is Status.PROV
    assert _announce(index, "D", "VALI").ins_number is None


def test_the_same_ins_on_another_record_is_a_doublon_for_the_cell(index):
    _announce(index, "A", "QUAL")
    second = _announce(index, "B", "QUAL")
    assert (second.status, second.ins_number) == (Status.VALI, None)
    assert [r["kind"] for r in index.reviews(GAM, HOSP)] == ["doublon"]


def test_traits_from_insi_are_never_changed_and_a_validated_identity_changed_goes_back(index):
    _announce(index, "A", "QUAL")
    with pytest.raises(TransitionRefused):
        _announce(index, "A", "QUAL", traits=Traits.of("AUTRE", "DOMINIQUE", "F", "1979-03-28"))
    _announce(index, "B", "VALI", ins=None)
    changed = _announce(index, "B", "PROV", ins=None, traits=Traits.of("AUTRE", "DOMINIQUE", "F", "1979-03-28"))
    assert (changed.status, changed.traits.nom_naissance) == (Status.PROV, "AUTRE")
    again = _announce(index, "B", "PROV", ins=None, traits=Traits.of("AUTRE", "DOMINIQUE", "F", "1979-03-28"))
    assert again.version == changed.version  # sent unchanged: nothing written


def test_merge_and_change_of_identifier(index):
    _announce(index, "KEEP", "QUAL")
    _announce(index, "DROP", "PROV", ins=None)
    with index.db.write() as conn:
        with pytest.raises(TransitionRefused):  # keep the record of the highest status
            gam.merge(index, conn, GAM, HOSP, "DROP", "KEEP")
    with index.db.write() as conn:
        assert gam.merge(index, conn, GAM, HOSP, "KEEP", "DROP").ipp == "KEEP"
    with index.db.write() as conn:
        with pytest.raises(NotFound):
            gam.change_ipp(index, conn, GAM, HOSP, "GHOST", "NEW")
    with index.db.write() as conn:
        assert gam.change_ipp(index, conn, GAM, HOSP, "KEEP", "NEW").ipp == "NEW"
