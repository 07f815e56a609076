"""The profil médical of Mon espace santé as web pages (issue 24 §1; 000 L3281-3300).

Every rubrique the API serves, through the functions its routes call, as the same patient Actor:
`Espace.profile` (`GET /espace/profil`: the INS identity, contact details and every entry, the
vaccinations professionals recorded included), `Espace.volontes` (`GET /espace/profil/volontes`),
`Espace.set_profile_part` (`PUT /espace/profil/coordonnees|volontes`, replaced whole), `Espace.items`
(`GET /espace/profil/{rubrique}`), `Espace.put_item` (`POST /espace/profil/{rubrique}` to add, `PUT …/{id}`
to edit one of her entries) and `Espace.delete_item` (`DELETE …/{id}`) and `Espace.share_profile`
(`POST /espace/profil/$partager`). The forms only turn the patient's words into the FHIR resource the
API would receive; every check (texts, dates, telephone numbers, postal codes) is the service's own, and
so is the refusal of an entry that is not hers. Adding, editing and deleting an entry answer, with htmx,
the rubrique's section alone (`fragments.changed`); without JavaScript, the page again.
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
from maison.partage.dmp.model import Who
from maison.partage.espace.profil import ORGAN_DONATION, RUBRIQUES
from maison.partage.espace.service import Espace
from maison.portail.fragments import Notice, changed
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal, french_date
from maison.portail.sessions import Session
from maison.portail.web import PortalRoute, page, wants_fragment

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
    editing: str | None  # the id of the entry whose form is open
    values: dict[str, str]  # that form's fields, as the entry holds them


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


def _day(value: object) -> str:
    return str(value)[:10] if value else ""


def form_of(resource: dict) -> dict[str, str]:
    """The fields of an entry's form as the entry holds them: `resource_of` read backwards."""
    kind = resource["resourceType"]
    if kind == "RelatedPerson":
        relation = [_concept(c) for c in resource.get("relationship", [])]
        return {
            "nom": entry_of(resource).text,
            "lien": relation[0] if relation else "",
            "telephone": _telecom(resource, "phone"),
            "email": _telecom(resource, "email"),
        }
    notes = {"precisions": _note(resource)}
    if kind == "Condition":
        return {"libelle": _concept(resource.get("code")), "debut": _day(resource.get("onsetDateTime")), **notes}
    if kind == "MedicationStatement":
        period = resource.get("effectivePeriod") or {}
        start, end = _day(period.get("start")), _day(period.get("end"))
        return {"libelle": _concept(resource.get("medicationCodeableConcept")), "debut": start, "fin": end, **notes}
    if kind == "Immunization":
        return {"libelle": _concept(resource.get("vaccineCode")), "date": _day(resource.get("occurrenceDateTime"))}
    return {"libelle": _concept(resource.get("code")), **notes}  # AllergyIntolerance


def rubrique_of(code: str, resources: list[dict], editing: str | None = None) -> Rubrique:
    """A rubrique as its section shows it; `editing`: the entry whose form is open, one the patient
    entered herself (a vaccination a professional recorded is not hers to change), else 404."""
    entries = [entry_of(r) for r in resources]
    values: dict[str, str] = {}
    if editing is not None:
        found = [r for r, e in zip(resources, entries, strict=True) if e.id == editing and e.removable]
        if not found:
            raise NotFound(f"{code}/{editing} inconnu", code="entree-inconnue")
        values = form_of(found[0])
    return Rubrique(code, LABELS[code], entries, FIELDS[code], editing, values)


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


def _tag(item: dict) -> str | None:
    return next((t.get("code") for t in item.get("meta", {}).get("tag", [])), None)


def profile_shown(espace: Espace, who: Who, editing: tuple[str, str] | None = None) -> dict:
    """The whole page's content, read through `Espace.profile` and `volontes`; `editing`: the
    (rubrique, id) whose form is open (the page without JavaScript)."""
    bundle = espace.profile(who)
    wishes = espace.volontes(who)
    resources = [e["resource"] for e in bundle["entry"]]
    patient, items = resources[0], resources[1:]
    name = (patient.get("name") or [{}])[0]
    address = (patient.get("address") or [{}])[0]
    trusted = wishes.get("personneDeConfiance") or {}
    rubrique, id_ = editing or (None, None)
    if rubrique is not None and rubrique not in RUBRIQUES:
        raise NotFound(f"rubrique {rubrique!r} inconnue : {', '.join(RUBRIQUES)}", code="rubrique-inconnue")
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
        "rubriques": [
            rubrique_of(code, [i for i in items if _tag(i) == code], id_ if code == rubrique else None)
            for code in RUBRIQUES
        ],
    }


def router(portal: PatientPortal, espace: Espace) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)

    def back(anchor: str) -> Response:
        return RedirectResponse(f"{PAGE}#{anchor}", 303)

    def whole(session: Session, editing: tuple[str, str] | None = None) -> Response:
        shown = profile_shown(espace, portal.who(session), editing)
        context = portal.context(session, PAGE, donations=[(c, DONATION[c]) for c in ORGAN_DONATION], **shown)
        return page("profil.html", **context)

    def section(session: Session, rubrique: str, notice: Notice | None = None, editing: str | None = None) -> Response:
        """One rubrique's section alone (htmx's answer), read through `Espace.items`."""
        resources = espace.items(portal.who(session), rubrique)
        rub = rubrique_of(rubrique, resources, editing)
        return page("profil_rubrique.html", rub=rub, csrf=session.csrf, notice=notice)

    @r.get("/profil")
    @public(SESSION_PAGE)
    async def profile(request: Request) -> Response:
        return await run_in_threadpool(whole, portal.session(request))

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
        who = portal.who(session)
        return await changed(
            request,
            lambda: espace.put_item(who, rubrique, resource_of(rubrique, form)),
            f"{PAGE}#{rubrique}",
            lambda notice: section(session, rubrique, notice),
            "Entrée ajoutée.",
        )

    @r.get("/profil/{rubrique}/{id_}/modification")
    @public(SESSION_PAGE)
    async def edit_form(rubrique: Code, id_: FhirId, request: Request) -> Response:
        """The entry's form, open in its section (htmx) or in the whole page (without JavaScript)."""
        session = portal.session(request)
        if wants_fragment(request):
            return await run_in_threadpool(section, session, rubrique, None, id_)
        return await run_in_threadpool(whole, session, (rubrique, id_))

    @r.post("/profil/{rubrique}/{id_}")
    @public(SESSION_PAGE)
    async def edit(rubrique: Code, id_: FhirId, request: Request) -> Response:
        session, form = await portal.posted(request)
        who = portal.who(session)
        return await changed(
            request,
            lambda: espace.put_item(who, rubrique, resource_of(rubrique, form), id_),
            f"{PAGE}#{rubrique}",
            lambda notice: section(session, rubrique, notice, id_ if notice.refused else None),  # the form stays
            "Entrée modifiée.",
        )

    @r.post("/profil/{rubrique}/{id_}/suppression")
    @public(SESSION_PAGE)
    async def remove(rubrique: Code, id_: FhirId, request: Request) -> Response:
        session, _ = await portal.posted(request)
        who = portal.who(session)
        return await changed(
            request,
            lambda: espace.delete_item(who, rubrique, id_),
            f"{PAGE}#{rubrique}",
            lambda notice: section(session, rubrique, notice),
            "Entrée supprimée.",
        )

    return r
