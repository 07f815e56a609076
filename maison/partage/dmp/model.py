"""The DMP's domain: dossiers, document entries, submission sets, and the patient's choices.

A document entry is the registry's record of one stored document (XDS DocumentEntry, PDSm
"fiche"): its identifiers, the codes a search filters on, its state, its visibility flags, and
where its bytes are. The bytes are immutable once stored (PDSm SFE L68); only the status, the
archive flag and the visibility (securityLabel) change afterwards (PDSm st_maj.md L1-7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

import orjson

from maison.core.actor import Actor

# JDV_J08 / TRE_A07-StatusVisibiliteDocument (reference/cisis/jeuxDeValeurs/JDV_J08… L22-30); its FHIR
# system is maison.formats.pdsm.URL_VISIBILITY
SYS_VISIBILITY = "1.2.250.1.213.1.1.4.13"
MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"
VISIBILITY_CODES = (MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX)
# The HL7 v2 spelling, shortened to 20 characters (xds-cda-metadata change-log L234): accepted on input.
VISIBILITY_ALIASES = {"INVISIBLE_REP_LEGAUX": INVISIBLE_REPRESENTANTS_LEGAUX}
CONFIDENTIALITY_CODES = ("N", "R", "V")

# The two documents that may be fed as N3 alone (seed 002 L413): mesures de l'enfant (volet CSE-MDE),
# note de vaccination (volet VAC-NOTE) — by their formatCode (ASS_A11, maison/formats/xds_codes.py).
N3_ALONE_FORMATS = frozenset({"urn:ans:ci-sis:cse-mde:2023", "urn:asip:ci-sis:vac-note:2021"})


class DocumentStatus(StrEnum):
    CURRENT = "current"
    SUPERSEDED = "superseded"  # replaced (relatesTo replaces), PDSm status
    DELETED = "deleted"  # withdrawn by its producer (000 L1062): kept for the trail, never served


class DossierState(StrEnum):
    """Account level (docs/research/dmp-rules.md CRE-1..3): created unless opposed, closable at any time."""

    ACTIVE = "active"
    OPPOSED = "opposed"  # the patient opposed the creation of Mon espace santé: nothing is kept
    CLOSED = "closed"  # the patient closed Mon espace santé and the DMP


class InformationState(StrEnum):
    """The patient's answer to the professional's information, one per axis (seed 002 L555-565)."""

    NOT_INFORMED = "non-informe"
    NOT_OPPOSED = "informe-non-oppose"
    OPPOSED = "informe-oppose"


class AccessMode(StrEnum):
    """How a professional reaches a dossier (TRE_R248 for the national ones; the rest are Maison's)."""

    NORMAL = "normal"
    BRIS_DE_GLACE = "bris_de_glace"  # CSP L.1111-17 I: immediate risk, patient cannot consent
    CENTRE_15 = "centre_15"  # CSP L.1111-17 I: médecin régulateur of the SAMU-centre 15
    CODE = "code"  # temporary delegation by code chosen by the patient (000 L3369-3376)


@dataclass(frozen=True)
class Access:
    """How a caller reaches a dossier — not who he is (that is core's `Actor`, the house's one type for
    it): the access mode and its justification, a delegation code, the connexion secrète, and the doctor
    a secretary acts for. The DMP's adapter reads them from the request's headers."""

    mode: AccessMode = AccessMode.NORMAL
    reason: str = ""  # the justification of an emergency access
    code: str = ""  # the delegation code presented
    secret: bool = False  # connexion secrète (minors, CSP L.1111-5)
    on_behalf_of: str = ""  # a secretary acting under this doctor's IdNatPS (000 L1934)


@dataclass(frozen=True)
class Who:
    """A caller of the DMP as its access rules see him: who acts (`caller`, core's `Actor`, shared with
    every other service) and how he reaches the dossier (`access`). The properties read through both, so
    the rules say `who.person` or `who.mode` without caring which half holds it."""

    caller: Actor
    access: Access = Access()

    @property
    def kind(self) -> str:  # professional / software / patient
        return self.caller.kind

    @property
    def person(self) -> str:  # IdNatPS, or the patient's (or representative's) INS
        return self.caller.person

    @property
    def structure(self) -> str:
        return self.caller.structure

    @property
    def profession(self) -> str:  # TRE_G15 code of the professional
        return self.caller.profession

    @property
    def role(self) -> str:
        return self.caller.role

    @property
    def software(self) -> str:
        return self.caller.software

    @property
    def patient(self) -> str:  # for a patient caller: whose dossier (the minor when a representative acts)
        return self.caller.patient

    @property
    def mode(self) -> AccessMode:
        return self.access.mode

    @property
    def reason(self) -> str:
        return self.access.reason

    @property
    def code(self) -> str:
        return self.access.code

    @property
    def secret(self) -> bool:
        return self.access.secret

    @property
    def on_behalf_of(self) -> str:
        return self.access.on_behalf_of

    @property
    def is_representative(self) -> bool:
        return self.kind == "patient" and self.person != self.patient


@dataclass
class DocumentEntry:
    id: str  # our logical id, also the entryUUID
    unique_id: str  # masterIdentifier: the CDA's id
    ins: str
    submission: str
    status: DocumentStatus
    archived: bool
    type_code: str
    class_code: str
    format_code: str
    level: str  # N1 / N3 / other
    author: str  # IdNatPS of the first author
    author_structure: str  # the structure that fed it (the caller's)
    confidentiality: str
    visibility: set[str]
    size: int
    sha1: str  # base64, as PDSm attachment.hash
    blob: str  # sha256 name in the blob store
    content_type: str
    submitted_at: str
    creation: str
    period_start: str
    period_end: str
    version: int = 1
    last_updated: str = ""
    transforms: str | None = None  # the N1 entry this N3 is the structured form of (XFRM)
    replaces: str | None = None  # the entry this one replaced (RPLC)
    study_uids: tuple[str, ...] = ()
    accession_numbers: tuple[str, ...] = ()
    # the stored DocumentReference, or its JSON text until `resource` is first read: a list of the
    # dossier (Mon espace santé's documents page: ~100 entries of 2 KB) shows a few columns and never
    # pays for parsing every one
    stored: dict | str = field(default_factory=dict, repr=False, compare=False)

    @property
    def resource(self) -> dict:
        """The stored DocumentReference (parsed on first read, then kept)."""
        if isinstance(self.stored, str):
            self.stored = orjson.loads(self.stored)
        return cast(dict, self.stored)


@dataclass(frozen=True)
class DateFilter:
    """One date criterion of a search: a FHIR date prefix and the date (or its beginning) it compares with."""

    prefix: str  # ge, gt, le, lt, eq
    value: str  # from the year on: a prefix of the stored ISO instants


@dataclass(frozen=True)
class DocumentQuery:
    """The filters of a document search (ITI-67), as the HTTP adapter read them from the request; the
    store turns them into SQL. Each element of a tuple is one criterion, and all must hold (a search
    parameter given twice is two criteria); within one code criterion, the codes are alternatives."""

    type_code: tuple[tuple[str, ...], ...] = ()
    class_code: tuple[tuple[str, ...], ...] = ()
    format_code: tuple[tuple[str, ...], ...] = ()
    setting: tuple[tuple[str, ...], ...] = ()
    facility: tuple[tuple[str, ...], ...] = ()
    creation: tuple[DateFilter, ...] = ()
    period_start: tuple[DateFilter, ...] = ()
    period_end: tuple[DateFilter, ...] = ()
    submitted_at: tuple[DateFilter, ...] = ()
    identifier: tuple[tuple[str, str], ...] = ()  # (uniqueId, entry id): the document is either
    archived: tuple[bool, ...] = ()
    relates_to: tuple[str, ...] = ()  # an entry id the document replaces or transforms


@dataclass(frozen=True)
class SubmissionSet:
    """A submission set (PDSm lot) as stored: the List resource as submitted, our id and its status."""

    id: str
    status: str
    resource: dict


@dataclass(frozen=True)
class PatientDocument:
    """A document the patient files in her DMP from Mon espace santé (000 L3267-3269): the
    DocumentReference Mon espace santé built, its bytes, and the submission set it is filed in."""

    ins: str
    unique_id: str
    lot_unique_id: str
    title: str
    type_code: str
    class_code: str
    format_code: str
    content_type: str
    data: bytes
    sha1: str  # base64, as the DocumentReference's attachment.hash
    creation: str
    resource: dict
    replaces_current: bool = False  # a new one replaces the current one of its type (profil médical synthesis)
