"""SUN-ES prerequisites of a structure and of a GHT (seed 004 L174-181, L291-303): the house's own
records (the identitovigilance cell, DMP feeds, MSSanté mailboxes, sends and the citizen test
mailbox's verdicts) and the declarations with their evidence, judged at instant t; volets 1 and 2."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.core.audit import SYSTEM
from maison.core.blobs import Blobs
from maison.core.errors import Forbidden, InvalidInput, NotFound, TooLarge, UnsupportedMediaType
from maison.etablissement.vigilance.cellule import REQUIRED_PROCEDURES, Cellule
from maison.formats import mime, xdm
from maison.observatoire.prerequis import evidence, store
from maison.observatoire.prerequis.model import Item, Prerequisite, Scope, window_of
from maison.observatoire.prerequis.service import Prerequis
from maison.observatoire.report import Period
from maison.partage.mss import citizen
from maison.partage.mss.delivery import Delivery
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.trust import TrustSpace
from tests.observatoire.prerequis.test_rules import AUDIT_FACTS
from tests.partage.world import PROS, n1

S, OTHER = "1750000019", "1750000027"
TODAY = datetime.now(UTC).date()
PERIOD = Period.semester_of(TODAY)
WINDOW = window_of(PERIOD.start)
STAFF = Actor(person="899900038441", structure=S, software="DPI-CHU", kind="professional", role="rssi")
CELL = Actor(person="899900038442", structure=S, software="DPI-CHU", role="cellule")
ARS = Actor(person="agent-ars-idf", structure="ARS-IDF", software="portail", role="agent-ars")
ADMIN = Actor(person="system:admin", structure="maison", software="maison")
PDF = b"%PDF-1.7 la piece justificative"
PFI, ACCUEIL, GP = "pfi@chu-test.mssante.fr", "accueil@chu-test.mssante.fr", "martin@medecins.mssante.fr"
AGENDA = ["incidents-securite", "plan-action-ssi"]


@pytest.fixture
def prerequis(db, tmp_path) -> Prerequis:
    return Prerequis(db, Blobs(tmp_path / "preuves"))


def _days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def declare_all(p: Prerequis, actor: Actor = STAFF) -> None:
    """Every declared item of volets 1 and 2, valid at TODAY."""
    p.declare(actor, Item.RNIV, _days_ago(30), {"questions": 42, "reponses": 42}, PDF, "rniv.pdf")
    p.declare(actor, Item.PSSI, _days_ago(400), {"signee_par_directeur": True}, PDF, "pssi.pdf")
    p.declare(
        actor,
        Item.RISK_ANALYSIS,
        _days_ago(380),
        {"ressources_par_criticite": True, "menaces_hors_cyber": True, "plan_traitement": True},
        PDF,
        "ar.pdf",
    )
    p.declare(actor, Item.ACTION_PLAN, _days_ago(370), {"instruction_309": True}, PDF, "plan.pdf")
    p.declare(actor, Item.INCIDENT_PROCEDURE, _days_ago(370), {}, PDF, "incidents.pdf")
    p.declare(actor, Item.RSSI, _days_ago(700), {"nom": "Claire RSSI", "hors_dsi": True}, PDF, "rssi.pdf")
    for n in (5, 150, 400, 550):
        p.declare(actor, Item.RSSI_MEETING, _days_ago(n), {"ordre_du_jour": AGENDA}, PDF, f"cr-{n}.pdf")
    p.declare(actor, Item.CYBER_AUDIT, _days_ago(60), _audit(), PDF, "attestation.pdf", window=WINDOW)


def _audit(**changes) -> dict:
    return AUDIT_FACTS | changes


def cell_works(db, structure: str = S, day: date = TODAY) -> None:
    cell = Cellule(db)
    actor = Actor(person="899900038442", structure=structure, software="DPI", role="cellule")
    cell.record_meeting(actor, day.isoformat(), "revue des doublons", ["DIM"])
    for kind in REQUIRED_PROCEDURES:
        cell.adopt_procedure(actor, kind, "", "2021-01-15")


def mailboxes(db, structure: str = S) -> None:
    TrustSpace(db).register("chu-test", "CHU", ["chu-test.mssante.fr"], "a" * 64, "127.0.0.1", 2525, local=True)
    boxes = Mailboxes(db)
    boxes.create(SYSTEM, PFI, "chu-test", "APP", structure, "PFI du CHU", password="mot-de-passe-pfi")
    boxes.create(SYSTEM, ACCUEIL, "chu-test", "ORG", structure, "Accueil des patients")
    boxes.create(SYSTEM, GP, "chu-test", "PER", PROS["generaliste"].idnatps, "MARTIN Claire")


def send(db, tmp_path, sender: str = PFI) -> None:
    """A message from the structure's mailbox delivered to a local one, as SMTP delivers it."""
    raw = mime.as_bytes(mime.compose(mime.Outgoing(sender, [GP], "Lettre", "Bonjour."), domain="chu-test.mssante.fr"))
    received = mime.parse(raw, max_bytes=1_000_000)
    operator = Actor(person="operateur:chu-test", structure="chu-test", software="maison-mss")
    Delivery(db, Blobs(tmp_path / "mss")).deliver(operator, GP, raw, sender, received.message_id)


