"""The ordonnance's structured copy (CI-SIS eP-MED-DM 2024.01 N3): it passes the DMP's own judgement
(XSD, CI-SIS header rules, the eP-MED-DM volet schematron) and the profile schematrons the official
example names; its entries carry the codes, renewals and substitution of the lines; only medicines
and devices belong to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from maison.core.errors import InvalidInput
from maison.core.terminology import Terminology
from maison.etablissement.ordonnance.dmp_copie import OID_EPRESCRIPTION_NUMBER, n1_ordonnance
from maison.etablissement.ordonnance.epmeddm import (
    CDA_SYSTEMS,
    TEMPLATE_EP_MED_DM,
    Mentions,
    PatientContact,
    ep_med_dm_n3,
)
from maison.etablissement.ordonnance.prescription import Line, LineKind, Prescription
from maison.formats import xmlsafe
from maison.formats.cda import schematron, volets
from maison.formats.cda.build import Address
from maison.formats.cda.document import inspect_cda
from maison.formats.cda.header import NS, read_header
from maison.formats.ordonnance import SYS_CIP, SYS_CIS, SYS_LOINC, SYS_LPP, SYS_SMS, new_number
from maison.formats.svs import read_value_set
from maison.formats.xds_codes import VOLET_FORMAT
from tests.etablissement.ordonnance.test_dmp_copie import GP, MAX, PRESCRIBER, PROFILES, ROOT, pdf_of
from tests.partage.world import PROS, SARAH_ID

CONTACT = PatientContact(Address("Rue de la Paix", "75002", "PARIS", "3"), "06 12 34 56 78", "sarah@example.org")
PARACETAMOL = Line(
    1,
    LineKind.MEDICAMENT,
    "PARACETAMOL 1 g, comprimé",
    "3400935955838",
    SYS_CIP,
    "1 comprimé 3 fois par jour si douleur",
    2,
    renewals=2,
    duration_days=10,
)
AMOXICILLINE = Line(
    2,
    LineKind.MEDICAMENT,
    "AMOXICILLINE 1 g, comprimé dispersible",
    "3400936403130",
    SYS_CIP,
    "1 comprimé matin et soir pendant 6 jours",
    1,
    substitutable=False,
    duration_days=6,
)
BANDE = Line(3, LineKind.DISPOSITIF, "Bande de contention", "1110290", SYS_LPP, "1 par jour", 1, renewals=1)
GLYCEMIE = Line(4, LineKind.BIOLOGIE, "Glycémie à jeun", "2345-7", SYS_LOINC)
KINE = Line(4, LineKind.ACTE, "", instructions="10 séances de rééducation du genou")
VOLET = "CI-SIS_EP-MED-DM_2024.01.sch"


def prescription(*lines: Line) -> Prescription:
    return Prescription(
        new_number(),
        PRESCRIBER,
        datetime.now(UTC).replace(microsecond=0),
        date.today(),
        True,
        tuple(lines or (PARACETAMOL, AMOXICILLINE, BANDE)),
    )


def n3(p: Prescription, reference_path: Path, **options) -> bytes:
    options.setdefault("contact", CONTACT)
    return ep_med_dm_n3(
        p, SARAH_ID, GP.author(), pdf_of(p), reference_path=reference_path, document_root=ROOT, **options
    )


def judge(document: bytes, terminology: Terminology, reference_path: Path):
    """The DMP's judgement of a submitted document (dmp/service.py): XSD, header rules, volet schematron."""
    return inspect_cda(
        document,
        terminology,
        reference_path,
        max_bytes=MAX,
        volet_formats=VOLET_FORMAT,
        for_dmp=True,
        schematrons=reference_path / "cisis" / "schematrons",
    )


@pytest.fixture(scope="module")
def terminology(reference_path: Path) -> Terminology:
    return Terminology.from_directory(reference_path / "cisis" / "jeuxDeValeurs", read_value_set)


@pytest.fixture(scope="module")
def ordonnance() -> Prescription:
    return prescription()


@pytest.fixture(scope="module")
def document(ordonnance, reference_path) -> bytes:
    return n3(ordonnance, reference_path)


def entry(root, xpath: str):
    [node] = root.xpath(xpath, namespaces=NS)
    return node


