"""The Annuaire Santé for the professional, as web pages: `/pro/annuaire` (issue 24 §2).

A search of professionals (by name, first name, identifier) or of structures (by name, city,
identifier), a professional's page with his situations d'exercice and his MSSanté addresses, a
structure's page with its professionals and its mailboxes. Each page runs the FHIR Annuaire API's own
search (`search.parse` then `search.run`, the same parameters, the same refusal of a wrong one) and
leaves the record the API's reads leave (`annuaire.lire`, the type and the operation: the observatory
counts each software's use of the Annuaire, issue 23 §3.1). Directory data is public professional
data: the page shows what the public directory shows (mailboxes on the liste rouge are left out by
`search.public`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core import audit
from maison.core.actor import Actor
from maison.core.authz import public
from maison.core.errors import InvalidInput, NotFound
from maison.core.storage import Database
from maison.formats.path_ids import FhirId
from maison.identite.annuaire import search
from maison.identite.annuaire.index import mailboxes
from maison.identite.annuaire.vocabulary import CS_MODE_EXERCICE, CS_PROFESSION
from maison.portail.pro_pages import BASE, SESSION_PAGE, ProPages
from maison.portail.web import page

HERE = f"{BASE}/annuaire"
PAGE_SIZE = 20
# TRE_G15 professions and TRE_R257 mailbox types, as the page names them
PROFESSIONS = {
    "10": "Médecin",
    "21": "Pharmacien",
    "26": "Audioprothésiste",
    "28": "Opticien-lunetier",
    "40": "Chirurgien-dentiste",
    "50": "Sage-femme",
    "60": "Infirmier",
    "70": "Masseur-kinésithérapeute",
    "80": "Pédicure-podologue",
    "91": "Orthophoniste",
    "92": "Orthoptiste",
}
MAILBOX_KINDS = {"PER": "personnelle", "ORG": "organisationnelle", "APP": "applicative", "CAB": "de cabinet"}
EXERCISE_MODES = {"L": "libéral", "S": "salarié", "B": "bénévole"}
# the form's fields → the API's search parameters, per kind of search
FIELDS = {
    "professionnel": ("Practitioner", {"nom": "family", "prenom": "given", "identifiant": "identifier"}),
    "structure": ("Organization", {"nom": "name", "ville": "address-city", "identifiant": "identifier"}),
}
ALL_FIELDS = ("nom", "prenom", "ville", "identifiant")


@dataclass(frozen=True)
class Mailbox:
    address: str
    kind: str


@dataclass(frozen=True)
class Situation:
    """A PractitionerRole as the page shows it: where, how, with which mailboxes."""

    structure_id: str
    structure_name: str
    city: str
    mode: str
    active: bool
    mailboxes: tuple[Mailbox, ...]


def _mailboxes(resource: dict) -> tuple[Mailbox, ...]:
    return tuple(
        Mailbox(m["address"], MAILBOX_KINDS.get(m["type"], m["type"] or "—"))
        for m in mailboxes(resource)
        if not m["liste_rouge"]
    )


def _name(practitioner: dict) -> str:
    name = (practitioner.get("name") or [{}])[0]
    given = " ".join(name.get("given") or [])
    suffix = " ".join(name.get("suffix") or [])
    return " ".join(p for p in (suffix.title() if suffix else "", given, name.get("family", "")) if p)


def _profession(practitioner: dict) -> str:
    for q in practitioner.get("qualification") or []:
        for c in q.get("code", {}).get("coding") or []:
            if c.get("system") == CS_PROFESSION:
                return PROFESSIONS.get(c.get("code", ""), c.get("code", ""))
    return ""


def _city(organization: dict) -> str:
    address = (organization.get("address") or [{}])[0]
    return f"{address.get('postalCode', '')} {address.get('city', '')}".strip()


def _mode(role: dict) -> str:
    for c in role.get("code") or []:
        for coding in c.get("coding") or []:
            if coding.get("system") == CS_MODE_EXERCICE:
                return EXERCISE_MODES.get(coding.get("code", ""), coding.get("code", ""))
    return ""


def _ref(resource: dict, key: str) -> str:
    return str((resource.get(key) or {}).get("reference", "")).rpartition("/")[2]


class Annuaire:
    """The API's search and read of the directory, with the API's record of each."""

    def __init__(self, db: Database, trail: audit.Trail) -> None:
        self.db, self.trail = db, trail

    def _recorded(self, actor: Actor, rtype: str, operation: str) -> None:
        self.trail.read(actor, "annuaire.lire", purpose="TREAT", detail={"type": rtype, "operation": operation})

    def search(self, actor: Actor, rtype: str, params: list[tuple[str, str]], base: str) -> dict:
        self._recorded(actor, rtype, "search-type")
        query = search.parse(rtype, params)
        with self.db.read() as conn:
            return search.run(conn, query, base)

    def roles(self, actor: Actor, side: str, rid: str, base: str) -> dict:
        """The situations d'exercice of a professional (`side` practitioner) or in a structure (`side`
        organization), with the other side of each included."""
        other = "organization" if side == "practitioner" else "practitioner"
        params = [(side, rid), ("_include", f"PractitionerRole:{other}"), ("_count", "100")]
        return self.search(actor, "PractitionerRole", params, base)

    def read(self, actor: Actor, rtype: str, rid: str, base: str) -> dict:
        """A read as `GET /annuaire/{type}/{id}` answers it (`_id` search: the same public view)."""
        self._recorded(actor, rtype, "read")
        with self.db.read() as conn:
            found = search.run(conn, search.parse(rtype, [("_id", rid)]), base)
        matches = [e["resource"] for e in found.get("entry", []) if e["search"]["mode"] == "match"]
        if not matches:
            raise NotFound(f"{rtype}/{rid} inconnu de l'annuaire", code="ressource-inconnue")
        return matches[0]


def _entries(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == rtype]


def router(pages: ProPages, annuaire: Annuaire) -> APIRouter:
    r = APIRouter(route_class=pages.route_class)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/annuaire"

    @r.get("")
    @public(SESSION_PAGE)
    async def search_page(request: Request) -> Response:
        session, actor = pages.caller(request)
        query = request.query_params
        kind = query.get("quoi", "professionnel")
        if kind not in FIELDS:
            raise InvalidInput("recherche : professionnel ou structure", code="quoi")
        rtype, fields = FIELDS[kind]
        unknown = set(query) - {"quoi", *ALL_FIELDS}
        if unknown:
            raise InvalidInput(f"champ de recherche inconnu : {', '.join(sorted(unknown))}", code="champ-inconnu")
        given = {name: query.get(name, "").strip() for name in ALL_FIELDS}
        misplaced = [name for name, value in given.items() if value and name not in fields]
        if misplaced:
            raise InvalidInput(
                f"{', '.join(misplaced)} : critère sans objet pour la recherche d'une {kind}"
                if kind == "structure"
                else f"{', '.join(misplaced)} : critère sans objet pour la recherche d'un {kind}",
                code="champ-sans-objet",
            )
        params = [(fields[name], value) for name, value in given.items() if value and name in fields]
        results: list[dict] | None = None
        total = None
        if params:
            bundle = await run_in_threadpool(
                annuaire.search, actor, rtype, [*params, ("_count", str(PAGE_SIZE))], base(request)
            )
            total = bundle.get("total")
            results = [
                {
                    "id": res["id"],
                    "name": _name(res) if rtype == "Practitioner" else res.get("name", ""),
                    "detail": _profession(res) if rtype == "Practitioner" else _city(res),
                    "href": f"{HERE}/{'professionnels' if rtype == 'Practitioner' else 'structures'}/{res['id']}",
                }
                for res in _entries(bundle, rtype)
            ]
        context = pages.context(session, HERE, kind=kind, given=given, results=results, total=total)
        return page("pro_annuaire.html", **context)

    @r.get("/professionnels/{idnatps}")
    @public(SESSION_PAGE)
    async def professional(idnatps: FhirId, request: Request) -> Response:
        session, actor = pages.caller(request)
        who = await run_in_threadpool(annuaire.read, actor, "Practitioner", idnatps, base(request))
        roles = await run_in_threadpool(annuaire.roles, actor, "practitioner", idnatps, base(request))
        places = {o["id"]: o for o in _entries(roles, "Organization")}
        situations = [
            Situation(
                _ref(role, "organization"),
                places.get(_ref(role, "organization"), {}).get("name", "") or "structure non renseignée",
                _city(places.get(_ref(role, "organization"), {})),
                _mode(role),
                bool(role.get("active", True)),
                _mailboxes(role),
            )
            for role in _entries(roles, "PractitionerRole")
        ]
        context = pages.context(
            session,
            "",
            title=_name(who),
            idnatps=who["id"],
            profession=_profession(who),
            active=bool(who.get("active", True)),
            own=_mailboxes(who),
            situations=situations,
        )
        return page("pro_annuaire_professionnel.html", **context)

    @r.get("/structures/{structure}")
    @public(SESSION_PAGE)
    async def structure(structure: FhirId, request: Request) -> Response:
        session, actor = pages.caller(request)
        org = await run_in_threadpool(annuaire.read, actor, "Organization", structure, base(request))
        roles = await run_in_threadpool(annuaire.roles, actor, "organization", structure, base(request))
        people = {p["id"]: p for p in _entries(roles, "Practitioner")}
        staff = [
            {
                "id": _ref(role, "practitioner"),
                "name": _name(people.get(_ref(role, "practitioner"), {})) or _ref(role, "practitioner"),
                "profession": _profession(people.get(_ref(role, "practitioner"), {})),
                "mode": _mode(role),
            }
            for role in _entries(roles, "PractitionerRole")
        ]
        context = pages.context(
            session, "", title=org.get("name", ""), id=org["id"], city=_city(org), own=_mailboxes(org), staff=staff
        )
        return page("pro_annuaire_structure.html", **context)

    return r
