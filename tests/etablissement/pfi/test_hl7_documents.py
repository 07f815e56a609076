"""The PFI's HL7 v2 receiver (issue 22 §2): a document from the DPI goes to the DMP and by MSSanté,
each leg recorded with its stay, and the ZAM of each outcome goes back to the DPI; a refused message
leaves nothing behind; a message sent again is not done twice.

The tests of one backend share one house, its professionals signed in and its MSSanté operators
(module_live): a house, two PSC sign-ins and a trust space per test cost more than two seconds, the
case itself a message or two. Each test has a patient of its own (her DMP, her consent), a stay
number, a GP mailbox and a DPI of its own, and counts rows and audit records from a mark taken before
it acts; the PFI is the CHU's in every test, and each test waits until its documents are settled, so
none leaves a leg or a ZAM for another's restart to take up."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.pfi import store
from maison.etablissement.pfi.envoi import Submission
from maison.etablissement.pfi.hl7_documents import Channels, Hl7Documents
from maison.formats import mdn as reports
from maison.formats.cda.build import PatientIdentity
from maison.formats.hl7v2.refusal import Hl7Refusal
from maison.identite.psc.api import issuer_for
from tests.conftest import free_port
from tests.e2e.dpi import Dpi
from tests.e2e.mss_shared import Trail, own_gp
from tests.e2e.test_mss_smtp import _delivered
from tests.etablissement.pfi.test_hl7_request import message_text, parse
from tests.identite.helpers import nir
from tests.partage.mss_world import PFI, PFI_PASSWORD, MssWorld, start_world
from tests.partage.world import CHILD, CHILD_ID, HOPITAL, PROS, World, make_world, n1

_serial = iter(range(100, 1000))


def channels_for(world, mss, dpi: Dpi) -> Channels:
    """The PFI of the test world: the DMP as the hospital's professional, the CHU's operator, the DPI."""
    submission = Submission(
        "127.0.0.1", mss.endpoints("chu-test").submission, str(mss.mss.authority.cert_path), PFI, PFI_PASSWORD
    )
    return Channels(
        structure=HOPITAL,
        dmp_url=f"{world.base}/dmp",
        dmp_headers=lambda: world.headers("hospitalier"),
        submission=submission,
        zam_host="127.0.0.1",
        zam_port=dpi.port,
    )


@pytest.fixture(scope="module")
def module_world(module_live) -> World:
    """The module's professionals in the Annuaire, signed in to Pro Santé Connect once."""
    return make_world(module_live.house, module_live, keys=("hospitalier", "generaliste"))


@pytest.fixture(scope="module")
def mss(module_live, tmp_path_factory) -> Iterator[MssWorld]:
    """The module's MSSanté operators (the CHU's, with the PFI's mailbox; the GPs'), on its house."""
    world = start_world(module_live.house, tmp_path_factory.mktemp("mss"), issuer_for(module_live.url))
    yield world
    world.close()


@pytest.fixture
def house(module_live):
    """The module's shared house (what the per-test `house` fixture gave these tests)."""
    return module_live.house


@dataclass(frozen=True)
class Case:
    """What one test sends about: its patient (registered to the INS referential, her DMP informed by
    the hospital doctor), its stay and its GP's mailbox."""

    patient: PatientIdentity
    stay: str
    gp: str

    @property
    def ins(self) -> str:
        return self.patient.ins


def _letters(n: int) -> str:
    """`n` written in letters (a birth name has no digit)."""
    return "".join("ABCDEFGHIJ"[int(d)] for d in str(n))


@pytest.fixture
def case(house, module_world, mss) -> Case:
    serial = next(_serial)
    ins = nir(f"2770101154{serial:03d}")  # Sarah's birth and place, an order number of her own
    patient = PatientIdentity(ins, OID_INS_NIR_TEST, f"GARCIA-{_letters(serial)}", "SARAH", "F", "1977-01-21", "01154")
    house.insi.referential.register(
        Traits.of(patient.birth_family, patient.birth_givens, "F", patient.birth_date, patient.birthplace_cog), ins
    )
    assert module_world.renew().inform("hospitalier", ins).status_code == 201
    return Case(patient, f"24{serial:06d}", own_gp(mss))


