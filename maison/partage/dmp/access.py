"""Who may feed and who may read a dossier, and which of its documents: every answer with its reason.

The order follows the sources, strongest first (docs/research/habilitation-matrix.md §6):
the dossier's own state; the access mode (bris de glace, centre 15, delegation code); the patient's
blocks and the médecin traitant; the patient's answer to the structure's information (seed 002
L555-565); then, per document, the visibility flags and the default matrix (seed 000 L2078).
Feeding is not governed by the matrix: every professional taking part in care must feed the DMP
(CSP L.1111-15; seed 000 L4121-4125); only the patient's justified opposition stops it.

Emergency modes (issue 18 §2.1) are not self-declared. The seeds are silent on them (they only let
the patient block "tout ou partie des professionnels", seed 000 L253), so Maison follows the DMP's
public rules: bris de glace is for a health professional in an emergency, the centre de régulation
mode for the SAMU-Centre 15's médecin régulateur (CSP L.1111-17 I), each restricted to the professions
and structure sectors the matrix file lists (`Matrix.may_use_mode`); each keeps its own opposition
by the patient (two distinct consents, REG-2); an emergency is the professional's own act, never a
secretary's under delegation; and a professional the patient blocked stays blocked in an emergency,
as in the real DMP (the block names him; an emergency does not lift it — seed 000 L253).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from maison.partage.dmp.habilitation import Decision, Matrix
from maison.partage.dmp.model import AccessMode, DossierState, InformationState, Who

PROFESSION_MEDECIN = "10"
EMERGENCY_MODES = (AccessMode.BRIS_DE_GLACE, AccessMode.CENTRE_15)
# CSP R.1111-53: a document made inaccessible to the patient until the consultation d'annonce becomes
# accessible on its own one month after it was deposited; the patient is told after two weeks.
ANNONCE_NOTICE = timedelta(days=14)
ANNONCE_AUTO_VISIBLE = timedelta(days=30)


@dataclass(frozen=True)
class DossierView:
    """What the rules need to know of one dossier and of the caller's standing in it."""

    ins: str
    state: DossierState
    medecin_traitant: str | None
    oppose_bris_de_glace: bool
    oppose_centre_15: bool
    alimentation: InformationState  # the caller's structure's record, NOT_INFORMED when none
    consultation: InformationState
    rule: str | None  # the patient's rule for the caller: bloque / autorise / None
    code_rubriques: frozenset[str]  # rubriques opened to the caller by a valid delegation code
    exists: bool = True  # False: no row yet (the DMP exists for everyone unless opposed, CRE-1)
    sector: str = ""  # TRE_R02 sector of the caller's structure, read for the emergency modes only


@dataclass(frozen=True)
class DocumentView:
    type_code: str
    class_code: str
    author: str
    author_structure: str
    masque_ps: bool
    invisible_patient: bool
    invisible_representants: bool
    submitted_at: datetime


def allow(reason: str, message: str, basis: str) -> Decision:
    return Decision(True, reason, message, basis)


def deny(reason: str, message: str, basis: str) -> Decision:
    return Decision(False, reason, message, basis)


def _traitant(who: Who, dossier: DossierView) -> bool:
    return bool(dossier.medecin_traitant) and dossier.medecin_traitant in (who.person, who.on_behalf_of)


def mode_refusal(who: Who, dossier: DossierView, matrix: Matrix) -> Decision | None:
    """The refusal of an access mode this caller may not use at all, or None. Emergency modes are
    a professional's own (not a structure's software, a patient, nor a secretary under delegation),
    within the matrix's professions and structure sectors (CSP L.1111-17 I; see the module's docstring)."""
    if who.mode not in EMERGENCY_MODES:
        return None
    if who.kind != "professional" or who.on_behalf_of:
        return deny(
            "mode-urgence-personnel",
            f"le mode {who.mode.value} est l'acte personnel d'un professionnel "
            "de santé authentifié (ni logiciel, ni patient, ni secrétariat)",
            "CSP L.1111-17 I",
        )
    decision = matrix.may_use_mode(who.mode.value, who.profession, dossier.sector)
    return None if decision.allowed else decision


def may_feed(who: Who, dossier: DossierView, matrix: Matrix) -> Decision:
    if dossier.state is not DossierState.ACTIVE:
        return deny("dossier-ferme", f"le DMP de ce patient est {dossier.state.value}", "000 L253, L3228")
    if who.kind == "patient":
        return deny("alimentation-patient", "le patient dépose ses documents par Mon espace santé", "000 L3273")
    refused = mode_refusal(who, dossier, matrix)
    if refused is not None:
        return refused
    if who.mode is AccessMode.BRIS_DE_GLACE and dossier.oppose_bris_de_glace:  # L.1111-17 I: feeding too
        return deny(
            "bris-de-glace-oppose",
            "le patient s'est opposé à l'accès en urgence (bris de glace)",
            "CSP L.1111-17 I, R.1111-48",
        )
    # A professional the patient blocked still feeds what he produces (CSP L.1111-15): blocks restrict reading.
    if dossier.alimentation is InformationState.OPPOSED:  # seed 002 L557-559
        return deny(
            "opposition-alimentation",
            "le patient, informé, s'est opposé à l'alimentation de son DMP par cette structure",
            "002 L551, L555-559; CSP R.1111-47",
        )
    # 002 L557: not yet informed → the professional may feed.
    return allow("alimentation-autorisee", f"alimentation ({dossier.alimentation.value})", "002 L555-559")


