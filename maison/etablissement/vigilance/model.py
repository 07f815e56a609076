"""Identity statuses, collection methods and identity documents of a local patient record.

The four statuses (SPEC §1; FR Core `fr-core-cs-identity-status`) are exclusive and follow from
two criteria: was the INS retrieved from INSi, was the identity checked against a high-trust
identity document.

|                    | no document | high-trust document |
|--------------------|-------------|---------------------|
| not from INSi      | PROV        | VALI                |
| retrieved by INSi  | RECUP       | QUAL                |

An identity flagged doubtful or fictitious is provisional whatever else is known (RNIV).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from maison.core.ins_traits import Traits


class Status(StrEnum):
    PROV = "PROV"
    VALI = "VALI"
    RECUP = "RECUP"
    QUAL = "QUAL"


class CollectionMethod(StrEnum):
    """FR Core `fr-core-cs-method-collection` (SPEC §1)."""

    SM = "SM"  # saisie manuelle
    CV = "CV"  # carte Vitale
    INSI = "INSI"  # téléservice INSi
    CB = "CB"  # Datamatrix INS scanned from a document
    RFID = "RFID"
    AV = "AV"  # appli carte Vitale


# FR Core identity document types (IHE PAM FR table 9004); PA, CN, AN, LE are the high-trust ones
# that may validate an identity.
DOCUMENT_TYPES = {
    "PA": "Passeport",
    "CN": "Carte nationale d'identité",
    "AN": "Acte de naissance",
    "LE": "Livret de famille",
    "CC": "Carte de séjour",
    "CE": "Carte européenne",
    "CM": "Carte militaire",
    "CS": "Carte de séjour temporaire",
    "PC": "Permis de conduire",
    "TC": "Titre de circulation",
}
HIGH_TRUST_DOCUMENTS = frozenset({"PA", "CN", "AN", "LE"})

ATTRIBUTES = ("douteuse", "fictive", "homonyme")


def status_of(insi_retrieved: bool, document_checked: bool, attributes: frozenset[str] = frozenset()) -> Status:
    if attributes & {"douteuse", "fictive"}:
        return Status.PROV
    if insi_retrieved:
        return Status.QUAL if document_checked else Status.RECUP
    return Status.VALI if document_checked else Status.PROV


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """A record of the local patient index, as services read it."""

    id: int
    structure: str
    ipp: str
    status: Status
    traits: Traits
    insi_retrieved: bool
    document_checked: bool
    collection_method: str
    document_type: str | None
    attributes: frozenset[str]
    ins_number: str | None
    ins_cle: str | None
    ins_oid: str | None
    nom_utilise: str | None
    prenom_utilise: str | None
    merged_into: int | None
    version: int

    @property
    def shareable_ins(self) -> str | None:
        """The matricule may be shared only for a qualified identity (seed 000 L2007-2009)."""
        if self.status is Status.QUAL and self.ins_number:
            return self.ins_number + (self.ins_cle or "")
        return None