@pytest.fixture
def pfi(house, module_world, mss, case):
    dpi = Dpi()
    receiver = Hl7Documents(house.db, house.mss.blobs, channels_for(module_world, mss, dpi))
    yield receiver, module_world, dpi
    receiver.close()
    dpi.close()


def letter(case: Case, **kw) -> bytes:
    return n1(PROS["hospitalier"], patient=case.patient, **kw)


def text(case: Case, cda: bytes, **kw) -> str:
    return message_text(
        cda, ins=case.ins, ins_oid=OID_INS_NIR_TEST, stay=case.stay, stay_authority=f"CHU-X&{HOPITAL}&M", **kw
    )


def settled(house, control_id: str, timeout: float = 30) -> tuple[sa.Row, list[sa.Row]]:
    """The document a message brought and its legs, once none is left to do."""
    deadline = time.monotonic() + timeout
    while True:
        with house.db.read() as conn:
            doc = conn.execute(sa.select(store.H).where(store.H.c.control_id == control_id)).one()
            legs = store.hl7_outcomes(conn, doc.id)
        if all(leg.state != "a-faire" for leg in legs) or time.monotonic() > deadline:
            return doc, legs
        time.sleep(0.05)


def displayed(message_id: str, gp: str) -> bytes:
    """The GP's MDN (RFC 8098): the message was displayed."""
    return (
        f"From: {gp}\r\nTo: {PFI}\r\nSubject: lu\r\nMessage-ID: <mdn-1@medecin.mssante.fr>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nlu\r\n"
        "--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
        f"Final-Recipient: rfc822;{gp}\r\nOriginal-Message-ID: {message_id}\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--b--\r\n"
    ).encode()


def new_stays(conn: sa.Connection, before: list[str], **kw) -> list[str]:
    """The stays of the CHU `store.stays_with` gives now that it did not give at `before` (the house's
    other tests' stays are there too)."""
    return [stay for stay in store.stays_with(conn, HOPITAL, "11490-0", **kw) if stay not in before]


def counts(house) -> tuple[int, int]:
    with house.db.read() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(store.H)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(store.O)).scalar_one(),
        )


def test_a_letter_goes_to_the_dmp_and_the_gp_each_leg_with_its_stay_and_the_zams_come_back(pfi, house, case):
    receiver, world, dpi = pfi
    cda = letter(case)
    flags = {"DESTMSSANTEPS": "Y", "ACK_RECEPTION": "Y"}
    with house.db.read() as conn:
        before = store.stays_with(conn, HOPITAL, "11490-0"), store.stays_with(conn, HOPITAL, "11490-0", channel="mss")
    assert receiver.handle(parse(text(case, cda, control_id="M1", flags=flags, recipients=(case.gp,)))) is None
    doc, legs = settled(house, "M1")
    assert (doc.stay_number, doc.ins, doc.ins_status, doc.type_code, doc.action) == (
        case.stay,
        case.ins,
        "QUAL",
        "11490-0",
        "initial",
    )
    by_channel = {leg.channel: leg for leg in legs}
    assert by_channel["dmp"].state == "accepte" and by_channel["dmp"].reference.startswith("DocumentReference/")
    assert by_channel["mss"].state == "envoye" and by_channel["mss"].recipient == case.gp
    assert {(leg.stay_structure, leg.stay_number) for leg in legs} == {(HOPITAL, case.stay)}
    assert _delivered(house, case.gp)  # the GP's mailbox has it
    found = world.search("hospitalier", case.ins)
    assert found.status_code == 200 and found.json()["total"] == 1
    [z01] = dpi.zams("Z01")
    assert str(z01.segment("OBX")[4]) == "M1" and str(z01.segment("OBX")[5]).startswith("Y")
    [z02] = dpi.zams("Z02")
    assert str(z02.segments("OBX")[1][5]).endswith(case.gp)
    with house.db.read() as conn:  # "stays with a discharge letter fed with a qualified INS": a join
        assert new_stays(conn, before[0]) == [case.stay]
        assert new_stays(conn, before[1], channel="mss") == [case.stay]
        assert [z.answer for z in store.hl7_zams(conn, doc.id)] == ["AA", "AA"]


