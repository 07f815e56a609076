"""The profil médical of Mon espace santé as web pages (issue 24 §1; 000 L3281-3300).

Every rubrique the API serves, through the functions its routes call, as the same patient Actor:
`Espace.profile` (`GET /espace/profil`: the INS identity, contact details and every entry, the
vaccinations professionals recorded included), `Espace.volontes` (`GET /espace/profil/volontes`),
`Espace.set_profile_part` (`PUT /espace/profil/coordonnees|volontes`, replaced whole), `Espace.put_item`
and `Espace.delete_item` (`POST /espace/profil/{rubrique}`, `DELETE …/{id}`) and `Espace.share_profile`
(`POST /espace/profil/$partager`). The forms only turn the patient's words into the FHIR resource the
API would receive; every check (texts, dates, telephone numbers, postal codes) is the service's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.core.errors import InvalidInput, NotFound
from maison.formats.path_ids import Code, FhirId
from maison.partage.espace.profil import ORGAN_DONATION, RUBRIQUES
from maison.partage.espace.service import Espace
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal, french_date
from maison.portail.web import PortalRoute, page

PAGE = f"{BASE}/profil"
LABELS = {
    "contacts-urgence": "Contacts d'urgence",
    "maladies": "Maladies et sujets de santé",
    "traitements": "Traitements",
    "allergies": "Allergies",
    "vaccinations": "Vaccinations",
}
DONATION = {
    "non-renseigne": "Non renseigné",
    "favorable": "Favorable au don d'organes",
    "opposition": "Opposé·e au don d'organes",
}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # the input's type
    required: bool = False


# The fields of each rubrique's form: what the patient types, in his words (000 L3289)
FIELDS = {
    "contacts-urgence": (
        Field("nom", "Nom et prénom", required=True),
        Field("lien", "Lien avec vous (facultatif)"),
        Field("telephone", "Téléphone", "tel"),
        Field("email", "Adresse e-mail", "email"),
    ),
    "maladies": (
        Field("libelle", "Maladie ou sujet de santé", required=True),
        Field("debut", "Depuis le (facultatif)", "date"),
        Field("precisions", "Précisions (facultatif)"),
    ),
    "traitements": (
        Field("libelle", "Médicament ou traitement", required=True),
        Field("debut", "Début (facultatif)", "date"),
        Field("fin", "Fin (facultatif)", "date"),
        Field("precisions", "Précisions (facultatif)"),
    ),
    "allergies": (
        Field("libelle", "Allergie", required=True),
        Field("precisions", "Précisions (facultatif)"),
    ),
    "vaccinations": (
        Field("libelle", "Vaccin", required=True),
        Field("date", "Date de la vaccination", "date", required=True),
    ),
}


@dataclass(frozen=True)
class Entry:
    id: str
    text: str
    detail: str
    removable: bool


@dataclass(frozen=True)
class Rubrique:
    code: str
    label: str
    entries: list[Entry]
    fields: tuple[Field, ...]


def _concept(concept: object) -> str:
    if not isinstance(concept, dict):
        return ""
    codings = concept.get("coding") or [{}]
    return str(concept.get("text") or (codings[0].get("display") if isinstance(codings[0], dict) else "") or "")


def _note(resource: dict) -> str:
    return " ; ".join(n.get("text", "") for n in resource.get("note", []) if isinstance(n, dict))


def entry_of(resource: dict) -> Entry:
    """One entry of the profil as the page lists it."""
    kind, id_ = resource["resourceType"], str(resource.get("id", ""))
    if kind == "RelatedPerson":
        name = (resource.get("name") or [{}])[0]
        text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
        relation = ", ".join(_concept(c) for c in resource.get("relationship", []) if _concept(c))
        reach = ", ".join(t.get("value", "") for t in resource.get("telecom", []))
        return Entry(id_, text, " — ".join(p for p in (relation, reach) if p), True)
    if kind == "Condition":
        onset = resource.get("onsetDateTime")
        detail = f"depuis le {french_date(onset)}" if onset else ""
        return Entry(id_, _concept(resource.get("code")), "; ".join(p for p in (detail, _note(resource)) if p), True)
    if kind == "MedicationStatement":
        period = resource.get("effectivePeriod") or {}
        dates = [
            f"{label} {french_date(period[key])}" for key, label in (("start", "du"), ("end", "au")) if period.get(key)
        ]
        parts = (" ".join(dates), _note(resource))
        return Entry(id_, _concept(resource.get("medicationCodeableConcept")), "; ".join(p for p in parts if p), True)
    if kind == "AllergyIntolerance":
        return Entry(id_, _concept(resource.get("code")), _note(resource), True)
    if kind == "Immunization":
        recorded = resource.get("primarySource") is True  # from a note de vaccination (000 L3293)
        source = "enregistrée par un professionnel de santé" if recorded else "saisie par vous"
        when = f"le {french_date(resource['occurrenceDateTime'])}" if resource.get("occurrenceDateTime") else ""
        return Entry(id_, _concept(resource.get("vaccineCode")), f"{when} ({source})".strip(), not recorded)
    return Entry(id_, kind, "", False)


def _text_concept(text: str) -> dict:
    return {"text": text}


def _notes(form: dict[str, str]) -> dict:
    text = form.get("precisions", "").strip()
    return {"note": [{"text": text}]} if text else {}


def resource_of(rubrique: str, form: dict[str, str]) -> dict:
    """The FHIR resource the API would receive for this form (the service checks it)."""
    value = {k: v.strip() for k, v in form.items() if k != "csrf"}
    if rubrique == "contacts-urgence":
        telecom = [
            {"system": system, "value": value[field]}
            for field, system in (("telephone", "phone"), ("email", "email"))
            if value.get(field)
        ]
        resource = {"resourceType": "RelatedPerson", "name": [{"text": value.get("nom", "")}], "telecom": telecom}
        if value.get("lien"):
            resource["relationship"] = [_text_concept(value["lien"])]
        return resource
    if rubrique == "maladies":
        onset = {"onsetDateTime": value["debut"]} if value.get("debut") else {}
        return {"resourceType": "Condition", "code": _text_concept(value.get("libelle", "")), **onset, **_notes(value)}
    if rubrique == "traitements":
        period = {key: value[field] for field, key in (("debut", "start"), ("fin", "end")) if value.get(field)}
        return {
            "resourceType": "MedicationStatement",
            "medicationCodeableConcept": _text_concept(value.get("libelle", "")),
            **({"effectivePeriod": period} if period else {}),
            **_notes(value),
        }
    if rubrique == "allergies":
        return {"resourceType": "AllergyIntolerance", "code": _text_concept(value.get("libelle", "")), **_notes(value)}
    if rubrique == "vaccinations":
        return {
            "resourceType": "Immunization",
            "vaccineCode": _text_concept(value.get("libelle", "")),
            "occurrenceDateTime": value.get("date") or None,
        }
    raise NotFound(f"rubrique {rubrique!r} inconnue : {', '.join(RUBRIQUES)}", code="rubrique-inconnue")


def wishes_of(form: dict[str, str]) -> dict:
    """The volontés as `PUT /espace/profil/volontes` receives them, replaced whole."""
    directives = form.get("directives", "")
    if directives not in ("oui", "non"):
        raise InvalidInput("directives anticipées : oui ou non", code="volontes-invalides")
    body: dict = {
        "donOrganes": form.get("don", ""),
        "directivesAnticipees": {
            "redigees": directives == "oui",
            "lieu": form.get("lieu", "").strip() or None,
        },
    }
    trusted, phone = form.get("confiance_nom", "").strip(), form.get("confiance_telephone", "").strip()
    if trusted or phone:
        body["personneDeConfiance"] = {
            "name": [{"text": trusted}],
            "telecom": [{"system": "phone", "value": phone}] if phone else [],
        }
    return body


def contact_details_of(form: dict[str, str]) -> dict:
    """The coordonnées as `PUT /espace/profil/coordonnees` receives them, replaced whole."""
    value = {k: v.strip() for k, v in form.items()}
    telecom = [
        {"system": system, "value": value[field]}
        for field, system in (("telephone", "phone"), ("email", "email"))
        if value.get(field)
    ]
    address = {
        k: v
        for k, v in (
            ("line", [value["adresse"]] if value.get("adresse") else None),
            ("postalCode", value.get("code_postal") or None),
            ("city", value.get("ville") or None),
        )
        if v
    }
    return {"telecom": telecom, "address": [address] if address else []}


def _telecom(resource: dict, system: str) -> str:
    return next((t.get("value", "") for t in resource.get("telecom", []) if t.get("system") == system), "")


def router(portal: PatientPortal, espace: Espace) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)

    def read(session) -> dict:
        who = portal.who(session)
        bundle = espace.profile(who)
        wishes = espace.volontes(who)
        resources = [e["resource"] for e in bundle["entry"]]
        patient, items = resources[0], resources[1:]
        by_rubrique: dict[str, list[Entry]] = {code: [] for code in RUBRIQUES}
        for item in items:
            tag = next((t.get("code") for t in item.get("meta", {}).get("tag", [])), None)
            if tag in by_rubrique:
                by_rubrique[tag].append(entry_of(item))
        name = (patient.get("name") or [{}])[0]
        address = (patient.get("address") or [{}])[0]
        trusted = wishes.get("personneDeConfiance") or {}
        return {
            "identity": {
                "nom": name.get("family", ""),
                "prenoms": " ".join(name.get("given", [])),
                "naissance": french_date(patient.get("birthDate", "")),
                "ins": (patient.get("identifier") or [{}])[0].get("value", ""),
            },
            "coordonnees": {
                "telephone": _telecom(patient, "phone"),
                "email": _telecom(patient, "email"),
                "adresse": " ".join(address.get("line", [])),
                "code_postal": address.get("postalCode", ""),
                "ville": address.get("city", ""),
            },
            "volontes": {
                "directives": (wishes.get("directivesAnticipees") or {}).get("redigees"),
                "lieu": (wishes.get("directivesAnticipees") or {}).get("lieu") or "",
                "don": wishes.get("donOrganes", "non-renseigne"),
                "confiance_nom": entry_of(trusted).text if trusted else "",
                "confiance_telephone": _telecom(trusted, "phone") if trusted else "",
            },
            "rubriques": [Rubrique(code, LABELS[code], by_rubrique[code], FIELDS[code]) for code in RUBRIQUES],
        }

    def back(anchor: str) -> Response:
        return RedirectResponse(f"{PAGE}#{anchor}", 303)

    @r.get("/profil")
    @public(SESSION_PAGE)
    async def profile(request: Request) -> Response:
        session = portal.session(request)
        shown = await run_in_threadpool(read, session)
        context = portal.context(session, PAGE, donations=[(c, DONATION[c]) for c in ORGAN_DONATION], **shown)
        return page("profil.html", **context)

    def part_page(part: str, body_of: Callable[[dict[str, str]], dict]) -> None:
        """`POST /profil/coordonnees|volontes`: the part replaced whole, as the API's PUT does."""

        @r.post(f"/profil/{part}")
        @public(SESSION_PAGE)
        async def replace_part(request: Request) -> Response:
            session, form = await portal.posted(request)
            await run_in_threadpool(espace.set_profile_part, portal.who(session), part, body_of(form))
            return back(part)

    part_page("coordonnees", contact_details_of)
    part_page("volontes", wishes_of)

    @r.post("/profil/partage")
    @public(SESSION_PAGE)
    async def share(request: Request) -> Response:
        session, _ = await portal.posted(request)
        id_ = await run_in_threadpool(espace.share_profile, portal.who(session))
        return RedirectResponse(f"{BASE}/documents/{id_}", 303)

    @r.post("/profil/{rubrique}")
    @public(SESSION_PAGE)
    async def add(rubrique: Code, request: Request) -> Response:
        session, form = await portal.posted(request)
        resource = resource_of(rubrique, form)
        await run_in_threadpool(espace.put_item, portal.who(session), rubrique, resource)
        return back(rubrique)

    @r.post("/profil/{rubrique}/{id_}/suppression")
    @public(SESSION_PAGE)
    async def remove(rubrique: Code, id_: FhirId, request: Request) -> Response:
        session, _ = await portal.posted(request)
        await run_in_threadpool(espace.delete_item, portal.who(session), rubrique, id_)
        return back(rubrique)

    return r
