"""Mon espace santé for the patient, as web pages: `/mon-espace` (issue 24 §1).

The login is the API's own (`PatientLogin.start` then `finish`: identifier and password, then the
one-time code from the outbox, the same throttle and the same security events); the code's token is
verified by the login service and traded for a portal session. Every page that shows health data
calls the DMP function the API route showing the same thing calls — `find_documents` (ITI-67),
`document` (a DocumentReference read), `retrieve` (ITI-68), `update_metadata` (masking, the PATCH of
PDSm), `history` (`/dmp/espace/historique`) — as the same patient `Actor` (`core.authz.patient_actor`),
so it leaves the same audit records and meets the same rules (masked, announced, invisible documents).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.authz import patient_actor, public
from maison.core.errors import InvalidInput, Unauthenticated
from maison.formats.path_ids import FhirId
from maison.formats.xds_codes import CLASS_DISPLAY
from maison.identite.mes.login import PatientLogin
from maison.partage.dmp.access import ANNONCE_AUTO_VISIBLE
from maison.partage.dmp.model import MASQUE_PS, Access, DocumentEntry, Who
from maison.partage.dmp.service import Dmp
from maison.portail import history
from maison.portail.sessions import Session, Sessions
from maison.portail.viewer import CDA_TYPES, document_title, viewer_response
from maison.portail.web import (
    PRE_SESSION_COOKIE,
    PortalRoute,
    check_token,
    page,
    page_number,
    pre_session_token,
    read_form,
    set_cookie,
    wants_fragment,
)

BASE = "/mon-espace"
COOKIE = "maison_mon_espace"
PORTAL = "patient"
NAV = [
    (f"{BASE}/dossier", "Mes documents"),
    (f"{BASE}/profil", "Profil médical"),
    (f"{BASE}/mesures", "Mesures"),
    (f"{BASE}/agenda", "Agenda"),
    (f"{BASE}/messagerie", "Messagerie"),
    (f"{BASE}/historique", "Historique des accès"),
    (f"{BASE}/controles", "Mes réglages"),
]
WHOSE_FOR, WHOSE_KEPT = 60.0, 10_000  # seconds a page header's `whose` is kept; sessions kept at most
SESSION_PAGE = "page de Mon espace santé : la session du portail est vérifiée par le portail lui-même"
LOINC, XDS_CLASS = "2.16.840.1.113883.6.1", "1.2.250.1.213.1.1.4.1"


@dataclass(frozen=True)
class DocumentView:
    """What the pages show of a DMP entry."""

    id: str
    title: str
    category: str
    date: str
    author: str
    masked: bool
    viewer: str
    viewer_kind: str
    own: bool  # deposited by the patient herself (no structure): she may withdraw it, not only mask it


@dataclass(frozen=True)
class Whose:
    """Whose espace the session shows: `name` of the subject, `representing` when a legal
    representative acts for a minor, `may_switch` when the account has another espace to open."""

    name: str
    representing: bool
    may_switch: bool


def french_date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%d/%m/%Y")
    except ValueError:
        return iso[:10]


class PatientPortal:
    def __init__(
        self,
        login: PatientLogin,
        issuer: str,
        dmp: Dmp,
        sessions: Sessions,
        display: Callable[[str, str], str | None],
        reference_path: Path,
    ) -> None:
        """`display(code_system, code)`: the CI-SIS terminology's label of a code (the house's)."""
        self.login = login
        self.issuer = issuer
        self.dmp = dmp
        self.sessions = sessions
        self.display = display
        self.reference_path = reference_path
        self._whose: dict[tuple[str, str, str], tuple[float, Whose]] = {}  # `whose`'s, by session

    # --- the session ------------------------------------------------------------------------------

    def session(self, request: Request) -> Session:
        found = self.sessions.find(request.cookies.get(COOKIE), PORTAL)
        if found is None:
            raise Unauthenticated("session expirée ou absente : reconnectez-vous", code="session")
        return found

    def who(self, session: Session) -> Who:
        return Who(patient_actor(session.subject, session.acting), Access())

    async def posted(self, request: Request) -> tuple[Session, dict[str, str]]:
        """A POST of a logged-in page: its session, and its form once the CSRF token is checked."""
        form = await read_form(request)
        session = self.session(request)
        check_token(session.csrf, form, request)
        return session, form

    def context(self, session: Session, current: str, **more: object) -> dict:
        return {
            "nav": NAV,
            "current": current,
            "csrf": session.csrf,
            "logout": f"{BASE}/deconnexion",
            "espace": self.whose(session),
            **more,
        }

    def whose(self, session: Session) -> Whose:
        """For whom the pages act, which every page's header says (a representative acting for a minor
        sees the minor's name on each page), and whether he may switch to another espace. Two reads
        (the referential, the representations) that every page would repeat: kept per session for
        `WHOSE_FOR` seconds (a header's name and switch link, not a right: `act_for` checks again)."""
        key, now = (session.id_hash, session.subject, session.acting), time.monotonic()
        cached = self._whose.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        traits = self.dmp.referential.by_matricule(session.subject).traits
        name = f"{traits.prenoms[0].title() if traits.prenoms else ''} {traits.nom_naissance}".strip()
        representing = session.acting != session.subject
        whose = Whose(name, representing, representing or bool(self.login.represented(session.acting)))
        if len(self._whose) >= WHOSE_KEPT:  # bounded: the expired ones go, else all
            self._whose = {k: v for k, v in self._whose.items() if now < v[0]}
            if len(self._whose) >= WHOSE_KEPT:
                self._whose = {}
        self._whose[key] = (now + WHOSE_FOR, whose)
        return whose

    # --- documents ----------------------------------------------------------------------------------

    def view(self, entry: DocumentEntry) -> DocumentView:
        type_label = self.display(LOINC, entry.type_code) or entry.type_code
        return DocumentView(
            id=entry.id,
            title=document_title(entry, type_label),
            category=self.display(XDS_CLASS, entry.class_code) or CLASS_DISPLAY.get(entry.class_code) or type_label,
            date=french_date(entry.creation or entry.submitted_at),
            author="vous-même" if entry.author_structure == "" else f"{entry.author} ({entry.author_structure})",
            masked=MASQUE_PS in entry.visibility,
            viewer=f"{BASE}/documents/{entry.id}/affichage",
            viewer_kind="document CDA" if entry.content_type in CDA_TYPES else entry.content_type,
            own=entry.author_structure == "",
        )

    def by_category(self, entries: list[DocumentEntry]) -> list[tuple[str, list[DocumentView]]]:
        groups: dict[str, list[DocumentView]] = {}
        for view in (self.view(e) for e in entries):
            groups.setdefault(view.category, []).append(view)
        return sorted(groups.items())

    def shown(self, entry: DocumentEntry, data: bytes) -> Response:
        """The viewer's content (`viewer.viewer_response`: an N1's PDF inline, a structured CDA as the
        CI-SIS stylesheet's HTML, anything else as it was filed), in its own frame policy."""
        return viewer_response(entry, data, self.reference_path)


def announced(deposits: list[str]) -> list[tuple[str, str]]:
    """R.1111-53 as the documents page tells it: (deposited on, readable at the latest on) of each
    document awaiting its consultation d'annonce that the patient was told of (`Dmp.awaiting_announcement`)."""
    out = []
    for deposit in deposits:
        at = datetime.fromisoformat(deposit.replace("Z", "+00:00"))
        out.append((at.strftime("%d/%m/%Y"), (at + ANNONCE_AUTO_VISIBLE).strftime("%d/%m/%Y")))
    return out


def router(portal: PatientPortal) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)

    @r.get("")
    @public(SESSION_PAGE)
    async def home(request: Request) -> Response:
        found = portal.sessions.find(request.cookies.get(COOKIE), PORTAL)
        return RedirectResponse(f"{BASE}/dossier" if found else f"{BASE}/connexion", 303)

    def login_page(request: Request, name: str, status: int = 200, **context: object) -> Response:
        token = pre_session_token(request)
        response = page(name, status, login_token=token, **context)
        set_cookie(response, request, PRE_SESSION_COOKIE, token, BASE)
        return response

    async def login_form(request: Request) -> dict[str, str]:
        form = await read_form(request)
        check_token(request.cookies.get(PRE_SESSION_COOKIE), form, request)
        return form

    def source(request: Request) -> str:
        return request.client.host if request.client else ""

    @r.get("/connexion")
    @public("la page de connexion à Mon espace santé")
    async def login_start_page(request: Request) -> Response:
        return login_page(request, "connexion.html", identifiant="")

    @r.post("/connexion")
    @public("la connexion du patient : identifiant et mot de passe (PatientLogin.start, comme /mes/connexion)")
    async def login_start(request: Request) -> Response:
        form = await login_form(request)
        user, password = form.get("identifiant", ""), form.get("motDePasse", "")
        try:
            started = await run_in_threadpool(portal.login.start, user, password, source=source(request))
        except Unauthenticated as error:
            return login_page(request, "connexion.html", 401, identifiant=user, error=error.message)
        return login_page(request, "code.html", **started)

    @r.post("/connexion/code")
    @public("la connexion du patient : le code à usage unique (PatientLogin.finish, comme /mes/connexion/code)")
    async def login_finish(request: Request) -> Response:
        form = await login_form(request)
        transaction = form.get("transaction", "")
        try:
            tokens = await run_in_threadpool(
                portal.login.finish, transaction, form.get("code", ""), portal.issuer, source=source(request)
            )
        except Unauthenticated as error:
            context = {"transaction": transaction, "canal": "", "destinataire": "votre adresse", "error": error.message}
            return login_page(request, "code.html", 401, **context)
        patient = portal.login.verify(tokens["access_token"], portal.issuer)
        raw, _ = await run_in_threadpool(portal.sessions.open, PORTAL, patient.ins, patient.acting)
        response = RedirectResponse(f"{BASE}/dossier", 303)
        set_cookie(response, request, COOKIE, raw, BASE)
        response.delete_cookie(PRE_SESSION_COOKIE, path=BASE)
        return response

    @r.post("/deconnexion")
    @public(SESSION_PAGE)
    async def logout(request: Request) -> Response:
        await portal.posted(request)
        portal.sessions.close(request.cookies.get(COOKIE, ""))
        response = RedirectResponse(f"{BASE}/connexion", 303)
        response.delete_cookie(COOKIE, path=BASE)
        return response

    @r.get("/dossier")
    @public(SESSION_PAGE)
    async def dossier(request: Request) -> Response:
        session = portal.session(request)
        entries = await run_in_threadpool(
            portal.dmp.find_documents, portal.who(session), session.subject, ["current"], None, "portail:dossier"
        )
        categories = portal.by_category(entries)
        awaiting = await run_in_threadpool(portal.dmp.awaiting_announcement, portal.who(session))
        context = portal.context(session, f"{BASE}/dossier", categories=categories, awaiting=announced(awaiting))
        return page("dossier.html", **context)

    @r.get("/documents/{id_}")
    @public(SESSION_PAGE)
    async def document(id_: FhirId, request: Request) -> Response:
        session = portal.session(request)
        entry = await run_in_threadpool(portal.dmp.document, portal.who(session), id_)
        return page("document.html", **portal.context(session, "", d=portal.view(entry)))

    @r.get("/documents/{id_}/affichage")
    @public(SESSION_PAGE)
    async def shown(id_: FhirId, request: Request) -> Response:
        session = portal.session(request)
        entry, data = await run_in_threadpool(portal.dmp.retrieve, portal.who(session), id_)
        return await run_in_threadpool(portal.shown, entry, data)

    @r.post("/documents/{id_}/masquage")
    @public(SESSION_PAGE)
    async def mask(id_: FhirId, request: Request) -> Response:
        session, form = await portal.posted(request)
        wanted = form.get("masque")
        if wanted not in ("oui", "non"):
            raise InvalidInput("masque : oui ou non", code="masque")
        who = portal.who(session)
        entry = await run_in_threadpool(portal.dmp.document, who, id_)
        visibility = entry.visibility | {MASQUE_PS} if wanted == "oui" else entry.visibility - {MASQUE_PS}
        updated = await run_in_threadpool(
            portal.dmp.update_metadata, who, entry.unique_id, None, None, None, visibility
        )
        if not wants_fragment(request):  # without JavaScript: back to the page (PRG)
            return RedirectResponse(f"{BASE}/documents/{id_}", 303)
        notice = "Document masqué aux professionnels." if wanted == "oui" else "Document de nouveau visible."
        return page("masquage.html", d=portal.view(updated), csrf=session.csrf, notice=notice)

    @r.get("/historique")
    @public(SESSION_PAGE)
    async def access_history(request: Request) -> Response:
        session = portal.session(request)
        number = page_number(request.query_params.get("page"))
        found = await run_in_threadpool(portal.dmp.history_page, portal.who(session), number)
        rows = found.rows + found.emergencies
        names = await run_in_threadpool(history.names_for, portal.dmp.db, rows)  # the Annuaire's names, batched
        you, holder = session.acting, session.subject
        context = portal.context(
            session,
            f"{BASE}/historique",
            events=history.newest_first(found.rows, you, names, holder),
            urgences=history.newest_first(found.emergencies, you, names, holder),
            pages=history.Paging(found.page, found.more, f"{BASE}/historique"),
        )
        return page("historique.html", **context)

    return r
