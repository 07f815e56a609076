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
The documents of the examples the PFI takes reach the DMP and the recipients' mailboxes; none is
accepted by the DMP, each for a rule its CDA or its chain breaks (DMP_OUTCOMES names each rule and its
source), and the DPI is told by the ZAM with the DMP's code.

The GAM's ZFA reaches the DMP as the structure's information record, and the patient's opposition to
feeding then makes the DMP refuse the PFI's feed (seed 002 L541-543, L555-559).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import hl7
import pytest
import sqlalchemy as sa

from maison.core.actor import Actor
from maison.core.audit import SYSTEM
from maison.core.ins_traits import Traits
from maison.etablissement.pfi import store
from maison.formats.hl7v2.client import MllpClient
from maison.identite.psc.api import issuer_for
from tests.conftest import LiveServer, emptied, settings_for
from tests.e2e.dpi import Dpi
from tests.e2e.mllp_server import Served
from tests.e2e.test_mss_smtp import _delivered
from tests.partage.mss_world import PFI, PFI_PASSWORD, MssWorld, start_world
from tests.partage.world import HOPITAL, World, make_world

EXAMPLES = Path("/work/shared/reference/hl7v2/exemples")
V21 = EXAMPLES / "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1"
VOLET = EXAMPLES / "Volets/TRANS_DOC_CDA_HL7V2"
LPS = EXAMPLES / "Vague 2/Trans_LPS_CDA_MSSanté/TRANSMISSION_LPS_DOC_CDA_COURRIEL_FROM_MSSANTE_V1.1"
PAT_TROIS = ("279035121518989", Traits.of("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"))
# the examples' MSSanté recipient (PRT RCT: Dr Adam Hoda, IdNatPS 801234567897): a mailbox of the
# trust space's regional operator, which serves his domain
TEST_CI_SIS = "test-ci-sis.mssante.fr"
HODA = f"adam.hoda@{TEST_CI_SIS}"


@dataclass
class Scene:
    house: object
    world: World
    server: Served
    dpi: Dpi
    mss: MssWorld


@pytest.fixture(scope="module")
def scene(reference_path, database_url, migrated, tmp_path_factory):
    """One `maison serve --mllp-port` per module and database backend, the PFI configured by settings
    (the pfi_* settings, in the maison.toml of its working directory): the DMP at the house's own /dmp
    with the CHU's software key, the CHU's MSSanté operator, the ZAM to the DPI's listener this module
    runs. Prepared as a test house is for the examples: the INS referential holds their patient
    (PAT-TROIS; the volet 2.0's PATA cannot be held, see UNKNOWN_INS), her DMP open; the trust space
    serves their recipient's domain and his mailbox. Its operators are registered here and run by the
    server (its supervisor starts the registry's local operators, as in production): run here too, they
    held the ports, and the server's copies failed and were spawned again and again meanwhile.
    Each test uses its own patients, control ids and stays, so that none depends on another."""
    from maison.core.auth import issue_key
    from maison.house import House

    tmp = tmp_path_factory.mktemp("pfi-hl7")
    settings = settings_for(reference_path, tmp, database_url)
    emptied(migrated)
    house = House.open(settings, migrate=False)
    with LiveServer(house.app(), settings.port) as live:
        world = make_world(house, live, keys=("hospitalier",))
        house.insi.referential.register(PAT_TROIS[1], PAT_TROIS[0])
        assert world.inform("hospitalier", ins=PAT_TROIS[0]).status_code == 201
        key = issue_key(house.db, HOPITAL, "PFI-HL7", "system:pfi")  # scope logiciel: the PFI's own key
        mss = start_world(house, tmp, issuer_for(live.url), domains=(TEST_CI_SIS,), start=False)
        mss.mss.mailboxes.create(SYSTEM, HODA, "medecins", "PER", "801234567897", "HODA Adam")
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
            # one deployment, two processes: the served one names Maison's codes and extensions (the
            # DMP's motif of an opposition among them) where the house serving the DMP does
            "namespace_url": settings.namespace_base_url,
        }
        (settings.data_dir / "maison.toml").write_text(
            "".join(f"{k} = {v}\n" if isinstance(v, int) else f'{k} = "{v}"\n' for k, v in toml.items())
        )
        server = Served(settings, tmp / "serve.log")
        try:
            _operators_listening(server, list(mss.mss.runtimes))
            yield Scene(house, world, server, dpi, mss)
        finally:
            server.stop()
            dpi.close()
            mss.close()
    house.insi.journal.close()
    house.db.dispose()


