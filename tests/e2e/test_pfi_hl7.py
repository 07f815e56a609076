"""The volet's ORU/MDM examples (../shared/reference/hl7v2/exemples/) sent over MLLP to the PFI's
listener (issue 22 §2, Done when): each answered with its ACK, and what was stored checked — the
document with its stay, the DMP leg, the MSSanté legs, the ZAM back at a DPI listener the test runs.

The server is `maison serve --mllp-port` in its own process, the PFI configured by settings. The
referential and the DMP are prepared for the examples' patient (PAT-TROIS DOMINIQUE, INS
279035121518989, the volet 2.1 examples; the 2.0 ones use 274075176079430 and 277076322082910).
Examples that cannot be accepted are refused in the protocol's terms, and the test says why: several
carry the text "Document medcial au format CDA niveau 1" where the CDA should be (no CDA: AE 102 at
OBX-5), some carry a CDA of another patient than their PID (AE 207 at PID-3), and the
Trans_LPS_CDA_MSSanté ones are what a PFI sends to its LPS, the other direction (AR at MSH-21).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import hl7
import pytest
import sqlalchemy as sa

from maison.core.ins_traits import Traits
from maison.etablissement.pfi import store
from maison.formats.hl7v2.client import MllpClient
from maison.identite.psc.api import issuer_for
from tests.e2e.dpi import Dpi
from tests.partage.mss_world import PFI, PFI_PASSWORD, start_world
from tests.partage.world import HOPITAL, make_world

EXAMPLES = Path("/work/shared/reference/hl7v2/exemples")
V21 = EXAMPLES / "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1"
VOLET = EXAMPLES / "Volets/TRANS_DOC_CDA_HL7V2"
LPS = EXAMPLES / "Vague 2/Trans_LPS_CDA_MSSanté/TRANSMISSION_LPS_DOC_CDA_COURRIEL_FROM_MSSANTE_V1.1"
PAT_TROIS = ("279035121518989", Traits.of("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"))


@pytest.fixture
def served(settings, db, house, live, tmp_path):
    """`maison serve --mllp-port` with the PFI configured (the pfi_* settings, in the maison.toml of its
    working directory): the DMP at the house's own /dmp with the CHU's software key, the CHU's
    MSSanté operator, the ZAM to the DPI's listener this test runs. The referential, the consents and
    the directory are prepared for the examples' patient (PAT-TROIS) and for Sarah."""
    from maison.core.auth import issue_key
    from tests.e2e.mllp_server import Served

    world = make_world(house, live, keys=("hospitalier",))
    ins, traits = PAT_TROIS
    house.insi.referential.register(traits, ins)
    assert world.inform("hospitalier", ins=ins).status_code == 201
    assert world.inform("hospitalier").status_code == 201
    key = issue_key(house.db, HOPITAL, "PFI-HL7", "system:pfi")
    mss = start_world(house, tmp_path, issuer_for(live.url))
    dpi = Dpi()
    toml = {
        "pfi_structure": HOPITAL,
        "pfi_dmp_url": f"{live.url}/dmp",
        "pfi_dmp_authorization": f"Bearer {key}",
        "pfi_mss_host": "127.0.0.1",
        "pfi_mss_port": mss.endpoints("chu-test").submission,
        "pfi_mss_ca": str(mss.mss.authority.cert_path),
        "pfi_mss_mailbox": PFI,
        "pfi_mss_password": PFI_PASSWORD,
        "pfi_zam_host": "127.0.0.1",
        "pfi_zam_port": dpi.port,
    }
    (settings.data_dir / "maison.toml").write_text(
        "".join(f"{k} = {v}\n" if isinstance(v, int) else f'{k} = "{v}"\n' for k, v in toml.items())
    )
    server = Served(settings, tmp_path / "serve.log")
    yield server, dpi
    server.stop()
    dpi.close()
    mss.close()


def send(server, message: str | bytes) -> hl7.Message:
    with MllpClient("127.0.0.1", server.mllp, timeout=60) as client:
        return client.send_message(message)


def settled(house, control_id: str, unique_id: str, event: str, timeout: float = 30) -> tuple[sa.Row, list[sa.Row]]:
    deadline = time.monotonic() + timeout
    while True:
        with house.db.read() as conn:
            doc = conn.execute(
                sa.select(store.H).where(
                    store.H.c.control_id == control_id, store.H.c.unique_id == unique_id, store.H.c.event == event
                )
            ).one()
            legs = store.hl7_outcomes(conn, doc.id)
        if all(leg.state != "a-faire" for leg in legs) or time.monotonic() > deadline:
            return doc, legs
        time.sleep(0.05)