def may_open(who: Who, dossier: DossierView, matrix: Matrix) -> Decision:
    """May this professional consult this dossier at all (before looking at any document)?"""
    if dossier.state is not DossierState.ACTIVE:
        return deny("dossier-ferme", f"le DMP de ce patient est {dossier.state.value}", "000 L253, L3228")
    refused = mode_refusal(who, dossier, matrix)
    if refused is not None:
        return refused
    if who.kind == "software":
        return allow(
            "authentification-indirecte",
            "structure en authentification indirecte : ses propres documents",
            "GI DMP AIR (002 L619-620)",
        )
    if who.mode in EMERGENCY_MODES and dossier.rule == "bloque" and not _traitant(who, dossier):
        # seed 000 L253: the patient blocks "tout ou partie des professionnels"; the real DMP keeps a
        # blocked professional blocked whatever the access mode (an emergency does not lift the block).
        return deny(
            "bloque-par-patient",
            "le patient a bloqué l'accès de ce professionnel à son DMP, y compris en urgence",
            "000 L253; CSP L.1111-19",
        )
    if who.mode is AccessMode.BRIS_DE_GLACE:
        if dossier.oppose_bris_de_glace:
            return deny(
                "bris-de-glace-oppose",
                "le patient s'est opposé à l'accès en urgence (bris de glace)",
                "CSP L.1111-17 I, R.1111-48",
            )
        if not who.reason.strip():
            return deny(
                "bris-de-glace-sans-motif",
                "l'accès en bris de glace doit être justifié (X-Motif-Acces)",
                "CSP L.1111-17 I",
            )
        return allow("bris-de-glace", f"accès en urgence : {who.reason}", "CSP L.1111-17 I")
    if who.mode is AccessMode.CENTRE_15:
        if dossier.oppose_centre_15:
            return deny(
                "centre-15-oppose", "le patient s'est opposé à l'accès par le centre de régulation", "CSP L.1111-17 I"
            )
        return allow("centre-15", "accès du médecin régulateur", "CSP L.1111-17 I")
    if who.mode is AccessMode.CODE:
        if "dmp" not in dossier.code_rubriques:
            return deny(
                "code-invalide", "code d'accès inconnu, expiré, révoqué ou sans la rubrique DMP", "000 L3369-3376"
            )
        return allow("code", "accès délégué par le patient (code)", "000 L3238, L3369-3376")
    if who.person == dossier.medecin_traitant or who.on_behalf_of and who.on_behalf_of == dossier.medecin_traitant:
        return allow("medecin-traitant", "médecin traitant du patient", "CSP L.1111-16")
    if dossier.rule == "bloque":
        return deny(
            "bloque-par-patient", "le patient a bloqué l'accès de ce professionnel à son DMP", "CSP L.1111-19; 000 L253"
        )
    if dossier.rule == "autorise":
        return allow("autorise-par-patient", "professionnel autorisé par le patient", "CSP L.1111-19, R.1111-46")
    if dossier.consultation is InformationState.NOT_INFORMED:  # seed 002 L561: N/A → may not consult
        return deny(
            "patient-non-informe",
            "le patient n'a pas été informé de l'accès à son DMP par cette structure : consultation impossible",
            "002 L535-540, L561",
        )
    if dossier.consultation is InformationState.OPPOSED:  # seed 002 L565
        return deny(
            "opposition-consultation",
            "le patient, informé, s'est opposé à la consultation de son DMP",
            "002 L551, L565",
        )
    return allow("informe-non-oppose", "patient informé, non opposé", "002 L563")


def may_read(who: Who, dossier: DossierView, doc: DocumentView, matrix: Matrix, now: datetime) -> Decision:
    """One document, once `may_open` (professionals) allowed the dossier."""
    if who.kind == "patient":
        return _patient_reads(who, doc, now)
    if who.kind == "software":
        if doc.author_structure == who.structure:
            return allow("document-de-la-structure", "document déposé par la structure", "CSP R.1111-49")
        return deny(
            "authentification-indirecte",
            "en authentification indirecte, seuls les documents de la structure sont accessibles",
            "GI DMP AIR",
        )
    acting = who.on_behalf_of or who.person
    authored = doc.author in (who.person, acting) or doc.author_structure == who.structure
    traitant = acting == dossier.medecin_traitant
    if doc.masque_ps:
        if authored:
            return allow("auteur", "document masqué, visible de son auteur", "CSP R.1111-49")
        if traitant:
            return allow("medecin-traitant", "document masqué, visible du médecin traitant", "CSP L.1111-16")
        return deny("masque-ps", "document masqué aux professionnels par le patient", "CSP R.1111-49; 002 L801")
    if authored:
        return allow("auteur", "document déposé par ce professionnel ou sa structure", "CSP R.1111-49")
    if traitant:
        return allow("medecin-traitant", "le médecin traitant accède à toutes les informations", "CSP L.1111-16")
    return matrix.decide(who.profession, doc.type_code, doc.class_code)


def announced(doc: DocumentView, now: datetime) -> bool:
    """R.1111-53: still awaiting its consultation d'annonce (not yet automatically visible)?"""
    return doc.invisible_patient and now < doc.submitted_at + ANNONCE_AUTO_VISIBLE


def _patient_reads(who: Who, doc: DocumentView, now: datetime) -> Decision:
    if announced(doc, now):
        return deny(
            "invisible-patient",
            "document non visible du patient avant la consultation d'annonce",
            "CSP R.1111-53; 002 L391, L801",
        )
    if who.is_representative and doc.invisible_representants:
        return deny(
            "invisible-representants",
            "document non visible des représentants légaux (secret du mineur)",
            "CSP L.1111-5; 002 L801",
        )
    return allow("titulaire", "le titulaire accède à son dossier", "CSP L.1111-19")
