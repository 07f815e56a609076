"""The patient's controls in Mon espace santé, as pages: `/mon-espace/controles` (issue 24 §1).

- the state of the dossier: opposition and closing (CRE-3, 000 L253, L3228), each after a page of
  confirmation saying what it does, and reopening — `Dmp.set_dossier_state`, as `PUT /dmp/espace/etat`;
- the oppositions to the emergency modes (bris de glace, centre 15: CSP L.1111-17 I, R.1111-48) and
  the médecin traitant — `Dmp.set_preferences`, as `PUT /dmp/espace/preferences`;
- professionals blocked or authorised (CSP L.1111-19) — `Dmp.set_rule`, as `/dmp/espace/regles`;
- delegation codes (000 L3238, L3369-3376) — `Dmp.create_code` and `revoke_codes`, as `/dmp/espace/codes`;
- the connexion secrète (CSP L.1111-5), told: what a minor's professional does in it stays out of
  what a legal representative sees (`Dmp.history`, the documents' visibility) — a professional's
  mode, not a patient's switch.
What the patient chose is read by `Dmp.settings` (audited). Professionals are named from the
Annuaire Santé, and found in it by name, commune and profession (`annuaire_choix.Picker`, the
Annuaire API's recorded search) for the médecin traitant and the rules — the typed RPPS stays as a
fallback: a GET form whose answer is the page with the results, each with its choose buttons; with
htmx the same endpoint answers only the results' fragment as she types. Every form carries the
session's CSRF token and answers 303 (PRG); the emergency, médecin traitant and rules forms answer
htmx with their section's fragment instead (masquage.html's pattern), a refusal told inside it —
htmx swaps only 2xx answers, so the fragment carries the French message (the service has recorded
the refusal all the same) while the form without JavaScript gets the 4xx page. The one
secret — a new delegation code, shown once — travels to the page that shows it in a short-lived
HttpOnly cookie of its own path, deleted as it is shown, never in a URL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.core.errors import InvalidInput, MaisonError, NotFound
from maison.formats.path_ids import Code
from maison.partage.dmp.model import DossierState
from maison.partage.dmp.service import RUBRIQUES
from maison.portail.annuaire_choix import Picker, criterion, profession
from maison.portail.history import PARIS, annuaire_names
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal
from maison.portail.pro_annuaire import PROFESSIONS, Annuaire
from maison.portail.sessions import Session
from maison.portail.web import PortalRoute, page, set_cookie, wants_fragment

HERE = f"{BASE}/controles"
CODE_COOKIE = "maison_code_delegation"
CODE_PATH = f"{HERE}/codes/nouveau"
STATES = {
    DossierState.ACTIVE: "ouvert",
    DossierState.OPPOSED: "fermé : vous vous êtes opposé(e) à son existence",
    DossierState.CLOSED: "fermé à votre demande",
}
RUBRIQUE_LABELS = {
    "dmp": "Documents (DMP)",
    "mesures": "Mesures de santé",
    "agenda": "Agenda",
    "profil": "Profil médical",
}
UNKNOWN = "professionnel inconnu de l'Annuaire"
CONFIRMATIONS = {  # the destructive changes of state, each confirmed on a page of its own
    "opposition": (
        DossierState.OPPOSED,
        "M'opposer à mon dossier médical",
        "Votre dossier médical et Mon espace santé ne seront plus alimentés ni consultables. "
        "Aucun professionnel ne pourra y accéder, même en urgence, et vous ne recevrez plus de messages "
        "de vos professionnels. Vous pourrez revenir sur ce choix.",
    ),
    "fermeture": (
        DossierState.CLOSED,
        "Fermer mon espace santé",
        "Votre espace et votre dossier médical seront fermés : plus aucun document n'y sera ajouté, plus "
        "aucun professionnel ne pourra le consulter, et votre messagerie de santé ne recevra plus de "
        "messages. Pensez à télécharger l'export complet de vos données avant de fermer.",
    ),
}
NOTICES = {
    "etat": "L'état de votre dossier a été modifié.",
    "urgence": "Vos choix sur l'accès en urgence ont été enregistrés.",
    "traitant": "Votre médecin traitant a été enregistré.",
    "traitant-retire": "Vous n'avez plus de médecin traitant déclaré.",
    "regle": "Votre choix pour ce professionnel a été enregistré.",
    "code-revoque": "Les codes d'accès de ce professionnel ont été révoqués.",
}
RULE_CHOICES = {"bloquer": "bloque", "autoriser": "autorise", "retirer": None}
SEARCHES = {"traitant": "controle_traitant.html", "regle": "controle_regles.html"}  # `pour`: whose section


def _date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(PARIS).strftime("%d/%m/%Y")
    except ValueError:
        return iso[:10]


def _idnatps(form: dict[str, str], name: str = "professionnel") -> str:
    """The IdNatPS a form names (ASCII digits, as `PUT /dmp/espace/preferences` checks the médecin
    traitant's; at most 20, the column's size)."""
    value = form.get(name, "").strip()
    if not (value.isascii() and value.isdigit() and 1 <= len(value) <= 20):
        raise InvalidInput(
            "numéro du professionnel (IdNatPS) : des chiffres, 20 au plus", code="professionnel-invalide"
        )
    return value


def _search(query: dict[str, str]) -> dict[str, str]:
    """The professional search's criteria (`pour`: the section it serves)."""
    wanted = query.get("pour", "")
    if wanted not in SEARCHES:
        raise InvalidInput("recherche : pour le médecin traitant ou pour un choix (traitant, regle)", code="pour")
    return {
        "pour": wanted,
        "nom": criterion(query, "nom", "nom du professionnel"),
        "commune": criterion(query, "commune", "commune"),
        "profession": "10" if wanted == "traitant" else profession(query),  # a médecin traitant is a doctor
    }


