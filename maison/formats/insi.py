"""INSi's wire format, shared by the teleservice and its callers: namespaces, actions, answer codes, faults.

What both ends of `DESIR_ICIR_EXP_1.5.0.wsdl` must agree on and nothing else: the XML namespaces of
the messages, the WS-Addressing action of each operation, the answer codes (compte rendu) and the
INS an answer carries, and the SIRAM error codes of a fault with the domain error each one names.
The teleservice (`maison.identite.ins`) writes them, a structure's software
(`maison.etablissement.insi`) reads them; the schemas that validate them stay with the teleservice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from maison.core.ins_traits import Traits

NS_RECSANS = "http://www.cnamts.fr/INSiRecSans"
NS_RECVIT = "http://www.cnamts.fr/INSiRecVit"
NS_RESULTAT = "http://www.cnamts.fr/INSiResultat"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_CTXLPS = "urn:siram:lps:ctxlps"
NS_CTXBAM = "urn:siram:bam:ctxbam"
NS_SIRAM = "urn:siram"
NS_WSA = "http://www.w3.org/2005/08/addressing"

# `wsa:Action` of an operation is this base followed by the operation's name.
ACTION_BASE = "urn:ServiceIdentiteCertifiee:1.0.0:"
OP_TRAITS = "rechercherInsAvecTraitsIdentite"
OP_CARTE_VITALE = "rechercherInsAvecCarteVitale"

# The domain error behind each fault, as (SOAP subcode, SIRAM `Erreur/@code`). `insi_19`, `insi_102`
# and `desir_550` are the national service's own; the GIE guide listing the others is not public, so
# the other `insi_2x` codes are Maison's, numbered in the same family, as are `desir_551` to `desir_553`.
ERRORS: dict[str, tuple[str, str]] = {
    "nom-absent": ("siram_10", "insi_19"),
    "prenom-absent": ("siram_10", "insi_20"),
    "sexe": ("siram_10", "insi_21"),
    "date-format": ("siram_10", "insi_22"),
    "date-invalid": ("siram_10", "insi_22"),
    "cog-format": ("siram_10", "insi_23"),
    "nir-format": ("siram_10", "insi_24"),
    "nir-key": ("siram_10", "insi_24"),
    "matricule-absent": ("siram_10", "insi_25"),
    "schema": ("siram_10", "insi_26"),
    "operation": ("siram_10", "insi_27"),
    "contexte-absent": ("siram_10", "insi_28"),
    "logiciel-inconnu": ("siram_100", "desir_550"),
    "structure-non-habilitee": ("siram_100", "desir_551"),
    "certificat-absent": ("siram_100", "desir_552"),
    "certificat-refuse": ("siram_100", "desir_553"),
}
# The fault families (`soap:Subcode`, a QName in the envelope's namespace: `soap:siram_100`) and the
# generic sentence the national service writes for each in `soap:Reason/soap:Text`; the precise
# reason stays in the detail's `siram:Erreur`. The sentences of `siram_100` (authorisation) and
# `siram_40` (technical) are the teleservice's own, as its qualification endpoint answers them
# (`qualiflps-services-ps-tlsm.ameli.fr`, recorded in the public test fixtures of a vendor's INSi
# client, github.com/padoa/tlsi-ins, `fixtures/service-errors/siram_100-desir_500-fake-idam`, and its
# `insi_102` cases); no public source gives the one of `siram_10` (a request error), so that
# sentence is Maison's, written in the same style.
SIRAM_REQUEST = "siram_10"
SIRAM_AUTHORISATION = "siram_100"
SIRAM_TECHNICAL = "siram_40"
REASONS: dict[str, str] = {
    SIRAM_REQUEST: (
        "La requête transmise au service est invalide. "
        "Contactez l'éditeur du progiciel ou votre responsable informatique."
    ),
    SIRAM_AUTHORISATION: (
        "L'accès par ce progiciel au service n'est pas autorisé. "
        "Contactez l'éditeur du progiciel ou votre responsable informatique."
    ),
    SIRAM_TECHNICAL: (
        "Le service est temporairement inaccessible. Veuillez renouveler votre demande ultérieurement. "
        "Si le problème persiste, contactez l'éditeur du progiciel ou votre responsable informatique."
    ),
}
# The authorisation errors that say "who are you" (the software or its certificate is not known)
# rather than "you may not": a caller answers them as 401, the other `siram_100` as 403.
UNAUTHENTICATED: frozenset[str] = frozenset({"desir_550", "desir_552"})

# A caller reads a fault's SIRAM code back as the first domain error that writes it.
DOMAIN_ERROR: dict[str, str] = {}
for _domain, (_subcode, _siram) in ERRORS.items():
    DOMAIN_ERROR.setdefault(_siram, _domain)


class CodeCR(StrEnum):
    """INSi answer codes (compte rendu): exactly one identity, none, several."""

    TROUVE = "00"
    AUCUN = "01"
    PLUSIEURS = "02"


LIBELLE_CR = {
    CodeCR.TROUVE: "OK",
    CodeCR.AUCUN: "Aucune identite trouvee",
    CodeCR.PLUSIEURS: "Plusieurs identites trouvees",
}


@dataclass(frozen=True, slots=True)
class InsRef:
    """One matricule INS as INSi returns it (INSACTIF or INSHISTO)."""

    number: str
    cle: str
    type: str  # NIR / NIA
    oid: str
    date_deb: date | None = None
    date_fin: date | None = None

    @property
    def value(self) -> str:
        return self.number + self.cle


@dataclass(frozen=True, slots=True)
class Individu:
    """The identity of an answer 00: its active INS, the INS it replaced, its reference traits."""

    active: InsRef
    history: tuple[InsRef, ...]
    traits: Traits


@dataclass(frozen=True, slots=True)
class InsiResult:
    """An INSi answer: its code, and the identity when exactly one was found."""

    code: CodeCR
    individu: Individu | None = None
    candidates: int = 0

    @property
    def libelle(self) -> str:
        return LIBELLE_CR[self.code]