def _operators_listening(server: Served, operators: list[str], timeout: float = 60) -> None:
    """Wait until the server says each operator listens (`maison serve` prints it once it does)."""
    deadline = time.monotonic() + timeout
    while not all(f"MSSanté {o} à l'écoute" in server.log.read_text() for o in operators):
        assert time.monotonic() < deadline and server.proc.poll() is None, server.log.read_text()[-3000:]
        time.sleep(0.1)


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
# Every ORU/MDM example, in the order sent, with what the PFI answers: AA (taken; then the DMP's and
# the operator's outcomes come back as ZAM — DMP_OUTCOMES, MSS_OUTCOMES), or the refusal's MSA-1,
# ERR-3 and ERR-2.
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


MDM_21 = "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/MDM/"
ORU_21 = "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/ORU/"
MDM_20 = "Volets/TRANS_DOC_CDA_HL7V2/V2.0/MDM/"
# The structuration minimale's schematron, which the DMP applies to every CDA it is given (CI-SIS,
# ../shared/reference/cisis/schematrons/profils/structurationMinimale/include/
# 1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch L46: "element hl7:setId[not(@nullFlavor)] is mandatory").
SET_ID = "CI-SIS structuration minimale: setId obligatoire (schematron 1.2.250.1.213.1.1.1.1, L46-47)"
# Seed 002 L786-787 and SPEC.md §3: "Interdiction d'alimenter / mettre à jour le DMP avec uniquement la
# version N3 : rejet par le DMP"; a CR de biologie is not among the N3 sent alone (002 L409: mesures de
# l'enfant, note de vaccination).
N3_ALONE = "N3 sans son N1 : rejet par le DMP (seed 002 L409, L786-787; SPEC.md §3)"
# A replacement or a deletion names a document the DMP must hold (PDSm; profils-messages.md, T10/T04):
# the examples' chain starts with an initial document the DMP refused, so what follows finds nothing.
ABSENT = "remplacement / suppression d'un document absent du DMP (son initial y a été refusé)"
# The volet 2.0 MDM example's INS 274075176079430 (PID-3) is not that patient's: PATA DOMINIQUE, M, born
# 2005-01-01 at 63220 (PID-5/7/8, CDA recordTarget), where the NIR says a woman (2), born 1974-07 at
# 51760. An INS is the patient's NIR (CSS R.161-1; the NIR's composition: sex, year and month, place of
# birth): no INS referential holds it for this patient — ours refuses to (nir-incoherent) — so the DMP
# answers that it does not know the patient.
UNKNOWN_INS = "INS 274075176079430 incohérente avec les traits du PID : inconnue du référentiel INS"
# What the DMP answered each accepted example's document — (leg state, the DMP's code in the leg and in
# the ZAM^Z01's ERR-5, a fragment of its text, the rule and its source). No example's CDA reaches the
# DMP: each breaks a rule the DMP applies, named here; the referential, the dossiers and the
# recipients are prepared so that nothing else refuses them.
DMP_OUTCOMES: dict[str, tuple[str, str, str, str]] = {
    MDM_21 + "Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7": (
        "refuse",
        "XDSRegistryMetadataError",
        "cda-setid",
        SET_ID,
    ),
    MDM_21 + "Remplacement MDM/message_MDM_CR_Radio_RPLC_N1.er7": (
        "refuse",
        "XDSMissingDocument",
        "71024000081",
        ABSENT,
    ),
    MDM_21 + "Suppression MDM/message_MDM_CR_Radio_DEL_N1.er7": ("refuse", "XDSMissingDocument", "71024000082", ABSENT),
    ORU_21 + "Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7": (
        "refuse",
        "XDSRegistryMetadataError",
        "N3",
        N3_ALONE,
    ),
    ORU_21 + "Remplacement ORU/message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7": (
        "refuse",
        "XDSMissingDocument",
        "absent du DMP",
        ABSENT,
    ),
    MDM_20 + "Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7": (
        "refuse",
        "XDSUnknownPatientId",
        "274075176079430",
        UNKNOWN_INS,
    ),
}
# The MSSanté legs of the accepted examples, by recipient: Dr Hoda's mailbox and the patient's (her
# Mon espace santé: PAT-TROIS is in the referential) take them ("envoye", then stored in the mailbox).
# The ORU's initial names the patient at "27707279035121518989@patient.mssante.fr", a matricule of 20
# digits (its PRT-5 too): the PFI's operator takes it (a relay cannot know), Mon espace santé's refuses
# it, and the PFI's mailbox receives the DSN.
BAD_PATIENT_ADDRESS = "27707279035121518989@patient.mssante.fr"
MSS_OUTCOMES: dict[str, dict[str, str]] = {
    MDM_21 + "Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7": {HODA: "envoye"},
    MDM_21 + "Remplacement MDM/message_MDM_CR_Radio_RPLC_N1.er7": {HODA: "envoye"},
    MDM_21 + "Suppression MDM/message_MDM_CR_Radio_DEL_N1.er7": {HODA: "envoye"},
    ORU_21 + "Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7": {
        HODA: "envoye",
        BAD_PATIENT_ADDRESS: "envoye",
    },
    ORU_21 + "Remplacement ORU/message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7": {
        HODA: "envoye",
        "279035121518989@patient.mssante.fr": "envoye",
    },
    MDM_20 + "Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7": {HODA: "envoye"},
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


def test_each_example_over_mllp_gets_its_ack_and_what_it_asks_is_stored_with_its_stay(scene):
    house, server = scene.house, scene.server
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
        doc, legs = settled(house, control, _unique_id(sent), event)
        assert (doc.structure, doc.stay_structure, doc.stay_number, doc.action) == (
            HOPITAL,
            STAY_STRUCTURE,
            STAY,
            expected[1],
        ), name
        assert legs and all((leg.stay_structure, leg.stay_number) == (STAY_STRUCTURE, STAY) for leg in legs), name
        _check_dmp_leg(scene, name, doc, [leg for leg in legs if leg.channel == "dmp"])
        _check_mss_legs(scene, name, doc, sent, [leg for leg in legs if leg.channel == "mss"])
    # the malformed patient address: Mon espace santé's operator refused it, the PFI's mailbox has the DSN
    reports = [scene.mss.mss.delivery.content(row.sha256) for row in _delivered(house, PFI)]
    assert any(BAD_PATIENT_ADDRESS.encode() in r and b"delivery-status" in r for r in reports), len(reports)


def _check_dmp_leg(scene: Scene, name: str, doc, legs: list) -> None:
    """The DMP leg (every example asks DESTDMP=Y): the DMP's outcome, kept with its code, and the
    ZAM^Z01 that told the DPI (a refusal always; an acceptance when ACK_RECEPTION=Y)."""
    state, code, fragment, rule = DMP_OUTCOMES[name]
    [leg] = legs
    assert (leg.state, leg.code) == (state, code), (name, rule, leg.detail)
    assert fragment in leg.detail, (name, rule, leg.detail)
    z01 = _zams(scene, doc, "Z01", 1)
    assert len(z01) == 1, name
    status, err = z01[0].segment("OBX"), z01[0].segment("ERR")
    assert (str(status[3]).split("^")[0], str(status[4]), str(status[5]).split("^")[0]) == (
        "ACK_RECEPTION_DMP",
        doc.control_id,
        "N",
    ), name
    assert str(err[5]).split("^")[0] == code and str(err[5]).split("^")[2] == "DMP_ERROR_CODE", (name, str(err))


def _check_mss_legs(scene: Scene, name: str, doc, sent: hl7.Message, legs: list) -> None:
    """Each MSSanté leg by recipient; the mailbox that took it holds it; a ZAM^Z02 for each when the
    creator asked ACK_RECEPTION=Y (and for a failure whatever it asked)."""
    assert {leg.recipient: leg.state for leg in legs} == MSS_OUTCOMES[name], (
        name,
        [(leg.recipient, leg.detail) for leg in legs],
    )
    for leg in legs:
        if leg.recipient != BAD_PATIENT_ADDRESS:
            assert _delivered(scene.house, leg.recipient), (name, leg.recipient)
    asked = _flag(sent, "ACK_RECEPTION")
    expected = sorted(leg.recipient for leg in legs if asked or leg.state == "echec")
    z02 = _zams(scene, doc, "Z02", len(expected))
    assert sorted(str(z.segments("OBX")[1][5]).split("^")[3] for z in z02) == expected, name
    for z in z02:
        leg = next(leg for leg in legs if leg.recipient == str(z.segments("OBX")[1][5]).split("^")[3])
        assert str(z.segment("OBX")[5]).split("^")[0] == ("Y" if leg.state == "envoye" else "N"), name


def _flag(message: hl7.Message, code: str) -> bool:
    return any(str(obx[3]).split("^")[0] == code and str(obx[5]).startswith("Y") for obx in message.segments("OBX"))


def _zams(scene: Scene, doc, event: str, count: int) -> list[hl7.Message]:
    """The ZAM^`event` the PFI sent about `doc`, as the DPI received them, once `count` are recorded
    (each leg is settled, then its ZAM sent): the PFI's record of each (with the DPI's AA), found at the
    DPI by its own MSH-10 (the examples all carry MSH-10 015)."""
    deadline = time.monotonic() + 30
    while True:
        with scene.house.db.read() as conn:
            sent = [z for z in store.hl7_zams(conn, doc.id) if z.event == event]
        if len(sent) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(z.answer == "AA" for z in sent), [z.answer for z in sent]
    controls = {z.control_id for z in sent}
    while True:
        found = [m for m in scene.dpi.received if str(m.segment("MSH")[10]) in controls]
        if len(found) == len(controls) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _unique_id(message: hl7.Message) -> str:
    from maison.etablissement.pfi.hl7_request import read_request

    return read_request(message).unique_id


def zams_about(dpi: Dpi, event: str, control: str, count: int = 1, timeout: float = 30) -> list[hl7.Message]:
    """The ZAM^`event` received about the ORU/MDM whose MSH-10 is `control` (their OBX-4)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in dpi.zams(event, 0, 0) if str(m.segment("OBX")[4]) == control]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_gam_and_a_dpi_the_letter_is_tied_to_the_stay_the_gam_announced(scene, tmp_path):
    """Issue 22, Done when: python-hl7's `mllp_send` plays the GAM (admission, transfer, discharge of
    PAT-TROIS, stay V7 of structure 000897406), then the DPI sends the discharge letter (MDM^T02) to
    the running server: the DMP entry and the MSSanté message are tied to that stay — "stays with a
    discharge letter fed with a qualified INS" is the join of the GAM's stays and the PFI's legs —
    and the ZAM come back at the DPI."""
    from tests.e2e.test_dmp_n1_n3 import PAT_TROIS as PAT_TROIS_ID
    from tests.e2e.test_sejours_mllp import MLLP_SEND
    from tests.etablissement.pfi.test_hl7_request import message_text
    from tests.etablissement.sejours.messages import FINESS, adt
    from tests.partage.mss_world import GP
    from tests.partage.world import PROS, n1

    house, server, dpi = scene.house, scene.server, scene.dpi
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
    [z01], [z02] = zams_about(dpi, "Z01", "DPI1"), zams_about(dpi, "Z02", "DPI1")
    assert str(z01.segment("OBX")[5]).startswith("Y")
    assert str(z02.segments("OBX")[1][5]).endswith(GP)


def msa(ack: hl7.Message) -> tuple[str, str]:
    return str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])


def test_the_gam_s_zfa_reaches_the_dmp_and_an_opposition_to_feeding_stops_the_pfi_s_feed(scene):
    """Seed 002 L541-543: the information state travels "en intra-hospitalier via le flux IHE PAM" —
    the GAM's A01 with ZFA (ZFA-9 IO: informed and opposed to feeding; ZFA-11 IC) over MLLP reaches
    the patient's DMP as the structure's record, posted with the structure's software key (002
    L555-559, "Le ES/PS peut alimenter"), and the propagation is recorded "transmis". Then, as the
    seed's table says (InforméEtOpposé: "Le ES/PS peut alimenter ? Non"), the PFI's feed of her letter
    is refused by the DMP (opposition-alimentation) and the DPI is told by a ZAM^Z01."""
    import httpx
    import orjson

    from maison.core import audit
    from maison.core.identifiers.nir import OID_INS_NIR_TEST
    from tests.etablissement.pfi.test_hl7_request import message_text
    from tests.etablissement.sejours.messages import adt
    from tests.etablissement.sejours.test_dmp_information import SARAH_PID, ZFA_OPPOSED_FEEDING
    from tests.partage.world import PROS, SARAH_NIR, n1

    house, server, world = scene.house, scene.server, scene.world
    admission = adt(
        "A01",
        "ZFA1",
        stay="Z7",
        patient=SARAH_PID.format(structure=HOPITAL),
        structure=HOPITAL,
        segments=(ZFA_OPPOSED_FEEDING,),
    )
    assert msa(send(server, admission)) == ("AA", "ZFA1")
    staff = Actor(person="899900038441", structure=HOPITAL, software="dpi")
    [stay] = [s for s in house.sejours.search(staff) if s.number == "Z7"]
    deadline = time.monotonic() + 30
    while (house.sejours.dmp_state(staff, stay.patient_id) or {}).get("propagation") != "transmis":
        assert time.monotonic() < deadline, house.sejours.dmp_state(staff, stay.patient_id)
        time.sleep(0.05)
    found = httpx.get(
        f"{world.base}/dmp/Consent", params={"patient.identifier": SARAH_NIR}, headers=world.headers("hospitalier")
    ).json()
    [consent] = [e["resource"] for e in found["entry"]]
    states = {
        p["action"][0]["coding"][0]["code"]: p["extension"][0]["valueCode"] for p in consent["provision"]["provision"]
    }
    assert states == {"alimentation": "informe-oppose", "consultation": "informe-non-oppose"}
    assert consent["organization"] == [{"identifier": {"value": HOPITAL}}]
    with house.db.read() as conn:  # recorded by the structure's software, for the structure
        [record] = [
            e
            for e in audit.events(conn, patient=SARAH_NIR, action_prefix="dmp.information")
            if e["action"] == "dmp.information"
        ]
    assert (record["outcome"], record["actor_structure"], record["actor_software"]) == ("success", HOPITAL, "PFI-HL7")
    assert orjson.loads(record["detail"])["alimentation"] == "informe-oppose"
    # the DPI's letter for her, for the DMP: refused as the seed's table says, the DPI told
    letter = message_text(
        n1(PROS["hospitalier"]),
        ins=SARAH_NIR,
        ins_oid=OID_INS_NIR_TEST,
        control_id="ZFA-DOC1",
        stay="Z7",
        stay_authority=f"CHU-X&{HOPITAL}&M",
    )
    assert msa(send(server, letter)) == ("AA", "ZFA-DOC1")
    with house.db.read() as conn:
        unique = conn.execute(sa.select(store.H.c.unique_id).where(store.H.c.control_id == "ZFA-DOC1")).scalar_one()
    _doc, [leg] = settled(house, "ZFA-DOC1", unique, "T02")
    assert (leg.channel, leg.state, leg.code) == ("dmp", "refuse", "opposition-alimentation"), leg.detail
    [z01] = zams_about(scene.dpi, "Z01", "ZFA-DOC1")
    assert str(z01.segment("OBX")[5]).startswith("N")
    assert str(z01.segment("ERR")[5]).startswith("opposition-alimentation^")
    assert world.search("hospitalier").json()["total"] == 0  # nothing of hers in the DMP
