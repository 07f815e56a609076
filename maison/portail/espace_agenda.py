"""The agenda of Mon espace santé as a web page: list, add, delete appointments (issue 24 §1;
000 L3355-3361).

The page calls what the API's `/espace/agenda` routes call — `Espace.events`, `put_event` (the form
becomes the FHIR Appointment the API receives: start and end in Europe/Paris time, description, the
professional met as a participant), `delete_event` — as the same patient Actor, so the checks (a text
saying what it is, an end not before its start), the refusals and the audit records are the service's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.core.errors import InvalidInput
from maison.formats.path_ids import FhirId
from maison.partage.espace.service import Espace
from maison.portail.espace_mesures import PARIS
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal
from maison.portail.web import PortalRoute, page

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
    appointment: dict = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": start.isoformat(),
        "description": form.get("description", ""),
    }
    if end is not None:
        appointment["end"] = end.isoformat()
    with_whom = form.get("avec", "").strip()
    if with_whom:
        appointment["participant"] = [{"actor": {"display": with_whom}, "status": "accepted"}]
    return appointment


def router(portal: PatientPortal, espace: Espace) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)

    @r.get("/agenda")
    @public(SESSION_PAGE)
    async def agenda(request: Request) -> Response:
        session = portal.session(request)
        found = await run_in_threadpool(espace.events, portal.who(session))
        now = datetime.now(PARIS)
        events = sorted((event_of(a, now) for a in found), key=lambda e: e.start)
        context = portal.context(
            session,
            PAGE,
            coming=[e for e in events if not e.past],
            past=[e for e in events if e.past][::-1],
            today=now.date().isoformat(),
        )
        return page("agenda.html", **context)

    @r.post("/agenda")
    @public(SESSION_PAGE)
    async def add(request: Request) -> Response:
        session, form = await portal.posted(request)
        await run_in_threadpool(espace.put_event, portal.who(session), appointment_of(form))
        return RedirectResponse(PAGE, 303)

    @r.post("/agenda/{id_}/suppression")
    @public(SESSION_PAGE)
    async def delete(id_: FhirId, request: Request) -> Response:
        session, _ = await portal.posted(request)
        await run_in_threadpool(espace.delete_event, portal.who(session), id_)
        return RedirectResponse(PAGE, 303)

    return r
