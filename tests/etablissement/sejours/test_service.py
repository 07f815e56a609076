"""Stays and movements from PAM France messages (issue 22 §1.1): each event, the order rules, the
cancellations, idempotence on MSH-10, nothing half-written, every change audited."""

import pytest
import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.etablissement.sejours import store
from maison.etablissement.sejours.model import StayStatus
from maison.etablissement.sejours.service import Sejours
from maison.etablissement.vigilance.model import Status
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats.hl7v2 import pam
from maison.formats.hl7v2.listener import parse
from maison.formats.hl7v2.refusal import Hl7Refusal
from tests.etablissement.sejours.messages import FINESS, adt, pid

READER = Actor(person="899900038441", structure=FINESS, software="dpi")


@pytest.fixture
def sejours(db):
    return Sejours(db, PatientIndex(db))


def send(sejours: Sejours, text: str) -> None:
    sejours.receive(pam.read(parse(text)))


def refused(sejours: Sejours, text: str) -> Hl7Refusal:
    with pytest.raises(Hl7Refusal) as caught:
        send(sejours, text)
    return caught.value


def only_stay(sejours: Sejours, number: str = "S1"):
    (stay,) = [s for s in sejours.search(READER) if s.number == number]
    return stay


def counts(db) -> tuple[int, int, int, int]:
    with db.read() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (store.sej_stay, store.sej_movement, store.sej_message, store.sej_dmp_state)
        )


def test_admission_transfer_leave_discharge(sejours):
    send(sejours, adt("A01", "1", segments=("ZFA|ACTIF|20240306111154|||||||INO|20240306111154|IC|20240306111154",)))
    send(sejours, adt("A02", "2", movement="M2", unit="7000", at="20240306120000"))
    send(sejours, adt("A21", "3", movement="M3", at="20240306130000"))
    assert only_stay(sejours).status is StayStatus.ONLEAVE
    send(sejours, adt("A22", "4", movement="M4", at="20240306140000"))
    send(sejours, adt("A03", "5", movement="M5", at="20240307100000"))
    stay = only_stay(sejours)
    assert stay.status is StayStatus.FINISHED
    assert (stay.admitted_at, stay.discharged_at) == ("2024-03-06T11:00:00+01:00", "2024-03-07T10:00:00+01:00")
    assert stay.unit == "7000"
    assert [m.movement_id for m in stay.movements] == ["M1", "M2", "M3", "M4", "M5"]
    assert (stay.dmp_feeding, stay.dmp_consultation) == ("INO", "IC")
    assert sejours.dmp_state(READER, stay.patient_id)["consultation"] == "IC"


def test_class_changes_and_external_registration(sejours):
    send(sejours, adt("A04", "1", patient_class="O"))
    send(sejours, adt("A06", "2", movement="M2", patient_class=""))
    assert only_stay(sejours).patient_class == "I"
    send(sejours, adt("A07", "3", movement="M3", patient_class=""))
    assert only_stay(sejours).patient_class == "O"


def test_pre_admission_then_admission_or_its_cancellation(sejours):
    send(sejours, adt("A05", "1", stay="S1"))
    assert only_stay(sejours).status is StayStatus.PLANNED
    send(sejours, adt("A01", "2", stay="S1", movement="M2"))
    assert only_stay(sejours).status is StayStatus.IN_PROGRESS
    send(sejours, adt("A05", "3", stay="S2"))
    send(sejours, adt("A38", "4", stay="S2", action="CANCEL"))
    assert only_stay(sejours, "S2").status is StayStatus.CANCELLED


def test_cancellations_undo_the_last_movement(sejours):
    send(sejours, adt("A01", "1"))
    send(sejours, adt("A02", "2", movement="M2", unit="7000"))
    send(sejours, adt("A03", "3", movement="M3"))
    # only the last movement is cancelled: the transfer before the discharge is refused
    refusal = refused(sejours, adt("A12", "4", movement="M2", action="CANCEL"))
    assert (refusal.acknowledgment, refusal.segment, refusal.field) == ("AE", "ZBE", 1)
    send(sejours, adt("A13", "5", movement="M3", action="CANCEL"))
    assert (only_stay(sejours).status, only_stay(sejours).discharged_at) == (StayStatus.IN_PROGRESS, None)
    send(sejours, adt("A12", "6", movement="M2", action="CANCEL"))
    assert only_stay(sejours).unit == "6268"
    send(sejours, adt("A11", "7", movement="M1", action="CANCEL"))
    assert only_stay(sejours).status is StayStatus.CANCELLED


