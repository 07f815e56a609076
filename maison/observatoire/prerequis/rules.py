"""Each prerequisite's validity rule at instant t, as plain functions of what is known of one site.

What the house establishes (PS1.1, PS3.1, PS3.2, PS4.1) and what is declared (PS1.2, PS2.1, PS2.2, the
fallbacks) arrive here as a `Site`; each rule answers a `Check` naming every missing item. The seed's
line is beside each rule (seed 004, the SUN-ES prerequisites guide).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from maison.etablissement.vigilance.cellule import REQUIRED_PROCEDURES
from maison.observatoire.prerequis.model import Check, Declaration, Item, Prerequisite

PSSI_YEARS = 3  # 004 L444 "mise à jour a minima tous les trois ans", L516 "à jour depuis moins de 3 ans"
RSSI_MEETINGS_A_YEAR = 2  # 004 L483, L525: at least 2 a year, over the last two years
RSSI_AGENDA = frozenset({"plan-action-ssi", "incidents-securite"})  # 004 L483, L527
RISK_PARTS = {  # 004 L476-478
    "ressources_par_criticite": "l'identification des ressources informatiques classées par criticité",
    "menaces_hors_cyber": "l'analyse des menaces au-delà des seules cyberattaques",  # 004 L477
    "plan_traitement": "le plan de traitement des risques",
}
ANSSI_AUDITS = frozenset({"anssi-ads", "anssi-silene"})  # 004 L575: not accepted
AUDIT_PERIMETER = {"internet": "les domaines exposés sur Internet", "vpn": "les accès VPN"}  # 004 L587
# 004 L593: windows 1-3 accept "les audits réalisés après 2020", refuse those "réalisés avant 2020";
# L595: window 4, after / before 2021. The year named is read as accepted (neither sentence refuses it,
# and window 1 was applied for in 2021); a later window keeps window 4's rule, the last the seed gives.
AUDIT_YEAR_FROM = {1: 2020, 2: 2020, 3: 2020, 4: 2021}
ORDER_WINDOW_1_DONE_BY = date(2021, 12, 31)  # 004 L589: a purchase order, if the audit is done by then
MSS_ORDER_WINDOW = 2  # 004 L712, L728: a purchase order for window 2 only
MSS_ORDER_DEPLOYED_BY = date(2022, 6, 30)  # 004 L712
STRUCTURE_MAILBOXES = frozenset({"ORG", "APP", "CAB"})  # owned by the structure (PER: by a professional)


@dataclass(frozen=True)
class Fact:
    """A fact folded from the trail (`facts.py`)."""

    kind: str
    subject: str
    key: str
    first_seq: int
    first_at: str
    last_seq: int
    detail: dict[str, Any]


@dataclass(frozen=True)
class Box:
    """A mailbox of the structure: its kind, and whether it is usable in the trust space now (active,
    at an operator the trust space lists as active)."""

    address: str
    kind: str
    in_trust_space: bool


@dataclass(frozen=True)
class Site:
    """What is known of one structure at instant t (records and declarations made by then)."""

    structure: str
    at: date
    declarations: tuple[Declaration, ...] = ()
    ght: tuple[Declaration, ...] | None = None  # its GHT's own declarations when the scope is a GHT
    meetings: dict[str, list[str]] = field(default_factory=dict)  # semester → meeting days
    procedures: dict[str, str] = field(default_factory=dict)
    feeds: tuple[Fact, ...] = ()
    boxes: tuple[Box, ...] = ()
    sent: tuple[Fact, ...] = ()
    tests_ok: tuple[Fact, ...] = ()
    tests_ko: tuple[Fact, ...] = ()

    def declared(self, item: Item, *, of_ght: bool = False) -> list[Declaration]:
        source = (self.ght or ()) if of_ght else self.declarations
        return [d for d in source if d.item == item and d.effective_on <= self.at]


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return date(day.year + years, 3, 1)


# --- PS1: identitovigilance ------------------------------------------------------------------------------


def ps1_1(site: Site, semesters: list[str], *, ght_cell: bool = False) -> Check:
    """004 L341, L353: the cell meets at least once a semester; L339, L379: its procedures of
    identification, rapprochement, création and fusion exist. Its periodic report (a)-(c), L341-345,
    is the house's own (`Cellule.report`), built from these meetings, incidents and corrections."""
    missing = [
        f"aucune réunion de la cellule d'identitovigilance au semestre {s} (une par semestre a minima)"
        for s in semesters
        if not site.meetings.get(s)
    ]
    missing += [f"{label} absente" for kind, label in REQUIRED_PROCEDURES.items() if kind not in site.procedures]
    proofs = [f"réunion du {day}" for s in semesters for day in site.meetings.get(s, [])]
    proofs += [f"procédure {kind} adoptée le {day}" for kind, day in sorted(site.procedures.items())]
    notes = ["cellule du GHT : celle de l'établissement support (004 L347)"] if ght_cell else []
    return Check(Prerequisite.PS1_1, site.structure, tuple(missing), "etabli", tuple(proofs), tuple(notes))