def test_message(*, pdf: bool = True) -> mime.Received:
    archive = xdm.build([xdm.XdmDocument(n1(PROS["hospitalier"]))], source_id="1.2.250.1.213.4.1.9.1")
    parts = [mime.Attachment("IHE_XDM.ZIP", "application/zip", archive)]
    if pdf:
        parts.append(mime.Attachment("lettre.pdf", "application/pdf", b"%PDF-1.4 lisible"))
    out = mime.Outgoing(PFI, [citizen.TEST_MAILBOX], "Test SUN-ES", "Test.", parts)
    return mime.parse(mime.as_bytes(mime.compose(out, domain="chu-test.mssante.fr")), max_bytes=10_000_000)


test_message.__test__ = False  # type: ignore[attr-defined]  # a builder, not a test


def citizen_test(db, *, pdf: bool = True) -> None:
    """The citizen test mailbox's verdict, recorded as its SMTP handler records it (mss/smtp.py)."""
    received = test_message(pdf=pdf)
    operator = Actor(person="operateur:mes", structure="mes", software="maison-mss")
    citizen.record_test(db, operator, received, citizen.judge_test(received), "<reponse@patient.mssante.fr>")


def cme_fallback(p: Prerequis) -> None:
    p.declare(STAFF, Item.CME_DECISION, _days_ago(90), {}, PDF, "cme.pdf")
    p.declare(
        STAFF,
        Item.DMP_SCREENSHOTS,
        _days_ago(90),
        {"solution": "DPI", "version": "5.2"},
        b"\x89PNG\r\n\x1a\n..",
        "c.png",
    )


# --- declaring ----------------------------------------------------------------------------------------------


def test_a_declaration_keeps_its_evidence_and_is_audited(prerequis, db):
    d = prerequis.declare(
        STAFF, Item.PSSI, "2025-03-01", {"signee_par_directeur": True}, PDF, "C:\\docs\\PSSI 2025.pdf"
    )
    assert d.holder == S and d.declared_by == STAFF.person and d.evidence is not None
    assert d.evidence.media_type == "application/pdf" and d.evidence.filename == "PSSI 2025.pdf"
    assert prerequis.blobs.get(d.evidence.sha256) == PDF
    with db.read() as conn:
        [record] = list(audit.events(conn, action_prefix="observatoire.prerequis.declarer"))
        assert store.evidence_digests(conn) == {d.evidence.sha256}
    assert record["actor_person"] == STAFF.person and audit.detail_of(record)["prerequis"] == "PS2.1"
    assert audit.detail_of(record)["preuve"] == d.evidence.sha256


@pytest.mark.parametrize(
    ("data", "name", "error"),
    [
        (b"", "vide.pdf", InvalidInput),
        (b"<html><script>alert(1)</script>", "pssi.pdf", UnsupportedMediaType),  # the bytes decide, not the name
        (b"PK\x03\x04 an archive", "pssi.pdf", UnsupportedMediaType),
    ],
)
def test_hostile_evidence_is_refused_before_anything_is_stored(prerequis, db, tmp_path, data, name, error):
    with pytest.raises(error):
        prerequis.declare(STAFF, Item.PSSI, "2025-03-01", {"signee_par_directeur": True}, data, name)
    with db.read() as conn:
        assert store.declarations(conn, [S], "9999") == []
    assert not (tmp_path / "preuves").exists() or not any((tmp_path / "preuves").rglob("*"))


