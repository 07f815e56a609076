"""The agenda of Mon espace santé as a web page: list, add, edit, delete appointments (issue 24 §1;
000 L3355-3361).

The page calls what the API's `/espace/agenda` routes call — `Espace.events`, `put_event` (the form
becomes the FHIR Appointment the API receives: start and end in Europe/Paris time, description, the
professional met as a participant; with the appointment's id, the API's `PUT`, which replaces it),
`delete_event` — as the same patient Actor, so the checks (a text saying what it is, an end not before
its start), the refusals (another patient's appointment: unknown) and the audit records are the
service's. With htmx the forms answer the agenda's content alone (`fragments.changed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.core.errors import InvalidInput, NotFound
from maison.formats.path_ids import FhirId
from maison.partage.dmp.model import Who
from maison.partage.espace.service import Espace
from maison.portail.espace_mesures import PARIS
from maison.portail.fragments import Notice, changed
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal
from maison.portail.sessions import Session
from maison.portail.web import PortalRoute, page, wants_fragment

PAGE = f"{BASE}/agenda"
STATUSES = {
    "proposed": "proposé",
    "pending": "en attente",
    "booked": "confirmé",
    "fulfilled": "passé",
    "cancelled": "annulé",
    "noshow": "manqué",
}


@dataclass(frozen=True)
class Event:
    id: str
    day: str
    hours: str
    description: str
    with_whom: str
    status: str
    past: bool
    start: datetime


def _local(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(PARIS)


def event_of(appointment: dict, now: datetime) -> Event:
    start = _local(appointment["start"])
    end = _local(appointment["end"]) if appointment.get("end") else None
    hours = start.strftime("%H:%M") + (f" – {end.strftime('%H:%M')}" if end else "")
    others = [
        p.get("actor", {}).get("display", "")
        for p in appointment.get("participant", [])
        if isinstance(p, dict) and not str(p.get("actor", {}).get("reference", "")).startswith("Patient/")
    ]
    return Event(
        appointment["id"],
        start.strftime("%d/%m/%Y"),
        hours,
        appointment.get("description", ""),
        ", ".join(o for o in others if o),
        STATUSES.get(appointment.get("status", "booked"), appointment.get("status", "")),
        (end or start) < now,
        start,
    )


def appointment_of(form: dict[str, str]) -> dict:
    """The FHIR Appointment the API's `POST /espace/agenda` receives for this form."""
    day = form.get("date", "").strip()
    try:
        date_ = datetime.strptime(day, "%Y-%m-%d").date()
        start = datetime.combine(date_, time.fromisoformat(form.get("debut", "").strip()), PARIS)
        end_text = form.get("fin", "").strip()
        end = datetime.combine(date_, time.fromisoformat(end_text), PARIS) if end_text else None
    except ValueError:
        raise InvalidInput(
            "date et heures du rendez-vous : une date JJ/MM/AAAA et des heures HH:MM sont attendues",
            code="date-invalide",
        ) from None
    status = form.get("statut", "booked")  # an edited appointment keeps its status (the service checks it)
    appointment: dict = {
        "resourceType": "Appointment",
        "status": status if status in STATUSES else "booked",
        "start": start.isoformat(),
        "description": form.get("description", ""),
    }
    if end is not None:
        appointment["end"] = end.isoformat()
    with_whom = form.get("avec", "").strip()
    if with_whom:
        appointment["participant"] = [{"actor": {"display": with_whom}, "status": "accepted"}]
    return appointment


def form_of(appointment: dict) -> dict[str, str]:
    """The form's fields as the appointment holds them, in Paris time: `appointment_of` read backwards."""
    start = _local(appointment["start"])
    end = _local(appointment["end"]) if appointment.get("end") else None
    return {
        "date": start.date().isoformat(),
        "debut": start.strftime("%H:%M"),
        "fin": end.strftime("%H:%M") if end else "",
        "description": appointment.get("description", ""),
        "avec": event_of(appointment, start).with_whom,
        "statut": appointment.get("status", "booked"),
    }


def agenda_shown(espace: Espace, who: Who, editing: str | None = None) -> dict:
    """The agenda's content, read through `Espace.events`: coming and past appointments, and the form
    (`editing`: the appointment whose form is open, else the form adds one)."""
    found = espace.events(who)
    now = datetime.now(PARIS)
    events = sorted((event_of(a, now) for a in found), key=lambda e: e.start)
    values = {"date": now.date().isoformat()}
    if editing is not None:
        edited = [a for a in found if a["id"] == editing]
        if not edited:
            raise NotFound(f"rendez-vous {editing} inconnu", code="evenement-inconnu")
        values = form_of(edited[0])
    return {
        "coming": [e for e in events if not e.past],
        "past": [e for e in events if e.past][::-1],
        "editing": editing,
        "values": values,
    }


def router(portal: PatientPortal, espace: Espace) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)

    def whole(session: Session, editing: str | None = None) -> Response:
        shown = agenda_shown(espace, portal.who(session), editing)
        return page("agenda.html", **portal.context(session, PAGE, **shown))

    def content(session: Session, notice: Notice | None = None, editing: str | None = None) -> Response:
        """The agenda's content alone (htmx's answer)."""
        shown = agenda_shown(espace, portal.who(session), editing)
        return page("agenda_contenu.html", csrf=session.csrf, notice=notice, **shown)

    @r.get("/agenda")
    @public(SESSION_PAGE)
    async def agenda(request: Request) -> Response:
        return await run_in_threadpool(whole, portal.session(request))

    @r.post("/agenda")
    @public(SESSION_PAGE)
    async def add(request: Request) -> Response:
        session, form = await portal.posted(request)
        who = portal.who(session)
        return await changed(
            request,
            lambda: espace.put_event(who, appointment_of(form)),
            PAGE,
            lambda notice: content(session, notice),
            "Rendez-vous ajouté.",
        )

    @r.get("/agenda/{id_}/modification")
    @public(SESSION_PAGE)
    async def edit_form(id_: FhirId, request: Request) -> Response:
        """The appointment's form, in the agenda's content (htmx) or the whole page (without JavaScript)."""
        session = portal.session(request)
        if wants_fragment(request):
            return await run_in_threadpool(content, session, None, id_)
        return await run_in_threadpool(whole, session, id_)

    @r.post("/agenda/{id_}")
    @public(SESSION_PAGE)
    async def edit(id_: FhirId, request: Request) -> Response:
        session, form = await portal.posted(request)
        who = portal.who(session)
        return await changed(
            request,
            lambda: espace.put_event(who, appointment_of(form), id_),
            PAGE,
            lambda notice: content(session, notice, id_ if notice.refused else None),  # refused: the form stays
            "Rendez-vous modifié.",
        )

    @r.post("/agenda/{id_}/suppression")
    @public(SESSION_PAGE)
    async def delete(id_: FhirId, request: Request) -> Response:
        session, _ = await portal.posted(request)
        who = portal.who(session)
        return await changed(
            request,
            lambda: espace.delete_event(who, id_),
            PAGE,
            lambda notice: content(session, notice),
            "Rendez-vous supprimé.",
        )

    return r