def ps1_2(site: Site) -> Check:
    """004 L396-397: the RNIV appropriation questionnaire answered exhaustively, per structure."""
    answers = site.declared(Item.RNIV)
    complete = [d for d in answers if 0 < int(d.facts["questions"]) <= int(d.facts["reponses"])]
    if complete:
        return Check(Prerequisite.PS1_2, site.structure, (), "declare", (complete[-1].proof,))
    if not answers:
        missing = ("questionnaire d'appropriation du RNIV non renseigné",)
    else:
        last = answers[-1].facts
        missing = (
            f"questionnaire d'appropriation du RNIV incomplet : {last['reponses']} réponses sur {last['questions']}",
        )
    return Check(Prerequisite.PS1_2, site.structure, missing, "declare")


# --- PS2: security ------------------------------------------------------------------------------------------


def _pssi(site: Site, item: Item, what: str, *, of_ght: bool = False) -> tuple[list[str], list[str]]:
    """004 L516: signed by the director, updated less than 3 years before instant t (L444)."""
    declared = site.declared(item, of_ght=of_ght)
    valid = [d for d in declared if d.facts["signee_par_directeur"] and site.at < add_years(d.effective_on, PSSI_YEARS)]
    if valid:
        return [], [valid[-1].proof]
    if not declared:
        return [f"{what} absente"], []
    last = declared[-1]
    if not last.facts["signee_par_directeur"]:
        return [f"{what} non signée par le directeur"], []
    return [f"{what} signée le {last.effective_on.isoformat()} : plus de {PSSI_YEARS} ans à l'instant t"], []


def _meetings(site: Site) -> tuple[list[str], list[str], list[str]]:
    """004 L483, L525-527: at least 2 RSSI/direction meetings in each of the last two years (taken as
    the two 12-month spans ending at instant t), each with the SSI action plan and the security
    incidents on its agenda."""
    declared = site.declared(Item.RSSI_MEETING) + site.declared(Item.RSSI_MEETING, of_ght=True)
    counted = [d for d in declared if RSSI_AGENDA <= set(d.facts["ordre_du_jour"])]
    notes = [
        f"réunion RSSI du {d.effective_on.isoformat()} non comptée : ordre du jour sans le suivi du plan "
        "d'action SSI et des incidents de sécurité"
        for d in declared
        if d not in counted
    ]
    missing = []
    for back in (0, 1):
        end = add_years(site.at, -back)
        start = add_years(site.at, -back - 1)
        n = sum(start < d.effective_on <= end for d in counted)
        if n < RSSI_MEETINGS_A_YEAR:
            missing.append(
                f"{n} réunion(s) RSSI/direction du {(start + timedelta(days=1)).isoformat()} au {end.isoformat()} : "
                f"{RSSI_MEETINGS_A_YEAR} par an attendues sur les deux dernières années"
            )
    return missing, [d.proof for d in counted], notes


def _risk_analysis(site: Site) -> tuple[list[str], list[str]]:
    declared = site.declared(Item.RISK_ANALYSIS)
    whole = [d for d in declared if all(d.facts[k] for k in RISK_PARTS)]
    if whole:
        return [], [whole[-1].proof]
    if not declared:
        return ["analyse détaillée des risques absente"], []
    lacking = [label for k, label in RISK_PARTS.items() if not declared[-1].facts[k]]
    return [f"analyse des risques sans {', '.join(lacking)}"], []


def _present(site: Site, item: Item, missing: str, *, flag: str | None = None, of_ght: bool = False) -> tuple:
    found = [d for d in site.declared(item, of_ght=of_ght) if flag is None or d.facts[flag]]
    return ([], [found[-1].proof]) if found else ([missing], [])