def test_the_same_message_again_is_acknowledged_and_not_done_twice(pfi, house, case):
    receiver, _world, _dpi = pfi
    message = parse(text(case, letter(case), control_id="M2"))
    receiver.handle(message)
    settled(house, "M2")
    before = counts(house)
    assert receiver.handle(message) is None
    assert counts(house) == before


def test_replacement_then_deletion_reach_the_dmp(pfi, house, case):
    receiver, world, _dpi = pfi
    first = letter(case)
    receiver.handle(parse(text(case, first, control_id="M3")))
    original, _ = settled(house, "M3")
    second = letter(case, replaces=original.unique_id)
    receiver.handle(parse(text(case, second, control_id="M4", event="T10", txa13=original.unique_id)))
    replaced, legs = settled(house, "M4")
    assert replaced.action == "remplacement" and legs[0].state == "accepte", legs[0].detail
    found = world.search("hospitalier", case.ins).json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["masterIdentifier"]["value"].endswith(
        replaced.unique_id
    )
    receiver.handle(parse(text(case, second, control_id="M5", event="T04")))
    _, gone = settled(house, "M5")
    assert gone[0].state == "accepte", gone[0].detail
    assert world.search("hospitalier", case.ins).json()["total"] == 0


def test_a_replacement_of_a_document_the_dmp_never_had_is_acknowledged_and_the_zam_says_so(pfi, house, case):
    """The ACK says the PFI took the message; the DMP's outcome is the ZAM's (volet: ACK then ZAM)."""
    receiver, _world, dpi = pfi
    receiver.handle(parse(text(case, letter(case), control_id="M6", event="T10", txa13="1.2.250.1.999.404")))
    _, [leg] = settled(house, "M6")
    assert (leg.state, leg.code, leg.stay_number) == ("refuse", "XDSMissingDocument", case.stay)
    [z01] = dpi.zams("Z01")
    assert str(z01.segment("OBX")[5]).startswith("N") and str(z01.segment("ERR")[5]).startswith("XDSMissingDocument")


def test_a_replacement_of_a_document_another_system_put_in_the_dmp_finds_it_there(pfi, house, case):
    receiver, world, _dpi = pfi
    from maison.etablissement.dmp.producer import Produced

    first = letter(case)
    before = counts(house)
    assert world.provide("hospitalier", [Produced(first)]).status_code == 200
    assert counts(house) == before  # the PFI never saw it
    from maison.formats import xmlsafe
    from maison.formats.cda.header import read_header

    first_id = read_header(xmlsafe.parse(first, max_bytes=10**7)).id
    assert first_id is not None
    second = letter(case, replaces=first_id.root)
    receiver.handle(parse(text(case, second, control_id="M9", event="T10", txa13=first_id.root)))
    _, [leg] = settled(house, "M9")
    assert leg.state == "accepte", leg.detail


def test_hostile_documents_leave_nothing_half_written(pfi, house, case):
    receiver, _world, _dpi = pfi
    cases = [
        text(case, letter(case), control_id="H1").replace(case.ins, "279035121518989", 1),  # CDA not the PID's
        text(case, letter(case), control_id="H2", document_obx5="^text^XML^Base64^%%%"),
        text(
            case, letter(case), control_id="H3", flags={"MASQUE_PS": "Y", "DESTMSSANTEPS": "Y"}, recipients=(case.gp,)
        ),
    ]
    before = counts(house)
    for hostile in cases:
        with pytest.raises(Hl7Refusal):
            receiver.handle(parse(hostile))
    assert counts(house) == before