STAY, STAY_STRUCTURE = "000897406", "120456789"  # PV1-19 of every example, and its authority's id
ACCEPTED = "accepte"
# Every ORU/MDM example, in the order sent, with what the PFI answers: AA (taken; then the DMP's and
# the operator's outcomes come back as ZAM), or the refusal's MSA-1, ERR-3 and ERR-2.
OUTCOMES: dict[str, tuple[str, ...]] = {
    # the volet 2.1 MDM set: initial, replacement, deletion of a CR d'imagerie (RIS-Y)
    "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/MDM/Transmission initiale MDM/"
    "message_MDM_CR_Radio_INIT_N1_Base64.er7": ("AA", "initial"),
    "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/MDM/Remplacement MDM/"
    "message_MDM_CR_Radio_RPLC_N1.er7": ("AA", "remplacement"),
    "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/MDM/Suppression MDM/"
    "message_MDM_CR_Radio_DEL_N1.er7": ("AA", "suppression"),
    "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/MDM/Transmission initiale MDM/"
    "message_MDM_CR_Radio_INIT_N1.er7": ("AE", "102", "OBX^1^5"),  # OBX-5: "Document medcial au format CDA…"
    # the SEGUR vague 2 ORU set (SIL-Y): a CR de biologie N3
    "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/ORU/Transmission initiale ORU/"
    "message_ORU_CR_Bio_INIT_N3_SEGUR.hl7": ("AA", "initial"),
    "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/ORU/Remplacement ORU/"
    "message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7": ("AA", "remplacement"),
    "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/ORU/Suppression ORU/"
    "message_ORU_CR_Bio_DEL_N3_SEGUR.hl7": ("AE", "207", "PID^1^3"),  # its CDA is 277076322082910's
    # the Trans_LPS examples are what a PFI sends its LPS (MSH-21 CISIS_CDA_HL7_LPS): not for the PFI
    "Vague 2/Trans_LPS_CDA_MSSanté/TRANSMISSION_LPS_DOC_CDA_COURRIEL_FROM_MSSANTE_V1.1/Transmission initiale MDM/"
    "message_MDM__LPS_MSS_CR_Radio_INIT_N1.er7": ("AR", "200", "MSH^1^21"),
    "Vague 2/Trans_LPS_CDA_MSSanté/TRANSMISSION_LPS_DOC_CDA_COURRIEL_FROM_MSSANTE_V1.1/Transmission initiale MDM/"
    "message_MDM__LPS_MSS_CR_Radio_INIT_N1_Base64.er7": ("AR", "200", "MSH^1^21"),
    "Vague 2/Trans_LPS_CDA_MSSanté/TRANSMISSION_LPS_DOC_CDA_COURRIEL_FROM_MSSANTE_V1.1/Remplacement MDM/"
    "message_MDM__LPS_MSS_CR_Radio_RPLC_N1.er7": ("AR", "200", "MSH^1^21"),
    "Vague 2/Trans_LPS_CDA_MSSanté/TRANSMISSION_LPS_DOC_CDA_COURRIEL_FROM_MSSANTE_V1.1/Suppression MDM/"
    "message_MDM__LPS_MSS_CR_Radio_DEL_N1.er7": ("AR", "200", "MSH^1^21"),
    "Volets/Trans_LPS_CDA_MSSanté/V1.0/Transmission initiale MDM/message_MDM__LPS_MSS_CR_Radio_INIT_N1.er7": (
        "AR",
        "200",
        "MSH^1^21",
    ),
    "Volets/Trans_LPS_CDA_MSSanté/V1.0/Transmission initiale MDM/message_MDM__LPS_MSS_CR_Radio_INIT_N1_Base64.er7": (
        "AR",
        "200",
        "MSH^1^21",
    ),
    "Volets/Trans_LPS_CDA_MSSanté/V1.0/Remplacement MDM/message_MDM__LPS_MSS_CR_Radio_RPLC_N1.er7": (
        "AR",
        "200",
        "MSH^1^21",
    ),
    "Volets/Trans_LPS_CDA_MSSanté/V1.0/Suppression MDM/message_MDM__LPS_MSS_CR_Radio_DEL_N1.er7": (
        "AR",
        "200",
        "MSH^1^21",
    ),
    "Volets/Trans_LPS_CDA_MSSanté/V1.0/MDM/message.hl7": ("AR", "200", "MSH^1^21"),
    "Volets/Trans_LPS_CDA_MSSanté/V1.0/MDM/messageDocB64.hl7": ("AR", "200", "MSH^1^21"),
    # the volet 2.0 set (INS 274075176079430, 277076322082910)
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/MDM/Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7": (
        "AA",
        "initial",
    ),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/MDM/Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1.er7": (
        "AE",
        "102",
        "OBX^1^5",
    ),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/MDM/Remplacement MDM/message_MDM_CR_Radio_RPLC_N1.er7": ("AE", "102", "OBX^1^5"),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/MDM/Suppression MDM/message_MDM_CR_Radio_DEL_N1.er7": ("AE", "102", "OBX^1^5"),
    # the 2.0 ORU files write MSH-2 with "˜" (U+02DC) for the repetition separator: AR at MSH-2
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/ORU/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N1_N3.hl7": (
        "AR",
        "102",
        "MSH^1^2",
    ),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/ORU/Remplacement ORU/message_ORU_CR_Bio_RPLC_N1_N3.er7": ("AR", "102", "MSH^1^2"),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/ORU/Remplacement ORU/message_ORU_CR_Bio_RPLC_N1_Base64_N3_Base64.er7": (
        "AR",
        "102",
        "MSH^1^2",
    ),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/ORU/Suppression ORU/message_ORU_CR_Bio_DEL_N1_N3.er7": ("AR", "102", "MSH^1^2"),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.0/ORU/Suppression ORU/message_ORU_CR_Bio_DEL_N1_Base64_N3_Base64.er7": (
        "AR",
        "102",
        "MSH^1^2",
    ),
    # the volet 2.1 ORU set: placeholders, or N1 + N3 of another patient than the PID's
    "Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N1_N3.hl7": (
        "AE",
        "102",
        "OBX^1^5",
    ),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Remplacement ORU/message_ORU_CR_Bio_RPLC_N1_N3.er7": ("AE", "102", "OBX^1^5"),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Remplacement ORU/message_ORU_CR_Bio_RPLC_N1_Base64_N3_Base64.er7": (
        "AE",
        "207",
        "PID^1^3",
    ),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Suppression ORU/message_ORU_CR_Bio_DEL_N1_N3.er7": ("AE", "102", "OBX^1^5"),
    "Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Suppression ORU/message_ORU_CR_Bio_DEL_N1_Base64_N3_Base64.er7": (
        "AE",
        "207",
        "PID^1^3",
    ),
    # the volet 1.2 examples: OBX-5 is a mail body, no CDA
    "Volets/TRANS_DOC_CDA_HL7V2/V1.2/MDM/message.hl7": ("AE", "102", "OBX^1^5"),
    "Volets/TRANS_DOC_CDA_HL7V2/V1.2/ORU/message.hl7": ("AE", "102", "OBX^1^5"),
}


