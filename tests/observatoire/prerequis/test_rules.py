"""Each SUN-ES prerequisite's rule (seed 004), met and missing in each way the seed names."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

import pytest

from maison.observatoire.prerequis import rules
from maison.observatoire.prerequis.model import Declaration, Item
from maison.observatoire.prerequis.rules import Box, Fact, Site, add_years

S = "1750000019"
AT = date(2026, 12, 7)
_ids = count(1)
PROCEDURES = {
    "identification": "2021-01-01",
    "rapprochement": "2021-01-01",
    "creation": "2021-01-01",
    "fusion": "2021-01-01",
}


def decl(item: Item, on: date | str, window: int | None = None, holder: str = S, **facts) -> Declaration:
    day = on if isinstance(on, date) else date.fromisoformat(on)
    return Declaration(next(_ids), holder, item, day, window, facts, None, "899900038441", S, "2026-12-07T08:00:00")


def fact(kind: str, subject: str, seq: int = 7, **detail) -> Fact:
    return Fact(kind, subject, "", seq, "2026-11-02T10:00:00+00:00", seq, detail)


# --- PS1.1 -----------------------------------------------------------------------------------------------


def test_ps1_1_met_with_a_meeting_each_semester_and_the_four_procedures():
    site = Site(S, AT, meetings={"2026-S1": ["2026-03-02"], "2026-S2": ["2026-09-15"]}, procedures=PROCEDURES)
    check = rules.ps1_1(site, ["2026-S1", "2026-S2"])
    assert check.met and check.source == "etabli" and "réunion du 2026-09-15" in check.proofs


def test_ps1_1_a_semester_without_a_meeting_is_named():
    # 004 L341, L353: a meeting a semester at least
    site = Site(S, AT, meetings={"2026-S1": ["2026-03-02"]}, procedures=PROCEDURES)
    check = rules.ps1_1(site, ["2026-S1", "2026-S2"])
    assert check.missing == (
        "aucune réunion de la cellule d'identitovigilance au semestre 2026-S2 (une par semestre a minima)",
    )


def test_ps1_1_missing_procedures_are_named():
    # 004 L379: identification, rapprochement, création, fusion
    site = Site(S, AT, meetings={"2026-S2": ["2026-09-15"]}, procedures={"identification": "2021-01-01"})
    assert rules.ps1_1(site, ["2026-S2"]).missing == (
        "procédure de rapprochement d'identités absente",
        "procédure de création d'identité absente",
        "procédure de fusion d'identités absente",
    )


# --- PS1.2 -----------------------------------------------------------------------------------------------


def test_ps1_2_exhaustive_questionnaire():
    assert rules.ps1_2(Site(S, AT, (decl(Item.RNIV, "2026-10-01", questions=40, reponses=40),))).met


@pytest.mark.parametrize(
    ("declared", "missing"),
    [
        ((), "questionnaire d'appropriation du RNIV non renseigné"),
        (
            (decl(Item.RNIV, "2026-10-01", questions=40, reponses=39),),
            "questionnaire d'appropriation du RNIV incomplet : 39 réponses sur 40",
        ),
    ],
)
def test_ps1_2_missing(declared, missing):
    assert rules.ps1_2(Site(S, AT, declared)).missing == (missing,)


# --- PS2.1 -----------------------------------------------------------------------------------------------

AGENDA = ["incidents-securite", "plan-action-ssi"]


def _meetings(at: date = AT) -> tuple[Declaration, ...]:
    days = [at - timedelta(days=d) for d in (10, 200, 380, 600)]  # two in each of the last two years
    return tuple(decl(Item.RSSI_MEETING, d, ordre_du_jour=AGENDA) for d in days)


def _security(pssi_on: date, *extra: Declaration) -> tuple[Declaration, ...]:
    return (
        decl(Item.PSSI, pssi_on, signee_par_directeur=True),
        decl(
            Item.RISK_ANALYSIS,
            "2025-01-10",
            ressources_par_criticite=True,
            menaces_hors_cyber=True,
            plan_traitement=True,
        ),
        decl(Item.ACTION_PLAN, "2025-02-01", instruction_309=True),
        decl(Item.INCIDENT_PROCEDURE, "2024-05-01"),
        decl(Item.RSSI, "2024-05-01", nom="Claire RSSI", hors_dsi=True),
        *_meetings(),
        *extra,
    )


def test_ps2_1_met_with_a_pssi_just_under_three_years_old():
    check = rules.ps2_1(Site(S, AT, _security(add_years(AT, -3) + timedelta(days=1))))
    assert check.met and check.notes == ()


def test_ps2_1_a_pssi_three_years_and_one_day_old_is_not_valid():
    # 004 L444, L516: "à jour depuis moins de 3 ans"
    old = add_years(AT, -3) - timedelta(days=1)
    assert rules.ps2_1(Site(S, AT, _security(old))).missing == (
        f"PSSI de l'établissement signée le {old.isoformat()} : plus de 3 ans à l'instant t",
    )


def test_ps2_1_an_unsigned_pssi_is_not_valid():
    declared = (decl(Item.PSSI, "2025-06-01", signee_par_directeur=False), *_security(date(2025, 6, 1))[1:])
    assert rules.ps2_1(Site(S, AT, declared)).missing == ("PSSI de l'établissement non signée par le directeur",)


def test_ps2_1_one_rssi_meeting_in_a_year_is_missing():
    # 004 L483, L525: at least two a year over the last two years
    declared = tuple(d for d in _security(date(2025, 6, 1)) if d.effective_on != AT - timedelta(days=200))
    assert rules.ps2_1(Site(S, AT, declared)).missing == (
        "1 réunion(s) RSSI/direction du 2025-12-08 au 2026-12-07 : 2 par an attendues sur les deux dernières années",
    )


def test_ps2_1_a_meeting_without_the_agenda_does_not_count():
    # 004 L527: the SSI action plan and the security incidents on the agenda
    declared = [d for d in _security(date(2025, 6, 1)) if d.effective_on != AT - timedelta(days=10)]
    declared.append(decl(Item.RSSI_MEETING, AT - timedelta(days=10), ordre_du_jour=["plan-action-ssi"]))
    check = rules.ps2_1(Site(S, AT, tuple(declared)))
    assert len(check.missing) == 1 and check.missing[0].startswith("1 réunion(s) RSSI/direction du 2025-12-08")
    assert "non comptée" in check.notes[0]


def test_ps2_1_each_missing_piece_is_named():
    declared = (
        decl(Item.PSSI, "2025-06-01", signee_par_directeur=True),
        decl(
            Item.RISK_ANALYSIS,
            "2025-01-10",
            ressources_par_criticite=True,
            menaces_hors_cyber=False,
            plan_traitement=True,
        ),
        decl(Item.ACTION_PLAN, "2025-02-01", instruction_309=False),
        decl(Item.RSSI, "2024-05-01", nom="Paul DSI", hors_dsi=False),
        *_meetings(),
    )
    check = rules.ps2_1(Site(S, AT, declared))
    assert check.missing == (
        "analyse des risques sans l'analyse des menaces au-delà des seules cyberattaques",  # 004 L477
        "plan d'action SSI en lien avec l'instruction 309 du 14 octobre 2016 absent",  # 004 L479
        "procédure de remontée des incidents de sécurité (art. L.1111-8-2 CSP) absente",  # 004 L480
    )
    # 004 L460: outside the DSI is to be preferred, not required
    assert check.notes == ("RSSI rattaché à la DSI : un positionnement hors DSI est à privilégier",)


def test_ps2_1_for_a_ght_site():
    # 004 L464-468: the GHT's framework PSSI and RSSI, a referent per site; meetings may be the GHT's
    own = tuple(d for d in _security(date(2025, 6, 1)) if d.item not in (Item.RSSI, Item.RSSI_MEETING))
    ght = (
        decl(Item.PSSI_GHT, "2024-01-01", holder="ght:G", signee_par_directeur=True),
        decl(Item.RSSI, "2024-01-01", holder="ght:G", nom="RSSI GHT", hors_dsi=True),
        *(decl(Item.RSSI_MEETING, d.effective_on, holder="ght:G", ordre_du_jour=AGENDA) for d in _meetings()),
    )
    assert rules.ps2_1(Site(S, AT, own, ght)).missing == ("référent sécurité SI de l'établissement non désigné",)
    with_referent = (*own, decl(Item.SECURITY_REFERENT, "2024-01-01", nom="Référent"))
    assert rules.ps2_1(Site(S, AT, with_referent, ght)).met
    assert rules.ps2_1(Site(S, AT, with_referent, ght[1:])).missing == ("PSSI cadre du GHT absente",)


# --- PS2.2 -----------------------------------------------------------------------------------------------


AUDIT_FACTS = {
    "prestataire": "CyberVeille SAS",
    "origine": "prestataire",
    "piece": "attestation",
    "perimetre": ["internet", "vpn"],
    "signee_par_directeur": True,
}


def audit_decl(on: str, window: int, **changes) -> Declaration:
    return decl(Item.CYBER_AUDIT, on, window, **(AUDIT_FACTS | changes))


def test_ps2_2_an_attestation_for_the_window():
    assert rules.ps2_2(Site(S, AT, (audit_decl("2023-03-01", 4),)), 4).met
    assert rules.ps2_2(Site(S, AT, (audit_decl("2020-05-01", 2),)), 2).met  # 004 L593: 2020 is accepted there


def test_ps2_2_is_proven_again_each_window():
    # 004 L156: PS2.2 is the one prerequisite proven again at each window
    check = rules.ps2_2(Site(S, AT, (audit_decl("2023-03-01", 3),)), 4)
    assert check.missing == (
        "aucune attestation d'audit de cybersurveillance pour la fenêtre 4 (à fournir à chaque fenêtre)",
    )


def test_ps2_2_an_audit_of_2020_is_refused_for_window_4():
    d = audit_decl("2020-11-30", 4)
    assert rules.ps2_2(Site(S, AT, (d,)), 4).missing == (
        f"déclaration {d.id} : audit du 2020-11-30 : la fenêtre 4 n'accepte que les audits réalisés à partir de 2021",
    )
    d2019 = audit_decl("2019-12-31", 1)
    assert "à partir de 2020" in rules.ps2_2(Site(S, AT, (d2019,)), 1).missing[0]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"origine": "anssi-ads"}, "audit ANSSI (ADS ou SILENE) non recevable"),  # 004 L575
        ({"origine": "anssi-silene"}, "audit ANSSI (ADS ou SILENE) non recevable"),
        ({"signee_par_directeur": False}, "attestation non signée par le directeur"),  # 004 L586
        ({"perimetre": ["internet"]}, "attestation sans le périmètre : les accès VPN"),  # 004 L587
        (
            {"piece": "bon-de-commande"},
            "bon de commande refusé : seule l'attestation de réalisation vaut à partir de la fenêtre 2",
        ),  # 004 L591
    ],
)
def test_ps2_2_refusals(changes, why):
    d = audit_decl("2023-03-01", 3, **changes)
    assert rules.ps2_2(Site(S, AT, (d,)), 3).missing == (f"déclaration {d.id} : {why}",)


def test_ps2_2_a_purchase_order_of_window_1_needed_the_audit_by_the_end_of_2021():
    d = audit_decl("2021-09-01", 1, piece="bon-de-commande")  # 004 L589
    assert rules.ps2_2(Site(S, date(2021, 10, 15), (d,)), 1).met
    assert "au 31 décembre 2021" in rules.ps2_2(Site(S, AT, (d,)), 1).missing[0]


# --- PS3.1, PS3.2 ------------------------------------------------------------------------------------------

PFI, ACCUEIL = "pfi@chu.mssante.fr", "accueil@chu.mssante.fr"


def test_ps3_1_established_from_a_feed_else_the_cme_fallback():
    feed = Fact("dmp", S, "DPI-CHU", 12, "2026-11-02T10:00:00+00:00", 40, {})
    check = rules.ps3_1(Site(S, AT, feeds=(feed,)))
    assert check.met and check.source == "etabli" and "logiciel DPI-CHU" in check.proofs[0]
    assert rules.ps3_1(Site(S, AT)).missing == (
        "aucune alimentation du DMP acceptée depuis un logiciel de la structure",
    )
    decision = decl(Item.CME_DECISION, "2026-01-10")
    screens = decl(Item.DMP_SCREENSHOTS, "2026-01-12", solution="DPI", version="5.2")
    assert rules.ps3_1(Site(S, AT, (decision, screens))).source == "declare"  # 004 L657
    assert rules.ps3_1(Site(S, AT, (decision,))).missing[1] == (
        "à défaut, il manque les captures d'écran avec la version du logiciel"
    )


def test_ps3_2_a_connected_mailbox_that_sent():
    boxes = (Box(PFI, "APP", True),)
    assert rules.ps3_2(Site(S, AT, boxes=boxes, sent=(fact("mss-envoi", PFI),))).met
    assert rules.ps3_2(Site(S, AT, boxes=boxes)).missing == ("aucun message envoyé depuis une BAL de la structure",)
    outside = (Box(PFI, "APP", False),)  # its operator is not (or no longer) in the trust space
    assert rules.ps3_2(Site(S, AT, boxes=outside, sent=(fact("mss-envoi", PFI),))).missing == (
        "aucune BAL de la structure chez un opérateur de l'espace de confiance MSSanté",
    )
    proof = decl(Item.MSS_SEND_PROOF, "2026-02-01", expediteur=PFI, destinataire="x@y.mssante.fr")
    assert rules.ps3_2(Site(S, AT, (proof,))).source == "declare"  # 004 L683


# --- PS4.1 -------------------------------------------------------------------------------------------------


def test_ps4_1_a_conforming_test_and_an_org_mailbox():
    boxes = (Box(PFI, "APP", True), Box(ACCUEIL, "ORG", True))
    check = rules.ps4_1(Site(S, AT, boxes=boxes, tests_ok=(fact("mss-test-ok", PFI),)), 7)
    assert check.met and check.proofs[1] == f"BAL organisationnelle {ACCUEIL}"


def test_ps4_1_missing_the_test_with_the_reason_of_the_last_one():
    boxes = (Box(PFI, "APP", True), Box(ACCUEIL, "ORG", True))
    ko = fact("mss-test-ko", PFI, manques=["aucune pièce jointe PDF"])
    check = rules.ps4_1(Site(S, AT, boxes=boxes, tests_ko=(ko,)), 7)
    assert check.missing == (
        "aucun message test avec une archive IHE_XDM.ZIP (CDA R2 N1) et un PDF envoyé à "
        "reponse.automatique-test@patient.mssante.fr depuis une BAL de la structure ; "
        "dernier test non conforme : aucune pièce jointe PDF",
    )


def test_ps4_1_without_an_org_mailbox():
    # 004 L710, L741: an ORG mailbox to receive and read the patients' messages, whatever sent the test
    check = rules.ps4_1(Site(S, AT, boxes=(Box(PFI, "APP", True),), tests_ok=(fact("mss-test-ok", PFI),)), 7)
    assert check.missing == (
        "aucune BAL organisationnelle (ORG) de la structure pour recevoir les messages des patients",
    )


def test_ps4_1_purchase_order_in_window_2_only():
    # 004 L712, L728: window 2, deployed by 30 June 2022
    boxes = (Box(ACCUEIL, "ORG", True),)
    order = decl(Item.MSS_PURCHASE_ORDER, "2022-03-01", 2, deploiement_au_plus_tard="2022-06-30")
    assert rules.ps4_1(Site(S, AT, (order,), boxes=boxes), 2).met
    assert not rules.ps4_1(Site(S, AT, (order,), boxes=boxes), 3).met
    late = decl(Item.MSS_PURCHASE_ORDER, "2022-03-01", 2, deploiement_au_plus_tard="2022-09-30")
    assert not rules.ps4_1(Site(S, AT, (late,), boxes=boxes), 2).met


def test_a_declaration_dated_after_instant_t_does_not_count():
    later = decl(Item.RNIV, AT + timedelta(days=1), questions=1, reponses=1)
    assert not rules.ps1_2(Site(S, AT, (later,))).met
