"""Which volet schematron judges a document (issue 20 §2.1-2.3): the most specific template, the
version from its extension or the pack's own association, the index from what rules test."""

import re
from pathlib import Path

import pytest

from maison.formats import xmlsafe
from maison.formats.cda import volets
from maison.formats.cda.document import embedded_document
from maison.formats.cda.header import read_header

MAX = 50_000_000
LDL_SES = '<templateId root="1.2.250.1.213.1.1.1.29" extension="2022.01"/>'
CS_GENERIC, CS24, CS8 = "1.2.250.1.213.1.1.1.5", "1.2.250.1.213.1.1.1.5.3", "1.2.250.1.213.1.1.1.5.1"


@pytest.fixture(scope="module")
def directory(reference_path: Path) -> Path:
    return reference_path / "cisis" / "schematrons"


def _choose(reference_path: Path, directory: Path, templates: list[tuple[str, str]]) -> volets.VoletChoice:
    """The LDL-SES example declaring `templates` (root, extension) instead of its volet's."""
    text = (reference_path / "cisis" / "ExemplesCDA" / "LDL-SES_2022.01.xml").read_text(encoding="utf-8")
    declared = "".join(f'<templateId root="{r}"' + (f' extension="{e}"' if e else "") + "/>" for r, e in templates)
    root = xmlsafe.parse(text.replace(LDL_SES, declared).encode(), max_bytes=MAX)
    return volets.choose(read_header(root), root, directory)


def test_a_generic_and_a_specific_template_the_specific_volet_judges(reference_path, directory):
    # every CSE schematron tests the generic certificate template; only CS24's tests 1.2.250.1.213.1.1.1.5.3
    for order in ([(CS_GENERIC, ""), (CS24, "2024.01")], [(CS24, "2024.01"), (CS_GENERIC, "")]):
        choice = _choose(reference_path, directory, order)
        assert choice.schematron.name == "CI-SIS_CSE-CS24_2024.01.sch", choice
        assert (choice.template, choice.version) == (CS24, "2024.01")
        assert choice.templates[0] == f"{CS24}@2024.01"
    assert _choose(reference_path, directory, [(CS_GENERIC, ""), (CS8, "2022.01")]).schematron.name == (
        "CI-SIS_CSE-CS8_2022.01.sch"
    )


def test_a_sibling_volet_s_schematron_is_never_taken_for_the_generic_template(reference_path, directory, tmp_path):
    # CSE-MDE's schematron tests no template: the certificate template it shares with CS8, CS9 and CS24
    # must not lead to theirs
    mde = _choose(reference_path, directory, [(CS_GENERIC, ""), ("1.2.250.1.213.1.1.1.5.4", "2024.01")])
    assert mde.schematron is None, mde
    # a pack of one volet testing a generic and its own specific template
    (tmp_path / "CI-SIS_UN_2024.01.sch").write_text(
        """<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <pattern id="entete"><rule context="cda:ClinicalDocument">
    <assert test="cda:templateId[@root='1.2.250.1.213.1.1.1.90']">générique</assert>
    <assert test="cda:templateId[@root='1.2.250.1.213.1.1.1.90.1']">spécifique</assert>
  </rule></pattern>
</schema>""",
        encoding="utf-8",
    )
    own = [("1.2.250.1.213.1.1.1.90", ""), ("1.2.250.1.213.1.1.1.90.1", "2024.01")]
    sibling = [("1.2.250.1.213.1.1.1.90", ""), ("1.2.250.1.213.1.1.1.90.2", "2024.01")]
    assert _choose(reference_path, tmp_path, own).schematron.name == "CI-SIS_UN_2024.01.sch"
    assert _choose(reference_path, tmp_path, sibling).schematron is None


def test_the_version_comes_from_the_extension_never_the_latest_by_default(reference_path, directory):
    assert _choose(reference_path, directory, [(CS24, "2022.01")]).schematron.name == "CI-SIS_CSE-CS24_2022.01.sch"
    # without extension, three versions and nothing in the pack saying which: none, not 2025.01
    unversioned = _choose(reference_path, directory, [(CS_GENERIC, ""), (CS24, "")])
    assert unversioned.schematron is None
    assert unversioned.reason.startswith("aucun schématron de volet trouvé pour les templates")
    assert CS24 in unversioned.reason and "2025.01" in unversioned.reason  # the versions it could not choose from
    # an extension the pack has no schematron of: none either
    assert _choose(reference_path, directory, [(CS24, "2031.01")]).schematron is None
    # the generic certificate template alone: CS8, CS9 and CS24 test it, each with its own, none is chosen
    generic = _choose(reference_path, directory, [(CS_GENERIC, "2024.01")])
    assert generic.schematron is None
    assert generic.reason == f"aucun schématron de volet trouvé pour les templates {CS_GENERIC}@2024.01"
    # a schematron that tests an explicit (root, extension) pair refuses the others
    assert _choose(reference_path, directory, [("1.2.250.1.213.1.1.1.46", "2023.01")]).schematron.name == (
        "CI-SIS_VAC-NOTE_2023.01.sch"
    )