def test_a_dmp_refusal_comes_back_as_a_zam_with_the_dmp_code(pfi, house, case):
    receiver, world, dpi = pfi
    assert world.inform("hospitalier", case.ins, alimentation="deny", motif="refus du patient").status_code == 201
    receiver.handle(parse(text(case, letter(case), control_id="M7")))
    _, [leg] = settled(house, "M7")
    assert leg.state == "refuse" and leg.code
    [z01] = dpi.zams("Z01")
    assert str(z01.segment("OBX")[5]).startswith("N") and str(z01.segment("ERR")[5]).startswith(leg.code)


def test_dsn_and_mdn_become_z02_and_z03(pfi, house, case):
    receiver, _world, dpi = pfi
    flags = {"DESTMSSANTEPS": "Y", "ACK_LECTURE_MSS": "Y", "DESTDMP": "N"}
    receiver.handle(parse(text(case, letter(case), control_id="M8", flags=flags, recipients=(case.gp,))))
    _, [leg] = settled(house, "M8")
    original = f"Message-ID: {leg.reference}\r\nFrom: {PFI}\r\nTo: {case.gp}\r\n\r\nx".encode()
    failure = reports.dsn(
        original,
        [(case.gp, "5.2.2", "552 5.2.2 boîte pleine")],
        reporting_mta="mx.test",
        postmaster="postmaster@x",
        to=PFI,
    )
    assert receiver.report(failure.as_bytes()) == 1
    [z02] = dpi.zams("Z02")
    assert str(z02.segment("OBX")[5]).startswith("N") and str(z02.segment("ERR")[5]).startswith("552")
    read = displayed(leg.reference, case.gp)
    assert receiver.report(read) == 1
    [z03] = dpi.zams("Z03")
    assert str(z03.segment("OBX")[5]).startswith("Y") and str(z03.segments("OBX")[1][5]).endswith(case.gp)
    _, [after] = settled(house, "M8")
    assert after.state == "lu"


def test_the_served_house_takes_documents_only_when_the_pfi_is_configured(house):
    from dataclasses import replace

    from maison.etablissement.pfi.hl7_documents import from_settings

    settings = house.settings
    assert from_settings(house.db, house.mss.blobs, settings) is None
    configured = from_settings(house.db, house.mss.blobs, replace(settings, pfi_structure=HOPITAL, pfi_zam_port=2575))
    assert configured is not None and configured.channels.structure == HOPITAL
    configured.close()


def test_the_pfi_mailbox_hands_its_reports_over_and_each_is_told_once(pfi, house, case):
    """The DSN and MDN the applicative mailbox receives (`maison pfi`) go to `report`: Z02, Z03."""
    from maison.etablissement.pfi.service import Pfi
    from tests.etablissement.pfi.test_service import MemoryMailbox

    receiver, _world, dpi = pfi
    flags = {"DESTMSSANTEPS": "Y", "ACK_LECTURE_MSS": "Y", "DESTDMP": "N"}
    receiver.handle(parse(text(case, letter(case), control_id="M10", flags=flags, recipients=(case.gp,))))
    _, [leg] = settled(house, "M10")
    read = displayed(leg.reference, case.gp)
    box = MemoryMailbox({1: read, 2: read})  # the same MDN twice
    platform = Pfi(
        house.db,
        house.mss.blobs,
        house.settings.reference_path,
        HOPITAL,
        box,
        lambda *_: None,
        address=PFI,
        domain="chu-test.mssante.fr",
        patients=house.patients,
        reports=receiver.report,
    )
    platform.handle_all([1, 2])
    assert box.handled == {1, 2}
    assert len(dpi.zams("Z03")) == 1
    time.sleep(0.3)
    assert len(dpi.received) == 1  # told once
    _, [after] = settled(house, "M10")
    assert after.state == "lu"