def test_a03_before_its_a01_is_ae_204_and_taken_once_the_a01_arrives(sejours, db):
    refusal = refused(sejours, adt("A03", "d1", movement="M9"))
    assert (refusal.acknowledgment, refusal.code.value, refusal.segment, refusal.field) == ("AE", "204", "PV1", 19)
    assert counts(db) == (0, 0, 0, 0)
    send(sejours, adt("A01", "a1"))
    send(sejours, adt("A03", "d1", movement="M9"))  # the same message again, now in order
    assert only_stay(sejours).status is StayStatus.FINISHED


def test_cancelling_an_unknown_movement_is_ae_204(sejours, db):
    send(sejours, adt("A01", "1"))
    before = counts(db)
    refusal = refused(sejours, adt("A11", "2", movement="NOPE", action="CANCEL"))
    assert (refusal.code.value, refusal.segment, refusal.field) == ("204", "ZBE", 1)
    assert counts(db) == before


def test_z99_updates_or_cancels_a_movement(sejours):
    send(sejours, adt("A01", "1"))
    send(sejours, adt("A02", "2", movement="M2", unit="7000"))
    send(sejours, adt("Z99", "3", movement="M2", unit="7100", action="UPDATE", original="A02"))
    assert only_stay(sejours).unit == "7100"
    send(sejours, adt("Z99", "4", movement="M2", action="CANCEL", original="A02"))
    assert only_stay(sejours).unit == "6268"
    assert refused(sejours, adt("Z99", "5", movement="M7", action="UPDATE")).code.value == "204"
    send(sejours, adt("A08", "6", movement="", patient=pid(name="PAT-QUATRE")))
    assert only_stay(sejours).ipp == "000003"


def test_the_same_msh10_is_taken_once_and_another_content_under_it_refused(sejours, db):
    send(sejours, adt("A01", "1"))
    after = counts(db)
    send(sejours, adt("A01", "1"))  # a resend (its ACK lost): answered AA, nothing done twice
    assert counts(db) == after
    refusal = refused(sejours, adt("A01", "1", stay="S2"))
    assert (refusal.code.value, refusal.field) == ("205", 10)


def test_identities_enter_the_patient_index_without_trusting_the_gam_s_ins(sejours, db):
    send(sejours, adt("A28", "1", stay="", movement=""))  # VALI with an INS: the INS is not kept
    send(sejours, adt("A28", "2", stay="", movement="", patient=pid(ipp="Q1", status="QUAL", ins="279035121518989")))
    send(sejours, adt("A28", "3", stay="", movement="", patient=pid(ipp="Q2", status="QUAL", ins="279035121518988")))
    index = PatientIndex(db)
    by_ipp = {ipp: index.search(READER, ipp=ipp)[0] for ipp in ("000003", "Q1", "Q2")}
    assert (by_ipp["000003"].status, by_ipp["000003"].ins_number) == (Status.VALI, None)
    assert (by_ipp["Q1"].status, by_ipp["Q1"].shareable_ins) == (Status.QUAL, "279035121518989")
    assert (by_ipp["Q2"].status, by_ipp["Q2"].ins_number) == (Status.VALI, None)  # its key does not verify


def test_merge_and_change_of_identifier(sejours, db):
    send(sejours, adt("A01", "1", patient=pid(ipp="OLD", ins="")))
    send(sejours, adt("A28", "2", stay="", movement="", patient=pid(ipp="KEEP", ins="")))
    send(sejours, adt("A40", "3", stay="", movement="", patient=pid(ipp="KEEP", ins=""), mrg="OLD"))
    assert only_stay(sejours).ipp == "KEEP"
    send(sejours, adt("A47", "4", stay="", movement="", patient=pid(ipp="NEW", ins=""), mrg="KEEP"))
    assert only_stay(sejours).ipp == "NEW"
    before = counts(db)
    refusal = refused(sejours, adt("A40", "5", stay="", movement="", patient=pid(ipp="NEW", ins=""), mrg="GHOST"))
    assert (refusal.code.value, refusal.segment, refusal.field) == ("204", "MRG", 1)
    assert counts(db) == before