def test_no_volet_schematron_says_so(reference_path, directory):
    choice = _choose(reference_path, directory, [("1.2.250.1.213.1.1.1.99", "2024.01")])
    assert choice.schematron is None and choice.template == ""
    assert choice.reason == "aucun schématron de volet trouvé pour les templates 1.2.250.1.213.1.1.1.99@2024.01"


def test_the_index_holds_what_rules_test_not_what_messages_quote(directory, tmp_path):
    # BIO-CR-BIO 2024.01 quotes 1.2.250.1.213.1.1.1.55 in a commented-out check and in messages; its
    # header rule tests the IHE XD-LAB template
    index = volets.volet_index(directory)
    assert "1.2.250.1.213.1.1.1.55" not in index
    assert "CI-SIS_BIO-CR-BIO_2024.01.sch" in {v.path.name for v in index["1.3.6.1.4.1.19376.1.3.3"]}
    assert {v.path.name for v in index["1.2.250.1.213.1.1.1.46"]} == {"CI-SIS_VAC-NOTE_2023.01.sch"}
    [vac_note] = index["1.2.250.1.213.1.1.1.46"]
    assert vac_note.demands("1.2.250.1.213.1.1.1.46") == {"2023.01"}
    # a schematron written for the purpose: a message, a comment and a section rule name other ids
    (tmp_path / "CI-SIS_ESSAI_2024.01.sch").write_text(
        """<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <!-- <assert test="cda:templateId[@root='1.2.250.1.213.1.1.1.77']"/> -->
  <pattern id="entete">
    <rule context="cda:ClinicalDocument">
      <assert test="./cda:templateId[@root = '1.2.250.1.213.1.1.1.88' and @extension='2024.01']">
        Le templateId 1.2.250.1.213.1.1.1.66 (voir aussi templateId[@root='1.2.250.1.213.1.1.1.65']) est requis.
      </assert>
      <assert test=".//cda:section/cda:templateId[@root='1.2.250.1.213.1.1.2.5']">section</assert>
    </rule>
  </pattern>
</schema>""",
        encoding="utf-8",
    )
    mine = volets.volet_index(tmp_path)
    assert set(mine) == {"1.2.250.1.213.1.1.1.88"}
    assert mine["1.2.250.1.213.1.1.1.88"][0].templates == frozenset({("1.2.250.1.213.1.1.1.88", "2024.01")})


def _named_by_the_pack(data: bytes) -> str | None:
    """The volet schematron an official example names for itself (`<?oxygen SCHSchema?>`), beside the
    profiles (`profils/`) every example names."""
    named = [n.decode() for n in re.findall(rb'<\?oxygen SCHSchema="([^"]+)"', data[:16_384])]
    return next((Path(n).name for n in named if "/profils/" not in n.lower()), None)


def test_every_official_example_gets_the_volet_the_pack_checks_it_with(reference_path, directory):
    examples = sorted((reference_path / "cisis" / "ExemplesCDA").glob("*.xml"))
    assert len(examples) >= 16
    for example in examples:
        data = example.read_bytes()
        received = xmlsafe.parse(data, max_bytes=MAX)
        root = embedded_document(received)
        root = received if root is None else root
        choice = volets.choose(read_header(root), root, directory)
        assert (choice.schematron.name if choice.schematron else None) == _named_by_the_pack(data), (
            example.name,
            choice,
        )
    catalogue = (reference_path / "cisis" / "ExemplesCDA" / "01_Modèles_contenus_CDA.xml").read_bytes()
    root = xmlsafe.parse(catalogue, max_bytes=MAX)
    assert "profils seulement" in volets.choose(read_header(root), root, directory).reason


def test_the_pack_maps_the_clinical_document_to_the_structuration_minimale(directory):
    assert volets.structuration_minimale(directory).name == "ASIP-STRUCT-MIN-StrucMin.sch"