def test_evidence_over_the_size_limit_is_refused(prerequis, monkeypatch):
    monkeypatch.setattr(evidence, "MAX_BYTES", 64)
    with pytest.raises(TooLarge) as too_large:
        prerequis.declare(STAFF, Item.PSSI, "2025-03-01", {"signee_par_directeur": True}, PDF + b"x" * 64, "p.pdf")
    assert too_large.value.code == "preuve-trop-grande"


@pytest.mark.parametrize(
    ("item", "facts", "window"),
    [
        (Item.PSSI, {"signee_par_directeur": "oui"}, None),
        (Item.PSSI, {"signee_par_directeur": True, "extra": 1}, None),
        (Item.RNIV, {"questions": 10, "reponses": 11}, None),
        (Item.RNIV, {"questions": -1, "reponses": 0}, None),
        (Item.RSSI, {"nom": "x" * 201, "hors_dsi": True}, None),
        (Item.RSSI_MEETING, {"ordre_du_jour": ["<script>"]}, None),
        (Item.CYBER_AUDIT, _audit(origine="amis"), WINDOW),
        (Item.CYBER_AUDIT, _audit(), None),  # PS2.2 is declared for a window
        (Item.PSSI, {"signee_par_directeur": True}, 3),  # a PSSI is not
        ("pas-un-element", {}, None),
    ],
)
def test_declared_facts_are_checked(prerequis, item, facts, window):
    with pytest.raises(InvalidInput):
        prerequis.declare(STAFF, item, "2025-03-01", facts, PDF, "p.pdf", window=window)


@pytest.mark.parametrize("day", ["2025-3-1", "2025-02-30", "٢٠٢٥-٠٣-٠١", (TODAY + timedelta(days=1)).isoformat()])
def test_declared_dates_are_checked(prerequis, day):
    with pytest.raises(InvalidInput):
        prerequis.declare(STAFF, Item.PSSI, day, {"signee_par_directeur": True}, PDF, "p.pdf")


def test_only_the_support_declares_for_its_ght(prerequis, db):
    Cellule(db).record_ght(ADMIN, "GHT-75", "GHT Paris", S, [S, OTHER])
    d = prerequis.declare(
        STAFF, Item.PSSI_GHT, "2025-01-01", {"signee_par_directeur": True}, PDF, "p.pdf", ght="GHT-75"
    )
    assert d.holder == "ght:GHT-75"
    member = Actor(person="899900038443", structure=OTHER, software="DPI")
    with pytest.raises(Forbidden):
        prerequis.declare(member, Item.RSSI, "2025-01-01", {"nom": "X", "hors_dsi": True}, PDF, "p.pdf", ght="GHT-75")
    with pytest.raises(InvalidInput):  # a structure's own item is not the GHT's
        prerequis.declare(STAFF, Item.RNIV, "2025-01-01", {"questions": 1, "reponses": 1}, PDF, "p.pdf", ght="GHT-75")
    with db.read() as conn:
        [refusal] = list(audit.events(conn, action_prefix="securite.acces-refuse"))
    assert refusal["actor_structure"] == OTHER


# --- evaluating ---------------------------------------------------------------------------------------------


def test_volets_1_and_2_eligible(prerequis, db, tmp_path):
    cell_works(db)
    declare_all(prerequis)
    cme_fallback(prerequis)
    mailboxes(db)
    send(db, tmp_path)
    citizen_test(db)
    report = prerequis.evaluate(STAFF, Scope.parse(S), PERIOD)
    assert [c.prerequisite for c in report.checks if not c.met] == []
    assert report.volet(1).eligible and report.volet(2).eligible
    assert report.check(Prerequisite.PS3_2).source == "etabli"
    assert report.check(Prerequisite.PS4_1).proofs[1] == f"BAL organisationnelle {ACCUEIL}"
    assert report.check(Prerequisite.PS3_1).source == "declare"  # the CME fallback (no feed in this world)
    data = report.as_dict()
    assert data["fenetre"] == WINDOW and [v["eligible"] for v in data["volets"]] == [True, True]
    prerequisites, volets = report.tables()
    assert len(prerequisites.rows) == 7 and volets.rows[0][:2] == ("volet 1", "oui")
    with db.read() as conn:
        [read] = list(audit.events(conn, action_prefix="observatoire.prerequis"))[-1:]
    assert read["action"] == "observatoire.prerequis" and audit.detail_of(read)["perimetre"] == S


