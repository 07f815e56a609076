"""The observatory as a dashboard: `/observatoire/tableau` (issue 24 §3).

Pages, each calling the same `Observatoire` function the `/observatoire` API route showing the same
thing calls, as the session's Actor (`Session.actor`, the one Pro Santé Connect established at login),
so the service decides who reads what (an ARS/ANS agent everything, a structure its own, a GHT its
support) and audits each read exactly as for an API caller; a refusal is the French 403 page:

- the home page — what this reader may read (`Observatoire.readable`: the rule the service's
  `authorise` enforces, asked once for the list): an agent every GHT with its members and every
  structure SUN-ES has figures of, a GHT's support its GHT and itself, a structure itself; each entry
  links to its SUN-ES page for the semester chosen; `?page=N&filtre=…`: 50 entries a page, narrowed
  by a name or an identifier (`observatoire_liste`: some 3 000 structures at national scale);
- `/sunes?structure=…|ght=…&periode=2026-S1` — the SUN-ES indicators of a structure or a GHT for a
  semester, with their targets (settings), beside the preceding semesters; each rate links to
- `/sunes/explication/{indicateur}?…&page=N&taille=50&filtre=…` — every stay, report or correspondent, counted
  or not, the reason, the audit records that prove it; one page at a time (`Observatoire.explain_page`:
  the totals and the page's elements, selected and cut by the database);
- `/national?periode=…` — the national monthly series as charts (inline SVG, `observatoire.charts`),
  each followed by its table; `/conformite?periode=…` — the rows per software (agents only);
- `/maturin?structure=…&type=…` — MATURIN-H's score and level; `/prerequis?…` — the PS checks and
  the volets' eligibility.

htmx updates in place (`answer`: the page's own block when the request says `HX-Request`, the whole
page otherwise, so every page reads the same without JavaScript): the home page's list on a semester
chosen, its paging and its filter (as the agent types), the explanation's list on its paging, filter
and page size, the SUN-ES page on the previous or next semester.

The API's own parsing of a scope and a period (`observatoire.api.scope_of`, `period_of`) is reused,
so a bad one is the same 400, here in French. The login is Pro Santé Connect's code flow
(`psc_connexion`, portal "observatoire": `/connexion`, `/deconnexion`); routes are
`@public(SESSION_PAGE)`: the portal checks its own session; none, expired or of another portal: the
French 401 page (the home page redirects to the login).
The computing routes are plain functions: FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup

from maison.core.actor import Actor
from maison.core.authz import public
from maison.core.errors import InvalidInput
from maison.formats.path_ids import FhirId
from maison.observatoire.api import count_of, period_of, scope_of
from maison.observatoire.charts import svg
from maison.observatoire.conformite.maturin import TYPES
from maison.observatoire.report import Period, Table
from maison.observatoire.service import Observatoire, Served
from maison.observatoire.sunes.model import FILTERS, Scope
from maison.portail.history import annuaire_names
from maison.portail.observatoire_liste import FILTER_MAX, codes, entries, filter_of, page_of
from maison.portail.psc_connexion import PscConnexion, PscPortal
from maison.portail.sessions import Session
from maison.portail.web import page, page_number, templates, wants_fragment

BASE = "/observatoire/tableau"
COOKIE = "maison_observatoire"
PORTAL = "observatoire"
PORTAL_NAME = "Observatoire"
SESSION_PAGE = "page de l'observatoire : la session du portail est vérifiée par le portail lui-même"
PAGE_SIZE = 50  # an explanation's elements per page, unless the reader asks another (`taille`, 1 to 500)
PAGE_SIZES = (25, 50, 100, 200)  # the sizes the explanation's form offers
SEMESTERS_SHOWN = 4  # the semester asked and the three before it


OBSERVATOIRE = PscPortal(portal=PORTAL, base=BASE, cookie=COOKIE, landing=BASE, title=PORTAL_NAME)


@dataclass(frozen=True)
class Drawn:
    """A report's table as a page shows it: its chart (inline SVG, None when it has none) above it."""

    table: Table
    chart: Markup | None


def drawn(served: Served) -> list[Drawn]:
    out = []
    for table in served.tables:
        chart = svg(table)  # every label escaped by charts.py
        out.append(Drawn(table, Markup(chart) if chart is not None else None))  # noqa: S704
    return out


def answer(request: Request, name: str, block: str, **context: Any) -> HTMLResponse:
    """The whole page, or only its `block` when htmx asks (`HX-Request`) to swap it in place — not
    when it restores its history (`HX-History-Restore-Request`): that needs the whole page. The
    fragment is the same template's block, so both answers cannot drift apart."""
    if wants_fragment(request):
        template = templates.get_template(name)
        body = "".join(template.blocks[block](template.new_context({**context, "fragment": True})))
        response = HTMLResponse(body)
    else:
        response = page(name, **context)
    return response


