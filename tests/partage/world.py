"""The DMP's test world: a patient known to the INS referential, professionals in the Annuaire with
their Pro Santé Connect tokens, a patient login, and a producer that builds real CDA documents."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.etablissement.psc.client import sign_in
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
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from tests.identite.helpers import SARAH, SARAH_NIR, nir

PASSWORD = "mot-de-passe-de-test-2026"
REDIRECT = "https://dpi.example.fr/callback"
NOW = "2026-11-01T08:00:00+00:00"
CHILD = nir("2150375056021")  # a minor (born 2015), Sarah's child
CHILD_TRAITS = Traits.of("GARCIA-HAMMADI", "LEA", "F", "2015-03-03", "75056")


def rpps(prefix10: str) -> str:
    return prefix10 + luhn_check_digit(prefix10)


@dataclass(frozen=True)
class Pro:
    key: str
    rpps: str
    family: str
    given: str
    profession: str
    structure: str
    structure_name: str
    specialty: Code

    @property
    def idnatps(self) -> str:
        return "8" + self.rpps

    def author(self) -> Professional:
        return Professional(self.idnatps, self.family, self.given, self.specialty, self.structure, self.structure_name)


HOPITAL, HOPITAL_NAME = "1750000019", "CHU DE TEST"
CABINET, CABINET_NAME = "399999999900019", "CABINET DR MARTIN"
PHARMACIE, PHARMACIE_NAME = "399999999800011", "PHARMACIE DU MARCHE"
CABINET_IDE, CABINET_IDE_NAME = "399999999700013", "CABINET INFIRMIER"
CABINET_DENTAIRE = "399999999600015"
MED = Code("G15_10/SM54", SYS_SPECIALTY, "Médecin - Médecine générale (SM)")
PROS = {
    p.key: p
    for p in (
        Pro(
            "hospitalier",
            rpps("1000000001"),
            "DURAND",
            "Paul",
            "10",
            HOPITAL,
            HOPITAL_NAME,
            Code("G15_10/SM26", SYS_SPECIALTY, "Médecin - Qualifié en médecine générale (SM)"),
        ),
        Pro("generaliste", rpps("1000000002"), "MARTIN", "Claire", "10", CABINET, CABINET_NAME, MED),
        Pro(
            "infirmier",
            rpps("1000000003"),
            "PETIT",
            "Luc",
            "60",
            CABINET_IDE,
            CABINET_IDE_NAME,
            Code("G15_60", SYS_SPECIALTY, "Infirmier"),
        ),
        Pro(
            "pharmacien",
            rpps("1000000004"),
            "LEROY",
            "Anne",
            "21",
            PHARMACIE,
            PHARMACIE_NAME,
            Code("G15_21", SYS_SPECIALTY, "Pharmacien"),
        ),
        Pro(
            "dentiste",
            rpps("1000000005"),
            "ROUX",
            "Marc",
            "40",
            CABINET_DENTAIRE,
            "CABINET DENTAIRE",
            Code("G15_40", SYS_SPECIALTY, "Chirurgien-dentiste"),
        ),
        Pro("secretaire", rpps("1000000006"), "BLANC", "Julie", "SECR", CABINET, CABINET_NAME, MED),
        Pro("urgentiste", rpps("1000000007"), "FAURE", "Nina", "10", HOPITAL, HOPITAL_NAME, MED),
    )
}
SARAH_ID = PatientIdentity(SARAH_NIR, OID_INS_NIR_TEST, "GARCIA-HAMMADI", "SARAH-LOU ANNA", "F", "1977-01-21", "01154")
CHILD_ID = PatientIdentity(CHILD, OID_INS_NIR_TEST, "GARCIA-HAMMADI", "LEA", "F", "2015-03-03", "75056")
LETTRE = Code("11490-0", LOINC, "Lettre de liaison à la sortie d'un établissement de soins")
SETTING = Code("ETABLISSEMENT", SYS_PRACTICE, "Etablissement de santé")
FACILITY = Code("SA01", SYS_FACILITY, "Etablissement public de santé")
_serial = iter(range(1, 10**9))


def unique_oid() -> str:
    return f"1.2.250.1.999.1.{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}.{next(_serial)}"


def n1(
    author: Pro,
    *,
    patient: PatientIdentity = SARAH_ID,
    type_: Code = LETTRE,
    title: str = "Lettre de liaison",
    replaces: str | None = None,
    created: datetime | None = None,
    pdf_bytes: int = 0,
) -> bytes:
    created = created or datetime.now(UTC).replace(microsecond=0)
    pdf = document_pdf(title, [("Synthèse", [f"Document de test pour {patient.birth_family}."])], min_bytes=pdf_bytes)
    oid = unique_oid()
    header = DocumentHeader(
        oid,
        oid + ".0",
        1,
        type_,
        title,
        created,
        patient,
        author.author(),
        type_,
        created - timedelta(days=2),
        created,
        SETTING,
        FACILITY,
        replaces=replaces,
    )
    return n1_from_pdf(header, pdf)


@dataclass
class World:
    house: object
    base: str
    tokens: dict[str, str] = field(default_factory=dict)
    sign_in_again: Callable[[str], str] | None = None  # a professional's fresh access token (make_world's)
    signed_in_at: dict[str, float] = field(default_factory=dict)

    def renew(self, max_age: float = 60.0) -> World:
        """Sign in again the professionals whose token is `max_age` seconds old: Pro Santé Connect's
        access tokens last 120 s (ACCESS_TTL), and a world a module's tests share outlives them."""
        assert self.sign_in_again is not None, "a world made by make_world"
        for key in self.tokens:
            if time.monotonic() - self.signed_in_at.get(key, 0.0) > max_age:
                self.tokens[key] = self.sign_in_again(key)
                self.signed_in_at[key] = time.monotonic()
        return self

    def headers(self, key: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[key]}", **extra}

    def client(self, key: str, **extra: str) -> httpx.Client:
        return httpx.Client(base_url=f"{self.base}/dmp", headers=self.headers(key, **extra), timeout=30)

    def provide(self, key: str, documents: list[Produced], **extra: str) -> httpx.Response:
        return self.client(key, **extra).post(
            "", json=provide_bundle(documents), headers={"Content-Type": "application/fhir+json"}
        )

    def inform(
        self,
        key: str,
        ins: str = SARAH_NIR,
        *,
        alimentation: str = "permit",
        consultation: str = "permit",
        motif: str = "",
    ) -> httpx.Response:
        consent = {
            "resourceType": "Consent",
            "status": "active",
            "patient": {"identifier": {"system": f"urn:oid:{OID_INS_NIR_TEST}", "value": ins}},
            "provision": {
                "type": "permit",
                "provision": [
                    {"type": alimentation, "action": [{"coding": [{"code": "alimentation"}]}]},
                    {"type": consultation, "action": [{"coding": [{"code": "consultation"}]}]},
                ],
            },
        }
        if motif:
            consent["extension"] = [{"url": "urn:maison:dmp:motif-opposition-alimentation", "valueString": motif}]
        return self.client(key).post("/Consent", json=consent)

    def search(self, key: str, ins: str = SARAH_NIR, **params: str) -> httpx.Response:
        extra = {k: v for k, v in params.items() if k.startswith("X-")}
        query = {
            "patient.identifier": f"urn:oid:{OID_INS_NIR_TEST}|{ins}",
            "status": "current",
            **{k.replace("_", "-"): v for k, v in params.items() if not k.startswith("X-")},
        }
        return self.client(key, **extra).get("/DocumentReference", params=query)

    def patient_token(self, user: str = "sarah.garcia", recipient: str = "sarah@example.fr") -> str:
        login = self.house.patient_login
        started = httpx.post(f"{self.base}/mes/connexion", json={"identifiant": user, "motDePasse": PASSWORD})
        assert started.status_code == 202, started.text
        code = re.search(r"\b(\d{6})\b", login.outbox(recipient)[-1]["body"]).group(1)
        done = httpx.post(
            f"{self.base}/mes/connexion/code", json={"transaction": started.json()["transaction"], "code": code}
        )
        assert done.status_code == 200, done.text
        return done.json()["access_token"]


