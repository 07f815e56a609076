"""The Annuaire Santé's pickers of Mon espace santé (issue 24 §1): a patient knows a name and a town,
not an MSSanté address nor an RPPS — so she finds the pharmacy she forwards an ordonnance to, and the
professional she blocks or declares as médecin traitant, by searching the directory.

Each search is the FHIR Annuaire API's own (`pro_annuaire.Annuaire.search`: `search.parse` then
`search.run`, the public view, mailboxes on the liste rouge left out) and leaves its `annuaire.lire`
record with the patient as actor, as /pro's annuaire page does for a professional (the observatory
counts each software's use of the Annuaire, issue 23 §3.1).

A pharmacy is an Organization of secteur d'activité SA33 (pharmacie d'officine, TRE_R02) publishing
an organisational mailbox — the one kind `Messagerie.forward` accepts — found by its name or by the
name of a pharmacist (TRE_G15 21) with an active situation there, and by its commune. A patient's
words are search words, not FHIR syntax: a comma (FHIR's OR) is a space, each word must match (FHIR's
repeated parameter: AND), and a word of punctuation only is no criterion.
"""

from __future__ import annotations

from dataclasses import dataclass

from maison.core.actor import Actor
from maison.core.errors import InvalidInput
from maison.identite.annuaire.index import fold, mailboxes
from maison.identite.annuaire.vocabulary import CS_PROFESSION, CS_SECTEUR
from maison.portail.history import person_name
from maison.portail.pro_annuaire import PROFESSIONS, Annuaire, _city, _entries, _profession

PHARMACIE_OFFICINE, PHARMACIEN = "SA33", "21"
MAX_RESULTS, MAX_WORDS, MAX_CRITERION = 10, 4, 80
BASE = "/annuaire"  # the fullUrls of the API's Bundle, which the pickers do not show


@dataclass(frozen=True)
class Pharmacy:
    """A pharmacy a patient may forward to: its name, town and organisational mailbox."""

    name: str
    city: str
    address: str
    pharmacists: tuple[str, ...] = ()  # the pharmacists whose name found it


@dataclass(frozen=True)
class Practitioner:
    """A professional a patient may choose: his IdNatPS (what the controls take), name, profession
    and the structures he practises in (to tell two namesakes apart)."""

    idnatps: str
    name: str
    profession: str
    places: tuple[str, ...]


def criterion(query: dict[str, str], name: str, label: str) -> str:
    """A search field as typed, its commas as spaces; "" when nothing in it can be searched."""
    value = " ".join(query.get(name, "").replace(",", " ").split())
    if len(value) > MAX_CRITERION:
        raise InvalidInput(f"{label} : {MAX_CRITERION} caractères au plus", code="critere-trop-long")
    return value if fold(value) else ""


def profession(query: dict[str, str]) -> str:
    """The TRE_G15 profession a search names ("" for any), one of those the pages name."""
    code = query.get("profession", "")
    if code and code not in PROFESSIONS:
        raise InvalidInput("profession : choisissez-la dans la liste", code="profession-invalide")
    return code


def _words(param: str, text: str) -> list[tuple[str, str]]:
    return [(param, w) for w in text.split() if fold(w)][:MAX_WORDS]


def _in_commune(org: dict, commune: str) -> bool:
    """The `address` search's rule on an Organization already read: its town or postal code starts so."""
    if not commune:
        return True
    address = (org.get("address") or [{}])[0]
    return fold(address.get("city", "")).startswith(fold(commune)) or address.get("postalCode", "").startswith(commune)


def _is_pharmacy(org: dict) -> bool:
    return any(
        c.get("system") == CS_SECTEUR and c.get("code") == PHARMACIE_OFFICINE
        for t in org.get("type") or []
        for c in t.get("coding") or []
    )


def _org_box(org: dict) -> str:
    return next((m["address"] for m in mailboxes(org) if m["type"] == "ORG" and not m["liste_rouge"]), "")


