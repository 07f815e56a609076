"""The SUN-ES prerequisites of a structure or a GHT at instant t, and the declarations behind them.

Seed 004 L174-181: an application to volet 1 is validated when PS1.1, PS1.2, PS2.1, PS2.2, PS3.1 and
PS3.2 are met; to volet 2 when PS4.1 is too. What the house can establish it establishes (PS1.1 from
the identitovigilance cell, PS3.1 from the DMP's feeds, PS3.2 from MSSanté's mailboxes and sends,
PS4.1 from the citizen test mailbox's answers and the structure's ORG mailbox); the rest is declared
by the structure's staff, each item with its evidence (a PDF, PNG or JPEG kept in the blob store),
its date, who declared it and when — and judged by its validity rules (`rules.py`).

How to call it:

    prerequis = Prerequis(db, Blobs(data_dir / "observatoire" / "preuves", key))
    prerequis.declare(actor, Item.PSSI, "2025-03-01", {"signee_par_directeur": True}, pdf, "pssi.pdf")
    report = prerequis.evaluate(actor, Scope.parse("1750000019"), Period.parse("2026-S2"))
    report.as_dict(); report.tables(); report.volet(1).missing

`evaluate` folds the trail's new records first (`facts.fold`), reads only what was recorded or
declared by instant t (`at`, today by default: "instant t, date de transmission", 004 L373), and
leaves an audit record; a structure reads its own, a GHT's support its GHT's, the ARS and ANS agents
any (`READER_ROLES`). A structure scope is judged by the structure's own items; a GHT scope judges
every member with the GHT's own items beside (004 L347, L464-468: the GHT's cell is its support's,
its framework PSSI, its RSSI and their meetings).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from maison.core import audit
from maison.core.actor import Actor
from maison.core.blobs import Blobs
from maison.core.errors import Forbidden, InvalidInput, MaisonError, NotFound
from maison.core.storage import Database
from maison.etablissement.vigilance.cellule import Cellule
from maison.observatoire.prerequis import evidence, facts, rules, store
from maison.observatoire.prerequis.model import (
    GHT_ITEMS,
    PREREQUISITE_OF,
    READER_ROLES,
    VOLET_1,
    VOLET_2,
    Check,
    Declaration,
    Eligibility,
    Evidence,
    Item,
    PrerequisReport,
    Scope,
    window_of,
)
from maison.observatoire.report import Period
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.trust import TrustSpace

_TEXT = 200
# What each item says of itself: a name → its type (validated before anything is stored).
FACTS: dict[Item, dict[str, type]] = {
    Item.RNIV: {"questions": int, "reponses": int},
    Item.PSSI: {"signee_par_directeur": bool},
    Item.PSSI_GHT: {"signee_par_directeur": bool},
    Item.RISK_ANALYSIS: {k: bool for k in rules.RISK_PARTS},
    Item.ACTION_PLAN: {"instruction_309": bool},
    Item.INCIDENT_PROCEDURE: {},
    Item.RSSI: {"nom": str, "hors_dsi": bool},
    Item.SECURITY_REFERENT: {"nom": str},
    Item.RSSI_MEETING: {"ordre_du_jour": list},
    Item.CYBER_AUDIT: {
        "prestataire": str,
        "origine": str,
        "piece": str,
        "perimetre": list,
        "signee_par_directeur": bool,
    },
    Item.CME_DECISION: {},
    Item.DMP_SCREENSHOTS: {"solution": str, "version": str},
    Item.MSS_SEND_PROOF: {"expediteur": str, "destinataire": str},
    Item.MSS_PURCHASE_ORDER: {"deploiement_au_plus_tard": str},
}
CHOICES = {
    "origine": {"prestataire", "anssi-ads", "anssi-silene"},
    "piece": {"attestation", "bon-de-commande"},
    "perimetre": set(rules.AUDIT_PERIMETER),
    "ordre_du_jour": {*rules.RSSI_AGENDA, "autre"},
}
WINDOW_ITEMS = frozenset({Item.CYBER_AUDIT, Item.MSS_PURCHASE_ORDER})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _day(text: str, what: str) -> date:
    """An ISO day in ASCII digits (date.fromisoformat reads other forms and other digits too)."""
    error = InvalidInput(f"{what} {str(text)[:40]!r} : date AAAA-MM-JJ attendue", code="date-format")
    if not isinstance(text, str) or not text.isascii() or len(text) != 10:
        raise error
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise error from None


def _checked_value(name: str, kind: type, value: Any) -> Any:
    if kind is int and (type(value) is not int or not 0 <= value < 100_000):
        raise InvalidInput(f"{name} : entier positif attendu", code="fait-invalide")
    if kind is bool and type(value) is not bool:
        raise InvalidInput(f"{name} : vrai ou faux attendu", code="fait-invalide")
    if kind is str and (not isinstance(value, str) or not value.strip() or len(value) > _TEXT):
        raise InvalidInput(f"{name} : texte de 1 à {_TEXT} caractères attendu", code="fait-invalide")
    if kind is list:
        if not isinstance(value, list) or len(value) > 20 or any(v not in CHOICES[name] for v in value):
            raise InvalidInput(f"{name} : parmi {', '.join(sorted(CHOICES[name]))}", code="fait-invalide")
        return sorted(set(value))
    if name in CHOICES and value not in CHOICES[name]:
        raise InvalidInput(f"{name} : {', '.join(sorted(CHOICES[name]))} attendu", code="fait-invalide")
    return value.strip() if kind is str else value


def checked_facts(item: Item, given: dict[str, Any]) -> dict[str, Any]:
    """The item's facts, every one present and of its type, nothing else (hostile input)."""
    schema = FACTS[item]
    if not isinstance(given, dict) or set(given) != set(schema):
        raise InvalidInput(f"{item} : faits attendus {', '.join(schema) or 'aucun'}", code="fait-invalide")
    out = {name: _checked_value(name, kind, given[name]) for name, kind in schema.items()}
    if item is Item.RNIV and out["reponses"] > out["questions"]:
        raise InvalidInput("plus de réponses que de questions au questionnaire RNIV", code="fait-invalide")
    if item is Item.MSS_PURCHASE_ORDER:
        out["deploiement_au_plus_tard"] = _day(out["deploiement_au_plus_tard"], "déploiement").isoformat()
    return out