def medicine(root, number: int):
    return entry(root, f"//h:substanceAdministration[h:text/h:reference/@value='#med-{number}']")


def narrative(root, reference: str) -> str:
    return entry(root, f"//h:section/h:text//*[@ID='{reference.lstrip('#')}']").text


# --- the DMP's judgement --------------------------------------------------------------------------


def test_n3_of_two_medicines_and_a_device_passes_the_dmp_validation(document, ordonnance, terminology, reference_path):
    # issue 6 §1.6; seed 000 L3621: the copy in the DMP, structured (CDA R2 N3, volet eP-MED-DM)
    root = xmlsafe.parse(document)
    header = read_header(root)
    volet = volets.choose(header, root, reference_path / "cisis" / "schematrons").schematron
    assert volet is not None and volet.name == VOLET  # the 2024.01 volet schematron is the one applied
    report = judge(document, terminology, reference_path)
    assert report.findings == [] and report.valid
    assert report.header.level == "N3"
    # ASS_A11: the volet's templateId maps to its XDS formatCode, which the DMP indexes
    assert report.format_code == VOLET_FORMAT[TEMPLATE_EP_MED_DM[0]] == "urn:ihe:pharm:pre:2010"
    assert report.header.type_code.code == "57833-6"  # Entete_EP-MED-DM_2024.01.sch
    assert (report.header.patient.ins.root, report.header.patient.ins.extension) == (SARAH_ID.ins_oid, SARAH_ID.ins)
    assert report.header.authors[0].idnatps == ordonnance.prescriber
    [number] = root.xpath("h:documentationOf/h:serviceEvent/h:id", namespaces=NS)
    assert (number.get("root"), number.get("extension")) == (OID_EPRESCRIPTION_NUMBER, ordonnance.number)


@pytest.mark.parametrize("profile", PROFILES)
def test_n3_passes_the_schematrons_the_official_example_names(document, reference_path, profile):
    # ExemplesCDA/eP-MED-DM_2024.01_PosoStruct.xml:3-8 (<?oxygen SCHSchema?>)
    findings = schematron.load(reference_path / "cisis" / "schematrons" / profile).validate(document.decode())
    assert [f for f in findings if f.severity == "error"] == []


def test_the_volet_schematron_really_runs(document, terminology, reference_path):
    # the same document without the patient's telecoms, which only the volet requires
    root = xmlsafe.parse(document)
    telecoms = root.xpath("h:recordTarget/h:patientRole/h:telecom", namespaces=NS)
    assert [t.get("value") for t in telecoms] == ["tel:0612345678", "mailto:sarah@example.org"]
    for telecom in telecoms:
        telecom.getparent().remove(telecom)
    report = judge(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), terminology, reference_path)
    # issue 20 §2.5: the finding names the included file where the assert is written, and its line
    assert [f.source for f in report.findings] == [
        "include/specificationsVolets/EP-MED-DM_2024.01/Entete/Entete_EP-MED-DM_2024.01.sch:41"
    ]
    assert "télécom du patient" in report.findings[0].message


def test_the_official_example_passes_the_same_validation(terminology, reference_path):
    example = (reference_path / "cisis" / "ExemplesCDA" / "eP-MED-DM_2024.01_PosoStruct.xml").read_bytes()
    report = judge(example, terminology, reference_path)
    assert [f for f in report.findings if f.severity == "error"] == []
    assert report.format_code == "urn:ihe:pharm:pre:2010"


# --- what the entries carry -----------------------------------------------------------------------


