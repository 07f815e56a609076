"""The ZFA information state carried to the patient's DMP over its protocol (seed 002 L541-543):
a qualified identity's state reaches `POST /dmp/Consent` with the structure's software key and reads
back; another is not sent."""

import httpx
import pytest

from maison.core.auth import issue_key
from maison.etablissement.sejours.dmp_information import DmpInformation, consent
from maison.formats.hl7v2 import pam
from maison.formats.hl7v2.listener import parse
from tests.etablissement.sejours.messages import FINESS, adt
from tests.identite.helpers import SARAH_NIR, seed_referential
from tests.partage.world import HOPITAL, make_world

ZFA_OPPOSED_FEEDING = "ZFA|ACTIF|20240306111154|||||||IO|20240306111154|IC|20240306111154"
SARAH_PID = (
    "PID|1||S-1^^^CHU-X&{structure}&M^PI~277010115400329^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"
    "||GARCIA-HAMMADI^SARAH-LOU^SARAH-LOU ANNA^^^^L||19770121|F|||^^^^^^BDL^^01154|||||||||||||||||||||QUAL"
)


@pytest.fixture
def world(house, live):
    return make_world(house, live, ("hospitalier",))


@pytest.fixture
def dmp(house, live, world):
    """The hospital's propagation with its software's key (scope logiciel), as `maison serve` runs it:
    the DMP takes the patient's information from the establishment too (seed 002 L555-559)."""
    motif = house.namespace.structure("dmp-motif-opposition-alimentation")
    key = {"ESANTE-API-KEY": issue_key(house.db, HOPITAL, "maison-pfi", "system:pfi")}
    propagation = DmpInformation(house.sejours, HOPITAL, f"{live.url}/dmp", lambda: dict(key), motif)
    yield propagation
    propagation.close()


def _receive(house, text: str) -> int | None:
    return house.sejours.receive(pam.read(parse(text)))


def test_a_qualified_patient_s_state_reaches_the_dmp(house, live, dmp, world):
    sarah = SARAH_PID.format(structure=HOPITAL)
    patient = _receive(house, adt("A01", "1", patient=sarah, structure=HOPITAL, segments=(ZFA_OPPOSED_FEEDING,)))
    assert dmp.submit(HOPITAL, patient).result(30) == "transmis"
    answer = httpx.get(
        f"{live.url}/dmp/Consent", params={"patient.identifier": SARAH_NIR}, headers=world.headers("hospitalier")
    ).json()
    provisions = answer["entry"][0]["resource"]["provision"]["provision"]
    axes = {p["action"][0]["coding"][0]["code"]: p["type"] for p in provisions}
    assert axes == {"alimentation": "deny", "consultation": "permit"}
    assert house.sejours.dmp_state(dmp.actor, patient)["propagation"] == "transmis"
    assert dmp.sweep() == []  # nothing left to send


def test_a_state_without_a_qualified_ins_is_kept_not_sent(house, dmp):
    vali = adt("A01", "1", structure=HOPITAL, segments=(ZFA_OPPOSED_FEEDING,))  # VALI: the INS not trusted
    patient = _receive(house, vali.replace(f"&{FINESS}&", f"&{HOPITAL}&"))
    assert dmp.propagate(HOPITAL, patient) == "ins-non-qualifiee"
    assert dmp.propagate(FINESS, patient) == "sans-acces-dmp"
    assert (
        _receive(house, adt("A02", "2", movement="M2", structure=HOPITAL).replace(f"&{FINESS}&", f"&{HOPITAL}&"))
        is None
    )


def test_another_structure_s_key_is_refused_by_the_dmp_and_that_is_recorded(house, live):
    """The Consent names the structure whose state it is: the DMP refuses it from another structure's
    key (403), and the refusal is the state's recorded propagation."""
    seed_referential(house.insi)
    key = issue_key(house.db, HOPITAL, "gam", "tests")
    patient = _receive(
        house, adt("A01", "1", patient=SARAH_PID.format(structure=FINESS), segments=(ZFA_OPPOSED_FEEDING,))
    )
    propagation = DmpInformation(house.sejours, FINESS, f"{live.url}/dmp", lambda: {"ESANTE-API-KEY": key})
    try:
        assert propagation.propagate(FINESS, patient) == "refuse-403"
        assert house.sejours.dmp_state(propagation.actor, patient)["propagation"] == "refuse-403"
    finally:
        propagation.close()


def test_a_dmp_out_of_reach_is_tried_again(house):
    seed_referential(house.insi)
    patient = _receive(
        house, adt("A01", "1", patient=SARAH_PID.format(structure=FINESS), segments=(ZFA_OPPOSED_FEEDING,))
    )
    down = DmpInformation(house.sejours, FINESS, "http://127.0.0.1:9/dmp", dict)
    try:
        assert down.propagate(FINESS, patient) == "echec-reseau"
        assert [f.result(30) for f in down.sweep()] == ["echec-reseau"]
    finally:
        down.close()


def test_not_collected_axes_are_left_out_and_the_structure_is_named():
    body = consent({"feeding": "NA", "consultation": "INC"}, SARAH_NIR, "1.2.250.1.213.1.4.10", structure=FINESS)
    assert body["provision"]["provision"] == [{"type": "deny", "action": [{"coding": [{"code": "consultation"}]}]}]
    assert body["organization"] == [{"identifier": {"value": FINESS}}]