def make_world(house, live, keys: tuple[str, ...] = tuple(PROS)) -> World:
    house.insi.referential.register(SARAH, SARAH_NIR)
    house.insi.referential.register(CHILD_TRAITS, CHILD)
    orgs = [
        build.organization(HOPITAL, HOPITAL_NAME, NOW, secteur="SA01", city="PARIS", postal_code="75013", insee="75113")
    ]
    for sid, name in (
        (CABINET, CABINET_NAME),
        (PHARMACIE, PHARMACIE_NAME),
        (CABINET_IDE, CABINET_IDE_NAME),
        (CABINET_DENTAIRE, "CABINET DENTAIRE"),
    ):
        orgs.append(
            build.organization(
                sid,
                name,
                NOW,
                siret=sid[1:],
                entity="LEGAL-ENTITY",
                secteur="SA07",
                city="LYON",
                postal_code="69002",
                insee="69382",
            )
        )
    with house.db.write() as conn:
        put(conn, orgs)
        for i, pro in enumerate(PROS.values()):
            put(conn, [build.practitioner(pro.rpps, pro.family, pro.given, "DR", pro.profession, "C", None, NOW)])
            put(
                conn,
                [
                    build.practitioner_role(
                        f"20000000{i:02d}",
                        pro.idnatps,
                        pro.structure,
                        NOW,
                        fonction=None,
                        mode="S" if pro.structure == HOPITAL else "L",
                    )
                ],
            )
    client_id, secret = house.psc.register_client("DPI de test", [REDIRECT])

    def signed_in(key: str) -> str:
        return sign_in(live.url, client_id, secret, REDIRECT, PROS[key].idnatps, password=PASSWORD)["access_token"]

    world = World(house, live.url, sign_in_again=signed_in)
    for key in keys:
        house.psc.set_test_password(PROS[key].idnatps, PASSWORD)
        world.tokens[key], world.signed_in_at[key] = signed_in(key), time.monotonic()
    login = house.patient_login
    login.open_account("sarah.garcia", SARAH_NIR, "1977-01-21", PASSWORD, email="sarah@example.fr")
    login.open_account("lea.garcia", CHILD, "2015-03-03", PASSWORD, phone="+33612345678")
    login.declare_representative(SARAH_NIR, CHILD, "parent")
    return world