def _declaration(row: Any) -> Declaration:
    proof = (
        Evidence(row.evidence_sha256, row.evidence_name, row.evidence_type, row.evidence_size)
        if row.evidence_sha256
        else None
    )
    return Declaration(
        row.id,
        row.holder,
        Item(row.item),
        date.fromisoformat(row.effective_on),
        row.funding_window,
        orjson.loads(row.facts),
        proof,
        row.declared_by,
        row.declared_structure,
        row.declared_at,
    )


def _fact(row: Any) -> rules.Fact:
    return rules.Fact(
        row.kind, row.subject, row.key, row.first_seq, row.first_at, row.last_seq, orjson.loads(row.detail)
    )


def _semesters(period: Period, at: date) -> list[str]:
    """The semesters of the period already begun at instant t (the one of t if none): in each the
    cell must have met (004 L341)."""
    labels = dict.fromkeys(str(Period.semester_of(m.start).label) for m in period.months() if m.start <= at)
    return list(labels) or [Period.semester_of(at).label]


class Prerequis:
    def __init__(self, db: Database, blobs: Blobs, trail: audit.Trail | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.trail = trail or audit.Trail(db)
        self.cell = Cellule(db, self.trail)
        self.mailboxes = Mailboxes(db)
        self.trust = TrustSpace(db)

    # --- declaring ---------------------------------------------------------------------------------------

    def declare(
        self,
        actor: Actor,
        item: Item | str,
        effective_on: str,
        facts_given: dict[str, Any],
        evidence_bytes: bytes,
        filename: str,
        *,
        ght: str | None = None,
        window: int | None = None,
    ) -> Declaration:
        """A structure's staff declares one item for its structure, or — the GHT's support — for its
        GHT (`ght`); with the evidence file, the day it took effect (signed, held, audited, decided) and,
        for PS2.2 and PS4.1's purchase order, the funding window it is for (004 L156: PS2.2 again at each)."""
        try:
            item = Item(item)
        except ValueError:
            raise InvalidInput(f"élément {str(item)[:60]!r} inconnu", code="element-inconnu") from None
        day = _day(effective_on, "date")
        if day > datetime.now(UTC).date():
            raise InvalidInput("une pièce ne peut être datée après le jour de sa déclaration", code="date-future")
        if (window is not None) != (item in WINDOW_ITEMS) or (window is not None and not 1 <= window <= 99):
            raise InvalidInput(
                f"{item} : fenêtre de financement {'attendue' if item in WINDOW_ITEMS else 'sans objet'}",
                code="fenetre-invalide",
            )
        holder = self._holder(actor, item, ght)
        checked = checked_facts(item, facts_given)
        proof = evidence.accept(self.blobs, evidence_bytes, filename)  # durable before the row names it
        declared_at = _now()
        with self.db.write() as conn:
            declaration_id = store.add_declaration(
                conn,
                holder=holder,
                item=str(item),
                effective_on=day.isoformat(),
                funding_window=window,
                facts=orjson.dumps(checked).decode(),
                evidence_sha256=proof.sha256,
                evidence_name=proof.filename,
                evidence_type=proof.media_type,
                evidence_size=proof.size,
                declared_by=actor.person,
                declared_structure=actor.structure,
                declared_at=declared_at,
            )
            self.trail.write(
                conn,
                actor,
                "observatoire.prerequis.declarer",
                purpose="HOPERAT",
                detail={
                    "declaration": declaration_id,
                    "titulaire": holder,
                    "prerequis": str(PREREQUISITE_OF[item]),
                    "element": str(item),
                    "date": day.isoformat(),
                    "fenetre": window,
                    "preuve": proof.sha256,
                },
            )
        return Declaration(
            declaration_id, holder, item, day, window, checked, proof, actor.person, actor.structure, declared_at
        )

    def _holder(self, actor: Actor, item: Item, ght: str | None) -> str:
        if ght is None:
            if item is Item.PSSI_GHT:
                raise InvalidInput("la PSSI cadre se déclare pour un GHT", code="element-ght")
            return actor.structure
        if item not in GHT_ITEMS:
            raise InvalidInput(f"{item} se déclare par établissement", code="element-etablissement")
        support, _members = self.cell.ght(ght)
        if actor.structure != support:
            raise self._refuse(
                actor,
                Forbidden("seul l'établissement support déclare pour son GHT", code="support-ght-requis"),
                {"action": "observatoire.prerequis.declarer", "ght": ght},
            )
        return Scope(ght, ght=True).holder

    def _refuse(self, actor: Actor, error: MaisonError, detail: dict[str, Any]) -> MaisonError:
        self.trail.security("acces-refuse", actor, outcome="failure", detail={"code": error.code, **detail})
        return error

    def evidence(self, actor: Actor, declaration_id: int) -> tuple[Declaration, bytes]:
        """A declaration and its evidence file, for whoever may read the holder's prerequisites (the
        ARS reviews the justifying documents, 004 L531, L618): audited; another's answers as missing."""
        row = None
        if 0 < declaration_id < 2**63:
            with self.db.read() as conn:
                row = store.declaration(conn, declaration_id)
        if row is None:
            raise NotFound(f"déclaration {declaration_id} inconnue", code="declaration-inconnue")
        found = _declaration(row)
        scope = Scope.parse(found.holder)
        structures, support = self._structures(scope)
        try:
            self._authorise(actor, scope, structures, support)
        except Forbidden:
            raise NotFound(f"déclaration {declaration_id} inconnue", code="declaration-inconnue") from None
        assert found.evidence is not None  # every declaration carries its evidence
        data = self.blobs.get(found.evidence.sha256)
        self.trail.read(
            actor,
            "observatoire.prerequis.preuve",
            purpose="HOPERAT",
            detail={"declaration": declaration_id, "titulaire": found.holder, "preuve": found.evidence.sha256},
        )
        return found, data

    def evidence_digests(self) -> set[str]:
        """Every evidence blob a declaration names: what a sweep of the evidence store keeps."""
        with self.db.read() as conn:
            return store.evidence_digests(conn)

    # --- evaluating -----------------------------------------------------------------------------------------

    def fold(self, *, rebuild: bool = False) -> int:
        return facts.fold(self.db, rebuild=rebuild)

    def evaluate(self, actor: Actor, scope: Scope, period: Period, at: date | None = None) -> PrerequisReport:
        """Every prerequisite of every structure of the scope at instant `at`, and volets 1 and 2."""
        at = at or datetime.now(UTC).date()
        structures, support = self._structures(scope)
        self._authorise(actor, scope, structures, support)
        self.fold()
        window = window_of(period.start)
        semesters = _semesters(period, at)
        sites = [self._site(s, scope, at, semesters) for s in structures]
        checks: list[Check] = []
        for site in sites:
            checks += [
                rules.ps1_1(site, semesters, ght_cell=scope.ght and site.structure == support),
                rules.ps1_2(site),
                rules.ps2_1(site),
                rules.ps2_2(site, window),
                rules.ps3_1(site),
                rules.ps3_2(site),
                rules.ps4_1(site, window),
            ]
        volets = tuple(
            Eligibility(
                n,
                tuple(
                    f"{c.prerequisite} ({c.structure}) : {m}"
                    for c in checks
                    if c.prerequisite in wanted
                    for m in c.missing
                ),
            )
            for n, wanted in ((1, VOLET_1), (2, VOLET_2))
        )
        self.trail.read(
            actor,
            "observatoire.prerequis",
            purpose="HOPERAT",
            detail={"perimetre": str(scope), "periode": period.label, "instant": at.isoformat(), "fenetre": window},
        )
        return PrerequisReport(scope, period, at, window, tuple(structures), tuple(checks), volets)

    def _structures(self, scope: Scope) -> tuple[list[str], str]:
        if not scope.ght:
            return [scope.code], scope.code
        support, members = self.cell.ght(scope.code)
        return members, support

    def _authorise(self, actor: Actor, scope: Scope, structures: list[str], support: str) -> None:
        """A structure reads its own prerequisites, a GHT's support its GHT's (004 L347: the support
        checks each member), the ARS and ANS agents any, and the house itself (`maison indicateurs`:
        an actor no credential names, audited as such)."""
        if actor.credential is None or actor.role in READER_ROLES:
            return
        if actor.structure == (support if scope.ght else scope.code):
            return
        raise self._refuse(
            actor,
            Forbidden(
                f"prérequis de {scope} : réservés à la structure, au support du GHT, à l'ARS", code="perimetre-interdit"
            ),
            {"action": "observatoire.prerequis", "perimetre": str(scope), "structures": structures},
        )

    def _site(self, structure: str, scope: Scope, at: date, semesters: list[str]) -> rules.Site:
        until = (at + timedelta(days=1)).isoformat()
        with self.db.read() as conn:
            holders = [structure] + ([scope.holder] if scope.ght else [])
            declared = [_declaration(r) for r in store.declarations(conn, holders, until)]
            boxes = self.mailboxes.owned_by(structure)
            addresses = [b.address for b in boxes]
            feeds = [_fact(r) for r in store.facts(conn, facts.DMP, [structure], until)]
            sent = [_fact(r) for r in store.facts(conn, facts.SENT, addresses, until)]
            tests_ok = [_fact(r) for r in store.facts(conn, facts.TEST_OK, addresses, until)]
            tests_ko = [_fact(r) for r in store.facts(conn, facts.TEST_KO, addresses, until)]
        operators = {o.id for o in self.trust.operators(fresh=True)}
        meetings = {}
        for label in semesters:
            semester = Period.parse(label)
            meetings[label], _ = self.cell.functioning(
                structure, semester.start, min(semester.end, at + timedelta(days=1))
            )
        _, procedures = self.cell.functioning(structure, at, at + timedelta(days=1))
        return rules.Site(
            structure,
            at,
            tuple(d for d in declared if d.holder == structure),
            tuple(d for d in declared if d.holder != structure) if scope.ght else None,
            meetings,
            procedures,
            tuple(feeds),
            tuple(rules.Box(b.address, b.kind, b.active and b.operator in operators) for b in boxes),
            tuple(sent),
            tuple(tests_ok),
            tuple(tests_ko),
        )
