"""The sandbox's DMP documents: CDA R2 N1 documents fed as a hospital's DPI feeds them (ITI-65's
content, judged by the DMP as any other), one of them masked to professionals and one invisible to
the patient (the visibility codes of the PDSm guide's securityLabel: MASQUE_PS, INVISIBLE_PATIENT).

Their unique ids, titles and dates are fixed, so the catalogue lists the same documents every time
(issue 21 §2); the author is the catalogue's hospital doctor, at the CHU where the patient was
informed (a structure that may feed her dossier, seed 002 L535-565).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.formats.cda.build import (
    LOINC,
    SYS_FACILITY,
    SYS_PRACTICE,
    SYS_SPECIALTY,
    DocumentHeader,
    PatientIdentity,
    Professional,
    n1_from_pdf,
)
from maison.formats.cda.header import Code
from maison.formats.pdf import document_pdf
from maison.partage.dmp import mhd

SETTING = Code("ETABLISSEMENT", SYS_PRACTICE, "Etablissement de santé")
FACILITY = Code("SA01", SYS_FACILITY, "Etablissement public de santé")
CARDIOLOGY = Code("G15_10/SM04", SYS_SPECIALTY, "Médecin - Cardiologie et maladies vasculaires (SM)")
TYPES = {
    "11490-0": "Lettre de liaison à la sortie d'un établissement de soins",
    "11488-4": "Compte rendu de consultation",
    "18748-4": "Compte rendu d'imagerie médicale",
}
CREATED = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # every sandbox document is dated as of its build's dataset


@dataclass(frozen=True)
class Document:
    """A document of the catalogue: whose (a patient's catalogue id), what, and who may see it."""

    patient: str
    uniqueId: str
    typeCode: str
    titre: str
    visibilite: tuple[str, ...] = ()  # MASQUE_PS, INVISIBLE_PATIENT; empty: visible to all the rules allow

    @property
    def type(self) -> Code:
        return Code(self.typeCode, LOINC, TYPES[self.typeCode])


def cda(document: Document, patient: PatientIdentity, author: Professional, position: int) -> bytes:
    """The document's CDA R2 N1 (a PDF body), its header from the catalogue."""
    created = CREATED + timedelta(hours=position)
    header = DocumentHeader(
        document.uniqueId,
        document.uniqueId + ".0",
        1,
        document.type,
        document.titre,
        created,
        patient,
        author,
        document.type,
        created - timedelta(days=1),
        created,
        SETTING,
        FACILITY,
    )
    text = f"Document de test du bac à sable Maison ({document.titre})."
    pdf = document_pdf(document.titre, [("Bac à sable", [text])])
    return n1_from_pdf(header, pdf)


def provide_request(documents: list[tuple[Document, bytes]]) -> mhd.ProvideRequest:
    """The ITI-65 transaction a DPI would send for these documents, read as the DMP's adapter reads it."""
    produced = [Produced(data, visibility=document.visibilite) for document, data in documents]
    return mhd.parse_provide(provide_bundle(produced, title="Bac à sable"))
