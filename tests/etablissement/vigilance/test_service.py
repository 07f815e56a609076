"""Every identity status transition (issue 2 §3.1), the legal ones and the refused ones."""

from dataclasses import replace

import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import Conflict, InvalidInput, NotFound, TransitionRefused
from maison.core.ins_traits import Traits
from maison.etablissement.vigilance.model import CollectionMethod, Status, status_of
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats.insi import CodeCR, InsiResult
from maison.identite.ins.model import TraitsQuery
from tests.identite.helpers import SARAH_NIR, seed_referential

HOSP = "1750000019"
DESK = Actor(person="899900038441", structure=HOSP, software="dpi")


@pytest.fixture
def index(house):
    seed_referential(house.insi)
    return house.patients, house.insi.referential


def sarah_00(ref) -> InsiResult:
    return ref.search_by_traits(TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21"))


def admit(index: PatientIndex, ipp="IPP1", traits=None, **kw):
    local = traits or Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21")
    return index.admit(DESK, HOSP, ipp, local, **kw)


def test_status_table_is_the_two_criteria():
    # SPEC §1: four exclusive statuses from (INSi retrieval × high-trust document)
    assert status_of(False, False) is Status.PROV
    assert status_of(False, True) is Status.VALI
    assert status_of(True, False) is Status.RECUP
    assert status_of(True, True) is Status.QUAL
    assert status_of(True, True, frozenset({"douteuse"})) is Status.PROV


def test_admission_is_provisional_or_validated(index):
    patients, _ = index
    assert admit(patients).status is Status.PROV
    assert admit(patients, "IPP2", document_type="CN").status is Status.VALI
    # a low-trust document at the desk does not validate
    p = admit(patients, "IPP3", document_type="PC")
    assert p.status is Status.PROV and p.document_type is None


def test_prov_to_recup_by_insi_then_qual_by_document(index):
    patients, ref = index
    p = admit(patients)
    p = patients.record_insi_result(DESK, p.id, sarah_00(ref))
    assert p.status is Status.RECUP and p.collection_method == "INSI"
    assert p.traits.liste_prenoms == "SARAH-LOU ANNA"  # official traits replace the desk's
    assert p.shareable_ins is None  # seed 000 L2007-2009: matricule shared only when qualified
    p = patients.check_document(DESK, p.id, "PA")
    assert p.status is Status.QUAL and p.shareable_ins == SARAH_NIR


def test_prov_to_vali_by_document_then_qual_by_insi(index):
    patients, ref = index
    p = patients.check_document(DESK, admit(patients).id, "CN")
    assert p.status is Status.VALI
    p = patients.record_insi_result(DESK, p.id, sarah_00(ref))
    assert p.status is Status.QUAL


def test_carte_vitale_app_holder_is_qualified_beneficiary_at_choice(index):
    patients, ref = index
    holder = patients.read_carte_vitale_app(DESK, admit(patients).id, sarah_00(ref), holder=True)
    assert holder.status is Status.QUAL and holder.collection_method == CollectionMethod.AV
    # seed 001 L329-330: a beneficiary's INS is qualified or retrieved at the professional's decision
    other = Traits.of("MARTIN", "JEAN", "M", "1980-05-10", "69123")
    res = ref.search_by_traits(TraitsQuery("MARTIN", ("JEAN",), "M", "1980-05-10", "69123"))
    ben = patients.read_carte_vitale_app(DESK, admit(patients, "IPP9", other).id, res, holder=False)
    assert ben.status is Status.RECUP


def test_insi_01_and_02_are_refused_with_advice(index):
    patients, _ = index
    p = admit(patients)
    for code in (CodeCR.AUCUN, CodeCR.PLUSIEURS):
        with pytest.raises(TransitionRefused) as err:
            patients.record_insi_result(DESK, p.id, InsiResult(code))
        assert err.value.code == f"insi-{code.value}" and "provisoire" in err.value.message
    assert patients.get(DESK, p.id).status is Status.PROV


def test_inconsistent_insi_traits_are_refused(index):
    patients, ref = index
    p = admit(patients, traits=Traits.of("GARCIA", "SARAH", "F", "1977-01-21"))
    with pytest.raises(TransitionRefused) as err:
        patients.record_insi_result(DESK, p.id, sarah_00(ref))
    assert err.value.code == "traits-incoherents"


def test_low_trust_document_is_refused(index):
    patients, _ = index
    p = admit(patients)
    with pytest.raises(TransitionRefused) as err:
        patients.check_document(DESK, p.id, "PC")
    assert err.value.code == "piece-faible-confiance"
    with pytest.raises(InvalidInput):
        patients.check_document(DESK, p.id, "XX")


def test_doubtful_identity_goes_back_to_prov_and_cannot_be_qualified(index):
    patients, ref = index
    p = patients.check_document(DESK, patients.record_insi_result(DESK, admit(patients).id, sarah_00(ref)).id, "CN")
    assert p.status is Status.QUAL
    p = patients.set_attribute(DESK, p.id, "douteuse")
    assert p.status is Status.PROV and p.shareable_ins is None
    with pytest.raises(TransitionRefused):
        patients.check_document(DESK, p.id, "PA")
    p = patients.set_attribute(DESK, p.id, "douteuse", on=False)
    assert p.status is Status.QUAL
    assert patients.set_attribute(DESK, p.id, "homonyme").status is Status.QUAL


def test_ins_invalidation_downgrades(index):
    patients, ref = index
    recup = patients.record_insi_result(DESK, admit(patients).id, sarah_00(ref))
    assert patients.invalidate_ins(DESK, recup.id, "INS désactivé").status is Status.PROV
    qual = patients.check_document(DESK, admit(patients, "IPP2", document_type="CN").id, "CN")
    qual = patients.record_insi_result(DESK, qual.id, sarah_00(ref))
    assert patients.invalidate_ins(DESK, qual.id, "INS désactivé").status is Status.VALI
    with pytest.raises(TransitionRefused):
        patients.invalidate_ins(DESK, admit(patients, "IPP3").id, "rien")


def test_traits_of_insi_identity_cannot_be_edited_and_vali_falls_back(index):
    patients, ref = index
    recup = patients.record_insi_result(DESK, admit(patients).id, sarah_00(ref))
    with pytest.raises(TransitionRefused) as err:
        patients.update_traits(DESK, recup.id, Traits.of("AUTRE", "NOM", "F", "1977-01-21"))
    assert err.value.code == "traits-insi"
    vali = admit(patients, "IPP2", document_type="CN")
    assert patients.update_traits(DESK, vali.id, Traits.of("AUTRE", "NOM", "F", "1977-01-21")).status is Status.PROV


def test_same_ins_on_two_records_is_a_doublon_for_review(index):
    # 003 L227: one user, one INS — a second record with the same INS is a doublon, never a second holder
    patients, ref = index
    first = patients.record_insi_result(DESK, admit(patients).id, sarah_00(ref))
    second = admit(patients, "IPP2")
    with pytest.raises(Conflict) as err:
        patients.record_insi_result(DESK, second.id, sarah_00(ref))
    assert err.value.code == "ins-deja-attribue"
    queue = patients.reviews(DESK, HOSP)
    assert len(queue) == 1 and {queue[0]["patient_a"], queue[0]["patient_b"]} == {first.id, second.id}
    merged = patients.merge(DESK, first.id, second.id)
    assert merged.id == first.id and patients.reviews(DESK, HOSP) == []
    assert patients.get(DESK, second.id).merged_into == first.id
    with pytest.raises(TransitionRefused):
        patients.check_document(DESK, second.id, "CN")  # a merged record is never used again
    events = [h["event"] for h in patients.history(DESK, second.id)]
    assert events == ["admit", "merged-into"]


def test_merge_rules(index):
    patients, ref = index
    qual = patients.check_document(DESK, patients.record_insi_result(DESK, admit(patients).id, sarah_00(ref)).id, "PA")
    prov = admit(patients, "IPP2")
    with pytest.raises(TransitionRefused):
        patients.merge(DESK, prov.id, qual.id)  # keep the most reliable record
    with pytest.raises(TransitionRefused):
        patients.merge(DESK, qual.id, qual.id)


def test_split_of_a_collision(index):
    patients, _ = index
    p = admit(patients)
    other = patients.split(DESK, p.id, "IPP-NEW", Traits.of("GARCIA", "ANNA", "F", "1979-02-02"))
    assert other.status is Status.PROV and other.ipp == "IPP-NEW"
    assert [h["event"] for h in patients.history(DESK, p.id)] == ["admit", "split"]


def test_traits_changed_into_another_person_is_a_collision_alert(index):
    patients, _ = index
    slip = admit(patients, "IPP1", Traits.of("DUPOND", "MARIE", "F", "1980-01-01"))
    patients.update_traits(DESK, slip.id, Traits.of("DUPONT", "MARIE", "F", "1980-01-01"))  # a keying slip
    mixed = admit(patients, "IPP2", Traits.of("LAMBERT", "MARIE", "F", "1980-01-01"))
    patients.update_traits(DESK, mixed.id, Traits.of("LAMBERT", "JEANNE", "F", "1975-06-12"))  # someone else
    assert patients.detect_duplicates(DESK, HOSP) == 1
    [alert] = patients.reviews(DESK, HOSP)
    assert (alert["kind"], alert["patient_a"], alert["patient_b"]) == ("collision", mixed.id, None)
    assert alert["reason"] == "traits modifiés : prénoms, date de naissance"
    assert patients.detect_duplicates(DESK, HOSP) == 1 and len(patients.reviews(DESK, HOSP)) == 1  # not twice
    patients.split(DESK, mixed.id, "IPP3", Traits.of("LAMBERT", "MARIE", "F", "1980-01-01"), alert["id"])
    assert patients.reviews(DESK, HOSP) == [] and patients.reviews(DESK, HOSP, "dedouble")[0]["id"] == alert["id"]


def test_insi_returning_another_ins_is_a_collision(index):
    patients, ref = index
    record = patients.record_insi_result(DESK, admit(patients).id, sarah_00(ref))
    answer = sarah_00(ref)
    other = replace(answer.individu, active=replace(answer.individu.active, number="2770101154004"), history=())
    with pytest.raises(TransitionRefused) as err:
        patients.record_insi_result(DESK, record.id, replace(answer, individu=other))
    assert err.value.code == "collision"
    [alert] = patients.reviews(DESK, HOSP)
    assert alert["kind"] == "collision" and alert["patient_a"] == record.id
    assert patients.get(DESK, record.id).ins_number == SARAH_NIR[:13]  # nothing changed on the record


def test_another_structure_cannot_touch_the_record(index):
    patients, _ = index
    p = admit(patients)
    outsider = Actor(person="x", structure="1999999999", software="dpi")
    with pytest.raises(NotFound):  # as if absent: no oracle on another structure's ids (issue 18 §2.2)
        patients.get(outsider, p.id)
    with pytest.raises(NotFound):
        patients.check_document(outsider, p.id, "CN")


def test_every_change_is_audited_and_chained(index, house):
    patients, ref = index
    p = patients.record_insi_result(DESK, admit(patients).id, sarah_00(ref))
    patients.check_document(DESK, p.id, "CN")
    with house.db.read() as conn:
        actions = [e["action"] for e in audit.events(conn, action_prefix="identitovigilance.")]
        assert audit.verify_chain(conn) == (True, None)
    assert actions == [
        "identitovigilance.admit",
        "identitovigilance.insi-retrieval",
        "identitovigilance.document-check",
    ]