def test_nothing_done_names_every_missing_item(prerequis):
    report = prerequis.evaluate(STAFF, Scope.parse(S), PERIOD)
    assert not report.volet(1).eligible and not report.volet(2).eligible
    one = report.volet(1).missing
    assert f"PS1.1 ({S}) : aucune réunion de la cellule d'identitovigilance au semestre {PERIOD.label}" in one[0]
    assert f"PS1.2 ({S}) : questionnaire d'appropriation du RNIV non renseigné" in one
    assert f"PS2.1 ({S}) : PSSI de l'établissement absente" in one
    assert any(
        m.startswith(f"PS2.2 ({S}) : aucune attestation d'audit de cybersurveillance pour la fenêtre") for m in one
    )
    assert f"PS3.1 ({S}) : aucune alimentation du DMP acceptée depuis un logiciel de la structure" in one
    assert f"PS3.2 ({S}) : aucun message envoyé depuis une BAL de la structure" in one
    assert not any(m.startswith("PS4.1") for m in one)  # volet 2's only
    assert set(report.volet(2).missing) - set(one) == {
        f"PS4.1 ({S}) : aucun message test avec une archive IHE_XDM.ZIP (CDA R2 N1) et un PDF envoyé à "
        "reponse.automatique-test@patient.mssante.fr depuis une BAL de la structure",
        f"PS4.1 ({S}) : aucune BAL organisationnelle (ORG) de la structure pour recevoir les messages des patients",
    }


def test_volet_1_without_volet_2_when_the_test_lacks_its_pdf(prerequis, db, tmp_path):
    cell_works(db)
    declare_all(prerequis)
    cme_fallback(prerequis)
    mailboxes(db)
    send(db, tmp_path)
    citizen_test(db, pdf=False)
    report = prerequis.evaluate(STAFF, Scope.parse(S), PERIOD)
    assert report.volet(1).eligible and not report.volet(2).eligible
    assert report.volet(2).missing == (
        f"PS4.1 ({S}) : aucun message test avec une archive IHE_XDM.ZIP (CDA R2 N1) et un PDF envoyé à "
        "reponse.automatique-test@patient.mssante.fr depuis une BAL de la structure ; "
        "dernier test non conforme : aucune pièce jointe PDF",
    )
    citizen_test(db)  # a conforming one afterwards: folded in at the next evaluation
    assert prerequis.evaluate(STAFF, Scope.parse(S), PERIOD).volet(2).eligible


def test_a_cell_that_met_only_last_semester(prerequis, db):
    cell_works(db, day=PERIOD.start - timedelta(days=1))
    check = prerequis.evaluate(STAFF, Scope.parse(S), PERIOD).check(Prerequisite.PS1_1)
    assert check.missing == (
        f"aucune réunion de la cellule d'identitovigilance au semestre {PERIOD.label} (une par semestre a minima)",
    )


def test_instant_t_before_a_declaration(prerequis):
    prerequis.declare(STAFF, Item.RNIV, _days_ago(10), {"questions": 3, "reponses": 3}, PDF, "rniv.pdf")
    scope = Scope.parse(S)
    assert prerequis.evaluate(STAFF, scope, PERIOD).check(Prerequisite.PS1_2).met
    # at a day before it was declared, it did not exist yet ("instant t, date de transmission", 004 L405)
    assert not prerequis.evaluate(STAFF, scope, PERIOD, at=TODAY - timedelta(days=1)).check(Prerequisite.PS1_2).met


