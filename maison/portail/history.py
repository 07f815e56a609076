"""The access history in plain French (issue 24 §1; CSP L.1111-19, 003 L1420): who, which structure,
what, when, why — each record the DMP's `history` returned, told as a sentence a patient reads. An
emergency access (bris de glace, centre 15: R.1111-48) is flagged so the page shows it loudly.

A patient does not know an RPPS: the professional and the structure are named as the Annuaire Santé
lists them (`names_for`, through the Annuaire's own service functions, one read per page), the
identifier kept beside the name; one the Annuaire does not know is shown by its identifier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from maison.core import audit
from maison.core.storage import Database
from maison.identite.annuaire import service as annuaire

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
    "dmp.annonce.attente": "a consulté les documents en attente de consultation d'annonce",
    "dmp.secretariat": "a déclaré son secrétariat",
    "dmp.patient.historique": "a consulté l'historique des accès",
    "dmp.patient.regle": "a bloqué ou autorisé un professionnel",
    "dmp.patient.preferences": "a modifié les préférences du dossier",
    "dmp.patient.etat": "a changé l'état du dossier (ouverture, opposition, fermeture)",
    "dmp.patient.code": "a créé un code d'accès",
    "dmp.patient.code-revoque": "a révoqué un code d'accès",
    "dmp.patient.reglages": "a consulté les réglages du dossier",
}
EMERGENCY = {"bris_de_glace": "bris de glace", "centre_15": "centre 15 (régulation)"}
PURPOSE = {"TREAT": "soins", "ETREAT": "urgence", "PATADMIN": "démarche du patient", "HOPERAT": "fonctionnement"}


@dataclass(frozen=True)
class Names:
    """The Annuaire's names of the people and structures of a page of history, by identifier."""

    people: dict[str, str]
    structures: dict[str, str]


NO_NAMES = Names({}, {})


def person_name(practitioner: dict) -> str:
    """The Practitioner's usual name as "Dr Claire MARTIN" (its suffix is the civilité d'exercice)."""
    names = practitioner.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    title = {"DR": "Dr", "PR": "Pr", "M": "M.", "MME": "Mme"}.get(str((name.get("suffix") or [""])[0]).upper(), "")
    given = " ".join(str(g) for g in name.get("given") or [])
    return " ".join(part for part in (title, given, str(name.get("family") or "")) if part)


def annuaire_names(db: Database, people: set[str], structures: set[str]) -> Names:
    """These professionals (IdNatPS) and structures named as the Annuaire lists them, in one read
    transaction of the Annuaire's own service functions, batched (one query for the people, one for
    the structures, not one per identifier); one it does not know is left out."""
    with db.read() as conn:
        practitioners = annuaire.practitioners(conn, people)
        organizations = annuaire.organizations(conn, structures)
    found_people = {k: name for k, p in practitioners.items() if (name := person_name(p))}
    found_structures = {k: str(o["name"]) for k, o in organizations.items() if o.get("name")}
    return Names(found_people, found_structures)


def names_for(db: Database, rows: list[dict]) -> Names:
    """Who and which structure each row of the history names."""
    people = {r["actor_person"] for r in rows if r.get("actor_person")}
    return annuaire_names(db, people, {r["actor_structure"] for r in rows if r.get("actor_structure")})


@dataclass(frozen=True)
class AccessLine:
    when: str
    who: str
    who_id: str  # the IdNatPS beside the name ("" for the patient herself)
    structure: str
    what: str
    why: str
    emergency: str  # "" or the emergency mode, in French
    refused: bool


def french_moment(recorded_at: str) -> str:
    """An ISO instant as a patient reads it: "le 07/12/2026 à 14:05", Paris time."""
    try:
        moment = datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).astimezone(PARIS)
    except ValueError:
        return recorded_at
    return moment.strftime("le %d/%m/%Y à %H:%M")


def line(row: dict, you: str, names: Names = NO_NAMES, holder: str = "") -> AccessLine:
    """`you`: who reads the page (the patient, or the legal representative acting for the minor
    `holder`, whose own acts are then told as the holder's)."""
    detail = audit.detail_of(row)
    actor = detail.get("actor", {}) if isinstance(detail.get("actor"), dict) else {}
    person = row["actor_person"]
    yourself = person == you
    mode = str(actor.get("mode", "normal"))
    reason = str(actor.get("motif") or "")
    purpose = PURPOSE.get(row.get("purpose", ""), row.get("purpose", ""))
    structure = row["actor_structure"]
    named = names.people.get(person)
    if yourself:
        who = "Vous"
    elif actor.get("kind") == "patient":  # the minor herself, or a legal representative, in Mon espace santé
        who = "Titulaire du dossier" if person == holder else "Représentant légal"
    else:
        who = named or (f"Professionnel {person}" if person else "Service")
    return AccessLine(
        when=french_moment(row["recorded_at"]),
        who=who,
        who_id="" if yourself or not named else person,
        structure=(
            names.structures.get(structure, structure) if structure else ("—" if yourself else "non renseignée")
        ),
        what=WHAT.get(row["action"], row["action"]),
        why=reason or (purpose if not yourself else "votre consultation"),
        emergency=EMERGENCY.get(mode, ""),
        refused=row.get("outcome") != "success",
    )


def in_french(rows: list[dict], you: str, names: Names = NO_NAMES, holder: str = "") -> list[AccessLine]:
    """The lines of rows in trail order (oldest first, as `Dmp.history` gives them), newest first."""
    return newest_first(rows[::-1], you, names, holder)


def newest_first(rows: list[dict], you: str, names: Names = NO_NAMES, holder: str = "") -> list[AccessLine]:
    """The lines of rows already newest first (a page of `Dmp.history_page`)."""
    return [line(row, you, names, holder) for row in rows]


@dataclass(frozen=True)
class Paging:
    """The history's page links: `newer` and `older` are None on the first and the last page."""

    page: int
    more: bool
    base: str

    @property
    def newer(self) -> str | None:
        return None if self.page == 1 else (self.base if self.page == 2 else f"{self.base}?page={self.page - 1}")

    @property
    def older(self) -> str | None:
        return f"{self.base}?page={self.page + 1}" if self.more else None