def _examples() -> set[str]:
    found = set()
    for path in EXAMPLES.rglob("*"):
        if path.suffix in (".er7", ".hl7") and "ack" not in path.name.lower():
            head = path.read_bytes()[:300]
            if b"ORU^R01" in head or b"MDM^T" in head:
                found.add(str(path.relative_to(EXAMPLES)))
    return found


def test_every_oru_mdm_example_is_listed():
    assert set(OUTCOMES) == _examples()


def test_each_example_over_mllp_gets_its_ack_and_what_it_asks_is_stored_with_its_stay(served, house):
    server, dpi = served
    z01 = 0
    for name, expected in OUTCOMES.items():
        path = EXAMPLES / name
        sent = hl7.parse(path.read_bytes().decode("utf-8").replace("\r\n", "\r").replace("\n", "\r").strip())
        with house.db.read() as conn:
            before = conn.execute(sa.select(sa.func.count()).select_from(store.H)).scalar_one()
        ack = send(server, path.read_bytes())
        code, control = str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])
        assert (code, control) == (expected[0], str(sent.segment("MSH")[10])), (name, str(ack))
        event = str(sent.extract_field("MSH", 1, 9, 1, 2))
        assert str(ack.segment("MSH")[9]) == f"ACK^{event}^ACK", name
        with house.db.read() as conn:
            after = conn.execute(sa.select(sa.func.count()).select_from(store.H)).scalar_one()
        if code != "AA":  # refused: its ERR says where and why, and nothing was written
            err = ack.segment("ERR")
            assert (str(err[3]).split("^")[0], str(err[2])) == expected[1:], (name, str(err))
            assert after == before, name
            continue
        assert after == before + 1, name
        unique = _unique_id(sent)
        doc, legs = settled(house, control, unique, event)
        assert (doc.structure, doc.stay_structure, doc.stay_number, doc.action) == (
            HOPITAL,
            STAY_STRUCTURE,
            STAY,
            expected[1],
        ), name
        assert legs and all((leg.stay_structure, leg.stay_number) == (STAY_STRUCTURE, STAY) for leg in legs), name
        assert all(leg.state != "a-faire" for leg in legs), name
        dmp = [leg for leg in legs if leg.channel == "dmp"]
        assert len(dmp) == 1, name  # every example asks DESTDMP=Y
        if dmp[0].state != ACCEPTED:  # the DMP's code is kept, and the creator is told by a ZAM^Z01
            assert dmp[0].code, name
            z01 += 1
            found = dpi.zams("Z01", z01)
            assert len(found) == z01, name
            last = found[-1]
            assert str(last.segment("OBX")[4]) == control and str(last.segment("ERR")[5]).startswith(dmp[0].code)
        for leg in legs:
            if leg.channel == "mss" and leg.state == "echec":  # refused at RCPT: ZAM^Z02 N with the SMTP code
                assert leg.code.isdigit(), name