def router(portal: PatientPortal) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)
    db = portal.dmp.db
    picker = Picker(Annuaire(db, portal.dmp.trail))

    def known(idnatps: str) -> str:
        """The professional's name; a number the Annuaire Santé does not list is refused (a patient
        blocks or chooses a professional she can name)."""
        name = annuaire_names(db, {idnatps}, set()).people.get(idnatps)
        if name is None:
            raise NotFound(
                f"aucun professionnel de l'Annuaire Santé n'a le numéro {idnatps}", code="professionnel-inconnu"
            )
        return name

    def back(notice: str) -> RedirectResponse:
        return RedirectResponse(f"{HERE}?fait={notice}", 303)

    def view(session: Session) -> dict[str, Any]:
        """What the page and its sections show: the patient's choices (`Dmp.settings`, audited), named."""
        settings = portal.dmp.settings(portal.who(session))
        people = {p for p, _r, _s in settings.rules} | {p for p, _r, _e in settings.codes}
        people |= {settings.medecin_traitant} if settings.medecin_traitant else set()
        names = annuaire_names(db, people, set()).people
        return {
            "s": settings,
            "state": STATES[settings.state],
            "active": settings.state is DossierState.ACTIVE,
            "names": names,
            "rules": [(p, names.get(p, UNKNOWN), rule, _date(since)) for p, rule, since in settings.rules],
            "codes": [
                (p, names.get(p, UNKNOWN), [RUBRIQUE_LABELS.get(x, x) for x in rubriques], _date(until))
                for p, rubriques, until in settings.codes
            ],
            "rubriques": [(x, RUBRIQUE_LABELS.get(x, x)) for x in RUBRIQUES],
            "professions": sorted(PROFESSIONS.items(), key=lambda kv: kv[1]),
            "representative": session.acting != session.subject,
            "csrf": session.csrf,
        }

    async def section(session: Session, template: str, **more: Any) -> Response:
        return page(template, **(await run_in_threadpool(view, session)), **more)

    async def answered(
        request: Request, session: Session, template: str, act: Callable[[], Awaitable[str]]
    ) -> Response:
        """A form's answer: without JavaScript 303 to the page (PRG), a refusal the error page; with
        htmx its section's fragment, saying what was done or why it was refused."""
        if not wants_fragment(request):
            return back(await act())
        try:
            notice = await act()
        except MaisonError as error:
            return await section(session, template, erreur=error.message)
        return await section(session, template, annonce=NOTICES[notice])

    @r.get("/controles")
    @public(SESSION_PAGE)
    async def controls(request: Request) -> Response:
        session = portal.session(request)
        context = await run_in_threadpool(view, session)
        return page(
            "controles.html",
            **portal.context(session, HERE, **context, notice=NOTICES.get(request.query_params.get("fait", ""))),
        )

    @r.get("/controles/professionnels")
    @public(SESSION_PAGE)
    async def professionals(request: Request) -> Response:
        """The search of a professional in the Annuaire: the results' fragment for htmx (as she
        types), else the page with the results in the section that asked."""
        session = portal.session(request)
        criteria = _search(dict(request.query_params))
        found = await run_in_threadpool(
            picker.practitioners,
            portal.who(session).caller,
            criteria["nom"],
            criteria["commune"],
            criteria["profession"],
        )
        search = {**criteria, "resultats": found}
        if wants_fragment(request):
            return page("controle_resultats.html", recherche=search, csrf=session.csrf)
        context = await run_in_threadpool(view, session)
        return page("controles.html", **portal.context(session, HERE, **context, recherche=search))

    @r.get("/controles/etat/{choice}")
    @public(SESSION_PAGE)
    async def confirm_state(choice: Code, request: Request) -> Response:
        session = portal.session(request)
        if choice not in CONFIRMATIONS:
            raise NotFound("page inconnue", code="page-inconnue")
        state, title, consequences = CONFIRMATIONS[choice]
        return page(
            "controle_confirmation.html",
            **portal.context(session, "", title=title, consequences=consequences, etat=state.value),
        )

    @r.post("/controles/etat")
    @public(SESSION_PAGE)
    async def set_state(request: Request) -> Response:
        session, form = await portal.posted(request)
        wanted = form.get("etat", "")
        if wanted not in {s.value for s in DossierState}:
            raise InvalidInput("état : active, opposed ou closed", code="etat-invalide")
        state = DossierState(wanted)
        if state is not DossierState.ACTIVE and form.get("confirmation") != "oui":
            raise InvalidInput(
                "cochez la case de confirmation pour fermer ou vous opposer", code="confirmation-absente"
            )
        await run_in_threadpool(portal.dmp.set_dossier_state, portal.who(session), state)
        return back("etat")

    @r.post("/controles/urgence")
    @public(SESSION_PAGE)
    async def emergency(request: Request) -> Response:
        session, form = await portal.posted(request)

        async def act() -> str:
            flags = {}
            for field in ("bris_de_glace", "centre_15"):
                value = form.get(field, "non")
                if value not in ("oui", "non"):
                    raise InvalidInput(f"{field} : oui ou non", code="champ-invalide")
                flags[field] = value == "oui"
            await run_in_threadpool(
                lambda: portal.dmp.set_preferences(
                    portal.who(session),
                    oppose_bris_de_glace=flags["bris_de_glace"],
                    oppose_centre_15=flags["centre_15"],
                )
            )
            return "urgence"

        return await answered(request, session, "controle_urgence.html", act)

    @r.post("/controles/medecin-traitant")
    @public(SESSION_PAGE)
    async def attending(request: Request) -> Response:
        session, form = await portal.posted(request)

        async def act() -> str:
            action = form.get("action", "")
            if action == "retirer":
                await run_in_threadpool(
                    lambda: portal.dmp.set_preferences(portal.who(session), medecin_traitant=None, clear_traitant=True)
                )
                return "traitant-retire"
            if action != "definir":
                raise InvalidInput("action : definir ou retirer", code="action-invalide")
            doctor = _idnatps(form)
            await run_in_threadpool(known, doctor)
            await run_in_threadpool(lambda: portal.dmp.set_preferences(portal.who(session), medecin_traitant=doctor))
            return "traitant"

        return await answered(request, session, "controle_traitant.html", act)

    @r.post("/controles/regles")
    @public(SESSION_PAGE)
    async def rule(request: Request) -> Response:
        session, form = await portal.posted(request)

        async def act() -> str:
            choice = form.get("regle", "")
            if choice not in RULE_CHOICES:
                raise InvalidInput("règle : bloquer, autoriser ou retirer", code="regle-invalide")
            professional = _idnatps(form)
            if RULE_CHOICES[choice] is not None:
                await run_in_threadpool(known, professional)
            await run_in_threadpool(portal.dmp.set_rule, portal.who(session), professional, RULE_CHOICES[choice])
            return "regle"

        return await answered(request, session, "controle_regles.html", act)

    @r.post("/controles/codes")
    @public(SESSION_PAGE)
    async def create_code(request: Request) -> Response:
        session, form = await portal.posted(request)
        professional = _idnatps(form)
        chosen = [x for x in RUBRIQUES if form.get(f"rubrique-{x}") == "oui"]
        days_text = form.get("jours", "")
        if not (days_text.isascii() and days_text.isdigit() and len(days_text) <= 3):
            raise InvalidInput("durée : un nombre de jours, de 1 à 365", code="duree-invalide")
        await run_in_threadpool(known, professional)
        code = await run_in_threadpool(
            portal.dmp.create_code, portal.who(session), professional, chosen, int(days_text)
        )
        response = RedirectResponse(CODE_PATH, 303)
        set_cookie(response, request, CODE_COOKIE, f"{code}.{professional}.{int(days_text)}", CODE_PATH)
        return response

    @r.get("/controles/codes/nouveau")
    @public(SESSION_PAGE)
    async def new_code(request: Request) -> Response:
        session = portal.session(request)
        code, _, rest = request.cookies.get(CODE_COOKIE, "").partition(".")
        professional, _, days = rest.partition(".")
        name = annuaire_names(db, {professional}, set()).people.get(professional, "") if professional else ""
        response = page(
            "controle_code.html",
            **portal.context(session, "", code=code, professional=professional, pro_name=name, days=days),
        )
        response.delete_cookie(CODE_COOKIE, path=CODE_PATH)  # shown once
        return response

    @r.post("/controles/codes/revocation")
    @public(SESSION_PAGE)
    async def revoke(request: Request) -> Response:
        session, form = await portal.posted(request)
        professional = _idnatps(form)
        await run_in_threadpool(portal.dmp.revoke_codes, portal.who(session), professional)
        return back("code-revoque")

    return r