class Picker:
    """The searches the patient's pages offer, through the Annuaire API's recorded search."""

    def __init__(self, annuaire: Annuaire) -> None:
        self.annuaire = annuaire

    def _search(self, actor: Actor, rtype: str, params: list[tuple[str, str]]) -> dict:
        return self.annuaire.search(actor, rtype, params, BASE)

    def _roles(self, actor: Actor, people: list[str]) -> tuple[list[dict], dict[str, dict]]:
        """The active situations of these professionals and their structures, by id (one search)."""
        if not people:
            return [], {}
        params = [("practitioner", ",".join(people)), ("active", "true"), ("_include", "PractitionerRole:organization")]
        bundle = self._search(actor, "PractitionerRole", [*params, ("_count", "100")])
        return _entries(bundle, "PractitionerRole"), {o["id"]: o for o in _entries(bundle, "Organization")}

    def pharmacies(self, actor: Actor, name: str, commune: str) -> list[Pharmacy]:
        """Pharmacies with an organisational mailbox, by their name or their pharmacists', and town."""
        if not (name or commune):
            return []
        wanted = [("type", f"{CS_SECTEUR}|{PHARMACIE_OFFICINE}"), ("mailbox-mss-type", "ORG"), ("active", "true")]
        wanted += _words("name:contains", name) + ([("address", commune)] if commune else [])
        found = {
            o["id"]: o
            for o in _entries(self._search(actor, "Organization", [*wanted, ("_count", "20")]), "Organization")
        }
        by_pharmacist: dict[str, list[str]] = {}
        if name:
            params = [
                *_words("name", name),
                ("qualification-code", f"{CS_PROFESSION}|{PHARMACIEN}"),
                ("active", "true"),
            ]
            people = {
                p["id"]: p
                for p in _entries(self._search(actor, "Practitioner", [*params, ("_count", "20")]), "Practitioner")
            }
            roles, places = self._roles(actor, list(people))
            for role in roles:
                org = places.get(str(role.get("organization", {}).get("reference", "")).rpartition("/")[2])
                person = people.get(str(role.get("practitioner", {}).get("reference", "")).rpartition("/")[2])
                if org and person and _is_pharmacy(org) and _org_box(org) and _in_commune(org, commune):
                    found.setdefault(org["id"], org)
                    by_pharmacist.setdefault(org["id"], []).append(person_name(person))
        shown = sorted(found.values(), key=lambda o: (o.get("name", ""), o["id"]))[:MAX_RESULTS]
        return [
            Pharmacy(o.get("name", ""), _city(o), _org_box(o), tuple(by_pharmacist.get(o["id"], ()))) for o in shown
        ]

    def pharmacy(self, actor: Actor, address: str) -> Pharmacy | None:
        """The pharmacy whose organisational mailbox this is, or None (an address the directory does
        not list as a pharmacy's: a forged choice)."""
        if not address or len(address) > 256:
            return None
        params = [("mailbox-mss", address.lower()), ("type", f"{CS_SECTEUR}|{PHARMACIE_OFFICINE}"), ("_count", "5")]
        for org in _entries(self._search(actor, "Organization", params), "Organization"):
            if _org_box(org).lower() == address.lower() and org.get("active", True):
                return Pharmacy(org.get("name", ""), _city(org), _org_box(org))
        return None

    def practitioners(self, actor: Actor, name: str, commune: str, kind: str) -> list[Practitioner]:
        """Active professionals by name (every word matches a family or given name), of a profession
        (`kind`, TRE_G15, "" for any), practising in a town (`commune`, "" for anywhere)."""
        if not name:
            return []
        params = [*_words("name", name), ("active", "true"), ("_count", "20")]
        params += [("qualification-code", f"{CS_PROFESSION}|{kind}")] if kind else []
        people = _entries(self._search(actor, "Practitioner", params), "Practitioner")
        roles, orgs = self._roles(actor, [p["id"] for p in people])
        places: dict[str, list[dict]] = {}
        for role in roles:
            org = orgs.get(str(role.get("organization", {}).get("reference", "")).rpartition("/")[2])
            if org:
                places.setdefault(str(role.get("practitioner", {}).get("reference", "")).rpartition("/")[2], []).append(
                    org
                )
        kept = [p for p in people if not commune or any(_in_commune(o, commune) for o in places.get(p["id"], []))]
        return [
            Practitioner(
                p["id"],
                person_name(p),
                _profession(p),
                tuple(f"{o.get('name', '')}, {_city(o)}".strip(", ") for o in places.get(p["id"], [])),
            )
            for p in kept[:MAX_RESULTS]
        ]