def ps2_1(site: Site) -> Check:
    """004 L294, L476-483, L516-527; for a GHT (L464-468): a framework PSSI of the GHT declined per
    site, the action plan per site, a GHT RSSI and a security referent per site."""
    in_ght = site.ght is not None
    parts = [
        _pssi(site, Item.PSSI, "PSSI de l'établissement" + (" (déclinaison de la PSSI du GHT)" if in_ght else "")),
        _risk_analysis(site),
        _present(
            site,
            Item.ACTION_PLAN,
            "plan d'action SSI en lien avec l'instruction 309 du 14 octobre 2016 absent",
            flag="instruction_309",
        ),  # 004 L479
        _present(
            site,
            Item.INCIDENT_PROCEDURE,
            "procédure de remontée des incidents de sécurité (art. L.1111-8-2 CSP) absente",
        ),  # 004 L480
    ]
    if in_ght:  # 004 L464, L468
        parts.append(_pssi(site, Item.PSSI_GHT, "PSSI cadre du GHT", of_ght=True))
        parts.append(_present(site, Item.RSSI, "RSSI du GHT non désigné", of_ght=True))
        parts.append(_present(site, Item.SECURITY_REFERENT, "référent sécurité SI de l'établissement non désigné"))
    else:
        parts.append(_present(site, Item.RSSI, "RSSI non désigné"))  # 004 L482
    meetings_missing, meetings_proofs, notes = _meetings(site)
    missing = [m for lack, _ in parts for m in lack] + meetings_missing
    proofs = [p for _, found in parts for p in found] + meetings_proofs
    rssi = site.declared(Item.RSSI, of_ght=in_ght)
    if rssi and not rssi[-1].facts["hors_dsi"]:  # 004 L460, L482: to be preferred, not required
        notes.append("RSSI rattaché à la DSI : un positionnement hors DSI est à privilégier")
    return Check(Prerequisite.PS2_1, site.structure, tuple(missing), "declare", tuple(proofs), tuple(notes))


def _audit_refusals(d: Declaration, window: int, at: date) -> list[str]:
    facts, refusals = d.facts, []
    if facts["origine"] in ANSSI_AUDITS:
        refusals.append("audit ANSSI (ADS ou SILENE) non recevable")  # 004 L575
    if facts["piece"] == "bon-de-commande":
        if window != 1:
            refusals.append("bon de commande refusé : seule l'attestation de réalisation vaut à partir de la fenêtre 2")
        elif at > ORDER_WINDOW_1_DONE_BY:  # 004 L589
            refusals.append("bon de commande de la fenêtre 1 : l'audit devait être réalisé au 31 décembre 2021")
    if not facts["signee_par_directeur"]:
        refusals.append("attestation non signée par le directeur")  # 004 L586
    lacking = [label for k, label in AUDIT_PERIMETER.items() if k not in facts["perimetre"]]
    if lacking:
        refusals.append(f"attestation sans le périmètre : {', '.join(lacking)}")  # 004 L587
    year_from = AUDIT_YEAR_FROM.get(window, AUDIT_YEAR_FROM[4])
    if d.effective_on.year < year_from:  # 004 L593, L595
        refusals.append(
            f"audit du {d.effective_on.isoformat()} : la fenêtre {window} n'accepte que les audits réalisés "
            f"à partir de {year_from}"
        )
    return refusals


def ps2_2(site: Site, window: int) -> Check:
    """004 L586-595: the provider's attestation, signed by the director, covering the Internet-exposed
    domains and the VPN accesses, its date accepted by the window; proven again at each window (L156)."""
    declared = [d for d in site.declared(Item.CYBER_AUDIT) if d.window == window]
    if not declared:
        absent = (
            f"aucune attestation d'audit de cybersurveillance pour la fenêtre {window} (à fournir à chaque fenêtre)"
        )
        return Check(Prerequisite.PS2_2, site.structure, (absent,), "declare")
    judged = [(d, _audit_refusals(d, window, site.at)) for d in declared]
    accepted = [d for d, refusals in judged if not refusals]
    if accepted:
        return Check(Prerequisite.PS2_2, site.structure, (), "declare", (accepted[-1].proof,))
    missing = tuple(f"déclaration {d.id} : {r}" for d, refusals in judged for r in refusals)
    return Check(Prerequisite.PS2_2, site.structure, missing, "declare")