def test_medicine_entries_carry_code_renewals_substitution_and_posology(document):
    root = xmlsafe.parse(document)
    for line in (PARACETAMOL, AMOXICILLINE):
        sa = medicine(root, line.number)
        [code] = sa.xpath("h:consumable/h:manufacturedProduct/h:manufacturedMaterial/h:code", namespaces=NS)
        # E_produitDeSante_fr.sch: the product code is CIS; a CIP13 is its translation
        assert code.get("nullFlavor") == "OTH" and code.get("codeSystem") is None
        [cip] = code.xpath("h:translation", namespaces=NS)
        assert (cip.get("code"), cip.get("codeSystem")) == (line.code, CDA_SYSTEMS[SYS_CIP])
        assert sa.xpath("h:repeatNumber/@value", namespaces=NS) == [str(line.renewals)]
        [substitution] = sa.xpath(
            "h:entryRelationship/h:act[h:templateId/@root='1.2.250.1.213.1.1.3.87']/h:code", namespaces=NS
        )
        assert substitution.get("code") == ("G" if line.substitutable else "N")
        assert substitution.get("codeSystem") == "2.16.840.1.113883.5.1070"
        [posology] = sa.xpath(
            "h:entryRelationship[@typeCode='SUBJ']/h:act[h:code/@code='PINSTRUCT']/h:text/h:reference/@value",
            namespaces=NS,
        )
        assert narrative(root, posology) == line.instructions
        assert sa.xpath("h:entryRelationship/h:supply/h:quantity/@value", namespaces=NS) == [str(int(line.quantity))]
        [low, high] = sa.xpath("h:effectiveTime/h:low/@value | h:effectiveTime/h:high/@value", namespaces=NS)
        assert (datetime.strptime(high, "%Y%m%d") - datetime.strptime(low, "%Y%m%d")).days == line.duration_days - 1
    assert narrative(root, "#med-2-substitution").startswith("Non substituable")


def test_device_entry_carries_lpp_code_renewals_and_quantity(document):
    root = xmlsafe.parse(document)
    supply = entry(root, "//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.222']/h:entry/h:supply")
    [code] = supply.xpath("h:participant[@typeCode='DEV']/h:participantRole/h:playingDevice/h:code", namespaces=NS)
    assert (code.get("code"), code.get("codeSystem")) == (BANDE.code, CDA_SYSTEMS[SYS_LPP])
    assert supply.xpath("h:repeatNumber/@value", namespaces=NS) == ["1"]
    assert supply.xpath("h:quantity/@value", namespaces=NS) == ["1"]


def test_mentions_default_to_false_and_are_written_when_given(ordonnance, reference_path, terminology):
    root = xmlsafe.parse(n3(ordonnance, reference_path))
    values = root.xpath("//h:observation[h:code/@codeSystem='1.2.250.1.213.1.1.4.322']/h:value/@value", namespaces=NS)
    assert len(values) == 5 + 5 + 4 and set(values) == {"false"}  # two medicines, one device
    document = n3(
        ordonnance,
        reference_path,
        mentions={2: Mentions(ald=True, non_substitution_reason="MTE"), 3: Mentions(accident_travail=True)},
    )
    assert judge(document, terminology, reference_path).findings == []
    root = xmlsafe.parse(document)
    ald = medicine(root, 2).xpath(
        "h:entryRelationship/h:observation[h:code/@code='MED-574']/h:value/@value", namespaces=NS
    )
    assert ald == ["true"] and narrative(root, "#med-2-ALD") == "Oui"
    assert narrative(root, "#med-2-substitution") == "Non substituable (MTE)"
    at = root.xpath(
        "//h:supply/h:entryRelationship/h:observation[h:code/@code='GEN-180']/h:value/@value", namespaces=NS
    )
    assert at == ["true"]


def test_cis_substance_and_free_text_lines_pass_too(reference_path, terminology):
    p = prescription(
        Line(
            1,
            LineKind.MEDICAMENT,
            "PARACETAMOL MYLAN 500 mg, comprimé",
            "63107752",
            SYS_CIS,
            "2 comprimés si fièvre",
            1,
        ),
        Line(2, LineKind.MEDICAMENT, "Ibuprofène 400 mg (DC)", "100000085259", SYS_SMS),
        Line(3, LineKind.DISPOSITIF, "Attelle de poignet", instructions="la nuit"),
    )
    document = n3(p, reference_path)
    assert judge(document, terminology, reference_path).findings == []
    for profile in PROFILES:
        findings = schematron.load(reference_path / "cisis" / "schematrons" / profile).validate(document.decode())
        assert [f for f in findings if f.severity == "error"] == [], profile
    root = xmlsafe.parse(document)
    [cis] = medicine(root, 1).xpath(".//h:manufacturedMaterial/h:code", namespaces=NS)
    assert (cis.get("code"), cis.get("codeSystem")) == ("63107752", CDA_SYSTEMS[SYS_CIS])
    [sms] = medicine(root, 2).xpath(
        ".//pharm:ingredient/pharm:code", namespaces={**NS, "pharm": "urn:ihe:pharm:medication"}
    )
    assert (sms.get("code"), sms.get("codeSystem")) == ("100000085259", CDA_SYSTEMS[SYS_SMS])
    [device] = root.xpath("//h:playingDevice/h:code", namespaces=NS)
    assert device.get("nullFlavor") == "OTH" and device.get("code") is None
    # only medicines: no device section, and the reverse
    only = xmlsafe.parse(n3(prescription(PARACETAMOL), reference_path))
    assert not only.xpath("//h:section[h:templateId/@root='1.2.250.1.213.1.1.2.222']", namespaces=NS)
    devices = n3(prescription(BANDE), reference_path)
    assert judge(devices, terminology, reference_path).findings == []