def test_who_reads(prerequis, db):
    scope = Scope.parse(S)
    assert prerequis.evaluate(ARS, scope, PERIOD).scope == scope
    stranger = Actor(person="899900038449", structure=OTHER, software="DPI", kind="professional")
    with pytest.raises(Forbidden) as refused:
        prerequis.evaluate(stranger, scope, PERIOD)
    assert refused.value.code == "perimetre-interdit"
    with db.read() as conn:
        [record] = list(audit.events(conn, action_prefix="securite.acces-refuse"))
    assert record["actor_structure"] == OTHER


def test_a_ght_is_judged_member_by_member(prerequis, db, tmp_path):
    Cellule(db).record_ght(ADMIN, "GHT-75", "GHT Paris", S, [S, OTHER])
    scope = Scope.parse("ght:GHT-75")
    for structure in (S, OTHER):
        cell_works(db, structure)
    other_staff = Actor(person="899900038443", structure=OTHER, software="DPI", kind="professional")
    declare_all(prerequis)
    declare_all(prerequis, other_staff)
    prerequis.declare(STAFF, Item.PSSI_GHT, _days_ago(500), {"signee_par_directeur": True}, PDF, "p.pdf", ght="GHT-75")
    prerequis.declare(
        STAFF, Item.RSSI, _days_ago(500), {"nom": "RSSI GHT", "hors_dsi": True}, PDF, "r.pdf", ght="GHT-75"
    )
    prerequis.declare(STAFF, Item.SECURITY_REFERENT, _days_ago(500), {"nom": "Réf. CHU"}, PDF, "r.pdf")
    report = prerequis.evaluate(STAFF, scope, PERIOD)
    assert report.structures == (S, OTHER)
    assert report.check(Prerequisite.PS1_1, S).notes == (
        "cellule du GHT : celle de l'établissement support (004 L347)",
    )
    assert report.check(Prerequisite.PS2_1, S).met
    # 004 L468: a security referent per site — the member lacks its own
    assert report.check(Prerequisite.PS2_1, OTHER).missing == ("référent sécurité SI de l'établissement non désigné",)
    assert f"PS2.1 ({OTHER}) : référent sécurité SI de l'établissement non désigné" in report.volet(1).missing
    member = Actor(person="899900038443", structure=OTHER, software="DPI", kind="professional")
    with pytest.raises(Forbidden):  # a member reads its own prerequisites, the support the GHT's
        prerequis.evaluate(member, scope, PERIOD)


def test_ps3_1_from_a_real_dmp_feed(house, live, tmp_path):
    from tests.partage.world import HOPITAL, make_world

    world = make_world(house, live, ("hospitalier",))
    from maison.etablissement.dmp.producer import Produced

    assert world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))]).status_code == 200
    p = Prerequis(house.db, Blobs(tmp_path / "preuves"))
    staff = Actor(person=PROS["hospitalier"].idnatps, structure=HOPITAL, software="DPI")
    check = p.evaluate(staff, Scope.parse(HOPITAL), PERIOD).check(Prerequisite.PS3_1)
    assert check.met and check.source == "etabli" and "alimentation acceptée du logiciel" in check.proofs[0]


def test_the_evidence_is_read_back_by_whoever_may_read_the_prerequisites(prerequis, db):
    d = prerequis.declare(STAFF, Item.RNIV, _days_ago(3), {"questions": 2, "reponses": 2}, PDF, "rniv.pdf")
    found, data = prerequis.evidence(ARS, d.id)  # 004 L531: the ARS reviews the justifying documents
    assert found == d and data == PDF
    assert prerequis.evidence_digests() == {d.evidence.sha256}
    stranger = Actor(person="899900038449", structure=OTHER, software="DPI", kind="professional")
    for who, ident in ((stranger, d.id), (ARS, d.id + 1), (ARS, -1)):
        with pytest.raises(NotFound):  # another's declaration answers as a missing one
            prerequis.evidence(who, ident)
    with db.read() as conn:
        [read] = list(audit.events(conn, action_prefix="observatoire.prerequis.preuve"))
        [refusal] = list(audit.events(conn, action_prefix="securite.acces-refuse"))
    assert read["actor_person"] == ARS.person and refusal["actor_structure"] == OTHER