def previous_semesters(period: Period, count: int) -> list[Period]:
    """`period` (a semester) and the `count - 1` before it, oldest first."""
    out = [period]
    while len(out) < count:
        out.insert(0, Period.semester_of(out[0].start - timedelta(days=1)))
    return out


def semester(text: str | None) -> Period:
    """The semester asked (the current one by default): the SUN-ES unit (seed 000 L784-792)."""
    period = period_of(text)
    if Period.semester_of(period.start) != period:
        raise InvalidInput(f"période {period.label!r} : un semestre est attendu (2026-S1)", code="periode-invalide")
    return period


def last_twelve_months(today: date) -> Period:
    """The national series' default: the twelve calendar months ending with the current one."""
    year, month = (today.year - 1, today.month + 1) if today.month < 12 else (today.year, 1)
    end = Period.month(today.year, today.month).end - timedelta(days=1)
    return Period.parse(f"{date(year, month, 1).isoformat()}..{end.isoformat()}")


class ObservatoirePortal:
    def __init__(self, obs: Observatoire, connexion: PscConnexion) -> None:
        """`connexion`: the Pro Santé Connect login of this portal (`OBSERVATOIRE`)."""
        self.obs = obs
        self.connexion = connexion

    def caller(self, request: Request) -> tuple[Session, Actor]:
        """The live session (else the French 401 page) and the Actor its login established."""
        session = self.connexion.session(request)
        assert session.actor is not None  # connexion.session refuses a session without one
        return session, session.actor

    def nav(self, actor: Actor) -> list[tuple[str, str]]:
        """An agent's menu names the national reports; a structure's its own pages (the service
        refuses anything else anyway)."""
        if self.obs.is_agent(actor):
            return [
                (BASE, "Accueil"),
                (f"{BASE}/national", "Statistiques nationales"),
                (f"{BASE}/conformite", "Conformité des logiciels"),
            ]
        own = urlencode({"structure": actor.structure})
        return [
            (BASE, "Accueil"),
            (f"{BASE}/sunes?{own}", "Indicateurs SUN-ES"),
            (f"{BASE}/prerequis?{own}", "Prérequis"),
            (f"{BASE}/maturin?{own}", "MATURIN-H"),
        ]

    def context(self, session: Session, actor: Actor, current: str, **more: Any) -> dict[str, Any]:
        return self.connexion.context(
            session, self.nav(actor), current, actor=actor, agent=self.obs.is_agent(actor), **more
        )


def scope_query(scope: Scope, period: Period, **more: str) -> str:
    return urlencode({scope.kind: scope.code, "periode": period.label, **more})


