"""Reading an ORU/MDM from the DPI (issue 22 §2.1, §3.3): the volet's examples, and each hostile case
refused with the right MSA-1 and ERR location before anything is written."""

from __future__ import annotations

import base64
from pathlib import Path

import hl7
import pytest

from maison.etablissement.pfi.hl7_request import META_CODES, read_request
from maison.formats import xmlsafe
from maison.formats.cda.header import read_header
from maison.formats.hl7v2.refusal import Hl7Refusal

EXAMPLES = Path("/work/shared/reference/hl7v2/exemples")
V21 = EXAMPLES / "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1"
META = META_CODES[:10]  # the Y/N ones (the two mail bodies are optional)


def message_text(
    cda: bytes,
    *,
    ins: str,
    ins_oid: str = "1.2.250.1.213.1.4.10",
    event: str = "T02",
    control_id: str = "MSG0001",
    stay: str = "24000006",
    stay_authority: str = "CHU-X&000897406&M",
    patient_class: str = "I",
    ins_status: str = "QUAL",
    flags: dict[str, str] | None = None,
    recipients: tuple[str, ...] = (),
    patient_recipient: str = "",
    txa13: str = "",
    unique_id: str = "",
    obx11: str | None = None,
    orc: str | None = None,
    document_obx5: str | None = None,
    extra_obx: tuple[str, ...] = (),
    oru: bool = False,
    birth: str | None = None,
    sex: str | None = None,
) -> str:
    """An ORU^R01 or MDM as the volet builds them (profils-messages.md), the CDA in Base64; PID-7 and
    PID-8 are the CDA's patient's unless given."""
    patient = read_header(xmlsafe.parse(cda, max_bytes=len(cda) + 1)).patient
    birth = patient.birth_date[:8] if birth is None else birth
    sex = patient.gender if sex is None else sex
    status = obx11 or {"T02": "F", "T10": "C", "T04": "D"}[event]
    order = orc or {"F": "NW", "C": "RO", "D": "CA"}.get(status, "NW")
    kind = "ORU^R01^ORU_R01" if oru else f"MDM^{event}^MDM_T02"
    version = "2.5" if oru else "2.6"
    values = {code: "N" for code in META} | {"DESTDMP": "Y"} | (flags or {})
    data = document_obx5 if document_obx5 is not None else f"^text^XML^Base64^{base64.b64encode(cda).decode()}"
    segments = [
        f"MSH|^~\\&|DPI-X|CHU-X|PFI-X|CHU-X|20261207100000||{kind}|{control_id}|P|{version}|||||FRA|UNICODE UTF-8|||"
        + "2.1^CISIS_CDA_HL7_V2",
    ]
    if not oru:
        segments.append("EVN||20261207100000")
    segments += [
        f"PID|||{ins}^^^ASIP-SANTE-INS-NIR&{ins_oid}&ISO^INS||GARCIA-HAMMADI^SARAH-LOU^^^^^L||{birth}|{sex}"
        + "|" * 23
        + f"N|{ins_status}",
        f"PV1|1|{patient_class}|UF1||||||||||||||||{stay}^^^{stay_authority}^VN",
        f"ORC|{order}|",
        "OBR|1|||11490-0^Lettre de liaison^LN|",
    ]
    if not oru:
        segments.append(f"TXA|1|11490-0|TEXT|20261207100000||||||||{unique_id}|{txa13}||||AU")
    segments.append(f"OBX|1|ED|11490-0^Lettre de liaison^LN||{data}||||||{status}|")
    segments.append(
        "PRT||UC||SB^^participation|801234564895^MARTIN^Eric^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    )
    for address in recipients:
        segments.append(f"PRT||UC||RCT^^participation|||||||||||^NET^X.400^{address}")
    if patient_recipient:
        segments.append(
            f"PRT||UC||RCT^^participation|{ins}^GARCIA-HAMMADI^SARAH^^^^^^&{ins_oid}&ISO^^^^INS||||||||||^NET^X.400^{patient_recipient}"
        )
    set_id = 2
    for code in META:
        segments.append(f"OBX|{set_id}|CWE|{code}^{code}^MetaDMPMSS||{values[code]}^^expandedYes-NoIndicator||||||F|")
        set_id += 1
    segments += list(extra_obx)
    return "\r".join(segments)


def parse(text: str) -> hl7.Message:
    return hl7.parse(text.replace("\r\n", "\r").replace("\n", "\r"))


def read_file(path: Path) -> hl7.Message:
    return parse(path.read_bytes().decode("utf-8"))


def refused(message: hl7.Message) -> Hl7Refusal:
    with pytest.raises(Hl7Refusal) as caught:
        read_request(message)
    return caught.value


@pytest.fixture(scope="module")
def letter() -> bytes:
    """A CDA of the volet's own example (INS 279035121518989) to put in built messages."""
    message = read_file(V21 / "MDM/Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7")
    return read_request(message).documents[0]


INS = "279035121518989"


def test_the_volet_examples_with_their_cda_are_read_with_action_stay_flags_and_recipients():
    initial = read_request(read_file(V21 / "MDM/Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1_Base64.er7"))
    assert (
        initial.action,
        initial.event,
        initial.stay_structure,
        initial.stay_number,
        initial.ins,
        initial.ins_status,
        initial.qualified,  # VALI: a validated identity whose INS was not checked — not QUAL
    ) == (
        "initial",
        "T02",
        "120456789",
        "000897406",
        INS,
        "VALI",
        False,
    )
    assert initial.unique_id == "1.2.250.1.71.4.2.2.120456789.71024000081"
    assert initial.flags["DESTDMP"] and initial.flags["INVISIBLE_PATIENT"] and not initial.flags["MASQUE_PS"]
    assert [r.address for r in initial.recipients] == ["adam.hoda@test-ci-sis.mssante.fr"]
    assert initial.visibility == ("INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")
    replacement = read_request(read_file(V21 / "MDM/Remplacement MDM/message_MDM_CR_Radio_RPLC_N1.er7"))
    assert replacement.action == "remplacement" and replacement.replaced_id == initial.unique_id
    deletion = read_request(read_file(V21 / "MDM/Suppression MDM/message_MDM_CR_Radio_DEL_N1.er7"))
    assert deletion.action == "suppression" and deletion.unique_id == replacement.unique_id
    oru = read_request(read_file(V21 / "ORU/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"))
    assert (oru.message_type, oru.action, oru.headers[0].type_code.code) == ("ORU", "initial", "11502-2")
    assert oru.flags["DESTMSSANTEPAT"] and oru.flags["ACK_LECTURE_MSS"]
    assert [(r.address, r.patient) for r in oru.recipients] == [
        ("adam.hoda@test-ci-sis.mssante.fr", False),
        ("27707279035121518989@patient.mssante.fr", True),  # PRT-5.13 INS: the patient's address
    ]


def test_a_cda_in_obx_that_is_not_the_pid_patient_is_refused_at_pid_3(letter):
    fault = refused(parse(message_text(letter, ins="277076322082910")))
    assert (fault.acknowledgment, fault.code.value, fault.segment, fault.field) == ("AE", "207", "PID", 3)
    # and the volet's own ORU deletion example, whose CDA is another patient's
    example = read_file(V21 / "ORU/Suppression ORU/message_ORU_CR_Bio_DEL_N3_SEGUR.hl7")
    assert refused(example).segment == "PID"


def test_a_cda_of_another_ins_system_birth_date_or_sex_than_the_pid_is_refused(letter):
    other_oid = refused(parse(message_text(letter, ins=INS, ins_oid="1.2.250.1.213.1.4.8")))
    assert (other_oid.segment, other_oid.field) == ("PID", 3)
    born = refused(parse(message_text(letter, ins=INS, birth="19790329")))
    assert (born.code.value, born.segment, born.field) == ("207", "PID", 7)
    sex = refused(parse(message_text(letter, ins=INS, sex="M")))
    assert (sex.segment, sex.field) == ("PID", 8)


def test_base64_garbage_is_a_data_type_error_at_obx_5(letter):
    fault = refused(parse(message_text(letter, ins=INS, document_obx5="^text^XML^Base64^@@@pas du base64@@@")))
    assert (fault.acknowledgment, fault.code.value, fault.segment, fault.sequence, fault.field) == (
        "AE",
        "102",
        "OBX",
        1,
        5,
    )


def test_an_obx_without_a_cda_is_refused(letter):
    not_cda = base64.b64encode(b"Document medical au format CDA niveau 1").decode()
    fault = refused(parse(message_text(letter, ins=INS, document_obx5=f"^text^XML^Base64^{not_cda}")))
    assert (fault.code.value, fault.segment, fault.field) == ("102", "OBX", 5)
    empty = refused(parse(message_text(letter, ins=INS, document_obx5="^text^XML^Base64^")))
    assert (empty.code.value, empty.segment, empty.field) == ("101", "OBX", 5)
    # the volet's placeholder example (its OBX-5 is the text "Document medcial au format CDA niveau 1")
    placeholder = read_file(V21 / "MDM/Transmission initiale MDM/message_MDM_CR_Radio_INIT_N1.er7")
    assert refused(placeholder).code.value == "102"


def test_an_unknown_destination_code_is_a_table_value_error(letter):
    unknown = "OBX|12|CWE|DESTFAX^Destinataire fax^MetaDMPMSS||Y^^expandedYes-NoIndicator||||||F|"
    fault = refused(parse(message_text(letter, ins=INS, extra_obx=(unknown,))))
    assert (fault.code.value, fault.segment, fault.sequence, fault.field) == ("103", "OBX", 12, 3)
    maybe = refused(parse(message_text(letter, ins=INS, flags={"DESTDMP": "P"})))
    assert (maybe.code.value, maybe.field) == ("103", 5)


def test_a_document_masked_to_professionals_is_not_sent_to_them(letter):
    text = message_text(
        letter, ins=INS, flags={"MASQUE_PS": "Y", "DESTMSSANTEPS": "Y"}, recipients=("dr.x@chu-test.mssante.fr",)
    )
    fault = refused(parse(text))
    assert (fault.acknowledgment, fault.code.value, fault.segment) == ("AE", "207", "OBX")
    assert "MASQUE_PS" in fault.message


def test_a_document_invisible_to_the_patient_is_not_sent_to_her(letter):
    fault = refused(parse(message_text(letter, ins=INS, flags={"INVISIBLE_PATIENT": "Y", "DESTMSSANTEPAT": "Y"})))
    assert "INVISIBLE_PATIENT" in fault.message and fault.segment == "OBX"


def test_a_document_of_a_connexion_secrete_is_not_sent_to_the_patient_alone(letter):
    """The volet's MSSanté matrix (regles-gestion-mssante.md): CONNEXION_SECRETE = Y only beside
    DESTMSSANTEPS = Y; its one patient-only row reads CONNEXION_SECRETE : N."""
    alone = {"CONNEXION_SECRETE": "Y", "DESTMSSANTEPAT": "Y"}
    fault = refused(parse(message_text(letter, ins=INS, flags=alone)))
    assert (fault.acknowledgment, fault.code.value, fault.segment, fault.sequence, fault.field) == (
        "AE",
        "207",
        "OBX",
        5,  # the CONNEXION_SECRETE OBX: the document's, then the metadata in the volet's order
        5,
    )
    assert "CONNEXION_SECRETE" in fault.message
    both = alone | {"DESTMSSANTEPS": "Y"}  # the matrix's first row: the PS and the patient
    assert read_request(parse(message_text(letter, ins=INS, flags=both, recipients=("dr.x@chu-test.mssante.fr",))))
    assert read_request(parse(message_text(letter, ins=INS, flags={"CONNEXION_SECRETE": "Y"})))  # the DMP alone


def test_mss_to_professionals_without_any_address_is_refused(letter):
    fault = refused(parse(message_text(letter, ins=INS, flags={"DESTMSSANTEPS": "Y"})))
    assert (fault.code.value, fault.segment, fault.field) == ("101", "PRT", 15)
    bad = refused(parse(message_text(letter, ins=INS, flags={"DESTMSSANTEPS": "Y"}, recipients=("pas-une-adresse",))))
    assert (bad.code.value, bad.segment) == ("102", "PRT")


def test_event_orc_and_obx_11_must_agree(letter):
    assert refused(parse(message_text(letter, ins=INS, event="T02", obx11="D"))).field == 11
    fault = refused(parse(message_text(letter, ins=INS, event="T02", orc="CA")))
    assert (fault.segment, fault.field) == ("ORC", 1)
    assert refused(parse(message_text(letter, ins=INS, oru=True, obx11="X"))).field == 11


def test_a_replacement_names_what_it_replaces(letter):
    fault = refused(parse(message_text(letter, ins=INS, event="T10")))
    assert (fault.code.value, fault.segment, fault.field) == ("101", "TXA", 13)
    ok = read_request(parse(message_text(letter, ins=INS, event="T10", txa13="1.2.3.4")))
    assert ok.replaced_id == "1.2.3.4" and ok.action == "remplacement"


def test_an_inpatient_document_carries_its_stay(letter):
    fault = refused(parse(message_text(letter, ins=INS, stay="")))
    assert (fault.code.value, fault.segment, fault.field) == ("101", "PV1", 19)
    outpatient = read_request(parse(message_text(letter, ins=INS, stay="", patient_class="N")))
    assert outpatient.stay_number == ""


def test_unsupported_types_and_the_lps_direction_are_rejected(letter):
    text = message_text(letter, ins=INS).replace("MDM^T02^MDM_T02", "MDM^T11^MDM_T02")
    assert (refused(parse(text)).acknowledgment, refused(parse(text)).code.value) == ("AR", "201")
    lps = EXAMPLES / "Vague 2/Trans_LPS_CDA_MSSanté/TRANSMISSION_LPS_DOC_CDA_COURRIEL_FROM_MSSANTE_V1.1"
    fault = refused(read_file(lps / "Transmission initiale MDM/message_MDM__LPS_MSS_CR_Radio_INIT_N1_Base64.er7"))
    assert (fault.acknowledgment, fault.segment, fault.field) == ("AR", "MSH", 21)


def test_a_plain_cda_in_obx_is_read_as_well(letter):
    """OBX-5.4 "A" (or empty): the CDA as text, its delimiters escaped (HL7 v2.5 §2.7.4)."""
    from maison.formats.hl7v2.ack import escape

    flat = letter.replace(b"\r\n", b" ").replace(b"\n", b" ")
    plain = f"^text^XML^A^{escape(flat.decode('utf-8'))}"
    request = read_request(parse(message_text(letter, ins=INS, document_obx5=plain)))
    assert request.documents[0] == flat and request.unique_id == "1.2.250.1.71.4.2.2.120456789.71024000081"


def test_a_plain_cda_with_a_spacing_command_is_not_expanded(letter):
    """python-hl7's unescape writes \\.sp<n>\\ as n line breaks: 20 bytes would ask for a gigabyte."""
    from maison.formats.hl7v2.ack import escape

    flat = letter.replace(b"\r\n", b" ").replace(b"\n", b" ").decode("utf-8")
    cut = flat.index("<title>")
    plain = f"^text^XML^A^{escape(flat[:cut])}\\.sp999999999\\{escape(flat[cut:])}"
    request = read_request(parse(message_text(letter, ins=INS, document_obx5=plain)))
    assert request.documents[0] == (flat[:cut] + "\n" + flat[cut:]).encode("utf-8")
