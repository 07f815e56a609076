"""The sandbox's catalogue: every test datum a vendor's bench may rely on, and its test credentials.

Issue 21 §2: `maison sandbox` builds the same dataset every time and publishes what it holds, so a
vendor (DPI, LGC, LGO, LAP) tests against named identities and accounts with known answers, without
the national sandboxes' paperwork. The catalogue is a pure function of `SEED` and the INS
environment: two runs give byte-identical `sandbox.json` files (`as_json`), whatever the machine.

Test credentials only. Every password, API key, e-CPS seed, PSC client secret and delegation code
is an HMAC-SHA256 of the published `SEED` and the item's name (`derive`): anyone who reads this file
can compute them, so a house built by `maison sandbox` is a test house and nothing else — never a
house that holds real patients or real professionals. The catalogue has no absolute URL: the house
that serves it adds its own public URL (`maison.sandbox.api`), so it holds whichever port serves it.

The INSi cases follow the referential's matching rules (`maison.identite.ins.referential`, the
CNAM's ServiceIdentiteCertifiee contract): exact on the normalised traits, the first name sent equal
to the first birth first name or to the whole list, the birth place when sent. The identities
extend INSi's named test identities (`maison.identite.ins.bac_a_sable`, loaded by `maison seed`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.identifiers.nir import nir_key
from maison.core.ins_traits import Traits
from maison.formats.ordonnance import ALPHABET, LENGTH, number_of
from maison.identite.annuaire import rpps_plus
from maison.identite.ins import bac_a_sable
from maison.identite.ins.model import Environment
from maison.identite.ins.referential import oid_of
from maison.sandbox.documents import Document

SEED = b"maison-bac-a-sable-2026"  # published on purpose: what it derives are test credentials only
VERSION = 3  # of the dataset: a change of any datum changes it, so a bench can check what it tests against


def derive(purpose: str, name: str) -> bytes:
    """32 bytes for one secret of the sandbox: HMAC-SHA256(SEED, purpose|name)."""
    return hmac.new(SEED, f"{purpose}|{name}".encode(), hashlib.sha256).digest()


def password(name: str) -> str:
    """A test password (PSC's test accounts and Mon espace santé ask 12 characters or more)."""
    return "Test-" + base64.b32encode(derive("mot-de-passe", name)).decode()[:16].lower()


def api_key(name: str) -> str:
    return "mk_" + base64.urlsafe_b64encode(derive("cle", name)).decode().rstrip("=")


def totp_seed(name: str) -> str:
    """An e-CPS seed: base32 of 20 bytes (RFC 4226's recommended 160 bits), as `pyotp` draws them."""
    return base64.b32encode(derive("e-cps", name)[:20]).decode()


def client_secret(name: str) -> str:
    return base64.urlsafe_b64encode(derive("client-psc", name)).decode().rstrip("=")


def delegation_code(name: str) -> str:
    """A DMP delegation code, in the form the DMP gives them (three groups of four hex digits)."""
    digits = derive("code-acces", name).hex().upper()
    return "-".join(digits[i : i + 4] for i in (0, 4, 8))


def _nir(number13: str) -> str:
    return number13 + nir_key(number13)


def _luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


# --- the INS referential -------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """An identity of the referential as the CNAM holds it; `replaced_by` (a NIA replaced by the NIR)
    and `merged_into` (a duplicate merged into another identity) are applied after registration."""

    traits: Traits
    matricule: str
    replaced_by: str = ""
    merged_into: str = ""


@dataclass(frozen=True)
class HistoricIns:
    matricule: str
    oid: str


@dataclass(frozen=True)
class Expected:
    """What INSi answers: CR code, and for a 00 the active INS, its OID and the historic INS."""

    codeCR: str
    ins: str = ""
    oid: str = ""
    insHisto: tuple[HistoricIns, ...] = ()
    listePrenoms: str = ""


@dataclass(frozen=True)
class InsiCase:
    """One case of INSi's rechercherInsAvecTraitsIdentite a vendor must test: the traits to send and
    the answer to expect."""

    id: str
    cas: str
    nomNaissance: str
    prenoms: tuple[str, ...]
    sexe: str
    dateNaissance: str
    lieuNaissance: str | None
    attendu: Expected


NIA_ABROAD = _nir("7850399134021")  # a NIA: born abroad (99134 Espagne), registration being checked
NIR_ABROAD = _nir("1850399134021")  # the NIR that replaced it
DUPLICATE_KEPT = _nir("2651133063104")  # two NIR of one person: the duplicate merged into the kept one
DUPLICATE_MERGED = _nir("2651133063105")

IDENTITIES: tuple[Identity, ...] = (
    *(Identity(i.traits, i.matricule) for i in bac_a_sable.CATALOGUE),
    Identity(Traits.of("DUPONT", "ALICE", "F", "1990-06-15", "75056"), _nir("2900675056012")),
    Identity(Traits.of("SANTONI", "PAUL-ANTOINE", "M", "1982-07-14", "2A004"), _nir("182072A004123")),
    Identity(Traits.of("CASANOVA", "MARIE ANGE", "F", "1970-02-03", "2B033"), _nir("2700220033045")),
    Identity(Traits.of("NGUYEN", "THI HOA", "F", "1988-09-12", "99243"), _nir("2880999243051")),
    Identity(Traits.of("DIALLO", "MAMADOU", "M", "1975-04-00", "99341"), _nir("1750499341067")),
    Identity(Traits.of("DE LA FONTAINE", "JEAN-BAPTISTE LOUIS", "M", "1955-12-24", "69123"), _nir("1551269123078")),
    Identity(Traits.of("D'ALMEIDA", "ANNE-SOPHIE", "F", "1968-08-30", "13055"), _nir("2680813055089")),
    Identity(Traits.of("N'DIAYE", "AISSATOU", "F", "2001-01-05", "93066"), _nir("2010193066090")),
    Identity(Traits.of("RODRIGUEZ", "CARLOS", "M", "1985-03-17", "99134"), NIA_ABROAD, replaced_by=NIR_ABROAD),
    Identity(Traits.of("BERNARD", "LUCIE", "F", "1965-11-02", "33063"), DUPLICATE_KEPT),
    Identity(Traits.of("BERNARD", "LUCIE", "F", "1965-11-02", "33063"), DUPLICATE_MERGED, merged_into=DUPLICATE_KEPT),
)


def _case(id_: str, cas: str, identity_or_traits: Identity | Traits, attendu: Expected, **sent: Any) -> InsiCase:
    t = identity_or_traits.traits if isinstance(identity_or_traits, Identity) else identity_or_traits
    return InsiCase(
        id_,
        cas,
        sent.get("nom", t.nom_naissance),
        tuple(sent.get("prenoms", t.prenoms)),
        t.sexe,
        sent.get("date", t.date_naissance),
        sent["lieu"] if "lieu" in sent else t.lieu_naissance,
        attendu,
    )


def _found(identity: Identity, environment: Environment, history: tuple[str, ...] = ()) -> Expected:
    active = identity.replaced_by or identity.matricule
    return Expected(
        "00",
        active,
        oid_of(active, environment),
        tuple(HistoricIns(m, oid_of(m, environment)) for m in history),
        identity.traits.liste_prenoms,
    )


def insi_cases(environment: Environment) -> tuple[InsiCase, ...]:
    """The cases of issue 21 §2, each with the traits to send and INSi's answer."""
    by = {i.matricule: i for i in IDENTITIES}
    pat, sarah, martin_paris = by["279035121518989"], by["277010115400329"], by["180057511500143"]
    dupont, santoni, casanova = by[_nir("2900675056012")], by[_nir("182072A004123")], by[_nir("2700220033045")]
    nguyen, diallo = by[_nir("2880999243051")], by[_nir("1750499341067")]
    fontaine, almeida, ndiaye = by[_nir("1551269123078")], by[_nir("2680813055089")], by[_nir("2010193066090")]
    rodriguez, bernard = by[NIA_ABROAD], by[DUPLICATE_KEPT]
    found = lambda identity, *history: _found(identity, environment, history)  # noqa: E731
    return (
        _case("00-un-prenom", "00, un seul prénom de naissance", dupont, found(dupont)),
        _case("00-plusieurs-prenoms", "00, liste des prénoms de naissance envoyée", pat, found(pat)),
        _case(
            "00-premier-prenom",
            "00, premier prénom seul d'une identité qui en a plusieurs",
            pat,
            found(pat),
            prenoms=pat.traits.prenoms[:1],
        ),
        _case("00-trait-d-union", "00, nom et prénom composés avec trait d'union", sarah, found(sarah)),
        _case(
            "01-aucune",
            "01, aucune identité (date de naissance d'un autre jour)",
            dupont,
            Expected("01"),
            date="1990-06-16",
        ),
        _case(
            "02-homonymes",
            "02, deux homonymes nés le même jour, sans lieu de naissance",
            martin_paris,
            Expected("02"),
            prenoms=("JEAN",),
            lieu=None,
        ),
        _case(
            "00-homonyme-lieu",
            "00, le lieu de naissance (75115) départage les homonymes",
            martin_paris,
            found(martin_paris),
            prenoms=("JEAN",),
        ),
        _case("00-corse-2a", "00, né en Corse-du-Sud (2A)", santoni, found(santoni)),
        _case(
            "00-corse-20", "00, née en Haute-Corse (2B) avant 1976 : NIR au département 20", casanova, found(casanova)
        ),
        _case("00-ne-a-l-etranger", "00, née à l'étranger (Viêt Nam, 99243)", nguyen, found(nguyen)),
        _case("00-jour-inconnu", "00, jour de naissance inconnu (00)", diallo, found(diallo)),
        _case("00-particule", "00, nom à particule (DE LA)", fontaine, found(fontaine)),
        _case("00-apostrophe", "00, nom avec apostrophe et prénom composé", almeida, found(almeida)),
        _case("00-apostrophe-initiale", "00, nom commençant par N'", ndiaye, found(ndiaye)),
        _case(
            "00-nia-remplace",
            "00, NIA remplacé par le NIR : le NIA en INS historique",
            rodriguez,
            found(rodriguez, NIA_ABROAD),
        ),
        _case(
            "00-fusion",
            "00, doublon fusionné : l'INS absorbé en INS historique",
            bernard,
            found(bernard, DUPLICATE_MERGED),
        ),
    )


# --- structures, software, Pro Santé Connect -------------------------------------------------------


@dataclass(frozen=True)
class Structure:
    id: str  # the catalogue's name of it
    nom: str
    secteur: str  # TRE_R02 SecteurActivite
    finess: str = ""  # FINESS of the ET (geographical entity)
    siret: str = ""
    finessEJ: str = ""  # the legal entity, for an establishment
    codePostal: str = ""
    ville: str = ""
    cleApi: str = ""  # its software's key (ESANTE-API-KEY or Bearer)
    cleAdministrateur: str = ""  # its administrator's key (scope administrateur-structure): RPPS+ declarations
    habiliteeInsi: bool = False

    @property
    def idnatstruct(self) -> str:
        return f"1{self.finess}" if self.finess else f"3{self.siret}"


STRUCTURES: tuple[Structure, ...] = tuple(
    Structure(**{**s, "cleApi": api_key(s["id"]), "cleAdministrateur": api_key(f"administrateur:{s['id']}")})  # type: ignore[arg-type]
    for s in (
        dict(
            id="chu",
            nom="CHU DU BAC A SABLE",
            secteur="SA01",
            finess=_luhn("75099001"),
            finessEJ=_luhn("75099000"),
            codePostal="75013",
            ville="PARIS",
            habiliteeInsi=True,
        ),
        dict(
            id="cabinet",
            nom="CABINET DU DR MEDECIN",
            secteur="SA07",
            siret=_luhn("9909900100001"),
            codePostal="69002",
            ville="LYON",
            habiliteeInsi=True,
        ),
        dict(
            id="pharmacie",
            nom="PHARMACIE DU BAC A SABLE",
            secteur="SA33",
            finess=_luhn("69099001"),
            codePostal="69003",
            ville="LYON",
        ),
        dict(
            id="laboratoire",
            nom="LABORATOIRE DU BAC A SABLE",
            secteur="SA25",
            finess=_luhn("13099001"),
            codePostal="13001",
            ville="MARSEILLE",
            habiliteeInsi=True,
        ),
        dict(
            id="ehpad",
            nom="EHPAD DU BAC A SABLE",
            secteur="SA17",
            finess=_luhn("33099001"),
            codePostal="33000",
            ville="BORDEAUX",
            habiliteeInsi=True,
        ),
        dict(  # the observatory's reader (issue 23 §4): a State's regional agency, not a care structure
            id="ars",
            nom="ARS DU BAC A SABLE",
            secteur="SA26",  # TRE_R02: ministère ou service déconcentré
            siret=_luhn("9909900300001"),
            codePostal="75019",
            ville="PARIS",
        ),
    )
)


@dataclass(frozen=True)
class Software:
    idam: str
    nom: str
    editeur: str
    version: str


SOFTWARE = Software("BAC-A-SABLE-LPS-1", "Logiciel du bac à sable", "Éditeur de test", "1.0")


@dataclass(frozen=True)
class PscClient:
    nom: str
    client_id: str
    client_secret: str
    redirectUris: tuple[str, ...]
    postLogoutRedirectUris: tuple[str, ...]
    ciba: bool


PSC_CLIENT = PscClient(
    "Logiciel du bac a sable",
    "bac-a-sable-lps",
    client_secret("bac-a-sable-lps"),
    ("http://localhost:8000/callback", "http://127.0.0.1:8000/callback", "https://lps.example/callback"),
    ("http://localhost:8000/",),
    True,
)


# --- professionals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Professional:
    """A test professional. A health professional is the RPPS's (`maison admin professionnel`); a
    non-health one (`rppsPlus`) is declared by his employer's administrator key to RPPS+ and validated
    by the registry's manager, whose number he then has (`maison.identite.annuaire.rpps_plus`): his
    `profession` is the role declared (TRE_R85), his `rpps` the one RPPS+ gives in the order of the
    catalogue, the same in every sandbox built on an empty data directory."""

    id: str
    profession: str  # TRE_G15, or the TRE_R85 role of a professional registered through RPPS+
    libelle: str
    rpps: str
    nom: str
    prenom: str
    structure: str  # the catalogue's structure id
    savoirFaire: str = ""  # TRE_R38
    rppsPlus: bool = False  # registered by the employer (RPPS+, seed 003 L1156)
    fonction: str = ""  # the role his situation d'exercice carries (PSC's codeRole), e.g. agent-ars
    civilite: str = ""  # M / MME: what the employer declares to RPPS+, with the birth date
    dateNaissance: str = ""
    motDePasse: str = ""
    eCpsSeed: str = ""

    @property
    def idnatps(self) -> str:
        return f"8{self.rpps}"

    @property
    def otpauth(self) -> str:
        return (
            f"otpauth://totp/Pro%20Sant%C3%A9%20Connect%20%28e-CPS%29:{self.idnatps}"
            f"?secret={self.eCpsSeed}&issuer=Pro%20Sant%C3%A9%20Connect%20%28e-CPS%29"
        )


def _professional(id_: str, profession: str, libelle: str, n: int, nom: str, prenom: str, structure: str, **kw: Any):
    return Professional(
        id_,
        profession,
        libelle,
        _luhn(f"99900{n:05d}"),
        nom,
        prenom,
        structure,
        motDePasse=password(id_),
        eCpsSeed=totp_seed(id_),
        **kw,
    )


def _declared(id_: str, role: str, libelle: str, n: int, nom: str, prenom: str, structure: str, **kw: Any):
    """The n-th professional the catalogue declares to RPPS+, numbered as the registry numbers him."""
    return Professional(
        id_,
        role,
        libelle,
        rpps_plus.number(n),
        nom,
        prenom,
        structure,
        rppsPlus=True,
        motDePasse=password(id_),
        eCpsSeed=totp_seed(id_),
        **kw,
    )


PROFESSIONALS: tuple[Professional, ...] = (
    _professional("generaliste", "10", "Médecin généraliste", 1, "MEDECIN", "GABRIELLE", "cabinet", savoirFaire="SM54"),
    _professional(
        "cardiologue", "10", "Médecin spécialiste (cardiologie)", 2, "COEUR", "HUGO", "chu", savoirFaire="SM04"
    ),
    _professional("pharmacien", "21", "Pharmacien d'officine", 3, "OFFICINE", "PAULINE", "pharmacie"),
    _professional("infirmier", "60", "Infirmier", 4, "SOIN", "ISMAEL", "chu"),
    _professional("kinesitherapeute", "70", "Masseur-kinésithérapeute", 5, "MOUVEMENT", "KARIM", "cabinet"),
    _professional("sage-femme", "50", "Sage-femme", 6, "NAISSANCE", "SOLENE", "chu"),
    _professional(
        "biologiste", "10", "Médecin biologiste", 7, "ANALYSE", "BERTRAND", "laboratoire", savoirFaire="SM03"
    ),
    _declared(
        "secretaire",
        "331",
        "Secrétaire médicale (RPPS+ : secrétaire assistante médico-administrative)",
        1,
        "ACCUEIL",
        "SARAH",
        "cabinet",
        civilite="MME",
        dateNaissance="1990-03-14",
    ),
    _declared(
        "educateur-specialise",
        "326",
        "Éducateur spécialisé (médico-social, RPPS+)",
        2,
        "SOCIAL",
        "MAEL",
        "ehpad",
        civilite="M",
        dateNaissance="1985-11-02",
    ),
    _professional(  # reads every structure's indicators at /observatoire (READER_ROLES: agent-ars)
        "agent-ars",
        "10",
        "Médecin inspecteur de santé publique (agent de l'ARS : observatoire)",
        8,
        "INSPECTION",
        "AGNES",
        "ars",
        fonction="agent-ars",
    ),
)


# --- patients ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    """A patient with a qualified identity (an INS of the referential) and a Mon espace santé account;
    `information` is the DMP's record of what the patient answered the structure that informed her
    (alimentation / consultation: TRE's non-informe, informe-non-oppose, informe-oppose), `etat` the
    dossier's state (active, opposed, closed)."""

    id: str
    ins: str
    nomNaissance: str
    prenoms: str
    sexe: str
    dateNaissance: str
    lieuNaissance: str
    identifiant: str
    motDePasse: str
    email: str
    etatDossier: str = "active"
    information: tuple[str, str] = ("non-informe", "non-informe")
    motifOpposition: str = ""
    medecinTraitant: str = ""  # a professional's catalogue id
    codeAcces: str = ""  # a delegation code given to `codeAccesPour`
    codeAccesPour: str = ""


def _patient(id_: str, ins: str, **kw: Any) -> Patient:
    t = next(i.traits for i in IDENTITIES if ins in (i.matricule, i.replaced_by))
    return Patient(
        id_,
        ins,
        t.nom_naissance,
        t.liste_prenoms,
        t.sexe,
        t.date_naissance,
        t.lieu_naissance or "",
        id_,
        password(f"patient:{id_}"),
        f"{id_}@patients.bac-a-sable.test",
        **kw,
    )


PATIENTS: tuple[Patient, ...] = (
    _patient(
        "sarah.garcia",
        "277010115400329",
        information=("informe-non-oppose", "informe-non-oppose"),
        medecinTraitant="generaliste",
        codeAcces=delegation_code("sarah.garcia"),
        codeAccesPour="cardiologue",
    ),
    _patient("dominique.pat-trois", "279035121518989", information=("informe-non-oppose", "informe-non-oppose")),
    _patient("alice.dupont", _nir("2900675056012")),
    _patient(
        "paul-antoine.santoni",
        _nir("182072A004123"),
        information=("informe-oppose", "informe-non-oppose"),
        motifOpposition="motif légitime invoqué auprès du médecin (test)",
    ),
    _patient(
        "thi-hoa.nguyen",
        _nir("2880999243051"),
        information=("informe-non-oppose", "informe-oppose"),
    ),
    _patient("jean-baptiste.delafontaine", _nir("1551269123078"), etatDossier="closed"),
    _patient("anne-sophie.dalmeida", _nir("2680813055089"), etatDossier="opposed"),
    _patient("carlos.rodriguez", NIR_ABROAD, information=("informe-non-oppose", "informe-non-oppose")),
)


DOCUMENT_ROOT = "1.2.250.1.999.7.2026"  # the sandbox documents' unique ids (an OID arc of test data)
DOCUMENTS: tuple[Document, ...] = (
    Document("sarah.garcia", f"{DOCUMENT_ROOT}.1", "11490-0", "Lettre de liaison à la sortie"),
    Document("sarah.garcia", f"{DOCUMENT_ROOT}.2", "11488-4", "Consultation de cardiologie", ("MASQUE_PS",)),
    Document("sarah.garcia", f"{DOCUMENT_ROOT}.3", "18748-4", "Échographie cardiaque", ("INVISIBLE_PATIENT",)),
    Document("dominique.pat-trois", f"{DOCUMENT_ROOT}.4", "11490-0", "Lettre de liaison à la sortie"),
)


# --- MSSanté: operators of the trust space and their mailboxes --------------------------------------

MSS_PORT = 42500  # default first port of the operators' listeners (`maison sandbox --mss-port`)


@dataclass(frozen=True)
class MssOperator:
    """A local operator (its listeners on 127.0.0.1): relay between operators over mutual TLS,
    submission (STARTTLS + AUTH) and IMAP (STARTTLS)."""

    id: str
    nom: str
    domaine: str
    relais: int
    soumission: int
    imap: int


@dataclass(frozen=True)
class Mailbox:
    """A mailbox: PER (a professional's, who logs in with his Pro Santé Connect token, SASL XOAUTH2 or
    OAUTHBEARER), ORG (a structure's), APP (a structure's software, which logs in with its password)."""

    adresse: str
    operateur: str
    type: str
    titulaire: str  # the catalogue id of a professional (PER) or of a structure
    nom: str
    motDePasse: str = ""


def mss_operators(first_port: int) -> tuple[MssOperator, ...]:
    return tuple(
        MssOperator(id_, nom, domaine, first_port + 10 * i, first_port + 10 * i + 1, first_port + 10 * i + 2)
        for i, (id_, nom, domaine) in enumerate(
            (
                ("bac-a-sable-hopital", "Opérateur MSSanté du CHU du bac à sable", "chu.bac-a-sable.mssante.fr"),
                ("bac-a-sable-ville", "Opérateur MSSanté de ville du bac à sable", "ville.bac-a-sable.mssante.fr"),
            )
        )
    )


_HOSPITAL, _CITY = "chu.bac-a-sable.mssante.fr", "ville.bac-a-sable.mssante.fr"
MAILBOXES: tuple[Mailbox, ...] = (
    Mailbox(f"hugo.coeur@{_HOSPITAL}", "bac-a-sable-hopital", "PER", "cardiologue", "Dr Hugo COEUR"),
    Mailbox(f"ismael.soin@{_HOSPITAL}", "bac-a-sable-hopital", "PER", "infirmier", "Ismael SOIN"),
    Mailbox(f"secretariat.cardiologie@{_HOSPITAL}", "bac-a-sable-hopital", "ORG", "chu", "Secrétariat de cardiologie"),
    Mailbox(f"pfi@{_HOSPITAL}", "bac-a-sable-hopital", "APP", "chu", "PFI du CHU", password("bal:pfi@chu")),
    Mailbox(f"gabrielle.medecin@{_CITY}", "bac-a-sable-ville", "PER", "generaliste", "Dr Gabrielle MEDECIN"),
    Mailbox(f"pauline.officine@{_CITY}", "bac-a-sable-ville", "PER", "pharmacien", "Pauline OFFICINE"),
    Mailbox(f"pharmacie@{_CITY}", "bac-a-sable-ville", "ORG", "pharmacie", "Pharmacie du bac à sable"),
    Mailbox(f"lgc@{_CITY}", "bac-a-sable-ville", "APP", "cabinet", "Logiciel du cabinet", password("bal:lgc@cabinet")),
)


# --- the base ordonnance numérique -------------------------------------------------------------------

BUILD_DAY = "jour de la construction"  # an open prescription is dated the day its sandbox is built
PARACETAMOL = "3400930000014"  # CIP13 (34009…, EAN-13 key), as the demo prescribes
AMOXICILLINE = "3400930000021"


def prescription_number(name: str) -> str:
    digest = derive("ordonnance", name)
    return number_of("".join(ALPHABET[b % len(ALPHABET)] for b in digest[: LENGTH - 2]))


@dataclass(frozen=True)
class PrescribedMedicine:
    libelle: str
    cip13: str
    quantite: int
    substituable: bool = True  # False: « non substituable » (NON) printed on the line


@dataclass(frozen=True)
class Ordonnance:
    """A prescription of the base: its number (what the QR code carries), the patient's OUI/NON to the
    prescriber seeing its execution (001 L408), its state and, when partly dispensed, what was given."""

    id: str
    numero: str
    prescripteur: str  # a professional's catalogue id
    consentement: str  # OUI / NON
    prescriteLe: str  # an ISO date, or BUILD_DAY
    etat: str  # ouverte, partiellement-delivree, expiree
    lignes: tuple[PrescribedMedicine, ...]
    delivre: tuple[int, ...] = ()  # quantity given per line so far (partly dispensed)
    dispensateur: str = ""


ORDONNANCES: tuple[Ordonnance, ...] = (
    Ordonnance(
        "ouverte-oui",
        prescription_number("ouverte-oui"),
        "generaliste",
        "OUI",
        BUILD_DAY,
        "ouverte",
        (PrescribedMedicine("PARACETAMOL 1 g, comprimé", PARACETAMOL, 2),),
    ),
    Ordonnance(
        "partielle-non",
        prescription_number("partielle-non"),
        "generaliste",
        "NON",
        BUILD_DAY,
        "partiellement-delivree",
        (PrescribedMedicine("AMOXICILLINE 1 g, comprimé", AMOXICILLINE, 3, substituable=False),),
        delivre=(1,),
        dispensateur="pharmacien",
    ),
    Ordonnance(
        "expiree",
        prescription_number("expiree"),
        "generaliste",
        "OUI",
        "2025-01-06",  # first execution within 3 months (CSP R.5132-22): long past
        "expiree",
        (PrescribedMedicine("PARACETAMOL 1 g, comprimé", PARACETAMOL, 1),),
    ),
)


# --- where each service is and how a client authenticates to it ------------------------------------


@dataclass(frozen=True)
class Service:
    service: str
    chemin: str  # under the house's public URL
    authentification: str


SERVICES: tuple[Service, ...] = (
    Service(
        "INSi",
        "/insi/lps",
        "SOAP 1.2 (WSDL : /insi/lps?wsdl) ou JSON (/insi/json/rechercherInsAvecTraitsIdentite) ; certificat "
        "logiciel de la structure (maison insi-certificat) ou, en développement, insi_dev_sans_certificat "
        "depuis la machine locale ; structure habilitée et IDAM du logiciel dans ContexteLPS",
    ),
    Service("Annuaire Santé", "/annuaire", "clé API de la structure : en-tête ESANTE-API-KEY"),
    Service(
        "Pro Santé Connect",
        "/psc/auth/realms/esante-wallet",
        "OpenID Connect (code, CIBA) avec le client PSC ; professionnel : mot de passe de test ou code e-CPS (TOTP)",
    ),
    Service(
        "DMP", "/dmp", "Authorization: Bearer <jeton d'accès Pro Santé Connect> ; patient : jeton Mon espace santé"
    ),
    Service(
        "Mon espace santé",
        "/mes",
        "identifiant et mot de passe, puis le code à usage unique lu dans /admin/boite-envoi ; "
        "Authorization: Bearer <jeton patient> sur /espace et /dmp",
    ),
    Service("MSSanté", "/espace/messagerie", "jeton Pro Santé Connect (SMTP/IMAP : SASL OAUTHBEARER ou XOAUTH2)"),
    Service("Ordonnance numérique", "/ordonnance", "Authorization: Bearer <jeton Pro Santé Connect>"),
    Service(
        "Administration",
        "/admin",
        "jeton administrateur affiché une fois au premier « maison serve » (Authorization: Bearer)",
    ),
)


# --- the whole catalogue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    environnement: str
    insi: tuple[InsiCase, ...]
    structures: tuple[Structure, ...]
    logiciel: Software
    clientPsc: PscClient
    professionnels: tuple[Professional, ...]
    patients: tuple[Patient, ...]
    documents: tuple[Document, ...]
    operateursMss: tuple[MssOperator, ...]
    bal: tuple[Mailbox, ...]
    ordonnances: tuple[Ordonnance, ...]
    services: tuple[Service, ...] = SERVICES
    version: int = VERSION
    graine: str = SEED.decode()
    avertissement: str = field(
        default="Bac à sable de test : tous les secrets sont dérivés d'une graine publiée (HMAC-SHA256). "
        "Ne jamais y mettre de données réelles."
    )

    def structure(self, id_: str) -> Structure:
        return next(s for s in self.structures if s.id == id_)

    def patient(self, id_: str) -> Patient:
        return next(p for p in self.patients if p.id == id_)

    def professional(self, id_: str) -> Professional:
        return next(p for p in self.professionnels if p.id == id_)

    def as_dict(self) -> dict[str, Any]:
        """The catalogue as published: each item with its derived identifiers (IdNatStruct, IdNatPS, otpauth)."""
        out = asdict(self)
        for s, item in zip(self.structures, out["structures"], strict=True):
            item["idnatstruct"] = s.idnatstruct
        for pro, item in zip(self.professionnels, out["professionnels"], strict=True):
            where = self.structure(pro.structure).idnatstruct
            item |= {"idnatps": pro.idnatps, "idnatstruct": where, "otpauth": pro.otpauth}
        for patient, item in zip(self.patients, out["patients"], strict=True):
            item["oid"] = oid_of(patient.ins, Environment(self.environnement))
            if patient.medecinTraitant:
                item["medecinTraitant"] = self.professional(patient.medecinTraitant).idnatps
            if patient.codeAccesPour:
                item["codeAccesPour"] = self.professional(patient.codeAccesPour).idnatps
        for box, item in zip(self.bal, out["bal"], strict=True):
            item["titulaire"] = self.holder(box)
        for prescription, item in zip(self.ordonnances, out["ordonnances"], strict=True):
            item["prescripteur"] = self.professional(prescription.prescripteur).idnatps
            if prescription.dispensateur:
                item["dispensateur"] = self.professional(prescription.dispensateur).idnatps
        return out

    def holder(self, box: Mailbox) -> str:
        """The mailbox's holder as MSSanté names it: a professional's IdNatPS, a structure's IdNatStruct."""
        if box.type == "PER":
            return self.professional(box.titulaire).idnatps
        return self.structure(box.titulaire).idnatstruct

    def as_json(self) -> bytes:
        """Byte-stable JSON (sorted keys, two-space indent): two sandboxes' files compare equal."""
        return orjson.dumps(self.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def catalogue(environment: Environment, mss_port: int = MSS_PORT) -> Catalogue:
    return Catalogue(
        environment.value,
        insi_cases(environment),
        STRUCTURES,
        SOFTWARE,
        PSC_CLIENT,
        PROFESSIONALS,
        PATIENTS,
        DOCUMENTS,
        mss_operators(mss_port),
        MAILBOXES,
        ORDONNANCES,
    )