# --- PS3, PS4: exchange and sharing -------------------------------------------------------------------------


def ps3_1(site: Site) -> Check:
    """004 L652, L656: DMP feeding shown by the service's own data, naming the solution; else (L657)
    the CME's decision to feed the DMP, with the software's version and screenshots."""
    if site.feeds:
        proofs = tuple(
            f"audit {f.first_seq} : alimentation acceptée du logiciel {f.key} le {f.first_at[:10]}" for f in site.feeds
        )
        return Check(Prerequisite.PS3_1, site.structure, (), "etabli", proofs)
    decision = site.declared(Item.CME_DECISION)
    screens = [d for d in site.declared(Item.DMP_SCREENSHOTS) if str(d.facts["version"]).strip()]
    if decision and screens:
        return Check(Prerequisite.PS3_1, site.structure, (), "declare", (decision[-1].proof, screens[-1].proof))
    missing = ["aucune alimentation du DMP acceptée depuis un logiciel de la structure"]
    if decision or screens:
        missing.append(
            "à défaut, il manque "
            + ("les captures d'écran avec la version du logiciel" if decision else "la décision de la CME")
        )
    return Check(Prerequisite.PS3_1, site.structure, tuple(missing), "etabli")


def ps3_2(site: Site) -> Check:
    """004 L298, L676, L682: a messaging connected to the MSSanté trust space, shown by the service's own
    data (the structure's mailboxes at an operator of the trust space, and a message sent from one);
    else (L683) the declared proof of a message sent."""
    connected = [b for b in site.boxes if b.kind in STRUCTURE_MAILBOXES and b.in_trust_space]
    if connected and site.sent:
        first = site.sent[0]
        proof = f"audit {first.first_seq} : message envoyé depuis {first.subject} le {first.first_at[:10]}"
        return Check(Prerequisite.PS3_2, site.structure, (), "etabli", (proof,))
    declared = site.declared(Item.MSS_SEND_PROOF)
    if declared:
        return Check(Prerequisite.PS3_2, site.structure, (), "declare", (declared[-1].proof,))
    missing = []
    if not connected:
        missing.append("aucune BAL de la structure chez un opérateur de l'espace de confiance MSSanté")
    if not site.sent:
        missing.append("aucun message envoyé depuis une BAL de la structure")
    return Check(Prerequisite.PS3_2, site.structure, tuple(missing), "etabli")


def ps4_1(site: Site, window: int) -> Check:
    """004 L303, L708-710, L734-741: a test message with an IHE_XDM archive (CDA R2 N1 at least) and a
    PDF sent to the citizen test mailbox, its automatic answer received; and at least one working
    organisational (ORG) mailbox to receive and read the patients' messages. Window 2 only (L712,
    L728): a purchase order of the software, deployed by 30 June 2022, stands for the test message."""
    missing, proofs, source = [], [], "etabli"
    if site.tests_ok:
        first = site.tests_ok[0]
        proofs.append(f"audit {first.first_seq} : test conforme depuis {first.subject}, réponse automatique envoyée")
    else:
        orders = [
            d
            for d in site.declared(Item.MSS_PURCHASE_ORDER)
            if window == MSS_ORDER_WINDOW == d.window
            and date.fromisoformat(d.facts["deploiement_au_plus_tard"]) <= MSS_ORDER_DEPLOYED_BY
        ]
        if orders:
            proofs.append(orders[-1].proof)
            source = "etabli+declare"
        else:
            lack = (
                "aucun message test avec une archive IHE_XDM.ZIP (CDA R2 N1) et un PDF envoyé à "
                "reponse.automatique-test@patient.mssante.fr depuis une BAL de la structure"
            )
            if site.tests_ko:
                last = max(site.tests_ko, key=lambda f: f.last_seq)
                lack += f" ; dernier test non conforme : {', '.join(last.detail.get('manques', []))}"
            missing.append(lack)
    org = [b for b in site.boxes if b.kind == "ORG" and b.in_trust_space]
    if org:
        proofs.append(f"BAL organisationnelle {org[0].address}")
    else:
        missing.append("aucune BAL organisationnelle (ORG) de la structure pour recevoir les messages des patients")
    return Check(Prerequisite.PS4_1, site.structure, tuple(missing), source, tuple(proofs))