def test_what_was_acknowledged_but_not_delivered_is_delivered_after_a_restart(pfi, house, case):
    receiver, _world, dpi = pfi
    receiver.pool.submit = lambda *a, **k: None  # the process stops right after its ACK
    receiver.handle(parse(text(case, letter(case), control_id="M11", flags={"ACK_RECEPTION": "Y"})))
    with house.db.read() as conn:
        assert [leg.state for leg in store.hl7_outcomes(conn, store.hl7_unfinished(conn, HOPITAL)[0])] == ["a-faire"]
    restarted = Hl7Documents(house.db, house.mss.blobs, receiver.channels)
    try:
        assert restarted.resume() == 1
        _, [leg] = settled(house, "M11")
        assert leg.state == "accepte"
        assert len(dpi.zams("Z01")) == 1
    finally:
        restarted.close()


def test_a_zam_the_dpi_did_not_take_is_sent_again_at_the_next_start(pfi, house, case):
    receiver, _world, dpi = pfi
    port = receiver.channels.zam_port
    receiver.channels.zam_port = free_port()  # nobody listens there: the DPI is away
    receiver.handle(parse(text(case, letter(case), control_id="M12", flags={"ACK_RECEPTION": "Y"})))
    doc, _ = settled(house, "M12")
    deadline = time.monotonic() + 15
    while True:
        with house.db.read() as conn:
            zams = store.hl7_zams(conn, doc.id)
        if zams or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [z.answer.startswith("injoignable") for z in zams] == [True]
    receiver.channels.zam_port = port  # the DPI is back
    restarted = Hl7Documents(house.db, house.mss.blobs, receiver.channels)
    try:
        restarted.resume()
        assert len(dpi.zams("Z01")) == 1
    finally:
        restarted.close()
    with house.db.read() as conn:
        assert [z.answer for z in store.hl7_zams(conn, doc.id)] == ["AA"]


def test_modif_conf_code_updates_the_masking_of_a_document_the_dmp_holds(pfi, house, case):
    receiver, world, _dpi = pfi
    cda = letter(case)
    receiver.handle(parse(text(case, cda, control_id="M13")))
    settled(house, "M13")
    receiver.handle(parse(text(case, cda, control_id="M14", flags={"MODIF_CONF_CODE": "Y", "MASQUE_PS": "Y"})))
    _, [leg] = settled(house, "M14")
    assert leg.state == "accepte" and leg.reference.startswith("DocumentReference/"), leg.detail
    [entry] = world.search("hospitalier", case.ins).json()["entry"]  # the author still sees it (R.1111-49), masked
    codes = {c["code"] for label in entry["resource"]["securityLabel"] for c in label["coding"]}
    assert "MASQUE_PS" in codes


def test_an_oru_with_the_n1_and_its_n3_feeds_both_linked(pfi, house, reference_path):
    """ORU^R01 may carry a CR de biologie twice, N1 then N3 (profils-messages.md): one DMP lot, the N3
    linked to its N1 (XFRM)."""
    import base64

    from maison.core.ins_traits import Traits
    from tests.e2e.test_dmp_n1_n3 import BIO, PAT_TROIS, PAT_TROIS_INS

    receiver, world, _dpi = pfi
    house.insi.referential.register(
        Traits.of("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"), PAT_TROIS_INS
    )
    assert world.inform("hospitalier", PAT_TROIS_INS).status_code == 201
    level1 = n1(PROS["hospitalier"], patient=PAT_TROIS, type_=BIO, title="CR de biologie")
    level3 = (reference_path / "cisis" / "ExemplesCDA" / "BIO-CR-BIO_2024.01_Glycémie_mole.xml").read_bytes()
    message = message_text(level1, ins=PAT_TROIS_INS, ins_oid=OID_INS_NIR_TEST, control_id="M15", oru=True)
    first = next(line for line in message.split("\r") if line.startswith("OBX|1|ED|"))
    second = (
        f"OBX|2|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^{base64.b64encode(level3).decode()}||||||F|"
    )
    message = message.replace(first, first + "\r" + second)
    receiver.handle(parse(message))
    doc, [leg] = settled(house, "M15")
    assert len(json.loads(doc.documents)) == 2
    assert leg.state == "accepte", leg.detail
    assert world.search("hospitalier", PAT_TROIS_INS).json()["total"] == 2


