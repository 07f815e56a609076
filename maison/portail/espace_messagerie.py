"""The patient's messagerie in Mon espace santé, as pages: `/mon-espace/messagerie` (issue 24 §1).

The messages professionals sent to the patient's citizen mailbox (`<INS>@patient.mssante.fr`, 000
L2087); one read with its attachments listed and downloadable; an answer to the professional who
wrote (the professional starts the exchange, 000 L3255, and may close it); a forward — an
ordonnance to the pharmacy the patient chooses, an organisational mailbox the Annuaire Santé lists.
She finds it by a search of the Annuaire (`annuaire_choix.Picker.pharmacies`, by name or pharmacist
and commune): a GET form whose results page offers a choose button each, the chosen address coming
back to the message's page as `?destinataire=`, checked again against the directory there (a forged
one is told in French and not filled in) and by `Messagerie.forward` when sent. With htmx the same
endpoint answers only the results' fragment as she types.
Every page calls what `/espace/messagerie` calls (`Messagerie.inbox`, `read`, `answer`, `forward`,
maison.partage.mss.messagerie_api) for the patient `Espace.owner` names, so the same audit records
(espace.messagerie.*) and the same refusals apply. The forms post, then redirect (303).

The answer and the forward name their message in a form field (`message`), read after the CSRF
token is checked: a forged request is refused for its token whatever message it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.core.errors import InvalidInput, NotFound
from maison.formats.download import attachment_response
from maison.formats.path_ids import Index, RowId
from maison.partage.espace.service import Espace
from maison.partage.mss.messagerie import Messagerie
from maison.portail.annuaire_choix import Picker, criterion
from maison.portail.history import french_moment
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal
from maison.portail.pro_annuaire import Annuaire
from maison.portail.web import PortalRoute, page, wants_fragment

HERE = f"{BASE}/messagerie"
NOTICES = {
    "reponse": "Votre réponse a été envoyée au professionnel.",
    "transfert": "Le message a été transféré à la pharmacie.",
}
MAX_TEXT = 20_000
FORGED = (
    "Cette adresse n'est pas celle d'une pharmacie de l'Annuaire Santé : choisissez votre pharmacie dans la recherche."
)


@dataclass(frozen=True)
class Piece:
    n: int
    name: str
    kind: str
    size: str


def _size(n: int) -> str:
    return f"{n} octets" if n < 1024 else f"{n / 1024:.0f} Ko" if n < 1024 * 1024 else f"{n / 1048576:.1f} Mo"


def _uid(text: str) -> int:
    """A message's number from a form, as the API's RowId reads it in a path (1 … 2⁶³-1)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) >= 1):
        raise InvalidInput("numéro de message invalide", code="parametre-invalide")
    return int(text)


def _text(form: dict[str, str], name: str, label: str, *, required: bool) -> str:
    value = form.get(name, "")
    if required and not value.strip():
        raise InvalidInput(f"{label} : à remplir", code="champ-vide")
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{label} : {MAX_TEXT} caractères au plus", code="champ-trop-long")
    return value


def router(portal: PatientPortal, messagerie: Messagerie) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)
    picker = Picker(Annuaire(portal.dmp.db, portal.dmp.trail))

    def owner(request: Request):
        session = portal.session(request)
        return session, Espace.owner(portal.who(session))

    async def chosen(session, address: str) -> dict:
        """The forward form's pharmacy, when the page comes back from the search with one."""
        if not address:
            return {}
        found = await run_in_threadpool(picker.pharmacy, portal.who(session).caller, address)
        return {"pharmacie": found} if found else {"choix_refuse": FORGED}

    @r.get("/messagerie")
    @public(SESSION_PAGE)
    async def inbox(request: Request) -> Response:
        session, ins = owner(request)
        messages = await run_in_threadpool(messagerie.inbox, ins)
        rows = [(m, french_moment(m.received_at)) for m in sorted(messages, key=lambda m: m.uid, reverse=True)]
        return page("messagerie.html", **portal.context(session, HERE, messages=rows, address=Messagerie.address(ins)))

    @r.get("/messagerie/{uid}")
    @public(SESSION_PAGE)
    async def message(uid: RowId, request: Request) -> Response:
        session, ins = owner(request)
        parsed, row = await run_in_threadpool(messagerie.read, ins, uid)
        pieces = [Piece(i, a.filename, a.content_type, _size(len(a.data))) for i, a in enumerate(parsed.attachments)]
        choice = await chosen(session, request.query_params.get("destinataire", "").strip())
        return page(
            "message.html",
            **portal.context(
                session,
                "",
                uid=uid,
                m=parsed,
                received=french_moment(row.received_at),
                pieces=pieces,
                notice=NOTICES.get(request.query_params.get("fait", "")),
                **choice,
            ),
        )

    @r.get("/messagerie/{uid}/pharmacies")
    @public(SESSION_PAGE)
    async def pharmacies(uid: RowId, request: Request) -> Response:
        """The search of a pharmacy: the results' fragment for htmx (as she types), else the page."""
        session = portal.session(request)
        nom = criterion(dict(request.query_params), "nom", "nom de la pharmacie ou du pharmacien")
        commune = criterion(dict(request.query_params), "commune", "commune")
        found = await run_in_threadpool(picker.pharmacies, portal.who(session).caller, nom, commune)
        context: dict[str, Any] = {"uid": uid, "nom": nom, "commune": commune, "pharmacies": found}
        if wants_fragment(request):
            return page("pharmacie_resultats.html", **context)
        return page("pharmacie_choix.html", **portal.context(session, "", **context))

    @r.get("/messagerie/{uid}/pieces/{n}")
    @public(SESSION_PAGE)
    async def attachment(uid: RowId, n: Index, request: Request) -> Response:
        _session, ins = owner(request)
        parsed, _row = await run_in_threadpool(messagerie.read, ins, uid)
        if not 0 <= n < len(parsed.attachments):
            raise NotFound(f"pièce {n} absente du message {uid}", code="piece-inconnue")
        a = parsed.attachments[n]
        return attachment_response(a.data, a.filename, a.content_type)  # the sender's name and type, made safe

    @r.post("/messagerie/reponse")
    @public(SESSION_PAGE)
    async def answer(request: Request) -> Response:
        session, form = await portal.posted(request)
        number, ins = _uid(form.get("message", "")), Espace.owner(portal.who(session))
        text = _text(form, "texte", "réponse", required=True)
        await run_in_threadpool(messagerie.answer, ins, number, text)
        return RedirectResponse(f"{HERE}/{number}?fait=reponse", 303)

    @r.post("/messagerie/transfert")
    @public(SESSION_PAGE)
    async def forward(request: Request) -> Response:
        session, form = await portal.posted(request)
        number, ins = _uid(form.get("message", "")), Espace.owner(portal.who(session))
        to = _text(form, "destinataire", "adresse de la pharmacie", required=True).strip()
        text = _text(form, "texte", "message", required=False)
        await run_in_threadpool(messagerie.forward, ins, number, to, text)
        return RedirectResponse(f"{HERE}/{number}?fait=transfert", 303)

    return r
