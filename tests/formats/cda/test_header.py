"""The CDA header's reader: the stay a document belongs to (componentOf/encompassingEncounter/id), which
ties a document fed to the DMP outside the PFI to its stay (SUN-ES, seed 004 L191-194)."""

from datetime import UTC, datetime, timedelta

from maison.formats import xmlsafe
from maison.formats.cda.build import DocumentHeader, n1_from_pdf
from maison.formats.cda.header import InstanceId, read_header
from maison.formats.pdf import document_pdf
from tests.partage.world import FACILITY, LETTRE, PROS, SARAH_ID, SETTING


def _n1(encounter_id: tuple[str, str] | None) -> bytes:
    created = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    header = DocumentHeader("1.2.250.1.999.7.1", "1.2.250.1.999.7.1.0", 1, LETTRE, "Lettre", created, SARAH_ID,
                            PROS["hospitalier"].author(), LETTRE, created - timedelta(days=2), created, SETTING,
                            FACILITY, encounter_id=encounter_id)  # fmt: skip
    return n1_from_pdf(header, document_pdf("Lettre", [("Synthèse", ["Test."])]))


def test_the_encounter_id_is_written_and_read_back_and_absent_when_not_given():
    cda = _n1(("1.2.250.1.999.1750000019", "S5"))
    assert read_header(xmlsafe.parse(cda, max_bytes=len(cda) + 1)).encounter_id == InstanceId(
        "1.2.250.1.999.1750000019", "S5"
    )
    plain = _n1(None)
    assert read_header(xmlsafe.parse(plain, max_bytes=len(plain) + 1)).encounter_id is None