def for_child(case: Case, **kw) -> str:
    """A letter about Sarah's child, a minor: the patient of a connexion secrète (CSP L.1111-5); no
    other test of the module writes to her DMP."""
    authority = f"CHU-X&{HOPITAL}&M"
    cda = n1(PROS["hospitalier"], patient=CHILD_ID)
    return message_text(cda, ins=CHILD, ins_oid=OID_INS_NIR_TEST, stay=case.stay, stay_authority=authority, **kw)


def test_connexion_secrete_feeds_the_dmp_in_a_secret_connection(pfi, house, case):
    """CONNEXION_SECRETE = Y (profils-messages.md; mapping.md, the VIHF's confidentiality-code): the
    DMP transaction is one of a connexion secrète — recorded so by the DMP, and judged by its rule:
    a document still visible to the legal representatives is refused, and the ZAM^Z01 says so."""
    from maison.core.audit import events

    receiver, _world, dpi = pfi
    secret = {"CONNEXION_SECRETE": "Y", "INVISIBLE_REP_LEGAUX": "Y", "ACK_RECEPTION": "Y"}
    receiver.handle(parse(for_child(case, control_id="M20", flags=secret)))
    _, [leg] = settled(house, "M20")
    assert leg.state == "accepte", leg.detail
    with house.db.read() as conn:
        [fed] = [e for e in events(conn, patient=CHILD, action_prefix="dmp.alimenter") if e["outcome"] == "success"]
    assert json.loads(fed["detail"])["actor"]["connexion-secrete"] == "oui"
    visible = {"CONNEXION_SECRETE": "Y"}  # not invisible to the legal representatives: the DMP refuses
    receiver.handle(parse(for_child(case, control_id="M21", flags=visible)))
    _, [leg] = settled(house, "M21")
    assert (leg.state, leg.code) == ("refuse", "XDSRegistryMetadataError") and "connexion secrète" in leg.detail
    z01 = [z for z in dpi.zams("Z01", 2) if str(z.segment("OBX")[4]) == "M21"]
    assert len(z01) == 1 and str(z01[0].segment("ERR")[5]).startswith("XDSRegistryMetadataError")


def test_each_leg_s_outcome_is_audited_with_the_patient_and_the_stay(pfi, house, case):
    from maison.core.audit import audit_event

    receiver, _world, _dpi = pfi
    flags = {"DESTMSSANTEPS": "Y"}
    mark = Trail(house).mark  # the house's other tests' records are before it
    message = text(case, letter(case), control_id="M16", flags=flags, recipients=(case.gp, "x@inconnu.mssante.fr"))
    receiver.handle(parse(message))
    settled(house, "M16")
    with house.db.read() as conn:
        rows = conn.execute(
            sa.select(audit_event.c.action, audit_event.c.patient, audit_event.c.outcome, audit_event.c.detail).where(
                audit_event.c.action.like("pfi.hl7.%"), audit_event.c.seq > mark
            )
        ).all()
    actions = sorted((r.action, r.outcome) for r in rows)
    assert actions == [
        ("pfi.hl7.dmp", "success"),
        ("pfi.hl7.document", "success"),
        ("pfi.hl7.mss", "failure"),
        ("pfi.hl7.mss", "success"),
    ], actions
    assert {r.patient for r in rows} == {case.ins}
    assert all(f"{HOPITAL}/{case.stay}" in str(r.detail) for r in rows if r.action != "pfi.hl7.document")


def test_a_letter_for_an_ins_that_is_not_qualified_does_not_count_for_its_stay(pfi, house, case):
    receiver, _world, _dpi = pfi
    with house.db.read() as conn:
        before = store.stays_with(conn, HOPITAL, "11490-0"), store.stays_with(conn, HOPITAL, "11490-0", qualified=False)
    receiver.handle(parse(text(case, letter(case), control_id="M17", ins_status="VALI")))
    _, [leg] = settled(house, "M17")
    assert leg.state == "accepte"
    with house.db.read() as conn:
        assert new_stays(conn, before[0]) == []
        assert new_stays(conn, before[1], qualified=False) == [case.stay]
