"""SUN-ES usage indicators (seed 004 L185-207; issue 23 §1.1-1.2) counted from what happened: a small
world built by the real flows — the GAM's PAM messages through `Sejours.receive`, the DPI's documents
to the PFI over HL7 v2, fed by the PFI to the DMP (PDSm over HTTP) and sent by MSSanté (SMTP) — then
every DS figure checked against hand-counted values, and every explanation's reasons; the same figures
served over HTTP by the running house (the JSON report, the FHIR MeasureReports, the HTML page), signed.

The world is built once per backend on the module's house (module_live): the flows, a first fold, then
the records that contradict it (`built`). The module's other tests read structures and a GHT of their
own, which the world's stays do not touch."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from lxml import html

from maison.core import audit
from maison.core.actor import Actor
from maison.core.auth import issue_key
from maison.core.errors import InvalidInput, NotFound
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.dmp.producer import Produced
from maison.etablissement.pfi.hl7_documents import Hl7Documents
from maison.formats.cda.build import DocumentHeader, n1_from_pdf
from maison.formats.cda.header import Code
from maison.formats.hl7v2 import pam
from maison.formats.hl7v2.listener import parse as parse_pam
from maison.formats.mime import CITIZEN_DOMAIN
from maison.formats.pdf import document_pdf
from maison.identite.psc.api import issuer_for
from maison.observatoire.report import Period
from maison.observatoire.sunes.model import FILTERS, Scope
from maison.observatoire.sunes.service import SunEs
from tests.e2e.dpi import Dpi
from tests.e2e.test_dmp_n1_n3 import BIO, PAT_TROIS, PAT_TROIS_INS
from tests.etablissement.pfi.test_hl7_documents import channels_for, settled
from tests.etablissement.pfi.test_hl7_request import message_text, parse
from tests.etablissement.sejours.messages import FINESS, adt, pid
from tests.partage.mss_world import GP, start_world
from tests.partage.world import FACILITY, HOPITAL, PROS, SARAH_ID, SETTING, make_world, n1, unique_oid

LOINC = "2.16.840.1.113883.6.1"
ORDONNANCE = Code("57833-6", LOINC, "Prescription de produits de santé")
CRO = Code("34874-8", LOINC, "CR opératoire")
IMAGERIE = Code("18748-4", LOINC, "CR d'imagerie médicale")
IDE = "nadia.petit@medecin.mssante.fr"  # a second correspondent (PER)
UNKNOWN = "x@inconnu.mssante.fr"  # an address no operator serves: the sending fails
SECRETARIAT = "secretariat@medecin.mssante.fr"  # an ORG mailbox: not a correspondent of DS4.1
SARAH_BOX = f"{SARAH_ID.ins}@{CITIZEN_DOMAIN}"
ARS = Actor(person="agent-ars", structure="ARS-IDF", software="observatoire")
STAFF = Actor(person="899900038441", structure=HOPITAL, software="dpi")
TODAY = date.today()
CURRENT = Period.semester_of(TODAY)
PREVIOUS = Period.semester_of(CURRENT.start - timedelta(days=1))


def _hl7(day: date, hour: int) -> str:
    return f"{day:%Y%m%d}{hour:02d}0000"


class World:
    """The structure HOPITAL (or another one's GAM): its GAM, its PFI (DMP + MSSanté), and the DPI's messages."""

    def __init__(self, house, receiver: Hl7Documents, dmp=None, *, structure: str = HOPITAL) -> None:
        self.house, self.receiver, self.dmp, self.structure = house, receiver, dmp, structure
        self.control = 0
        self.cro = b""
        self.direct_ids: list[str] = []

    def pam(self, event: str, stay: str, ipp: str, *, day: date, movement: str, action: str = "INSERT") -> None:
        self.control += 1
        patient = pid(ipp=ipp, status="PROV", ins="", name=f"PATIENT-{ipp}")
        text = adt(event, f"G{self.control}", stay=stay, movement=movement, action=action, at=_hl7(day, 10),
                   patient=patient, structure=self.structure)  # fmt: skip
        self.house.sejours.receive(pam.read(parse_pam(text.replace(FINESS, self.structure))))

    def merge(self, survivor: str, absorbed: str) -> None:
        self.control += 1
        patient = pid(ipp=survivor, status="PROV", ins="", name=f"PATIENT-{survivor}")
        text = adt("A40", f"G{self.control}", stay="", movement="", patient=patient, mrg=absorbed,
                   structure=self.structure)  # fmt: skip
        self.house.sejours.receive(pam.read(parse_pam(text.replace(FINESS, self.structure))))

    def stay(self, number: str, ipp: str, admitted: date, discharged: date | None) -> None:
        self.pam("A01", number, ipp, day=admitted, movement=f"{number}-1")
        if discharged is not None:
            self.pam("A03", number, ipp, day=discharged, movement=f"{number}-2")

    def send(self, cda: bytes, stay: str, *, status: str = "QUAL", ins: str = SARAH_ID.ins, **kw) -> str:
        self.control += 1
        control = f"D{self.control}"
        text = message_text(cda, ins=ins, ins_oid=OID_INS_NIR_TEST, stay=stay, stay_authority=f"CHU-X&{HOPITAL}&M",
                            ins_status=status, control_id=control, **kw)  # fmt: skip
        self.receiver.handle(parse(text))
        doc, legs = settled(self.house, control)
        return doc.unique_id


@contextmanager
def opened(house, live, tmp_path) -> Iterator[World]:
    """The world's people and channels on `house` served at `live.url`, closed on leaving."""
    dmp_world = make_world(house, live, keys=("hospitalier", "generaliste"))
    assert dmp_world.inform("hospitalier").status_code == 201
    house.insi.referential.register(
        Traits.of("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"), PAT_TROIS_INS
    )
    assert dmp_world.inform("hospitalier", PAT_TROIS_INS).status_code == 201
    mss = start_world(house, tmp_path, issuer_for(live.url))
    mss.mss.mailboxes.create(audit.SYSTEM, IDE, "medecins", "PER", PROS["infirmier"].idnatps, "PETIT Nadia")
    mss.mss.mailboxes.create(audit.SYSTEM, SECRETARIAT, "medecins", "ORG", PROS["generaliste"].structure, "Secrétariat")
    dpi = Dpi()
    receiver = Hl7Documents(house.db, house.mss.blobs, channels_for(dmp_world, mss, dpi))
    try:
        yield World(house, receiver, dmp_world)
    finally:
        receiver.close()
        dpi.close()
        mss.close()


@pytest.fixture
def world(house, live, tmp_path):
    """A test's own world on its own house (the portal's tests build it so)."""
    with opened(house, live, tmp_path) as made:
        yield made


def letter(type_: Code | None = None, **kw) -> bytes:
    return n1(PROS["hospitalier"], **({"type_": type_} if type_ else {}), **kw)


def build(world: World, reference_path) -> dict[str, str]:
    """The world, hand-counted below. Stays of the current semester C unless said:
    S1 P1 discharged: letter N1 QUAL, ordonnance N1 QUAL, sent to the GP (QUAL), to an ORG mailbox and
       to the patient;
       its imaging report N1 QUAL; a biology report as N1 only (N3 required)
    S2 P2 discharged: letter N1 with PID-32 VALI (not qualified), sent to the nurse (VALI) and to
       the patient's citizen address named in PRT (DS4.2 has no INS condition); imaging report VALI,
       replaced by a new version (T10)
    S3 P3 discharged: a CRO fed then deleted (T04); the biology report N1+N3 QUAL; a letter sent to an
       address nobody serves (the sending fails), not to the DMP
    S4 P3 admitted and discharged before S3, its letter fed — then (`later_records`) its discharge
       and its admission cancelled (A13, A11)
    S5 P1 again (a patient who came before: S1's documents are fed after S5's admission)
    S6 P2 again (S2's documents carry no qualified INS)
    S7 P4 in the previous semester: its letter fed now, after that period's end
    S8 P5 admitted, not discharged
    S9 P6 in the previous semester, S10 P7 — then (`later_records`) P6 merged into P7 (A40): S10 is a
       returning patient's stay."""
    c = CURRENT.start
    world.stay("S4", "P3", c + timedelta(days=1), c + timedelta(days=2))
    world.stay("S1", "P1", c + timedelta(days=2), c + timedelta(days=4))
    world.stay("S2", "P2", c + timedelta(days=2), c + timedelta(days=5))
    world.stay("S3", "P3", c + timedelta(days=3), c + timedelta(days=6))
    world.stay("S7", "P4", PREVIOUS.start + timedelta(days=10), PREVIOUS.start + timedelta(days=12))
    world.stay("S9", "P6", PREVIOUS.start + timedelta(days=20), PREVIOUS.start + timedelta(days=21))
    world.stay("S10", "P7", c + timedelta(days=3), c + timedelta(days=4))
    ids = {}
    ids["s1-letter"] = world.send(letter(), "S1", flags={"DESTMSSANTEPS": "Y", "DESTMSSANTEPAT": "Y"},
                                  recipients=(GP, SECRETARIAT))  # fmt: skip
    ids["s1-ordonnance"] = world.send(letter(ORDONNANCE, title="Ordonnance de sortie"), "S1")
    ids["s1-imaging"] = world.send(letter(IMAGERIE, title="CR d'imagerie"), "S1")
    ids["s1-bio-n1"] = world.send(letter(BIO, title="CR de biologie"), "S1")
    ids["s2-letter"] = world.send(letter(), "S2", status="VALI",
                                  flags={"DESTMSSANTEPS": "Y", "DESTMSSANTEPAT": "Y"}, recipients=(IDE,),
                                  patient_recipient=SARAH_BOX)  # fmt: skip
    ids["s2-imaging"] = world.send(letter(IMAGERIE, title="CR d'imagerie"), "S2", status="VALI")
    replaced = ids["s2-imaging"]  # a new version of it (T10): one report, not two
    ids["s2-imaging-v2"] = world.send(letter(IMAGERIE, title="CR d'imagerie", replaces=replaced), "S2",
                                      status="VALI", event="T10", txa13=replaced)  # fmt: skip
    cro = letter(CRO, title="CR opératoire")
    ids["s3-cro"] = world.send(cro, "S3")
    world.cro = cro  # withdrawn later (`later_records`)
    ids["s3-bio"] = _send_bio(world, "S3", reference_path)
    world.send(letter(), "S3", flags={"DESTMSSANTEPS": "Y", "DESTDMP": "N"}, recipients=(UNKNOWN,))
    ids["s4-letter"] = world.send(letter(), "S4")
    ids["s7-letter"] = world.send(letter(), "S7")
    return ids


def direct(world: World, type_: Code, stay: str | None, replaces: tuple[str, str] | None = None) -> tuple[str, str]:
    """A document the structure's software feeds to the DMP itself (PDSm ITI-65, not through the PFI),
    its stay in componentOf/encompassingEncounter/id; `replaces`: the CDA id and DocumentReference of
    the version it replaces. Its id and its DocumentReference."""
    created = datetime.now(UTC).replace(microsecond=0)
    oid = unique_oid()
    pro = PROS["hospitalier"]
    header = DocumentHeader(oid, oid + ".0", 1, type_, "Document", created, SARAH_ID, pro.author(), type_,
                            created - timedelta(days=1), created, SETTING, FACILITY,
                            encounter_id=(f"1.2.250.1.999.{HOPITAL}", stay) if stay else None,
                            replaces=replaces[0] if replaces else None)  # fmt: skip
    pdf = document_pdf("Document", [("Synthèse", ["Document de test."])])
    produced = Produced(n1_from_pdf(header, pdf), replaces=replaces[1] if replaces else None)
    answer = world.dmp.provide("hospitalier", [produced])
    assert answer.status_code == 200, answer.text
    [reference] = [
        e["response"]["location"] for e in answer.json()["entry"]
        if e["response"]["location"].startswith("DocumentReference/")
    ]  # fmt: skip
    return oid, reference.split("/_history")[0]


def _send_bio(world: World, stay: str, reference_path) -> str:
    level1 = n1(PROS["hospitalier"], patient=PAT_TROIS, type_=BIO, title="CR de biologie")
    level3 = (reference_path / "cisis" / "ExemplesCDA" / "BIO-CR-BIO_2024.01_Glycémie_mole.xml").read_bytes()
    world.control += 1
    control = f"D{world.control}"
    message = message_text(level1, ins=PAT_TROIS_INS, ins_oid=OID_INS_NIR_TEST, control_id=control, oru=True,
                           stay=stay, stay_authority=f"CHU-X&{HOPITAL}&M")  # fmt: skip
    first = next(line for line in message.split("\r") if line.startswith("OBX|1|ED|"))
    second = (
        f"OBX|2|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^{base64.b64encode(level3).decode()}||||||F|"
    )
    world.receiver.handle(parse(message.replace(first, first + "\r" + second)))
    doc, [leg] = settled(world.house, control)
    assert leg.state == "accepte", leg.detail
    return doc.unique_id


def later_records(world: World, reference_path) -> None:
    """After a first fold: records that contradict what was folded — S3's CRO withdrawn from the DMP
    (T04), S4's discharge and admission cancelled (A13, A11) — and new stays; S5's letter, an imaging
    report and a biology report (N1 + N3) without a stay are fed by the DPI itself, not by the PFI."""
    c = CURRENT.start
    world.send(world.cro, "S3", event="T04")
    world.pam("A13", "S4", "P3", day=c + timedelta(days=2), movement="S4-2", action="CANCEL")
    world.pam("A11", "S4", "P3", day=c + timedelta(days=1), movement="S4-1", action="CANCEL")
    world.merge(survivor="P7", absorbed="P6")
    world.stay("S5", "P1", c + timedelta(days=7), c + timedelta(days=8))
    world.stay("S6", "P2", c + timedelta(days=7), c + timedelta(days=9))
    world.stay("S8", "P5", c + timedelta(days=8), None)
    direct(world, Code("11490-0", LOINC, "Lettre de liaison à la sortie d'un établissement de soins"), "S5")
    first = direct(world, IMAGERIE, None)
    world.direct_ids = [first[0], direct(world, IMAGERIE, None, replaces=first)[0]]  # a new version (RPLC)
    glycemie = (reference_path / "cisis" / "ExemplesCDA" / "BIO-CR-BIO_2024.01_Glycémie_mole.xml").read_bytes()
    glycemie = glycemie.replace(
        b'<id root="1.2.250.1.213.1.1.1.55.2024.7.1"/>', f'<id root="{unique_oid()}"/>'.encode()
    )
    level1 = n1(PROS["hospitalier"], patient=PAT_TROIS, type_=BIO, title="CR de biologie")
    pair = world.dmp.provide("hospitalier", [Produced(level1), Produced(glycemie, transforms=0)])
    assert pair.status_code == 200, pair.text  # a biology report, N1 and its N3, fed directly


FIGURES = {  # hand-counted from `build`'s docstring: (numerator, denominator) for the current semester
    # S1, S5 (fed directly); S2 VALI, S3's went by MSSanté only, S6 and S10 none; S4 cancelled, S8 not over: out
    "DS1.1": (2, 6),
    "DS1.2": (1, 6),  # S1's ordonnance
    "DS1.3": (0, 6),  # S3's CRO was withdrawn
    # S5 (S1's letter fed after S5's admission) of S5, S6, S10 (P6 merged into P7); S3's earlier S4 was cancelled
    "DS1.4": (1, 3),
    "DS2.1": (2, 3),  # the N1+N3 of S3 and the one fed directly; S1's is N1 only
    "DS3.1": (2, 3),  # S1's and the one fed directly; S2's is VALI
    "DS4.1": (1, 3),  # the GP; the nurse got a VALI document, the unknown address failed; ORG left out
    "DS4.2": (2, 6),  # S1 and S2 (VALI: no INS condition)
}


def sunes_of(house) -> SunEs:
    """The house's SUN-ES, the MSSanté directory's mailbox types wired as the house does."""

    def kind(address: str) -> str | None:
        box = house.mss.mailboxes.find(address)
        return box.kind if box is not None else None

    return SunEs(house.db, house.sejours, house.settings, mailbox_kind=kind)


def figures(report) -> dict[str, tuple[int, int]]:
    return {r.indicator.code: (r.numerator, r.denominator) for r in report.results}


@dataclass(frozen=True)
class Built:
    """The module's world once `build` and `later_records` made it, and the figures of the fold between."""

    world: World
    ids: dict[str, str]
    first: dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def built(module_live, reference_path, tmp_path_factory) -> Iterator[Built]:
    """The world of `build`, folded once (`first`), then `later_records`' contradicting records: what
    the module's two tests of it read, one house and one world per backend (the flows cost seconds)."""
    with opened(module_live.house, module_live, tmp_path_factory.mktemp("sunes")) as world:
        ids = build(world, reference_path)
        first = figures(sunes_of(world.house).compute(STAFF, Scope.structure(HOPITAL), CURRENT))  # a first fold
        later_records(world, reference_path)
        yield Built(world, ids, first)


def test_each_indicator_and_its_explanation_from_the_real_flows(built):
    world, ids, house = built.world, built.ids, built.world.house
    sunes = sunes_of(house)
    me = STAFF
    first = built.first  # folded after `build`, before `later_records`
    # S1..S4 and S10 discharged; S4's letter counts, S3's CRO too (not yet withdrawn), S3 returns after S4
    assert (first["DS1.1"], first["DS1.3"], first["DS1.4"]) == ((2, 5), (1, 5), (1, 1))
    report = sunes.compute(me, Scope.structure(HOPITAL), CURRENT)
    assert figures(report) == FIGURES
    assert report.result("DS1.1").rate == 33.3 and report.result("DS1.1").target == 50
    assert report.result("DS1.1").met is False and report.result("DS4.1").rate == 33.3
    assert report.result("DS2.1").met is True  # 66.7 % ≥ 50

    # the previous semester: S7's letter was fed after its end
    before = sunes.compute(ARS, Scope.structure(HOPITAL), PREVIOUS)
    assert figures(before)["DS1.1"] == (0, 2)  # S7, S9
    why = sunes.explain(ARS, Scope.structure(HOPITAL), PREVIOUS, "DS1.1")
    assert why.reason_of(f"{HOPITAL}/S7") == "lettre de liaison alimentée après la fin de la période"

    # a fold from 0 (and by small windows) gives the same figures as the fold in two steps
    sunes.fold(from_zero=True, window=7)
    assert figures(sunes.compute(me, Scope.structure(HOPITAL), CURRENT)) == FIGURES

    s = lambda n: f"{HOPITAL}/{n}"  # noqa: E731
    ds11 = sunes.explain(me, Scope.structure(HOPITAL), CURRENT, "DS1.1")
    assert (ds11.numerator, ds11.denominator) == FIGURES["DS1.1"]
    assert ds11.item(s("S1")).counted and ds11.reason_of(s("S1")) == "lettre de liaison alimentée (N1, INS qualifiée)"
    assert ds11.reason_of(s("S2")) == "lettre de liaison alimentée sans INS qualifiée (PID-32 autre que QUAL)"
    assert ds11.reason_of(s("S3")) == "lettre de liaison produite, non transmise au DMP"  # MSSanté only
    assert ds11.reason_of(s("S5")) == "lettre de liaison alimentée (N1, INS qualifiée)"  # fed directly
    assert ds11.reason_of(s("S6")) == "aucune lettre de liaison"
    assert ds11.reason_of(s("S4")) == "séjour annulé (A11/A38) : hors dénominateur"
    assert ds11.reason_of(s("S8")).startswith("séjour non terminé")
    assert not ds11.item(s("S4")).in_denominator
    # the proof: the seqs named are the records of the PAM event, the PFI's document and the DMP's answer
    with house.db.read() as conn:
        cited = {r["seq"]: r for r in audit.events(conn) if r["seq"] in ds11.item(s("S1")).seqs}
    assert {r["action"] for r in cited.values()} >= {"sejours.A03", "pfi.hl7.document", "pfi.hl7.dmp"}

    ds13 = sunes.explain(me, Scope.structure(HOPITAL), CURRENT, "DS1.3")
    assert ds13.reason_of(s("S3")) == "compte rendu opératoire alimenté puis supprimé du DMP"
    ds14 = sunes.explain(me, Scope.structure(HOPITAL), CURRENT, "DS1.4")
    assert (ds14.numerator, ds14.denominator) == FIGURES["DS1.4"]
    assert ds14.item(s("S5")).counted
    assert ds14.reason_of(s("S1")) == "première venue du patient : hors dénominateur"
    assert ds14.reason_of(s("S3")) == "première venue du patient : hors dénominateur"  # S4 was cancelled
    assert "sans INS qualifiée" in ds14.reason_of(s("S6"))
    assert ds14.item(s("S10")).in_denominator and ds14.reason_of(s("S10")) == "aucun document d'un séjour antérieur"

    ds21 = sunes.explain(me, Scope.structure(HOPITAL), CURRENT, "DS2.1")
    reasons = sorted(i.reason for i in ds21.items)
    fed_n3 = "CR de biologie alimenté (N1+N3, INS qualifiée)"
    assert reasons == [fed_n3, fed_n3, "CR de biologie alimenté en N1 alors que le N3 est requis"]
    ds31 = sunes.explain(me, Scope.structure(HOPITAL), CURRENT, "DS3.1")
    assert (ds31.numerator, ds31.denominator) == FIGURES["DS3.1"]
    replaced = ds31.items[[i.key.endswith(ids["s2-imaging"]) for i in ds31.items].index(True)]
    assert (replaced.in_denominator, replaced.reason) == (False, "remplacé par une nouvelle version : compté une fois")
    assert ds31.reason_of(f"{HOPITAL}/S2 {ids['s2-imaging-v2']}").endswith("sans INS qualifiée (PID-32 autre que QUAL)")
    old, new = world.direct_ids  # fed directly, replaced directly: one report, not two
    assert ds31.reason_of(f"{HOPITAL} {old}") == "remplacé par une nouvelle version : compté une fois"
    assert ds31.item(f"{HOPITAL} {new}").counted

    ds41 = sunes.explain(me, Scope.structure(HOPITAL), CURRENT, "DS4.1")
    assert ds41.reason_of(GP) == "document CDA envoyé avec une INS qualifiée"
    assert ds41.reason_of(IDE) == "documents envoyés sans INS qualifiée (PID-32)"
    assert ds41.reason_of(UNKNOWN).startswith("envoi MSSanté en échec")
    assert ds41.reason_of(SECRETARIAT) == "boîte ORG : pas un correspondant PER"
    assert not ds41.item(SECRETARIAT).in_denominator
    ds42 = sunes.explain(me, Scope.structure(HOPITAL), CURRENT, "DS4.2")
    assert ds42.item(s("S2")).counted and ds42.reason_of(s("S2")) == f"message envoyé au patient ({SARAH_BOX})"
    assert ds42.reason_of(s("S3")) == "aucun message au patient"

    # every figure is what its explanation lists
    for code, (num, den) in FIGURES.items():
        explained = sunes.explain(me, Scope.structure(HOPITAL), CURRENT, code)
        assert (explained.numerator, explained.denominator) == (num, den), code
        # each page (selected, ordered and cut by SQL) holds the full list's elements, in its order, alike
        every = explained.items
        for filtre in FILTERS:
            chosen = [item for item in every if item.selected_by(filtre)]
            pages = [sunes.explain_page(me, Scope.structure(HOPITAL), CURRENT, code, number=1, size=2, filtre=filtre)]
            assert (pages[0].totals.numerator, pages[0].totals.denominator) == (num, den), code
            assert pages[0].totals.elements == len(every) and pages[0].selected == len(chosen), (code, filtre)
            while pages[-1].number < pages[-1].pages:
                pages.append(
                    sunes.explain_page(
                        me, Scope.structure(HOPITAL), CURRENT, code, number=pages[-1].number + 1, size=2, filtre=filtre
                    )
                )
            assert [item for p in pages for item in p.items] == chosen, (code, filtre)
    with pytest.raises(InvalidInput, match="en compte 1"):
        sunes.explain_page(me, Scope.structure(HOPITAL), CURRENT, "DS1.1", number=2, size=500)
    for bad in ({"filtre": "tout"}, {"size": 501}, {"number": 0}):
        with pytest.raises(InvalidInput):
            sunes.explain_page(me, Scope.structure(HOPITAL), CURRENT, "DS1.1", **bad)  # type: ignore[arg-type]

    # the report and the explanations are accesses, audited
    with house.db.read() as conn:
        assert sum(1 for _ in audit.events(conn, action_prefix="observatoire.sunes")) >= 10
    data = report.as_dict()
    assert data["indicateurs"][0]["source"] == "seed 004 L191" and data["DS4.3"] == {"presente": False, "preuve": None}
    assert [t.title for t in report.tables()][1].startswith("DS4.3")


def test_the_served_figures_are_the_hand_counted_ones(built, module_live):
    """The world's figures as the running house serves them: the JSON report, the FHIR MeasureReports
    and the HTML page carry the hand-counted figures, signed (was tests/e2e/test_observatoire_served.py)."""
    live = module_live
    own = {"ESANTE-API-KEY": issue_key(live.house.db, HOPITAL, "dpi-chu", "dim")}
    params = {"structure": HOPITAL, "periode": CURRENT.label}

    served = httpx.get(f"{live.url}/observatoire/sunes", params=params, headers=own, timeout=60).json()
    lines = {i["indicateur"]: (i["numerateur"], i["denominateur"]) for i in served["contenu"]["indicateurs"]}
    assert lines == FIGURES and served["signature"]["signe"] is True

    bundle = httpx.get(f"{live.url}/observatoire/fhir/MeasureReport", params=params, headers=own, timeout=60).json()
    counted = {}
    for entry in bundle["entry"]:
        group = entry["resource"]["group"][0]
        counts = {p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]}
        code = entry["resource"]["measure"].rsplit("/", 1)[1]
        counted[code] = (counts["numerator"], counts["denominator"])
        if counts["denominator"]:
            assert group["measureScore"]["value"] == round(counts["numerator"] / counts["denominator"], 4)
    assert counted["sunes-ds1-1"] == FIGURES["DS1.1"] and counted["sunes-ds4-2"] == FIGURES["DS4.2"]
    assert "signature" in bundle

    page = httpx.get(f"{live.url}/observatoire/rapport.html", params=params, headers=own, timeout=120)
    parsed = html.fromstring(page.content)
    bars = [t.text_content() for t in parsed.iter("{http://www.w3.org/2000/svg}title", "title")]
    assert "DS1.1 — numérateur : 2" in bars and "DS1.1 — dénominateur : 6" in bars
    assert any(b.startswith(f"{CURRENT.months()[0].label} — DS1.1 : ") for b in bars)  # the rates per month
    [by_service] = [
        t for t in parsed.iter("table") if t.find("caption").text_content().startswith("Taux SUN-ES par service")
    ]
    [row] = by_service.find("tbody").findall("tr")  # every stay of the world left from one unit
    cells = [td.text_content() for td in row.findall("td")]
    assert cells[1] == "33.3" and cells[-1] == "33.3"  # DS1.1 2 of 6, DS4.2 2 of 6: as the whole structure

    why = httpx.get(f"{live.url}/observatoire/sunes/explication/DS1.1", params=params, headers=own, timeout=60)
    items = {i["element"]: i for i in why.json()["contenu"]["elements"]}
    assert items[f"{HOPITAL}/S2"]["compte"] is False and "INS" in items[f"{HOPITAL}/S2"]["raison"]