def _unique_id(message: hl7.Message) -> str:
    from maison.etablissement.pfi.hl7_request import read_request

    return read_request(message).unique_id


def test_a_gam_and_a_dpi_the_letter_is_tied_to_the_stay_the_gam_announced(served, house, tmp_path):
    """Issue 22, Done when: python-hl7's `mllp_send` plays the GAM (admission, transfer, discharge of
    PAT-TROIS, stay V7 of structure 000897406), then the DPI sends the discharge letter (MDM^T02) to
    the running server: the DMP entry and the MSSanté message are tied to that stay — "stays with a
    discharge letter fed with a qualified INS" is the join of the GAM's stays and the PFI's legs —
    and the ZAM come back at the DPI."""
    from maison.core.actor import Actor
    from tests.e2e.test_dmp_n1_n3 import PAT_TROIS as PAT_TROIS_ID
    from tests.e2e.test_mss_smtp import _delivered
    from tests.e2e.test_sejours_mllp import MLLP_SEND
    from tests.etablissement.pfi.test_hl7_request import message_text
    from tests.etablissement.sejours.messages import FINESS, adt
    from tests.partage.mss_world import GP
    from tests.partage.world import PROS, n1

    server, dpi = served
    gam = tmp_path / "gam.hl7"
    texts = [
        adt("A01", "G1", stay="V7", movement="M1"),
        adt("A02", "G2", stay="V7", movement="M2", unit="7000", at="20240306120000"),
        adt("A03", "G3", stay="V7", movement="M3", unit="7000", at="20240307100000"),
    ]
    gam.write_text("\n".join(t.replace("\r", "\n") for t in texts))
    sent = subprocess.run(
        [str(MLLP_SEND), "--loose", "-f", str(gam), "-p", str(server.mllp), "127.0.0.1"],
        capture_output=True,
        timeout=60,
    )
    assert sent.returncode == 0 and sent.stdout.decode().count("MSA|AA|") == 3, sent.stdout + sent.stderr
    letter = n1(PROS["hospitalier"], patient=PAT_TROIS_ID)
    message = message_text(
        letter,
        ins=PAT_TROIS_ID.ins,
        ins_oid=PAT_TROIS_ID.ins_oid,
        control_id="DPI1",
        stay="V7",
        stay_authority=f"CHU-X&{FINESS}&M",
        flags={"DESTMSSANTEPS": "Y", "ACK_RECEPTION": "Y"},
        recipients=(GP,),
    )
    assert msa(send(server, message)) == ("AA", "DPI1")
    with house.db.read() as conn:
        unique = conn.execute(sa.select(store.H.c.unique_id).where(store.H.c.control_id == "DPI1")).scalar_one()
    _doc, legs = settled(house, "DPI1", unique, "T02")
    assert {(leg.channel, leg.state, leg.stay_structure, leg.stay_number) for leg in legs} == {
        ("dmp", "accepte", FINESS, "V7"),
        ("mss", "envoye", FINESS, "V7"),
    }, [(leg.channel, leg.state, leg.detail) for leg in legs]
    assert _delivered(house, GP)
    [stay] = house.sejours.search(Actor(person="899900038441", structure=FINESS, software="dpi"))
    with house.db.read() as conn:  # the join: the GAM's stay, the DMP leg of its discharge letter
        assert store.stays_with(conn, FINESS, "11490-0") == ["V7"] == [stay.number]
        assert store.stays_with(conn, FINESS, "11490-0", channel="mss") == ["V7"]
    [z01], [z02] = dpi.zams("Z01"), dpi.zams("Z02")
    assert str(z01.segment("OBX")[4]) == "DPI1" and str(z01.segment("OBX")[5]).startswith("Y")
    assert str(z02.segments("OBX")[1][5]).endswith(GP)


def msa(ack: hl7.Message) -> tuple[str, str]:
    return str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])
