"""The ADT receiver: a parsed message in, the stay stored, no extra ACK segment; a refusal raised."""

import pytest

from maison.etablissement.sejours.receiver import AdtReceiver
from maison.etablissement.sejours.service import Sejours
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats.hl7v2.listener import Listener, parse
from maison.formats.hl7v2.refusal import Hl7Refusal
from tests.etablissement.sejours.messages import adt


@pytest.fixture
def receiver(db):
    return AdtReceiver(Sejours(db, PatientIndex(db)))


def test_a_message_is_stored_and_acknowledged_through_the_listener(receiver):
    assert receiver(parse(adt("A01", "1"))) is None
    listener = Listener({"ADT": receiver})
    try:
        assert "MSA|AA|2" in listener.answer(adt("A02", "2", movement="M2").encode())
        refused = listener.answer(adt("A03", "3", stay="S404", movement="M3").encode())
    finally:
        listener.close()
    assert "MSA|AE|3" in refused and "ERR||PV1^1^19|204^" in refused


def test_a_structure_this_listener_does_not_serve_is_refused(db):
    only_other = AdtReceiver(Sejours(db, PatientIndex(db)), structures=frozenset({"1750000019"}))
    with pytest.raises(Hl7Refusal) as refused:
        only_other(parse(adt("A01", "1")))
    assert (refused.value.code.value, refused.value.segment, refused.value.field) == ("204", "PID", 3)