# The GHT's establishments and the structure without stays: none of the module's world (HOPITAL)
SUPPORT, MEMBER, WITHOUT_STAYS = "1750000810", "1750000828", "1750000836"


def test_a_ght_counts_its_members_and_ds43_is_declared_with_its_evidence(module_house):
    house = module_house
    sunes = SunEs(house.db, house.sejours, house.settings)
    admin = Actor(person="admin", structure="maison", software="maison", role="administrateur-maison")
    with pytest.raises(NotFound):
        sunes.compute(ARS, Scope.ght("GHT-75"), CURRENT)
    house.cellule.record_ght(admin, "GHT-75", "GHT de test", SUPPORT, [MEMBER])
    world = World(house, None, structure=SUPPORT)  # type: ignore[arg-type]  (stays only)
    world.control = 900  # MSH-10 ids of its own (G901…): the module's world sends G1…
    world.stay("G1", "P9", CURRENT.start + timedelta(days=1), CURRENT.start + timedelta(days=2))
    report = sunes.compute(ARS, Scope.ght("GHT-75"), CURRENT)
    assert report.structures == (SUPPORT, MEMBER)
    assert figures(report)["DS1.1"] == (0, 1) and report.result("DS1.1").rate == 0.0
    assert report.cme is None
    director = Actor(person="directeur", structure=SUPPORT, software="portail")
    with house.db.read() as conn:
        mark = max((e["seq"] for e in audit.events(conn, newest_first=True, limit=1)), default=0)
    with pytest.raises(InvalidInput):
        sunes.declare_cme(director, SUPPORT, "2999-01-01", "CME", "PV")
    with pytest.raises(InvalidInput):
        sunes.declare_cme(director, SUPPORT, "2026-02-30", "CME", "PV")
    with pytest.raises(InvalidInput):
        sunes.declare_cme(director, SUPPORT, CURRENT.start.isoformat(), "CME", " ")
    sunes.declare_cme(director, SUPPORT, CURRENT.start.isoformat(), "CME", "PV de la CME, point 4")
    ds43 = sunes.compute(ARS, Scope.ght("GHT-75"), CURRENT).as_dict()["DS4.3"]
    assert ds43["presente"] is True
    assert ds43["preuve"]["date_presentation"] == CURRENT.start.isoformat()
    assert ds43["preuve"]["declare_par"] == "directeur" and ds43["preuve"]["preuve"] == "PV de la CME, point 4"
    # presented in the current semester: not yet in the previous one's report
    assert sunes.compute(ARS, Scope.ght("GHT-75"), PREVIOUS).cme is None
    with house.db.read() as conn:
        [declared] = [e for e in audit.events(conn, action_prefix="observatoire.sunes.cme") if e["seq"] > mark]
    assert declared["actor_person"] == "directeur"


def test_targets_are_settings(module_house):
    settings = module_house.settings.with_overrides(sunes_cible_ds1_1=10)
    sunes = SunEs(module_house.db, module_house.sejours, settings)
    report = sunes.compute(ARS, Scope.structure(WITHOUT_STAYS), CURRENT)
    assert report.result("DS1.1").target == 10 and report.result("DS1.2").target == 50
    assert report.result("DS1.1").rate is None  # no stay: no rate, not 0 %


@pytest.mark.parametrize("code", ["DS4.3", "DS5.1", ""])
def test_an_indicator_not_of_the_seed_s_list_is_refused(module_house, code):
    """DS4.3 is a declaration, not a rate (004 L205-207): it has no explanation of stays."""
    house = module_house
    with pytest.raises(InvalidInput) as refused:
        SunEs(house.db, house.sejours, house.settings).explain(ARS, Scope.structure(HOPITAL), CURRENT, code)
    assert refused.value.code == "indicateur"