def router(portal: ObservatoirePortal) -> APIRouter:
    r = APIRouter(route_class=portal.connexion.route_class)  # errors: the observatory's French page
    r.include_router(portal.connexion.router())  # /connexion…, /deconnexion: Pro Santé Connect
    obs = portal.obs

    @r.get("")
    @public(SESSION_PAGE)
    def home(request: Request, periode: str | None = None, filtre: str | None = None) -> Response:
        if portal.connexion.current(request) is None:
            return RedirectResponse(f"{BASE}/connexion", 303)
        session, actor = portal.caller(request)
        chosen, wanted = semester(periode), filter_of(filtre)
        number = page_number(request.query_params.get("page"))
        today = datetime.now(UTC).date()
        semesters = [p.label for p in reversed(previous_semesters(Period.semester_of(today), SEMESTERS_SHOWN))]
        found = obs.readable(actor)  # the service's rule; nothing readable: the recorded 403
        # a filter reads every name; without one, only the page's are asked of the Annuaire
        named = {*found.structures, *(s for members in found.ghts.values() for s in members)}
        names = annuaire_names(obs.db, set(), named).structures if wanted else {}
        shown = page_of(entries(found, names, wanted), number)
        if not wanted:
            names = annuaire_names(obs.db, set(), codes(shown.entries)).structures
        context = portal.context(
            session,
            actor,
            BASE,
            semesters=semesters if chosen.label in semesters else [*semesters, chosen.label],
            chosen=chosen,
            shown=shown,
            filtre=wanted,
            filter_max=FILTER_MAX,
            nothing_readable=not found.ghts and not found.structures,
            linked=set(found.structures),
            names=names,
            link=lambda kind, code: f"{BASE}/sunes?{urlencode({kind: code, 'periode': chosen.label})}",
            query=lambda **more: urlencode({"periode": chosen.label, **({"filtre": wanted} if wanted else {}), **more}),
            types=TYPES,
        )
        return answer(request, "observatoire/accueil.html", "lisibles", **context)

    @r.get("/sunes")
    @public(SESSION_PAGE)
    def sunes(
        request: Request, structure: str | None = None, ght: str | None = None, periode: str | None = None
    ) -> Response:
        session, actor = portal.caller(request)
        scope, period = scope_of(structure, ght), semester(periode)
        served = obs.sunes(actor, scope, period)  # as GET /observatoire/sunes: authorised, audited, signed
        history = []
        for earlier in previous_semesters(period, SEMESTERS_SHOWN)[:-1]:
            history.append((earlier, obs.sunes(actor, scope, earlier).content))
        history.append((period, served.content))
        rates = {
            line["indicateur"]: [(p, next(i for i in c["indicateurs"] if i["indicateur"] == line["indicateur"]))
                                 for p, c in history]
            for line in served.content["indicateurs"]
        }  # fmt: skip
        context = portal.context(
            session,
            actor,
            _own(actor, scope, "sunes"),
            served=served,
            scope=scope,
            period=period,
            history=[p for p, _ in history],
            rates=rates,
            chart=drawn(served)[0].chart,
            query=lambda p, **more: scope_query(scope, p, **more),
            earlier=previous_semesters(period, 2)[0],
            later=Period.semester_of(period.end),
        )
        return answer(request, "observatoire/sunes.html", "main", **context)

    @r.get("/sunes/explication/{indicateur}")
    @public(SESSION_PAGE)
    def explication(
        request: Request,
        indicateur: FhirId,
        structure: str | None = None,
        ght: str | None = None,
        periode: str | None = None,
        filtre: str = "tous",
        taille: str | None = None,
    ) -> Response:
        session, actor = portal.caller(request)
        scope, period = scope_of(structure, ght), period_of(periode)
        number = page_number(request.query_params.get("page"))
        size = count_of(taille, "taille") if taille else PAGE_SIZE
        # as GET /observatoire/sunes/explication/…?page=…&taille=…&filtre=…
        served = obs.explain_page(actor, scope, period, indicateur, number=number, size=size, filtre=filtre)
        content = served.content
        code, totals = content["indicateur"], content["totaux"]
        context = portal.context(
            session,
            actor,
            "",
            served=served,
            scope=scope,
            period=period,
            code=code,
            elements=content["elements"],
            total=totals["elements"],
            numerator=totals["numerateur"],
            denominator=totals["denominateur"],
            chosen=content["selection"],
            number=number,
            pages=content["pages"],
            first=(number - 1) * size + 1,
            filtre=filtre,
            filters=FILTERS,
            size=size,
            sizes=PAGE_SIZES if size in PAGE_SIZES else sorted({*PAGE_SIZES, size}),
            here=f"{BASE}/sunes/explication/{code}",
            query=lambda **more: scope_query(scope, period, filtre=filtre, taille=str(size), **more),
            back=f"{BASE}/sunes?{scope_query(scope, Period.semester_of(period.start))}",
        )
        return answer(request, "observatoire/explication.html", "liste", **context)

    @r.get("/national")
    @public(SESSION_PAGE)
    def national(request: Request, periode: str | None = None) -> Response:
        session, actor = portal.caller(request)
        period = Period.parse(periode) if periode else last_twelve_months(datetime.now(UTC).date())
        served = obs.national(actor, period)  # as GET /observatoire/national: agents only, audited
        context = portal.context(session, actor, f"{BASE}/national", served=served, tables=drawn(served))
        return page("observatoire/rapport.html", **context, heading="Statistiques nationales", action="national")

    @r.get("/conformite")
    @public(SESSION_PAGE)
    def conformite(request: Request, periode: str | None = None) -> Response:
        session, actor = portal.caller(request)
        served = obs.conformite(actor, period_of(periode))  # as GET /observatoire/conformite
        context = portal.context(session, actor, f"{BASE}/conformite", served=served, tables=drawn(served))
        return page("observatoire/rapport.html", **context, heading="Conformité des logiciels", action="conformite")

    @r.get("/maturin")
    @public(SESSION_PAGE)
    def maturin(
        request: Request, structure: str | None = None, periode: str | None = None, type: str = "CH-PARTIE-GHT"
    ) -> Response:
        session, actor = portal.caller(request)
        scope = scope_of(structure, None)
        served = obs.maturin(actor, scope.code, period_of(periode), type)  # as GET /observatoire/maturin
        context = portal.context(
            session, actor, _own(actor, scope, "maturin"), served=served, tables=drawn(served), types=TYPES
        )
        return page("observatoire/maturin.html", **context)

    @r.get("/prerequis")
    @public(SESSION_PAGE)
    def prerequis(
        request: Request, structure: str | None = None, ght: str | None = None, periode: str | None = None
    ) -> Response:
        session, actor = portal.caller(request)
        scope = scope_of(structure, ght)
        served = obs.prerequis(actor, scope, period_of(periode))  # as GET /observatoire/prerequis
        context = portal.context(
            session, actor, _own(actor, scope, "prerequis"), served=served, tables=drawn(served), scope=scope
        )
        return page("observatoire/prerequis.html", **context)

    return r


def _own(actor: Actor, scope: Scope, page_name: str) -> str:
    """The menu entry a structure's own page is (for `aria-current`)."""
    return f"{BASE}/{page_name}?{urlencode({'structure': actor.structure})}" if scope.code == actor.structure else ""