def test_ids_are_stable_and_distinct_from_the_n1(ordonnance, document, reference_path):
    assert n3(ordonnance, reference_path) == document  # a retried deposit is a replay
    n1 = read_header(
        xmlsafe.parse(
            n1_ordonnance(
                ordonnance, SARAH_ID, GP.author(), pdf_of(ordonnance), reference_path=reference_path, document_root=ROOT
            )
        )
    )
    header = read_header(xmlsafe.parse(document))
    assert header.set_id == f"{n1.set_id}.0" and header.id.root == f"{n1.set_id}.0.1"
    assert header.id.root != n1.id.root
    second = read_header(xmlsafe.parse(n3(ordonnance, reference_path, version=2)))
    assert second.set_id == header.set_id and second.id.root == f"{header.set_id}.2"


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("other", [GLYCEMIE, KINE])
def test_biology_and_other_acts_are_refused(other, reference_path):
    with pytest.raises(InvalidInput) as refused:
        n3(prescription(PARACETAMOL, other), reference_path)
    assert refused.value.code == "ep-med-dm-ligne" and f"ligne {other.number}" in refused.value.message


def test_what_the_volet_cannot_carry_is_refused_before_writing(ordonnance, reference_path):
    with pytest.raises(InvalidInput, match="téléphone"):
        n3(ordonnance, reference_path, contact=replace(CONTACT, phone="inconnu"))
    with pytest.raises(InvalidInput, match="adresse"):
        n3(ordonnance, reference_path, contact=replace(CONTACT, address=Address("", "75002", "PARIS")))
    with pytest.raises(InvalidInput, match="ligne 9"):
        n3(ordonnance, reference_path, mentions={9: Mentions(ald=True)})
    with pytest.raises(InvalidInput, match="hors AMM"):
        n3(ordonnance, reference_path, mentions={3: Mentions(hors_amm=True)})
    with pytest.raises(InvalidInput, match="prescripteur"):
        ep_med_dm_n3(
            ordonnance,
            SARAH_ID,
            PROS["hospitalier"].author(),
            pdf_of(ordonnance),
            reference_path=reference_path,
            document_root=ROOT,
            contact=CONTACT,
        )
    with pytest.raises(InvalidInput, match="PDF"):
        ep_med_dm_n3(
            ordonnance,
            SARAH_ID,
            GP.author(),
            b"<html/>",
            reference_path=reference_path,
            document_root=ROOT,
            contact=CONTACT,
        )
    with pytest.raises(InvalidInput, match="annulée"):
        n3(replace(ordonnance, status="revoked"), reference_path)


def test_the_n3_goes_to_the_live_dmp_with_its_n1(house, live, reference_path):
    """Issue 6 §1.6: the copy in the DMP as N1 and, structured, as eP-MED-DM N3 — in one submission,
    the N3 as the N1's structured form (seed 002 L790: an N3 only with its N1)."""
    from maison.etablissement.ordonnance.dmp_copie import deposit, n1_ordonnance
    from tests.partage.world import make_world

    world = make_world(house, live, ("generaliste",))
    p = prescription()
    n1 = n1_ordonnance(p, SARAH_ID, GP.author(), pdf_of(p), reference_path=reference_path, document_root=ROOT)
    client = world.client("generaliste")
    deposit(client, n1, structured=n3(p, reference_path))
    assert world.inform("generaliste").status_code == 201
    found = world.search("generaliste", type="http://loinc.org|57833-6").json()
    formats = sorted(e["resource"]["content"][0]["format"]["code"] for e in found["entry"])
    assert len(formats) == 2 and "urn:ihe:pharm:pre:2010" in formats
