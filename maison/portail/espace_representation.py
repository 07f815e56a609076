"""Whose espace to open: a legal representative chooses between his own and a minor's (issue 24 §1).

The API's equivalent is `POST /mes/representation`: `PatientLogin.act_for` checks that the logged-in
person is the declared representative of a minor under 18 (000 L3236-3406; CSP L.1111-5 for what the
minor may keep from him) and gives a token whose subject is the minor and whose actor is the
representative. The portal calls the same function and trades its token for a new session whose
subject is the minor's INS and whose `acting` is the representative — every service then sees
`patient_actor(minor, representative)`, role "representant-legal", as it sees the API's caller.
Going back to his own espace needs no representation: he logged in as himself.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.core.errors import InvalidInput
from maison.identite.mes.login import Patient
from maison.portail.patient import BASE, COOKIE, PORTAL, SESSION_PAGE, PatientPortal
from maison.portail.web import PortalRoute, page, set_cookie

PAGE = f"{BASE}/espaces"


@dataclass(frozen=True)
class Choice:
    ins: str
    name: str
    own: bool
    current: bool


def router(portal: PatientPortal) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)

    def name_of(ins: str) -> str:
        traits = portal.dmp.referential.by_matricule(ins).traits
        return f"{traits.prenoms[0].title() if traits.prenoms else ''} {traits.nom_naissance}".strip()

    def choices(subject: str, acting: str) -> list[Choice]:
        minors = portal.login.represented(acting)
        return [Choice(ins, name_of(ins), ins == acting, ins == subject) for ins in (acting, *minors)]

    @r.get("/espaces")
    @public(SESSION_PAGE)
    async def espaces(request: Request) -> Response:
        session = portal.session(request)
        found = await run_in_threadpool(choices, session.subject, session.acting)
        return page("espaces.html", **portal.context(session, PAGE, choices=found))

    @r.post("/espaces")
    @public(SESSION_PAGE)
    async def choose(request: Request) -> Response:
        session, form = await portal.posted(request)
        wanted = form.get("ins", "")
        if not wanted:
            raise InvalidInput("choisissez l'espace à ouvrir", code="espace-absent")
        if wanted == session.acting:  # his own espace: he logged in as himself
            subject, acting = session.acting, session.acting
        else:  # the API's POST /mes/representation: the representation checked by the login service
            tokens = await run_in_threadpool(
                portal.login.act_for, Patient(session.acting, session.acting), wanted, portal.issuer
            )
            acting_for = portal.login.verify(tokens["access_token"], portal.issuer)
            subject, acting = acting_for.ins, acting_for.acting
        raw, _ = await run_in_threadpool(portal.sessions.open, PORTAL, subject, acting)
        portal.sessions.close(request.cookies.get(COOKIE, ""))
        response = RedirectResponse(f"{BASE}/dossier", 303)
        set_cookie(response, request, COOKIE, raw, BASE)
        return response

    return r
