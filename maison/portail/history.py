"""The access history in plain French (issue 24 §1; CSP L.1111-19, 003 L1420): who, which structure,
what, when, why — each record the DMP's `history` returned, told as a sentence a patient reads. An
emergency access (bris de glace, centre 15: R.1111-48) is flagged so the page shows it loudly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from maison.core import audit

PARIS = ZoneInfo("Europe/Paris")
WHAT = {
    "dmp.rechercher": "a consulté la liste de vos documents",
    "dmp.rechercher-lots": "a consulté la liste des lots de documents",
    "dmp.lire": "a ouvert la fiche d'un document",
    "dmp.consulter": "a consulté un document",
    "dmp.alimenter": "a ajouté un document",
    "dmp.alimenter.rejeu": "a renvoyé un document déjà ajouté",
    "dmp.mettre-a-jour": "a modifié la visibilité ou le statut d'un document",
    "dmp.supprimer": "a supprimé un document",
    "dmp.information": "a consulté l'état de votre dossier",
    "dmp.information.lire": "a consulté l'état de votre dossier",
    "dmp.annonce": "a levé l'attente de consultation d'annonce d'un document",
    "dmp.secretariat": "a déclaré son secrétariat",
    "dmp.patient.historique": "a consulté l'historique des accès",
    "dmp.patient.regle": "a bloqué ou autorisé un professionnel",
    "dmp.patient.preferences": "a modifié les préférences du dossier",
    "dmp.patient.etat": "a changé l'état du dossier (ouverture, opposition, fermeture)",
    "dmp.patient.code": "a créé un code d'accès",
    "dmp.patient.code-revoque": "a révoqué un code d'accès",
}
EMERGENCY = {"bris_de_glace": "bris de glace", "centre_15": "centre 15 (régulation)"}
PURPOSE = {"TREAT": "soins", "ETREAT": "urgence", "PATADMIN": "démarche du patient", "HOPERAT": "fonctionnement"}


@dataclass(frozen=True)
class AccessLine:
    when: str
    who: str
    structure: str
    what: str
    why: str
    emergency: str  # "" or the emergency mode, in French
    refused: bool


def _when(recorded_at: str) -> str:
    try:
        moment = datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).astimezone(PARIS)
    except ValueError:
        return recorded_at
    return moment.strftime("le %d/%m/%Y à %H:%M")


def line(row: dict, subject: str) -> AccessLine:
    detail = audit.detail_of(row)
    actor = detail.get("actor", {}) if isinstance(detail.get("actor"), dict) else {}
    person = row["actor_person"]
    yourself = person == subject
    mode = str(actor.get("mode", "normal"))
    reason = str(actor.get("motif") or "")
    purpose = PURPOSE.get(row.get("purpose", ""), row.get("purpose", ""))
    return AccessLine(
        when=_when(row["recorded_at"]),
        who="Vous" if yourself else (f"Professionnel {person}" if person else "Service"),
        structure=row["actor_structure"] or ("—" if yourself else "non renseignée"),
        what=WHAT.get(row["action"], row["action"]),
        why=reason or (purpose if not yourself else "votre consultation"),
        emergency=EMERGENCY.get(mode, ""),
        refused=row.get("outcome") != "success",
    )


def in_french(rows: list[dict], subject: str) -> list[AccessLine]:
    """The lines of the page, newest first."""
    return [line(row, subject) for row in reversed(rows)]