def test_missing_required_parts_name_segment_and_field(sejours):
    no_pv1 = adt("A01", "1").replace("PV1|", "XXX|")
    assert (refused(sejours, no_pv1).acknowledgment, refused(sejours, no_pv1).segment) == ("AR", "PV1")
    no_number = adt("A01", "2", stay="")  # no PV1 at all
    assert refused(sejours, no_number).segment == "PV1"
    empty_number = adt("A01", "3").replace("^^^CHU-X&000897406&M^VN", "")
    r = refused(sejours, empty_number.replace("|S1|", "||").replace("|S1\r", "|\r"))
    assert (r.acknowledgment, r.code.value, r.segment, r.field) == ("AE", "101", "PV1", 19)
    bad_sex = adt("A01", "4").replace("|19790328|F|", "|19790328|X|")
    assert (refused(sejours, bad_sex).segment, refused(sejours, bad_sex).field) == ("PID", 8)


def test_unknown_segments_are_tolerated(sejours):
    send(sejours, adt("A01", "1", segments=("ZZZ|whatever|x", "ZFD|||Y|N|INSI|20211201", "PD1||U")))
    assert only_stay(sejours).status is StayStatus.IN_PROGRESS


def test_every_change_and_refusal_is_audited(sejours, db):
    send(sejours, adt("A01", "1"))
    refused(sejours, adt("A03", "2", stay="S404"))
    sejours.trail.close()
    with db.read() as conn:
        actions = {(r["action"], r["outcome"]) for r in audit.events(conn, structure=FINESS)}
    assert ("sejours.A01", "success") in actions
    assert ("identitovigilance.gam-create", "success") in actions
    assert ("sejours.A03", "failure") in actions


def test_leave_and_return_cancelled_by_a52_and_a53(sejours):
    """HL7 v2.5 §3.3.52-3.3.53: A52 cancels the leave of absence (A21), A53 the return from it (A22)."""
    send(sejours, adt("A01", "1"))
    send(sejours, adt("A21", "2", movement="M2", at="20240306130000"))
    send(sejours, adt("A22", "3", movement="M3", at="20240306140000"))
    send(sejours, adt("A53", "4", movement="M3", action="CANCEL"))
    assert only_stay(sejours).status is StayStatus.ONLEAVE
    refusal = refused(sejours, adt("A53", "5", movement="M2", action="CANCEL"))  # M2 is the leave, not a return
    assert (refusal.code.value, refusal.segment, refusal.field) == ("103", "ZBE", 1)
    send(sejours, adt("A52", "6", movement="M2", action=""))  # the event says CANCEL when ZBE-4 is empty
    stay = only_stay(sejours)
    assert stay.status is StayStatus.IN_PROGRESS
    assert [m.cancelled for m in stay.movements] == [False, True, True]


def test_changes_of_medical_and_care_unit_and_their_cancellations(sejours):
    """IHE PAM France 2.11: Z80 changes the medically responsible unit (the stay's, ZBE-7), Z84 the care
    unit (the movement's, ZBE-8); Z81 and Z85 cancel them."""
    send(sejours, adt("A01", "1", unit="6268"))
    send(sejours, adt("Z80", "2", movement="M2", unit="7000", at="20240306120000"))
    assert only_stay(sejours).unit == "7000"
    send(sejours, adt("Z81", "3", movement="M2", action="CANCEL"))
    assert only_stay(sejours).unit == "6268"
    care = (
        "ZBE|M3^CHU-X^{0}|20240306130000||INSERT|N||Unite 6268^^^^^CHU-X&{0}&N^UF^^^6268"
        "|Soins 12^^^^^CHU-X&{0}&N^UF^^^S12|S"
    )
    send(sejours, adt("Z84", "4", movement="", segments=(care.format(FINESS),)))
    stay = only_stay(sejours)
    assert stay.unit == "6268" and stay.movements[-1].care_unit == "S12"
    refusal = refused(sejours, adt("Z81", "5", movement="M3", action="CANCEL"))  # a Z84, not a Z80
    assert (refusal.segment, refusal.field) == ("ZBE", 1)
    send(sejours, adt("Z85", "6", movement="M3", action="CANCEL"))
    assert [m.cancelled for m in only_stay(sejours).movements] == [False, True, True]
