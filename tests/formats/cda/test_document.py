"""CDA R2 ingestion: the official CI-SIS examples, one by one, and the header rules each broken on purpose."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from maison.core.errors import MalformedRequest
from maison.core.terminology import Terminology
from maison.formats.cda.document import inspect_cda
from maison.formats.cda.header import FORMAT_N1_PDF, embedded_pdf
from maison.formats.svs import read_value_set

V3 = "{urn:hl7-org:v3}"
MAX = 50_000_000


@pytest.fixture(scope="module")
def terminology(reference_path: Path) -> Terminology:
    return Terminology.from_directory(reference_path / "cisis" / "jeuxDeValeurs", read_value_set)


def _example(reference_path: Path, name: str) -> bytes:
    return (reference_path / "cisis" / "ExemplesCDA" / name).read_bytes()


# file, level, typeCode, author IdNatPS, custodian IdNatStruct, practice setting, facility, creation (UTC), replaces
EXAMPLES = [
    (
        "01_Modèles_contenus_CDA.xml",
        "N3",
        "60591-5",
        "801234567897",
        "1120456789",
        "ETABLISSEMENT",
        "SA04",
        "2023-02-09T10:30:00",
        "1.2.250.1.213.1.1.1.13.1.1",
    ),
    (
        "BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml",
        "N1",
        "11502-2",
        "801234534765",
        "1120459876",
        "AMBULATOIRE",
        "SA25",
        "2021-01-04T15:05:27",
        None,
    ),
    (
        "BIO-CR-BIO_2024.01_CR-2nde-intention-PDF.xml",
        "N3",
        "11502-2",
        "801234534765",
        "1120459876",
        "AMBULATOIRE",
        "SA25",
        "2024-01-04T15:05:27",
        None,
    ),
    (
        "BIO-CR-BIO_2024.01_Glycémie_mole.xml",
        "N3",
        "11502-2",
        "801234534765",
        "1120459876",
        "AMBULATOIRE",
        "SA25",
        "2021-04-01T16:10:00",
        None,
    ),
    (
        "BIO-CR-BIO_2024.01_Microbiologie_V1.xml",
        "N3",
        "11502-2",
        "801234534765",
        "1120459876",
        "AMBULATOIRE",
        "SA25",
        "2024-01-04T15:05:27",
        None,
    ),
    (
        "BIO-CR-BIO_2024.01_TSH_1.xml",
        "N3",
        "11502-2",
        "801234534765",
        "1120459876",
        "AMBULATOIRE",
        "SA25",
        "2021-04-01T16:10:00",
        None,
    ),
    ("CNAM-HR_2021.01.xml", "N3", "REMB", None, "318003502400041", "AMO", "SA24", "2019-07-01T15:49:00", None),
    (
        "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
        "N1",
        "11502-2",
        "801234534765",
        "1120459876",
        "AMBULATOIRE",
        "SA07",
        "2021-04-01T12:47:45",
        None,
    ),
    (
        "IMG-DA-IMG_2024.01_TEP_Thorax.xml",
        "N3",
        "55115-0",
        "801234567897",
        "101235555",
        "ETABLISSEMENT",
        "SA01",
        "2021-01-12T10:17:00",
        None,
    ),
    (
        "IMG_CR_IMG_2024.01.xml",
        "N3",
        "18748-4",
        "801234560801",
        "1920008059",
        "AMBULATOIRE",
        "SA08",
        "2021-01-08T10:17:00",
        "90E1C8EC-F951-4B26-A305-A34848818DD6",
    ),
    (
        "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml",
        "N1",
        "18748-4",
        "801234560801",
        "1750803447",
        "AMBULATOIRE",
        "SA08",
        "2021-01-08T10:17:00",
        "90E1C8EC-F951-4B26-A305-A34848818DD6",
    ),
    (
        "IPS-FR_2024.01.xml",
        "N3",
        "60591-5",
        "801234567897",
        "1120456789",
        "ETABLISSEMENT",
        "SA04",
        "2024-04-02T10:17:00",
        "8D5E778C-E155-4685-95C6-5FF65A362964",
    ),
    (
        "LDL-SES_2022.01.xml",
        "N3",
        "11490-0",
        "801234567897",
        "1750803447",
        "ETABLISSEMENT",
        "SA01",
        "2019-12-03T12:30:00",
        None,
    ),
    (
        "VAC-NOTE_2023.01.xml",
        "N3",
        "87273-9",
        "801234567897",
        "1750803447",
        "AMBULATOIRE",
        "SA07",
        "2021-04-09T14:35:00",
        None,
    ),
    (
        "VSM_1.4_2022.01.xml",
        "N3",
        "SYNTH",
        "801234567897",
        "1120456789",
        "ETABLISSEMENT",
        "SA04",
        "2020-03-12T10:17:00",
        None,
    ),
    (
        "eP-MED-DM_2024.01_PosoStruct.xml",
        "N3",
        "57833-6",
        "801234567897",
        "1750512345",
        "AMBULATOIRE",
        "SA07",
        "2023-12-01T08:30:00",
        None,
    ),
]


@pytest.mark.parametrize(
    "name,level,type_code,author,custodian,setting,facility,created,replaces", EXAMPLES, ids=[e[0] for e in EXAMPLES]
)
def test_official_examples_are_accepted_with_their_metadata(
    reference_path, terminology, name, level, type_code, author, custodian, setting, facility, created, replaces
):
    data = _example(reference_path, name)
    report = inspect_cda(data, terminology, reference_path, max_bytes=MAX)
    assert report.findings == [] and report.valid
    h = report.header
    assert (h.level, h.type_code.code, h.custodian.extension) == (level, type_code, custodian)
    assert h.patient.ins.root == "1.2.250.1.213.1.4.10" and h.patient.ins.extension == "279035121518989"
    assert (h.patient.birth_family, h.patient.gender, h.patient.birth_date) == ("PAT-TROIS", "F", "19790328")
    if author:
        assert h.authors[0].idnatps == author
    else:  # the reimbursement history is written by the Assurance Maladie's software
        assert h.authors[0].device
    assert (h.practice_setting.code, h.facility_type.code) == (setting, facility)
    assert h.creation == datetime.fromisoformat(created).replace(tzinfo=UTC)
    assert h.replaces == replaces and h.unique_id == h.id.root and h.language == "fr-FR"
    assert report.size == len(data) and len(report.sha1) == 20
    if level == "N1":
        assert report.format_code == FORMAT_N1_PDF and embedded_pdf(report.root).startswith(b"%PDF")


def test_imaging_report_points_to_its_pacs_studies(reference_path, terminology):
    h = inspect_cda(
        _example(reference_path, "IMG_CR_IMG_2024.01.xml"), terminology, reference_path, max_bytes=MAX
    ).header
    assert h.study_instance_uids == (
        "1.2.250.1.925.994044.27.123.1876360",
        "1.2.250.1.925.994044.27.123.1876361",
        "1.2.250.1.925.994044.27.123.1876362",
    )
    assert h.accession_numbers == ("105234751", "105234752")


def _mutated(reference_path: Path, change, name: str = "DOC_NON_STRUCTURE_CDA-R2-N1.xml") -> bytes:
    root = etree.fromstring(_example(reference_path, name))
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _drop(path: str):
    def change(root):
        for node in root.xpath(path, namespaces={"h": "urn:hl7-org:v3"}):
            node.getparent().remove(node)

    return change


def _set(path: str, attribute: str, value: str):
    def change(root):
        for node in root.xpath(path, namespaces={"h": "urn:hl7-org:v3"}):
            node.set(attribute, value)

    return change


def _add_template(root):
    extra = etree.Element(f"{V3}templateId", root="1.2.250.1.213.1.1.1.55")
    root.find(f"{V3}templateId").addnext(extra)


BROKEN = [
    # (rule code, mutation, source of the rule)
    ("cda-responsable", _drop("h:legalAuthenticator"), "SM:57-58"),
    ("cda-ins-traits", _drop("h:recordTarget/h:patientRole/h:patient/h:birthplace"), "SM:52"),
    ("cda-ins-traits", _drop("h:recordTarget/h:patientRole/h:patient/h:name/h:family[@qualifier='BR']"), "SM:52"),
    ("cda-ins", _drop("h:recordTarget/h:patientRole/h:id[@root='1.2.250.1.213.1.4.10']"), "SM:52"),
    ("cda-n1-templates", _add_template, "SM:23-24"),
    ("cda-n1-corps", _set("h:component/h:nonXMLBody/h:text", "mediaType", "text/plain"), "XDS-SD"),
    ("cda-id", _set("h:id", "extension", "42"), "profils-messages.md:1384"),
    ("cda-type", _set("h:code", "code", "99999-9"), "SM:136-147"),
    ("cda-confidentialite", _set("h:confidentialityCode", "code", "X"), "SM:174-184"),
    ("cda-langue", _set("h:languageCode", "code", "francais"), "SM:190-197"),
    ("cda-date", _set("h:effectiveTime", "value", "2021-04-01"), "SM:162-167"),
    ("cda-version", _set("h:versionNumber", "value", "0"), "SM:216-222"),
    ("cda-auteur", _set("h:author/h:assignedAuthor/h:id", "extension", ""), "SM:1151-1157"),
    ("cda-auteur-specialite", _set("h:author/h:assignedAuthor/h:code", "code", "G15_99/ZZ"), "SM:1164-1173"),
    ("cda-gardien", _set("h:custodian//h:representedCustodianOrganization/h:id", "root", "1.2.3"), "SM:2531-2568"),
    (
        "cda-cadre-exercice",
        _set("h:documentationOf//h:standardIndustryClassCode", "code", "NULLE_PART"),
        "SM:5524-5539",
    ),
    ("cda-secteur", _set("h:componentOf//h:healthCareFacility/h:code", "code", "SA99"), "SM:7186-7237"),
    ("cda-realm", _set("h:realmCode", "code", "BE"), "SM:25-26"),
    ("cda-xsd", _drop("h:recordTarget"), "CDA_extended.xsd"),
]


@pytest.mark.parametrize("code,change,source", BROKEN, ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)])
def test_each_broken_header_rule_is_reported_precisely(reference_path, terminology, code, change, source):
    report = inspect_cda(_mutated(reference_path, change), terminology, reference_path, max_bytes=MAX)
    assert not report.valid
    assert code in {f.code for f in report.findings}, report.findings
    assert all(f.message and f.source for f in report.findings)


def test_structured_documents_are_checked_too(reference_path, terminology):
    data = _mutated(reference_path, _drop("h:componentOf"), "LDL-SES_2022.01.xml")
    assert "cda-secteur" in {f.code for f in inspect_cda(data, terminology, reference_path, max_bytes=MAX).findings}


@pytest.mark.parametrize(
    "payload,code",
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<ClinicalDocument xmlns="urn:hl7-org:v3">&b;</ClinicalDocument>',
            "xml-dtd-interdit",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<ClinicalDocument xmlns="urn:hl7-org:v3">&x;</ClinicalDocument>',
            "xml-dtd-interdit",
        ),
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><unclosed></ClinicalDocument>", "xml-mal-forme"),
    ],
)
def test_hostile_xml_is_refused_before_reading(reference_path, terminology, payload, code):
    with pytest.raises(MalformedRequest) as refused:
        inspect_cda(payload, terminology, reference_path, max_bytes=MAX)
    assert refused.value.code == code


def test_a_document_that_is_not_a_cda(reference_path, terminology):
    report = inspect_cda(b"<Bundle xmlns='http://hl7.org/fhir'/>", terminology, reference_path, max_bytes=MAX)
    assert [f.code for f in report.findings] == ["cda-racine"]


SCHEMATRONS = {
    "BIO-CR-BIO_2024.01_CR-2nde-intention-PDF.xml": "CI-SIS_BIO-CR-BIO_2024.01.sch",
    "BIO-CR-BIO_2024.01_TSH_1.xml": "CI-SIS_BIO-CR-BIO_2024.01.sch",
    "IMG_CR_IMG_2024.01.xml": "CI-SIS_IMG-CR-IMG_2024.01.sch",
    "IMG-DA-IMG_2024.01_TEP_Thorax.xml": "CI-SIS_IMG-DA-IMG_2024.01.sch",
    "IPS-FR_2024.01.xml": "CI-SIS_IPS-FR_2024.01.sch",
    "LDL-SES_2022.01.xml": "CI-SIS_LDL-SES_2022.01.sch",
    "VAC-NOTE_2023.01.xml": "CI-SIS_VAC-NOTE_2023.01.sch",
    "VSM_1.4_2022.01.xml": "CI-SIS_VSM_1.4_2022.01.sch",
    "eP-MED-DM_2024.01_PosoStruct.xml": "CI-SIS_EP-MED-DM_2024.01.sch",
}


@pytest.mark.parametrize("name,expected", sorted(SCHEMATRONS.items()))
def test_structured_examples_pass_their_volet_schematron(reference_path, terminology, name, expected):
    directory = reference_path / "cisis" / "schematrons"
    report = inspect_cda(
        _example(reference_path, name), terminology, reference_path, max_bytes=MAX, schematrons=directory
    )
    assert report.volet.schematron.name == expected and report.schematrons_run == (expected,)
    assert report.valid, [f for f in report.findings if f.severity == "error"]


def test_volet_schematron_failures_are_reported(reference_path, terminology):
    directory = reference_path / "cisis" / "schematrons"
    # the LDL-SES volet requires its "statut du document" section (CI-SIS_LDL-SES_2022.01.sch:55-60)
    data = _mutated(
        reference_path,
        _drop("//h:component[h:section/h:templateId/@root='1.2.250.1.213.1.1.2.35.1']"),
        "LDL-SES_2022.01.xml",
    )
    report = inspect_cda(data, terminology, reference_path, max_bytes=MAX, schematrons=directory)
    [failure] = [f for f in report.findings if f.severity == "error"]
    assert failure.code == "schematron" and "1.2.250.1.213.1.1.2.35.1" in failure.message
    assert failure.source.startswith("CI-SIS_LDL-SES_2022.01.sch:")


def test_no_volet_schematron_is_said_and_none_claimed(reference_path, terminology):
    """Issue 20 §2.3: the catalogue declares the VSM template without a version the pack names: it is
    checked as the pack checks it, with the structuration minimale only, and the verdict says so."""
    directory = reference_path / "cisis" / "schematrons"
    catalogue = _example(reference_path, "01_Modèles_contenus_CDA.xml")
    report = inspect_cda(catalogue, terminology, reference_path, max_bytes=MAX, schematrons=directory)
    assert report.volet.schematron is None and report.schematrons_run == ()
    assert report.volet.reason.startswith("aucun schématron de volet trouvé pour les templates 1.2.250.1.213.1.1.1.13")
    assert report.valid and not any(f.code == "schematron" for f in report.findings)
    checked = inspect_cda(
        catalogue, terminology, reference_path, max_bytes=MAX, schematrons=directory, structuration_minimale=True
    )
    assert checked.schematrons_run == ("ASIP-STRUCT-MIN-StrucMin.sch",) and checked.valid


def test_incomplete_pack_and_n1_documents(reference_path, terminology):
    directory = reference_path / "cisis" / "schematrons"
    cnam = inspect_cda(
        _example(reference_path, "CNAM-HR_2021.01.xml"),
        terminology,
        reference_path,
        max_bytes=MAX,
        schematrons=directory,
    )
    assert cnam.valid and {f.code for f in cnam.findings} == {"schematron-incomplet"}
    n1 = inspect_cda(
        _example(reference_path, "DOC_NON_STRUCTURE_CDA-R2-N1.xml"),
        terminology,
        reference_path,
        max_bytes=MAX,
        schematrons=directory,
    )
    assert n1.findings == []  # SM:23-24: an N1 body is a PDF, no volet schematron applies


@pytest.mark.parametrize(
    "name,format_code,class_code",
    [
        ("LDL-SES_2022.01.xml", "urn:asip:ci-sis:ldl-ses:2017", "10"),
        ("BIO-CR-BIO_2024.01_TSH_1.xml", "urn:ihe:lab:xd-lab:2008", "10"),
        ("VAC-NOTE_2023.01.xml", "urn:asip:ci-sis:vac-note:2021", "52"),
        ("DOC_NON_STRUCTURE_CDA-R2-N1.xml", FORMAT_N1_PDF, "10"),
        ("VSM_1.4_2022.01.xml", "urn:asip:ci-sis:vsm:2012", "11"),
    ],
)
def test_format_and_class_codes_derive_from_the_ans_concept_maps(
    reference_path, terminology, name, format_code, class_code
):
    """formatCode from the volet templateId (ASS_A11), classCode from the typeCode (ASS_X04)."""
    from maison.formats.xds_codes import TYPE_CLASS, VOLET_FORMAT

    report = inspect_cda(
        _example(reference_path, name), terminology, reference_path, max_bytes=MAX, volet_formats=VOLET_FORMAT
    )
    assert report.format_code == format_code
    assert TYPE_CLASS[report.header.type_code.code] == class_code


@pytest.mark.parametrize(
    "path,attribute,value",
    [
        ("h:effectiveTime", "value", "20210401134745+9999"),  # an offset beyond a day
        ("h:effectiveTime", "value", "2021040113474²"),  # a digit str.isdigit() accepts and int() refuses
        ("h:versionNumber", "value", "²"),
        ("h:effectiveTime", "value", "20211341"),  # month 13
    ],
)
def test_hostile_dates_and_versions_are_findings_not_crashes(reference_path, terminology, path, attribute, value):
    report = inspect_cda(
        _mutated(reference_path, _set(path, attribute, value)), terminology, reference_path, max_bytes=MAX
    )
    assert {"cda-date", "cda-version"} & {f.code for f in report.findings}


def test_a_latin1_document_gets_its_volet_schematron(reference_path, terminology):
    root = etree.fromstring(_example(reference_path, "LDL-SES_2022.01.xml"))
    data = etree.tostring(root, xml_declaration=True, encoding="ISO-8859-1")
    report = inspect_cda(
        data, terminology, reference_path, max_bytes=MAX, schematrons=reference_path / "cisis" / "schematrons"
    )
    assert report.valid and report.header.patient.birth_family == "PAT-TROIS"


def _self_presenting(document: bytes) -> bytes:
    """A CDA made self-presenting as the CI-SIS examples do it (BIO-CR-BIO_2021.01_Auto-Presentable of
    the ANS kit): an XSLT stylesheet showing the document, which a top-level data element holds. The
    document is pasted as written, its namespace declarations (and so its xsi:type QNames) kept."""
    cda = etree.tostring(etree.fromstring(document), encoding="UTF-8")  # without its XML declaration
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="#"?>\n'
        b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"'
        b' xmlns:data="urn:asip-sante:ci-sis" xmlns:c="urn:hl7-org:v3">'
        b'<xsl:output method="html"/>'
        b'<xsl:template match="/"><html><body><xsl:value-of select="//c:title"/></body></html></xsl:template>'
        b"<data:Contenu>" + cda + b"</data:Contenu></xsl:stylesheet>"
    )


def test_a_self_presenting_document_is_read_and_judged_as_its_embedded_document(reference_path, terminology):
    """Issue 20 §2.4: header metadata, XSD and volet schematron of the embedded ClinicalDocument."""
    directory = reference_path / "cisis" / "schematrons"
    data = _self_presenting(_example(reference_path, "LDL-SES_2022.01.xml"))
    report = inspect_cda(data, terminology, reference_path, max_bytes=MAX, schematrons=directory)
    assert report.self_presenting and report.valid, report.findings
    assert report.header.type_code.code == "11490-0" and report.header.patient.ins.extension == "279035121518989"
    assert report.size == len(data) and report.schematrons_run == ("CI-SIS_LDL-SES_2022.01.sch",)
    # the volet schematron and the XSD really run on it
    broken = _self_presenting(
        _mutated(
            reference_path,
            _drop("//h:component[h:section/h:templateId/@root='1.2.250.1.213.1.1.2.35.1']"),
            "LDL-SES_2022.01.xml",
        )
    )
    judged = inspect_cda(broken, terminology, reference_path, max_bytes=MAX, schematrons=directory)
    assert any(f.code == "schematron" and "1.2.250.1.213.1.1.2.35.1" in f.message for f in judged.findings)
    no_custodian = _self_presenting(_mutated(reference_path, _drop("h:custodian"), "LDL-SES_2022.01.xml"))
    assert "cda-xsd" in {f.code for f in inspect_cda(no_custodian, terminology, reference_path, max_bytes=MAX).findings}


def test_a_stylesheet_without_a_clinical_document_is_not_a_cda(reference_path, terminology):
    empty = b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"/>'
    report = inspect_cda(empty, terminology, reference_path, max_bytes=MAX)
    assert [f.code for f in report.findings] == ["cda-racine"] and not report.self_presenting
